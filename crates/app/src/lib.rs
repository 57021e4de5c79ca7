//! Blu Markets use cases and the ports (traits) they need: storage, SMS, clock, rate limits.
#![forbid(unsafe_code)]

pub mod auth;
pub mod notifications;
pub mod operators;
pub mod portfolio;
pub mod ports;
pub mod prices;
pub mod protection;
pub mod secret;

pub use secret::{Secret, mask_phone};
