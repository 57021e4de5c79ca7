//! `prices`: an operator-triggered refresh. The 30-second schedule runs on the price service's
//! own once-per-slot loop over the same `job_runs` table (it also reloads other instances'
//! results); this entry lets `POST /admin/v1/jobs/prices/run` refresh now through the engine.

use std::sync::Arc;

use async_trait::async_trait;
use blu_app::prices::PriceService;
use serde_json::json;

use crate::{Job, Schedule};

pub struct PricesJob {
    service: Arc<PriceService>,
}

impl PricesJob {
    pub fn new(service: Arc<PriceService>) -> PricesJob {
        PricesJob { service }
    }
}

#[async_trait]
impl Job for PricesJob {
    fn name(&self) -> &'static str {
        "prices"
    }

    fn schedule(&self) -> Schedule {
        Schedule::OnDemand
    }

    async fn run(&self) -> anyhow::Result<serde_json::Value> {
        let report = self.service.refresh().await?;
        let updated: Vec<&str> = report.updated.iter().map(|a| a.as_str()).collect();
        Ok(
            json!({ "fxUpdated": report.fx_updated, "updated": updated, "failedSources": report.failed_sources }),
        )
    }
}
