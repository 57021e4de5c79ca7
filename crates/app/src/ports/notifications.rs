//! The notification outbox (business-rules §10): features enqueue rows with a unique
//! (kind, entity id, dedupe key); the `notifications` job claims due rows and delivers each.
//! Also the reads the `reminders` job needs and the `cleanup` housekeeping.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use blu_domain::Timestamp;
use uuid::Uuid;

use super::StoreResult;

/// Marker stored in `last_error` just before a row's push is sent. Delivery is at most once per
/// key (business-rules §10): a row a crashed worker may have sent is never claimed again. Rows
/// it had claimed but not started are claimed again once their claim (`next_attempt_at`) ends.
pub const IN_FLIGHT: &str = "in flight";
/// Prefix of `last_error` for rows closed without sending (disabled, no token).
pub const SKIPPED_PREFIX: &str = "skipped: ";

/// A notification to enqueue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewNotification {
    pub user_id: Uuid,
    /// `DRIFT`, `INSTALLMENT_DUE`, `PROTECTION_EXPIRING`, `PRICE_MOVE`, `LOAN_HEALTH`, …
    pub kind: String,
    pub entity_id: String,
    pub dedupe_key: String,
    pub title: String,
    pub body: String,
    pub data: BTreeMap<String, String>,
}

/// A claimed outbox row with what delivery needs from its user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingNotification {
    pub id: Uuid,
    pub user_id: Uuid,
    pub kind: String,
    pub title: String,
    pub body: String,
    pub data: BTreeMap<String, String>,
    /// Attempts including this one.
    pub attempts: i32,
    pub notifications_enabled: bool,
    pub device_token: Option<String>,
}

/// Something due for a user (an installment, a protection), for reminders.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DueItem {
    pub id: Uuid,
    pub user_id: Uuid,
    pub due_at: Timestamp,
    /// The asset (protections) or the installment number (installments), for the copy.
    pub label: String,
}

/// Rows the cleanup job removed beyond auth rows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Housekeeping {
    pub idempotency_keys: u64,
    pub trade_quotes: u64,
    pub protection_quotes: u64,
    pub activity_rows: u64,
}

#[async_trait]
pub trait NotificationStore: Send + Sync {
    /// Adds a row due at `now`; `false` when its (kind, entity, dedupe key) already exists.
    async fn enqueue(&self, notification: &NewNotification, now: Timestamp) -> StoreResult<bool>;

    /// Claims up to `limit` due rows with fewer than `max_attempts` attempts that were never
    /// marked in flight (SKIP LOCKED on PostgreSQL): each gets one more attempt and
    /// `next_attempt_at = in_flight_until`, so no other worker claims it before then.
    async fn claim_due(
        &self,
        now: Timestamp,
        limit: u32,
        max_attempts: i32,
        in_flight_until: Timestamp,
    ) -> StoreResult<Vec<PendingNotification>>;

    /// Marks a claimed row [`IN_FLIGHT`] just before its push is sent.
    async fn mark_sending(&self, id: Uuid) -> StoreResult<()>;

    async fn mark_delivered(&self, id: Uuid, now: Timestamp) -> StoreResult<()>;

    /// Closes a row without sending it (`reason` is recorded after [`SKIPPED_PREFIX`]).
    async fn mark_skipped(&self, id: Uuid, reason: &str, now: Timestamp) -> StoreResult<()>;

    /// Records a failed attempt; the row is retried from `next_attempt_at`.
    async fn mark_failed(
        &self,
        id: Uuid,
        error: &str,
        next_attempt_at: Timestamp,
    ) -> StoreResult<()>;

    /// Forgets the user's device token if it is still `token` (FCM said UNREGISTERED).
    async fn clear_device_token(&self, user_id: Uuid, token: &str) -> StoreResult<bool>;

    /// Unpaid installments of ACTIVE loans due in (from, until].
    async fn installments_due(
        &self,
        from: Timestamp,
        until: Timestamp,
    ) -> StoreResult<Vec<DueItem>>;

    /// ACTIVE protections expiring in (from, until].
    async fn protections_expiring(
        &self,
        from: Timestamp,
        until: Timestamp,
    ) -> StoreResult<Vec<DueItem>>;

    /// Deletes idempotency records created before `now - idempotency_ttl`, quotes expired
    /// before `now` — consumed trade quotes only once expired before `now -
    /// consumed_quote_ttl` — and activity rows beyond the latest `activity_keep` per portfolio.
    async fn housekeeping(
        &self,
        now: Timestamp,
        idempotency_ttl: Duration,
        consumed_quote_ttl: Duration,
        activity_keep: u32,
    ) -> StoreResult<Housekeeping>;
}

/// A portfolio's stored status (before a refresh).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredStatus {
    pub portfolio_id: Uuid,
    pub user_id: Uuid,
    pub status: String,
}

/// Metrics the status refresh stores on a portfolio.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusWrite {
    pub status: String,
    pub holdings_value_irr: rust_decimal::Decimal,
    pub total_value_irr: rust_decimal::Decimal,
    /// FOUNDATION, GROWTH, UPSIDE fractions.
    pub shares: [rust_decimal::Decimal; 3],
    pub max_drift_pp: rust_decimal::Decimal,
    /// Set when the status changed into drift; `None` keeps the stored value.
    pub drift_detected_at: Option<Timestamp>,
    pub at: Timestamp,
}

#[async_trait]
pub trait StatusStore: Send + Sync {
    /// Every portfolio with its owner and stored status.
    async fn portfolio_statuses(&self) -> StoreResult<Vec<StoredStatus>>;

    /// Stores the refreshed status and metrics (not a money movement: no ledger entry).
    async fn save_status(&self, portfolio_id: Uuid, write: &StatusWrite) -> StoreResult<()>;
}
