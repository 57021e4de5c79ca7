//! The SMS port: how one-time codes reach a phone.

use async_trait::async_trait;

/// Why a message could not be sent. Callers fail fast with 503 SERVICE_UNAVAILABLE.
#[derive(Debug, thiserror::Error)]
pub enum SmsError {
    #[error("sms provider is not configured")]
    NotConfigured,
    #[error("sms provider refused the message: {0}")]
    Rejected(String),
    #[error("sms provider unreachable: {0}")]
    Unreachable(String),
}

/// A message kept by the development gateway (readable only through the admin API).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OutboxMessage {
    pub phone: String,
    pub text: String,
    pub code: String,
    pub sent_at: String,
}

#[async_trait]
pub trait SmsGateway: Send + Sync {
    /// Sends a login code to a phone in international form (`+989…`).
    async fn send_otp(&self, phone: &str, code: &str) -> Result<(), SmsError>;

    /// Recent messages, newest first, when this gateway keeps an outbox (development only).
    fn outbox(&self, _phone: Option<&str>, _limit: usize) -> Option<Vec<OutboxMessage>> {
        None
    }
}
