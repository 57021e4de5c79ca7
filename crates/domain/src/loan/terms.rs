//! The money terms of a loan (business-rules §7.1, §7.5; D21): its two durations, the total
//! interest on the original principal and the six-installment schedule, before any collateral
//! is attached.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::{ANNUAL_INTEREST_RATE, DAYS_PER_MONTH, INSTALLMENT_COUNT};
use crate::error::{RuleResult, RuleViolation};
use crate::money::{Irr, checked_ratio, round_half_up};
use crate::time::Timestamp;

/// The two loan durations (D21). Typed so that an invalid duration cannot reach the rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum LoanDuration {
    ThreeMonths,
    SixMonths,
}

impl LoanDuration {
    /// Parses `durationMonths`; anything but 3 or 6 is a `VALIDATION_ERROR` (§7.4 check 1).
    pub fn from_months(months: i64) -> RuleResult<LoanDuration> {
        match months {
            3 => Ok(LoanDuration::ThreeMonths),
            6 => Ok(LoanDuration::SixMonths),
            _ => Err(RuleViolation::invalid_field(
                "durationMonths",
                "must be 3 or 6",
            )),
        }
    }

    pub fn months(self) -> i64 {
        match self {
            LoanDuration::ThreeMonths => 3,
            LoanDuration::SixMonths => 6,
        }
    }

    /// 90 or 180 days.
    pub fn days(self) -> i64 {
        self.months() * DAYS_PER_MONTH
    }

    /// Days between installments: 15 or 30.
    pub fn installment_interval_days(self) -> i64 {
        self.days() / INSTALLMENT_COUNT
    }
}

/// `I = round(P × 0.30 × months / 12)` (D21).
pub fn total_interest(principal: Irr, duration: LoanDuration) -> Irr {
    Irr::round(
        principal.value() * ANNUAL_INTEREST_RATE * Decimal::from(duration.months())
            / Decimal::from(12),
    )
}

/// Installment status (api.md §1.6 `InstallmentStatus`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum InstallmentStatus {
    Pending,
    Partial,
    Paid,
}

/// One of the six scheduled installments, with what has been applied to each part.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Installment {
    /// 1…6.
    pub number: i64,
    pub due_date: Timestamp,
    pub principal: Irr,
    pub interest: Irr,
    pub principal_paid: Irr,
    pub interest_paid: Irr,
    pub status: InstallmentStatus,
    pub paid_at: Option<Timestamp>,
}

impl Installment {
    /// `total_k = principal_k + interest_k`.
    pub fn total(&self) -> Irr {
        self.principal + self.interest
    }

    /// What was actually applied to this installment (`paidIrr`).
    pub fn paid(&self) -> Irr {
        self.principal_paid + self.interest_paid
    }

    pub fn unpaid_principal(&self) -> Irr {
        self.principal - self.principal_paid
    }

    pub fn unpaid_interest(&self) -> Irr {
        self.interest - self.interest_paid
    }

    pub fn is_paid(&self) -> bool {
        self.status == InstallmentStatus::Paid
    }

    /// An unpaid installment past its due date is reported `overdue: true` (§7.1). No fee
    /// follows from it.
    pub fn is_overdue(&self, now: Timestamp) -> bool {
        !self.is_paid() && now > self.due_date
    }

    pub(super) fn refresh_status(&mut self, now: Timestamp) {
        if self.unpaid_principal().is_zero() && self.unpaid_interest().is_zero() {
            if self.status != InstallmentStatus::Paid {
                self.status = InstallmentStatus::Paid;
                self.paid_at = Some(now);
            }
        } else if self.paid().is_positive() {
            self.status = InstallmentStatus::Partial;
        }
    }

    /// Closes the installment as PAID whatever was applied (settlement and liquidation, §7.7,
    /// §7.9); `paid()` keeps showing what was actually applied.
    pub(super) fn close(&mut self, now: Timestamp) {
        if self.status != InstallmentStatus::Paid {
            self.status = InstallmentStatus::Paid;
            self.paid_at = Some(now);
        }
    }
}

/// The six-installment schedule (§7.5): `due_k = start + k × interval` days; equal parts are
/// `floor(P/6)` and `floor(I/6)`, the sixth takes the remainders, so the parts always sum
/// exactly to P and I.
pub fn installment_schedule(
    principal: Irr,
    interest: Irr,
    duration: LoanDuration,
    start: Timestamp,
) -> Vec<Installment> {
    let six = Decimal::from(INSTALLMENT_COUNT);
    let principal_part = Irr::floor(principal.value() / six);
    let interest_part = Irr::floor(interest.value() / six);
    let five = Decimal::from(INSTALLMENT_COUNT - 1);
    (1..=INSTALLMENT_COUNT)
        .map(|k| {
            let last = k == INSTALLMENT_COUNT;
            Installment {
                number: k,
                due_date: start.plus_days(k * duration.installment_interval_days()),
                principal: if last {
                    principal - principal_part.mul_round(five)
                } else {
                    principal_part
                },
                interest: if last {
                    interest - interest_part.mul_round(five)
                } else {
                    interest_part
                },
                principal_paid: Irr::ZERO,
                interest_paid: Irr::ZERO,
                status: InstallmentStatus::Pending,
                paid_at: None,
            }
        })
        .collect()
}

/// The money terms of a loan before any collateral is attached (shared by preview and
/// creation, §7.4).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoanTerms {
    pub principal: Irr,
    pub duration: LoanDuration,
    pub total_interest: Irr,
    pub start: Timestamp,
    /// `start + 30 × months` days.
    pub due_date: Timestamp,
    pub installments: Vec<Installment>,
}

impl LoanTerms {
    pub fn new(principal: Irr, duration: LoanDuration, start: Timestamp) -> LoanTerms {
        let total_interest = total_interest(principal, duration);
        LoanTerms {
            principal,
            duration,
            total_interest,
            start,
            due_date: start.plus_days(duration.days()),
            installments: installment_schedule(principal, total_interest, duration, start),
        }
    }

    /// `totalDue = P + I`.
    pub fn total_due(&self) -> Irr {
        self.principal + self.total_interest
    }

    /// The annual rate the loan's interest implies, `I / P × 12 / months`, rounded half-up to
    /// 6 places (`effectiveAPR` of the preview; 0.30 up to the rounding of I). `None` when the
    /// principal is not positive: there is no rate to report.
    pub fn effective_annual_rate(&self) -> Option<Decimal> {
        let months = Decimal::from(self.duration.months());
        let per_year = self.total_interest.value().checked_mul(Decimal::from(12))?;
        let base = self.principal.value().checked_mul(months)?;
        if !self.principal.is_positive() {
            return None;
        }
        checked_ratio(per_year, base).map(|r| round_half_up(r, 6).normalize())
    }

    /// The regular installment amount (`installmentAmountIrr` of the preview): the first
    /// installment's total; only the sixth can differ, by the rounding remainders.
    pub fn installment_amount(&self) -> Irr {
        self.installments[0].total()
    }
}
