//! The push-notification port (FCM in production, the log in development).

use std::collections::BTreeMap;

use async_trait::async_trait;

/// One notification to one device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PushMessage {
    /// The device's FCM registration token (from `PUT /profile/settings`).
    pub device_token: String,
    pub title: String,
    pub body: String,
    /// String key/value pairs the app receives with the notification.
    pub data: BTreeMap<String, String>,
}

#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// The token is no longer valid (uninstalled app, rotated token): stop sending to it.
    #[error("device token is no longer registered")]
    Unregistered,
    /// The provider refused this message for good (bad payload, wrong project).
    #[error("push rejected: {0}")]
    Rejected(String),
    /// Try again later (network, provider overload, quota).
    #[error("push provider unavailable: {0}")]
    Unavailable(String),
}

#[async_trait]
pub trait PushSender: Send + Sync {
    async fn send(&self, message: &PushMessage) -> Result<(), PushError>;
}
