//! The Blu Markets server: configuration, wiring and the command line.
#![forbid(unsafe_code)]

pub mod backup;
pub mod config;
pub mod job_overrides;
pub mod jobs;
pub mod operators;
pub mod ops_metrics;
pub mod prices;
pub mod push;
pub mod sentry;
pub mod startup;
pub mod streaming;
pub mod telemetry;
pub mod verify;
