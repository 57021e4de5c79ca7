//! `loan-health` (business-rules §7.8, §7.9, §10): every 60 s, re-values each ACTIVE loan with a
//! fresh collateral price under its portfolio lock, stores LTV and band, notifies on entry into
//! WARNING or CRITICAL and liquidates at the liquidation LTV or on maturity default.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use blu_app::portfolio::PortfolioService;
use serde_json::json;

use crate::{Job, Schedule};

pub struct LoanHealthJob {
    service: Arc<PortfolioService>,
}

impl LoanHealthJob {
    pub fn new(service: Arc<PortfolioService>) -> LoanHealthJob {
        LoanHealthJob { service }
    }
}

#[async_trait]
impl Job for LoanHealthJob {
    fn name(&self) -> &'static str {
        "loan-health"
    }

    fn schedule(&self) -> Schedule {
        Schedule::Every(Duration::from_secs(60))
    }

    async fn run(&self) -> anyhow::Result<serde_json::Value> {
        let counts = self.service.check_loan_health().await?;
        Ok(json!({
            "checked": counts.checked,
            "liquidated": counts.liquidated,
            "warned": counts.warned,
        }))
    }
}
