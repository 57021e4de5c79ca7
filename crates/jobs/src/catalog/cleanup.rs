//! `cleanup` (hourly): deletes one-time codes consumed or expired and device-login challenges
//! expired for more than an hour, sessions expired or revoked for more than 30 days,
//! idempotency records older than 24 h, expired trade and protection quotes (consumed trade
//! quotes an hour after expiry), job runs older than 7 days (each job's newest run stays), and
//! trims the activity log to the latest 50 rows per portfolio (the ledger keeps everything).
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use blu_app::ports::{Clock, NotificationStore, Store, real_now};
use serde_json::json;

use crate::{Job, Schedule};

pub struct CleanupJob {
    store: Arc<dyn Store>,
    housekeeping: Arc<dyn NotificationStore>,
    /// Business time: quotes expire on the business clock.
    clock: Arc<dyn Clock>,
}

impl CleanupJob {
    pub fn new(
        store: Arc<dyn Store>,
        housekeeping: Arc<dyn NotificationStore>,
        clock: Arc<dyn Clock>,
    ) -> CleanupJob {
        CleanupJob {
            store,
            housekeeping,
            clock,
        }
    }
}

/// Codes are kept an hour after use or expiry (support can still see a failed login).
const OTP_RETENTION: Duration = Duration::from_secs(3600);
/// Sessions are kept 30 days after they end (an audit trail of logins).
const SESSION_RETENTION: Duration = Duration::from_secs(30 * 86_400);
/// Stored responses are replayed for 24 h (D29).
const IDEMPOTENCY_RETENTION: Duration = Duration::from_secs(86_400);
/// A consumed trade quote's row is what makes a quote kept in Redis single use (the execute
/// records it; a second consumption changes no row): kept an hour past the quote's expiry, far
/// beyond the Redis copy's 60 s and any clock difference between instances.
const CONSUMED_QUOTE_RETENTION: Duration = Duration::from_secs(3600);
/// Job runs are kept a week (the `prices` job alone writes 2,880 a day).
const JOB_RUN_RETENTION: Duration = Duration::from_secs(7 * 86_400);
/// Activity rows kept per portfolio.
const ACTIVITY_KEPT: u32 = 50;

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
        let challenges = self
            .store
            .purge_biometric_challenges(now.minus_duration(OTP_RETENTION))
            .await?;
        let job_runs = self
            .store
            .purge_runs(now.minus_duration(JOB_RUN_RETENTION))
            .await?;
        let kept = self
            .housekeeping
            .housekeeping(
                self.clock.now(),
                IDEMPOTENCY_RETENTION,
                CONSUMED_QUOTE_RETENTION,
                ACTIVITY_KEPT,
            )
            .await?;
        Ok(json!({
            "otpCodesDeleted": codes,
            "sessionsDeleted": sessions,
            "biometricChallengesDeleted": challenges,
            "jobRunsDeleted": job_runs,
            "idempotencyKeysDeleted": kept.idempotency_keys,
            "tradeQuotesDeleted": kept.trade_quotes,
            "protectionQuotesDeleted": kept.protection_quotes,
            "activityRowsDeleted": kept.activity_rows,
        }))
    }
}
