//! Blu Markets use cases and the ports (traits) they need: storage, SMS, clock, rate limits.
#![forbid(unsafe_code)]

pub mod ports;
