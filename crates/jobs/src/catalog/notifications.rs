//! `notifications` (every 30 s): delivers the outbox through the configured push sender.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use blu_app::notifications::NotificationService;

use crate::{Job, Schedule};

pub struct NotificationsJob {
    service: Arc<NotificationService>,
}

impl NotificationsJob {
    pub fn new(service: Arc<NotificationService>) -> NotificationsJob {
        NotificationsJob { service }
    }
}

#[async_trait]
impl Job for NotificationsJob {
    fn name(&self) -> &'static str {
        "notifications"
    }

    fn schedule(&self) -> Schedule {
        Schedule::Every(Duration::from_secs(30))
    }

    async fn run(&self) -> anyhow::Result<serde_json::Value> {
        Ok(serde_json::to_value(self.service.deliver_due().await?)?)
    }
}
