//! One module per resource; each exposes `router()`.

pub mod admin;
pub mod admin_overrides;
pub mod auth;
pub mod clock;
pub mod health;
pub mod prices;
