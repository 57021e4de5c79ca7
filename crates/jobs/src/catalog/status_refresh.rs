//! `status-refresh` (every 5 min): stores every portfolio's value, layer shares and status;
//! a change into drift is notified (no activity entry), and so are 24 h price moves beyond
//! 10 % of held assets (once per asset per day per user).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use blu_app::notifications::StatusRefresh;

use crate::{Job, Schedule};

pub struct StatusRefreshJob {
    refresh: Arc<StatusRefresh>,
}

impl StatusRefreshJob {
    pub fn new(refresh: Arc<StatusRefresh>) -> StatusRefreshJob {
        StatusRefreshJob { refresh }
    }
}

#[async_trait]
impl Job for StatusRefreshJob {
    fn name(&self) -> &'static str {
        "status-refresh"
    }

    fn schedule(&self) -> Schedule {
        Schedule::Every(Duration::from_secs(300))
    }

    async fn run(&self) -> anyhow::Result<serde_json::Value> {
        Ok(serde_json::to_value(self.refresh.run().await?)?)
    }
}
