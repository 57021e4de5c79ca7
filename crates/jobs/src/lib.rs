//! The job engine (D30, business-rules §10): every job runs exactly once per tick across any
//! number of `blu worker` (or `blu serve`) processes.
//!
//! Each tick of each job is a row of `job_runs` keyed by (job name, scheduled time): a worker
//! runs a tick only after inserting that row (the primary key makes the claim exactly-once). A
//! claimed run holds a lease that a heartbeat extends while it works; a crashed worker's lease
//! runs out and another worker takes the tick over. Failures are retried up to three attempts
//! with exponential backoff. A job never overlaps itself. Jobs themselves are idempotent per item
//! (conditional state transitions in the same transaction as their ledger entries), so a retried
//! tick changes nothing twice. Admin "run now" goes through the same claim.
#![forbid(unsafe_code)]

pub mod catalog;
mod engine;
mod schedule;

pub use engine::{EngineSettings, Job, JobEngine, JobError, RunReport};
pub use schedule::Schedule;
