//! The protection storage port (business-rules §8): quotes, protections, and the writes a
//! protection movement adds to a [`super::PortfolioChange`].

use async_trait::async_trait;
use blu_domain::protection::{Protection, ProtectionQuote, VolatilityRegime};
use blu_domain::{AssetId, Timestamp};
use uuid::Uuid;

use super::operators::AuditEntry;
use super::store::StoreResult;

/// Lifecycle of a protection quote: AVAILABLE → RESERVED → CONSUMED, or EXPIRED.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QuoteState {
    Available,
    Reserved,
    Consumed,
    Expired,
}

impl QuoteState {
    pub fn as_str(self) -> &'static str {
        match self {
            QuoteState::Available => "AVAILABLE",
            QuoteState::Reserved => "RESERVED",
            QuoteState::Consumed => "CONSUMED",
            QuoteState::Expired => "EXPIRED",
        }
    }

    pub fn parse(text: &str) -> Option<QuoteState> {
        [
            QuoteState::Available,
            QuoteState::Reserved,
            QuoteState::Consumed,
            QuoteState::Expired,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

/// A stored protection quote (opaque `pq_…` id, 5 minutes, single use).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProtectionQuoteRecord {
    pub id: String,
    pub user_id: Uuid,
    pub portfolio_id: Uuid,
    pub holding_id: Uuid,
    pub quote: ProtectionQuote,
    pub state: QuoteState,
}

/// A stored protection with its identity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProtectionRecord {
    pub id: Uuid,
    pub portfolio_id: Uuid,
    pub holding_id: Option<Uuid>,
    pub quote_id: Option<String>,
    pub protection: Protection,
    pub created_at: Timestamp,
}

/// A row of the notification outbox, unique per (kind, entity, dedupe key).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProtectionNotification {
    pub user_id: Uuid,
    pub kind: String,
    pub entity_id: String,
    pub dedupe_key: String,
    pub title: String,
    pub body: String,
    pub data: serde_json::Value,
}

/// One protection write of a portfolio movement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProtectionWrite {
    /// A purchase: inserts the protection; its quote (if any) becomes CONSUMED and the other
    /// AVAILABLE quotes of the holding EXPIRED.
    Insert(ProtectionRecord),
    /// A transition out of ACTIVE (cancel, exercise, expiry), made conditionally on the stored
    /// status still being ACTIVE; a lost race is `StoreError::Conflict(Conflict::ProtectionNotActive)`.
    Transition {
        record: ProtectionRecord,
        notification: Option<ProtectionNotification>,
    },
}

/// The operator's volatility regime of one asset (business-rules §8.3): an ops setting shared by
/// every instance through the database. An asset without one is NORMAL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegimeSetting {
    pub asset: AssetId,
    pub regime: VolatilityRegime,
    pub reason: Option<String>,
    pub set_at: Timestamp,
}

/// Protection storage outside a portfolio movement.
#[async_trait]
pub trait ProtectionStore: Send + Sync {
    async fn save_protection_quote(&self, quote: &ProtectionQuoteRecord) -> StoreResult<()>;

    /// The user's protections, newest first.
    async fn protections(&self, user_id: Uuid) -> StoreResult<Vec<ProtectionRecord>>;

    /// (user id, protection id) of every ACTIVE protection with `expiresAt ≤ now`, oldest
    /// expiry first (operator access, every tenant).
    async fn due_protections(&self, now: Timestamp) -> StoreResult<Vec<(Uuid, Uuid)>>;

    /// Every stored volatility regime (operator setting, any order).
    async fn volatility_regimes(&self) -> StoreResult<Vec<RegimeSetting>>;

    /// Sets an asset's regime, replacing the one it had, with the operator's audit row in the
    /// same transaction (issue 15).
    async fn set_volatility_regime(
        &self,
        setting: &RegimeSetting,
        audit: Option<&AuditEntry>,
    ) -> StoreResult<()>;

    /// Removes an asset's regime (it is NORMAL again), with the audit row; `false` when none
    /// was set.
    async fn clear_volatility_regime(
        &self,
        asset: AssetId,
        audit: Option<&AuditEntry>,
    ) -> StoreResult<bool>;
}
