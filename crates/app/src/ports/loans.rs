//! Loan storage (business-rules §7): loan rows with their six installments, written inside the
//! portfolio transaction of the movement that changes them, and the notification outbox rows
//! of the loan-health job.

use blu_domain::loan::{HealthStatus, LiquidationReason, Loan};
use blu_domain::{Irr, Timestamp};
use rust_decimal::Decimal;
use uuid::Uuid;

/// A stored loan: identity, the domain loan and what the health job last recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoanRecord {
    pub id: Uuid,
    pub portfolio_id: Uuid,
    pub loan: Loan,
    /// LTV stored by the loan-health job.
    pub current_ltv: Option<Decimal>,
    /// Band stored by the loan-health job.
    pub health_status: Option<HealthStatus>,
    /// LIQUIDATED only: reason, instant and the recorded shortfall (the domain's full
    /// liquidation plan lives in the LOAN_LIQUIDATE ledger entry).
    pub liquidated: Option<(LiquidationReason, Timestamp, Irr)>,
    pub created_at: Timestamp,
}

impl LoanRecord {
    /// The liquidation facts, from the domain record when the loan was just liquidated.
    pub fn liquidation_facts(&self) -> Option<(LiquidationReason, Timestamp, Irr)> {
        match &self.loan.liquidation {
            Some(l) => Some((l.reason, l.liquidated_at, l.plan.shortfall)),
            None => self.liquidated,
        }
    }
}

/// A loan to insert (new) or update (ACTIVE before the change) in the movement's transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoanWrite {
    pub record: LoanRecord,
    /// True for a new loan; otherwise the update only applies to a loan still ACTIVE and a
    /// loan that is not is a `StoreError::Conflict(Conflict::LoanNotActive)`.
    pub insert: bool,
    pub notification: Option<LoanNotification>,
}

/// A row of the `notifications` outbox; unique per (kind, entityId, dedupeKey), a duplicate is
/// silently skipped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoanNotification {
    pub id: Uuid,
    pub user_id: Uuid,
    pub kind: String,
    pub entity_id: String,
    pub dedupe_key: String,
    pub title: String,
    pub body: String,
    pub data: Option<serde_json::Value>,
    pub at: Timestamp,
}

/// What the loan-health job stores for an ACTIVE loan without a money movement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoanHealthWrite {
    pub loan_id: Uuid,
    pub current_ltv: Option<Decimal>,
    pub health_status: HealthStatus,
    pub checked_at: Timestamp,
    pub notification: Option<LoanNotification>,
}

/// The stored name of a liquidation reason (`loans.liquidation_reason`).
pub fn reason_text(reason: LiquidationReason) -> &'static str {
    match reason {
        LiquidationReason::LtvBreach => "LTV",
        LiquidationReason::MaturityDefault => "MATURITY_DEFAULT",
    }
}
