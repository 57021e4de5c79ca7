//! Loan health (business-rules §7.8, D24): the LTV of a loan at a collateral price and its band.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::{CAUTION_LTV, CRITICAL_LTV, Loan, WARNING_LTV};
use crate::money::Irr;
use crate::time::Timestamp;

impl Loan {
    /// LTV and health band at a collateral price (§7.8).
    pub fn health(&self, now: Timestamp, price_irr: Decimal) -> LoanHealth {
        let collateral_value = self.collateral_value(price_irr);
        let debt = self.outstanding_debt(now);
        let ltv = ltv(debt, collateral_value);
        LoanHealth {
            collateral_value,
            debt,
            ltv,
            status: HealthStatus::from_ltv(ltv),
        }
    }
}

/// `LTV = debt / collateralValue`, full precision; `None` when the collateral value is not
/// positive (then the band is CRITICAL).
pub fn ltv(debt: Irr, collateral_value: Irr) -> Option<Decimal> {
    collateral_value
        .is_positive()
        .then(|| debt.value() / collateral_value.value())
}

/// Health bands (D24): HEALTHY < 0.75 ≤ CAUTION < 0.80 ≤ WARNING < 0.90 ≤ CRITICAL.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "UPPERCASE")]
pub enum HealthStatus {
    Healthy,
    Caution,
    Warning,
    Critical,
}

impl HealthStatus {
    /// The band of an LTV; `None` (no collateral value) is CRITICAL.
    pub fn from_ltv(ltv: Option<Decimal>) -> HealthStatus {
        match ltv {
            None => HealthStatus::Critical,
            Some(l) if l >= CRITICAL_LTV => HealthStatus::Critical,
            Some(l) if l >= WARNING_LTV => HealthStatus::Warning,
            Some(l) if l >= CAUTION_LTV => HealthStatus::Caution,
            Some(_) => HealthStatus::Healthy,
        }
    }

    /// Entering one of these bands notifies the user (§7.8).
    pub fn notifies(self) -> bool {
        matches!(self, HealthStatus::Warning | HealthStatus::Critical)
    }
}

/// A loan's LTV and band at one price.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoanHealth {
    pub collateral_value: Irr,
    pub debt: Irr,
    /// Full precision; the wire rounds to 6 dp. `None` when the collateral has no value.
    pub ltv: Option<Decimal>,
    pub status: HealthStatus,
}
