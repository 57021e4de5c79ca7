//! Development push sender: logs the notification (never the device token) and succeeds.

use async_trait::async_trait;
use blu_app::ports::{PushError, PushMessage, PushSender};

#[derive(Debug, Default)]
pub struct LogPushSender;

#[async_trait]
impl PushSender for LogPushSender {
    async fn send(&self, message: &PushMessage) -> Result<(), PushError> {
        tracing::info!(title = %message.title, body = %message.body, "development push sender: notification");
        Ok(())
    }
}
