//! `prices` (every 30 s, D30): fetches, persists and publishes the prices once per tick across
//! every process; the instances that did not run the tick follow it (`PriceService::follow`).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use blu_app::prices::{PRICES_JOB, PriceService};
use serde_json::json;

use crate::{Job, Schedule};

pub struct PricesJob {
    service: Arc<PriceService>,
    interval: Duration,
}

impl PricesJob {
    pub fn new(service: Arc<PriceService>, interval: Duration) -> PricesJob {
        PricesJob { service, interval }
    }
}

#[async_trait]
impl Job for PricesJob {
    fn name(&self) -> &'static str {
        PRICES_JOB
    }

    fn schedule(&self) -> Schedule {
        Schedule::Every(self.interval)
    }

    async fn run(&self) -> anyhow::Result<serde_json::Value> {
        let report = self.service.tick().await?;
        let updated: Vec<&str> = report.updated.iter().map(|a| a.as_str()).collect();
        Ok(
            json!({ "fxUpdated": report.fx_updated, "updated": updated, "failedSources": report.failed_sources }),
        )
    }
}
