//! `reminders` (daily 05:30 UTC, 09:00 Tehran): installments due within 3 days and protections
//! expiring within 7 days, each notified once.

use std::sync::Arc;

use async_trait::async_trait;
use blu_app::notifications::NotificationService;

use crate::{Job, Schedule};

pub struct RemindersJob {
    service: Arc<NotificationService>,
}

impl RemindersJob {
    pub fn new(service: Arc<NotificationService>) -> RemindersJob {
        RemindersJob { service }
    }
}

#[async_trait]
impl Job for RemindersJob {
    fn name(&self) -> &'static str {
        "reminders"
    }

    fn schedule(&self) -> Schedule {
        Schedule::DailyAt {
            hour: 5,
            minute: 30,
        }
    }

    async fn run(&self) -> anyhow::Result<serde_json::Value> {
        Ok(serde_json::to_value(self.service.remind().await?)?)
    }
}
