//! `protection-expiry` (every 60 s): settles ACTIVE protections past their expiry at the first
//! fresh price fetched at or after it (business-rules §8.6, §10).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use blu_app::protection::ProtectionService;

use crate::{Job, Schedule};

pub struct ProtectionExpiryJob {
    protection: Arc<ProtectionService>,
}

impl ProtectionExpiryJob {
    pub fn new(protection: Arc<ProtectionService>) -> ProtectionExpiryJob {
        ProtectionExpiryJob { protection }
    }
}

#[async_trait]
impl Job for ProtectionExpiryJob {
    fn name(&self) -> &'static str {
        "protection-expiry"
    }

    fn schedule(&self) -> Schedule {
        Schedule::Every(Duration::from_secs(60))
    }

    /// `{checked, exercised, expired, waiting}`.
    async fn run(&self) -> anyhow::Result<serde_json::Value> {
        let counts = self.protection.settle_due().await?;
        Ok(serde_json::to_value(counts)?)
    }
}
