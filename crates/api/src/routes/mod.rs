//! One module per resource; each exposes `router()`.

pub mod admin;
pub mod auth;
pub mod clock;
pub mod health;
