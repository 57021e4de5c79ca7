//! `probe` (off unless `JOB_PROBE_SECONDS` is set): a diagnostic job that works for a fixed time
//! and reports which process ran it, to prove exactly-once ticks and takeover across workers.

use std::time::Duration;

use async_trait::async_trait;
use serde_json::json;

use crate::{Job, Schedule};

pub struct ProbeJob {
    interval: Duration,
    work: Duration,
}

impl ProbeJob {
    pub fn new(interval: Duration, work: Duration) -> ProbeJob {
        ProbeJob { interval, work }
    }
}

#[async_trait]
impl Job for ProbeJob {
    fn name(&self) -> &'static str {
        "probe"
    }

    fn schedule(&self) -> Schedule {
        Schedule::Every(self.interval)
    }

    async fn run(&self) -> anyhow::Result<serde_json::Value> {
        tokio::time::sleep(self.work).await;
        Ok(json!({ "pid": std::process::id() }))
    }
}
