//! One module per resource; each exposes `router()`.

pub mod admin;
pub mod admin_jobs;
pub mod admin_ledger;
pub mod admin_overrides;
pub mod audit;
pub mod auth;
pub mod clock;
pub mod console_api;
pub mod diagnostics;
pub mod health;
pub mod history;
pub mod loans;
pub mod onboarding;
pub mod operators;
pub mod portfolio;
pub mod prices;
pub mod profile;
pub mod protection;
pub mod rebalance;
pub mod trade;
