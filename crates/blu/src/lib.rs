//! The Blu Markets server: configuration, wiring and the command line.
#![forbid(unsafe_code)]

pub mod config;
pub mod startup;
pub mod telemetry;
pub mod verify;
