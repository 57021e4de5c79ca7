//! `cleanup` (hourly): deletes one-time codes consumed or expired for more than an hour and
//! sessions expired or revoked for more than 30 days.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use blu_app::ports::{Store, real_now};
use serde_json::json;

use crate::{Job, Schedule};

pub struct CleanupJob {
    store: Arc<dyn Store>,
}

impl CleanupJob {
    pub fn new(store: Arc<dyn Store>) -> CleanupJob {
        CleanupJob { store }
    }
}

/// Codes are kept an hour after use or expiry (support can still see a failed login).
const OTP_RETENTION: Duration = Duration::from_secs(3600);
/// Sessions are kept 30 days after they end (an audit trail of logins).
const SESSION_RETENTION: Duration = Duration::from_secs(30 * 86_400);

#[async_trait]
impl Job for CleanupJob {
    fn name(&self) -> &'static str {
        "cleanup"
    }

    fn schedule(&self) -> Schedule {
        Schedule::Every(Duration::from_secs(3600))
    }

    async fn run(&self) -> anyhow::Result<serde_json::Value> {
        let now = real_now();
        let (codes, sessions) = self
            .store
            .purge_auth(
                now.minus_duration(OTP_RETENTION),
                now.minus_duration(SESSION_RETENTION),
            )
            .await?;
        Ok(json!({ "otpCodesDeleted": codes, "sessionsDeleted": sessions }))
    }
}
