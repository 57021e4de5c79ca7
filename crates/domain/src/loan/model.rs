//! The loan itself (business-rules §7.1–7.2, api.md §2.2): its status, what it owes at an
//! instant (started days, ACT/365 accrual on the original principal) and the computed fields
//! of the Loan object. Repayment, health and liquidation add their own `impl Loan` blocks in
//! `repayment`, `health` and `liquidation`.

use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde::{Deserialize, Serialize};

use super::{
    ANNUAL_INTEREST_RATE, DAYS_PER_YEAR, Installment, LiquidationRecord, LoanDuration, LoanHealth,
    LoanTerms, ltv,
};
use crate::asset::AssetId;
use crate::money::{Irr, Quantity, checked_ratio, round_half_up};
use crate::time::{MICROS_PER_DAY, Timestamp};

/// Loan status (api.md §1.6 `LoanStatus`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum LoanStatus {
    Active,
    Repaid,
    Liquidated,
}

/// A loan. Identity (loan id, portfolio, holding) is the caller's concern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Loan {
    pub collateral_asset: AssetId,
    /// The holding's quantity when the loan was created; never more is sold for this loan.
    pub collateral_quantity: Quantity,
    /// `round(collateralQuantity × priceIrr)` at creation.
    pub collateral_value_at_start: Irr,
    /// Effective max LTV of the collateral asset (D10).
    pub max_ltv: Decimal,
    pub principal: Irr,
    pub duration: LoanDuration,
    pub total_interest: Irr,
    pub start: Timestamp,
    pub due_date: Timestamp,
    pub principal_paid: Irr,
    pub interest_paid: Irr,
    /// Sorted by number; always six.
    pub installments: Vec<Installment>,
    pub status: LoanStatus,
    /// When the loan became REPAID.
    pub settled_at: Option<Timestamp>,
    /// Scheduled interest not charged because the loan was settled early (§7.7).
    pub interest_forgiven: Option<Irr>,
    pub liquidation: Option<LiquidationRecord>,
}

impl Loan {
    /// A new ACTIVE loan from its terms and collateral. Performs no checks: use
    /// [`create_loan`] for the validated path.
    pub fn from_terms(
        terms: LoanTerms,
        collateral_asset: AssetId,
        collateral_quantity: Quantity,
        collateral_value: Irr,
    ) -> Loan {
        Loan {
            collateral_asset,
            collateral_quantity,
            collateral_value_at_start: collateral_value,
            max_ltv: collateral_asset.asset().effective_max_ltv(),
            principal: terms.principal,
            duration: terms.duration,
            total_interest: terms.total_interest,
            start: terms.start,
            due_date: terms.due_date,
            principal_paid: Irr::ZERO,
            interest_paid: Irr::ZERO,
            installments: terms.installments,
            status: LoanStatus::Active,
            settled_at: None,
            interest_forgiven: None,
            liquidation: None,
        }
    }

    pub fn is_active(&self) -> bool {
        self.status == LoanStatus::Active
    }

    /// `totalDue = P + I`.
    pub fn total_due(&self) -> Irr {
        self.principal + self.total_interest
    }

    /// `ltv = P / collateralValue` at creation (None when the collateral had no value).
    pub fn ltv_at_creation(&self) -> Option<Decimal> {
        ltv(self.principal, self.collateral_value_at_start)
    }

    /// `days(t)`: started days since the start, 0 at the start instant (§7.2).
    pub fn days_elapsed(&self, now: Timestamp) -> i64 {
        now.started_days_since(self.start)
    }

    /// `accrued(t) = min(I, round(P × 0.30 × days(t) / 365))` on the original principal.
    pub fn accrued_interest(&self, now: Timestamp) -> Irr {
        let accrued = Irr::round(
            self.principal.value() * ANNUAL_INTEREST_RATE * Decimal::from(self.days_elapsed(now))
                / Decimal::from(DAYS_PER_YEAR),
        );
        accrued.min(self.total_interest)
    }

    pub fn unpaid_principal(&self) -> Irr {
        self.principal - self.principal_paid
    }

    /// Accrued interest not yet paid; interest paid ahead of accrual is never refunded, so
    /// this is never negative.
    pub fn unpaid_accrued_interest(&self, now: Timestamp) -> Irr {
        (self.accrued_interest(now) - self.interest_paid).max_zero()
    }

    /// `outstandingDebt(t) = unpaidPrincipal + max(0, accrued(t) − interestPaid)`: the
    /// early-payoff amount, the LTV numerator and the liquidation debt. A loan that is no longer
    /// ACTIVE owes nothing (a liquidation shortfall is recorded, not collected, §7.9).
    pub fn outstanding_debt(&self, now: Timestamp) -> Irr {
        if !self.is_active() {
            return Irr::ZERO;
        }
        self.unpaid_principal() + self.unpaid_accrued_interest(now)
    }

    /// `paidIrr`: everything applied to the installments so far.
    pub fn paid(&self) -> Irr {
        self.installments.iter().map(Installment::paid).sum()
    }

    /// `installmentsPaid`: the count of PAID installments (6 once closed).
    pub fn installments_paid(&self) -> usize {
        self.installments.iter().filter(|i| i.is_paid()).count()
    }

    /// The first installment not yet PAID.
    pub fn next_open_installment(&self) -> Option<&Installment> {
        self.installments.iter().find(|i| !i.is_paid())
    }

    /// Current value of the collateral, `round(collateralQuantity × priceIrr)` (§7.2).
    pub fn collateral_value(&self, price_irr: Decimal) -> Irr {
        self.collateral_quantity.value_at(price_irr)
    }

    /// The computed numbers of the Loan object (api.md §2.2). `price_irr` is the collateral's
    /// latest price, if any (views use stored prices whatever their age, §2.4).
    pub fn figures(&self, now: Timestamp, price_irr: Option<Decimal>) -> LoanFigures {
        let total_due = self.total_due();
        let paid = self.paid();
        let active = self.is_active();
        let progress_pct = if self.status == LoanStatus::Repaid {
            dec!(100)
        } else {
            checked_ratio(dec!(100) * paid.value(), total_due.value())
                .map_or(Decimal::ZERO, |p| round_half_up(p, 2).normalize())
        };
        LoanFigures {
            paid,
            remaining: if active { total_due - paid } else { Irr::ZERO },
            payoff: active.then(|| self.outstanding_debt(now)),
            installments_paid: self.installments_paid(),
            progress_pct,
            days_until_due: if active {
                self.next_open_installment()
                    .map(|i| whole_days_until(now, i.due_date))
            } else {
                None
            },
            health: if active {
                price_irr.map(|p| self.health(now, p))
            } else {
                None
            },
        }
    }
}

/// Whole days from `now` until `due`, rounded down: 9 days and some hours is 9; one hour
/// overdue is −1, so any overdue installment reads negative (api.md §2.2 `daysUntilDue`).
fn whole_days_until(now: Timestamp, due: Timestamp) -> i64 {
    due.micros_since(now).div_euclid(MICROS_PER_DAY)
}

/// The computed fields of the Loan object (api.md §2.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoanFigures {
    pub paid: Irr,
    /// `totalDue − paid` while ACTIVE, 0 otherwise.
    pub remaining: Irr,
    /// ACTIVE only: the early-payoff amount now.
    pub payoff: Option<Irr>,
    pub installments_paid: usize,
    /// Percentage points, 2 dp; 100 once REPAID.
    pub progress_pct: Decimal,
    /// ACTIVE only.
    pub days_until_due: Option<i64>,
    /// ACTIVE with a known price only.
    pub health: Option<LoanHealth>,
}

/// Σ outstanding debt of the ACTIVE loans (`loansOutstanding`).
pub fn loans_outstanding(loans: &[Loan], now: Timestamp) -> Irr {
    loans.iter().map(|l| l.outstanding_debt(now)).sum()
}
