//! The storage port. Two implementations live in `blu-store` (PostgreSQL and SQLite); one
//! conformance suite runs against both so they cannot drift. Methods are shaped by use case:
//! each is one statement or one short transaction, so a request costs few round trips.

use async_trait::async_trait;
use blu_domain::Timestamp;
use uuid::Uuid;

/// Failures of the storage layer. Business outcomes are values, not errors.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached or refused the work (maps to 503 SERVICE_UNAVAILABLE).
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The write collided with a rule of the data (a uniqueness constraint, a state that
    /// changed under it); the store names which at the statement that hit it.
    #[error("conflict: {0}")]
    Conflict(Conflict),
    /// The idempotency claim this work was done under was taken over (its owner looked dead):
    /// the work is rolled back and the key belongs to the request that took it.
    #[error("the idempotency claim is no longer held")]
    IdempotencyClaimLost,
    /// Anything else: a bug or corrupt data (maps to 500).
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// What a refused write collided with. Use cases match these, never a constraint name.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Conflict {
    /// The user already has a portfolio (one per user).
    #[error("the user already has a portfolio")]
    PortfolioExists,
    /// The trade quote was consumed by another movement.
    #[error("the trade quote was already consumed")]
    TradeQuoteConsumed,
    /// The protection quote was consumed by another purchase.
    #[error("the protection quote was already consumed")]
    ProtectionQuoteConsumed,
    /// The protection stopped being active (settled, cancelled or expired) under the change.
    #[error("the protection is no longer active")]
    ProtectionNotActive,
    /// The loan stopped being active (repaid or liquidated) under the change.
    #[error("the loan is no longer active")]
    LoanNotActive,
    /// A uniqueness rule no use case names (a duplicate id, a second ledger entry with the
    /// same sequence number): the constraint, for the log.
    #[error("uniqueness rule {0}")]
    Unique(String),
}

/// A stored one-time code (the code itself is never stored, only its keyed hash).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OtpRecord {
    pub id: Uuid,
    pub phone: String,
    /// Lower-case hex HMAC-SHA256(OTP key, phone ‖ code).
    pub code_hash: String,
    pub attempts: i32,
    pub consumed: bool,
    pub expires_at: Timestamp,
    pub created_at: Timestamp,
}

/// A user account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserRecord {
    pub id: Uuid,
    pub phone: String,
    pub phone_verified: bool,
    pub risk_score: Option<i32>,
    pub consent_risk: bool,
    pub consent_loss: bool,
    pub consent_no_guarantee: bool,
    pub has_portfolio: bool,
    pub created_at: Timestamp,
    pub last_login_at: Option<Timestamp>,
}

impl UserRecord {
    /// Risk score set, all three consents, and a portfolio (business-rules §1.7).
    pub fn onboarding_complete(&self) -> bool {
        self.risk_score.is_some()
            && self.consent_risk
            && self.consent_loss
            && self.consent_no_guarantee
            && self.has_portfolio
    }
}

/// A login session: one refresh-token family.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRecord {
    pub id: Uuid,
    pub user_id: Uuid,
    /// SHA-256 hex of the current refresh token.
    pub refresh_token_hash: String,
    /// SHA-256 hex of the token the last rotation retired (the concurrent-refresh grace).
    pub previous_refresh_token_hash: Option<String>,
    /// Rotation counter, carried in the refresh token as `gen`.
    pub generation: i64,
    /// When the current refresh token was issued (creation or last rotation).
    pub rotated_at: Timestamp,
    pub expires_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
    pub created_at: Timestamp,
}

/// A session to open.
#[derive(Clone, Debug)]
pub struct NewSession {
    pub id: Uuid,
    pub user_id: Uuid,
    pub refresh_token_hash: String,
    pub issued_at: Timestamp,
    pub expires_at: Timestamp,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
}

/// A rotation of a session's refresh token, applied only if the session still holds
/// `expected_hash` at `expected_generation` (so two concurrent rotations cannot both win).
#[derive(Clone, Debug)]
pub struct SessionRotation {
    pub session_id: Uuid,
    pub expected_hash: String,
    pub expected_generation: i64,
    pub new_hash: String,
    pub rotated_at: Timestamp,
    pub expires_at: Timestamp,
}

/// The enrolled key of a device whose challenge was just consumed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BiometricKey {
    pub user_id: Uuid,
    /// Base64 SPKI as enrolled.
    pub public_key: String,
}

/// Authentication storage.
#[async_trait]
pub trait AuthStore: Send + Sync {
    /// Stores a new code and invalidates (consumes) every older code of the phone, atomically.
    async fn replace_otp(&self, otp: &OtpRecord) -> StoreResult<()>;

    /// The newest unconsumed code of the phone, expired or not.
    async fn latest_otp(&self, phone: &str) -> StoreResult<Option<OtpRecord>>;

    /// Atomically counts one verification attempt: increments `attempts` only if the code is
    /// unconsumed, unexpired at `now` and below `max_attempts`; returns the updated row, or
    /// `None` when no attempt is left.
    async fn take_otp_attempt(
        &self,
        id: Uuid,
        now: Timestamp,
        max_attempts: i32,
    ) -> StoreResult<Option<OtpRecord>>;

    /// Marks a code used; false if it was already consumed (a concurrent verification won).
    async fn consume_otp(&self, id: Uuid) -> StoreResult<bool>;

    /// Whether the phone was sent this code (its hash) before and it is no longer usable: a
    /// newer code superseded it, or it was used. Such a code answers `OTP_EXPIRED` (api.md).
    async fn otp_superseded(&self, phone: &str, code_hash: &str) -> StoreResult<bool>;

    /// Finds the active user of the phone or creates one; marks the phone verified and records
    /// the login. Returns the user and whether it was created.
    async fn login_user(&self, phone: &str, now: Timestamp) -> StoreResult<(UserRecord, bool)>;

    async fn user(&self, id: Uuid) -> StoreResult<Option<UserRecord>>;

    async fn create_session(&self, session: &NewSession) -> StoreResult<()>;

    async fn session(&self, id: Uuid) -> StoreResult<Option<SessionRecord>>;

    /// Applies a rotation; false when the session no longer matches (lost a race).
    async fn rotate_session(&self, rotation: &SessionRotation) -> StoreResult<bool>;

    /// Revokes one session; returns how many were revoked (0 or 1).
    async fn revoke_session(&self, id: Uuid, now: Timestamp) -> StoreResult<u64>;

    /// Revokes every unrevoked session of a user; returns how many.
    async fn revoke_user_sessions(&self, user_id: Uuid, now: Timestamp) -> StoreResult<u64>;

    /// Stores a login challenge (its hash) for every enrolment of the device id by an active
    /// user, each naming its user (D38); false when no such enrolment exists.
    async fn create_biometric_challenge(
        &self,
        device_id: &str,
        challenge_hash: &str,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> StoreResult<bool>;

    /// Consumes the device's challenge if it is unused and unexpired at `now` (once, however
    /// many callers race) and returns the keys of the enrolments it was issued to, first
    /// enrolled first; empty otherwise.
    async fn consume_biometric_challenge(
        &self,
        device_id: &str,
        challenge_hash: &str,
        now: Timestamp,
    ) -> StoreResult<Vec<BiometricKey>>;

    /// Records a successful device-key login: the user's enrolment of the device was used, and
    /// the user's last login.
    async fn record_biometric_login(
        &self,
        device_id: &str,
        user_id: Uuid,
        now: Timestamp,
    ) -> StoreResult<()>;

    /// Deletes challenges that expired before `before`; returns how many.
    async fn purge_biometric_challenges(&self, before: Timestamp) -> StoreResult<u64>;

    /// Deletes codes consumed or expired before `older_than` and sessions expired or revoked
    /// before `sessions_older_than`; returns (codes, sessions) deleted.
    async fn purge_auth(
        &self,
        older_than: Timestamp,
        sessions_older_than: Timestamp,
    ) -> StoreResult<(u64, u64)>;
}

/// Everything the application stores. Grows with the use cases.
#[async_trait]
pub trait Store: AuthStore + super::JobStore + super::price_feed::PriceStore {
    /// Backend name for logs and `/ready` (`postgres` or `sqlite`).
    fn backend(&self) -> &'static str;

    /// A cheap round trip proving the database answers.
    async fn ping(&self) -> StoreResult<()>;
}
