//! Loans against one holding (business-rules §7; decisions D10, D21–D24; api.md §2.2 and §9).
//!
//! A loan freezes its whole collateral holding, charges 30 % simple annual interest on the
//! original principal and is scheduled as six installments. What the user owes at any instant is
//! the unpaid principal plus the interest accrued so far (ACT/365, started days) that has not been
//! paid yet; this one figure drives the early-payoff amount, the LTV, the health band and the
//! liquidation sale. Freshness of prices is the caller's concern: every function here takes the
//! price it should use and `now` as parameters.

use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde::{Deserialize, Serialize};

use crate::asset::{AssetId, Layer};
use crate::error::{ErrorCode, RuleResult, RuleViolation};
use crate::money::{Irr, Quantity, checked_ratio, round_half_up};
use crate::num::Num;
use crate::portfolio::{PortfolioState, PriceBook, Valuation, holding_value, value_portfolio};
use crate::time::{MICROS_PER_DAY, Timestamp};

/// Simple annual interest rate on the original principal (D21).
pub const ANNUAL_INTEREST_RATE: Decimal = dec!(0.30);
/// Day-count basis of accrual (ACT/365).
pub const DAYS_PER_YEAR: i64 = 365;
/// A loan "month" is exactly 30 days: no calendar-month arithmetic anywhere (§0).
pub const DAYS_PER_MONTH: i64 = 30;
/// Every loan has six installments whatever its duration (D21).
pub const INSTALLMENT_COUNT: i64 = 6;
/// Smallest principal a loan may have, in rials (D22).
pub const MIN_PRINCIPAL_IRR: i64 = 1_000_000;
/// A technical ceiling on a requested principal, far above any portfolio cap (25 % of net value),
/// so that no request can drive the interest and schedule arithmetic into decimal overflow.
pub const MAX_PRINCIPAL_IRR: i64 = 100_000_000_000_000;
/// Share of net portfolio value that total outstanding debt may reach (D22).
pub const PORTFOLIO_CAP_FRACTION: Decimal = dec!(0.25);
/// Default `LIQUIDATION_LTV`: liquidate once the debt reaches the collateral value (D24).
pub const DEFAULT_LIQUIDATION_LTV: Decimal = dec!(1.00);
/// `MATURITY_GRACE`: days after the final due date before an unpaid loan is liquidated.
pub const MATURITY_GRACE_DAYS: i64 = 7;
/// Lower edge of the CAUTION band (D24).
pub const CAUTION_LTV: Decimal = dec!(0.75);
/// Lower edge of the WARNING band (D24).
pub const WARNING_LTV: Decimal = dec!(0.80);
/// Lower edge of the CRITICAL band (D24).
pub const CRITICAL_LTV: Decimal = dec!(0.90);

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

/// Loan status (api.md §1.6 `LoanStatus`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum LoanStatus {
    Active,
    Repaid,
    Liquidated,
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

    fn refresh_status(&mut self, now: Timestamp) {
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
    fn close(&mut self, now: Timestamp) {
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

/// Why a loan was liquidated (§7.9).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LiquidationReason {
    /// The LTV reached the liquidation threshold. The spec names only `MATURITY_DEFAULT`;
    /// `LTV_BREACH` is this module's name for the other trigger.
    LtvBreach,
    /// Still ACTIVE more than `MATURITY_GRACE` days after the final due date.
    MaturityDefault,
}

/// What a liquidation did, kept on the loan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiquidationRecord {
    pub reason: LiquidationReason,
    pub liquidated_at: Timestamp,
    pub plan: LiquidationPlan,
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

    /// Whether the loan must be liquidated now, and why (§7.9). `price_irr` must be a fresh
    /// price (the caller's check); pass `None` when it is not, and only the maturity default can
    /// fire. A non-positive price is treated as bad data, never as a reason to sell: its health
    /// band is CRITICAL, but the LTV trigger does not fire on it. Maturity default wins when both
    /// apply, because it holds whatever the price does.
    pub fn liquidation_trigger(
        &self,
        now: Timestamp,
        price_irr: Option<Decimal>,
        liquidation_ltv: Decimal,
    ) -> Option<LiquidationReason> {
        if !self.is_active() {
            return None;
        }
        if now > self.due_date.plus_days(MATURITY_GRACE_DAYS) {
            return Some(LiquidationReason::MaturityDefault);
        }
        let price = price_irr.filter(|p| *p > Decimal::ZERO)?;
        let ltv = self.health(now, price).ltv?;
        (ltv >= liquidation_ltv).then_some(LiquidationReason::LtvBreach)
    }

    /// The sale that clears the debt (§7.9) at `price_irr` (> 0) and the collateral's layer
    /// spread.
    pub fn liquidation_plan(&self, now: Timestamp, price_irr: Decimal) -> LiquidationPlan {
        liquidation_plan(
            self.outstanding_debt(now),
            self.collateral_quantity,
            price_irr,
            self.collateral_asset.asset().spread(),
        )
    }

    /// `liquidationPriceUsd` of `/loans/health` (api.md §9): the collateral USD price at which
    /// the LTV reaches `liquidation_ltv`, `debt / (liquidation_ltv × collateralQuantity × fx)`.
    /// Rounded half-up to 2 decimals as in the contract's example, but to 8 decimals below one
    /// dollar so that cheap assets (MATIC, XRP) keep a meaningful figure. `None` when the loan
    /// owes nothing or an input is not positive.
    pub fn liquidation_price_usd(
        &self,
        now: Timestamp,
        fx_rate: Decimal,
        liquidation_ltv: Decimal,
    ) -> Option<Decimal> {
        let debt = self.outstanding_debt(now).value();
        let quantity = self.collateral_quantity.value();
        let positive = |d: Decimal| d > Decimal::ZERO;
        if !(positive(debt) && positive(quantity) && positive(fx_rate) && positive(liquidation_ltv))
        {
            return None;
        }
        let price = checked_ratio(debt, liquidation_ltv * quantity * fx_rate)?;
        let dp = if price >= Decimal::ONE { 2 } else { 8 };
        Some(round_half_up(price, dp).normalize())
    }

    /// Applies a repayment (§7.6–7.7) and returns what happened. On refusal the loan is
    /// unchanged. `cash` is the portfolio's cash: the check is on the applied amount, not the
    /// requested one (§12 item 32).
    pub fn repay(&mut self, amount: Irr, cash: Irr, now: Timestamp) -> RuleResult<Repayment> {
        if !amount.is_positive() {
            return Err(RuleViolation::invalid_field(
                "amountIrr",
                "must be at least 1",
            ));
        }
        if !self.is_active() {
            return Err(RuleViolation::new(
                ErrorCode::LoanNotActive,
                "This loan is already closed.",
            ));
        }
        let owed = self.outstanding_debt(now);
        let applied = amount.min(owed);
        if applied > cash {
            return Err(RuleViolation::new(
                ErrorCode::InsufficientCash,
                "Not enough cash for this repayment.",
            )
            .with("required", applied)
            .with("available", cash));
        }
        if applied == owed {
            return Ok(self.settle(now));
        }
        let mut remaining = applied;
        let (mut interest_applied, mut principal_applied) = (Irr::ZERO, Irr::ZERO);
        for installment in self.installments.iter_mut().filter(|i| !i.is_paid()) {
            if remaining.is_zero() {
                break;
            }
            let interest = remaining.min(installment.unpaid_interest());
            installment.interest_paid += interest;
            remaining -= interest;
            let principal = remaining.min(installment.unpaid_principal());
            installment.principal_paid += principal;
            remaining -= principal;
            installment.refresh_status(now);
            interest_applied += interest;
            principal_applied += principal;
        }
        // A partial payment is below `owed` ≤ every unpaid installment part, so it is always
        // fully placed.
        debug_assert!(remaining.is_zero());
        self.interest_paid += interest_applied;
        self.principal_paid += principal_applied;
        Ok(Repayment {
            applied,
            principal_applied,
            interest_applied,
            settled: false,
            remaining_balance: self.outstanding_debt(now),
            installments_paid: self.installments_paid(),
            interest_forgiven: None,
            collateral_unfrozen: false,
        })
    }

    /// Settlement (§7.7): the principal is paid in full, the unpaid accrued interest is charged,
    /// the rest of the scheduled interest is forgiven and every open installment closes as PAID.
    /// The payment is placed on the installments so that each `paidIrr` shows what was applied:
    /// every open installment's unpaid principal, and the interest in installment order.
    fn settle(&mut self, now: Timestamp) -> Repayment {
        let principal_applied = self.unpaid_principal();
        let interest_applied = self.unpaid_accrued_interest(now);
        self.place_closing_payment(interest_applied, principal_applied, now);
        self.principal_paid += principal_applied;
        self.interest_paid += interest_applied;
        let forgiven = self.total_interest - self.interest_paid;
        self.status = LoanStatus::Repaid;
        self.settled_at = Some(now);
        self.interest_forgiven = Some(forgiven);
        Repayment {
            applied: principal_applied + interest_applied,
            principal_applied,
            interest_applied,
            settled: true,
            remaining_balance: Irr::ZERO,
            installments_paid: self.installments_paid(),
            interest_forgiven: Some(forgiven),
            collateral_unfrozen: true,
        }
    }

    /// Places a closing payment (settlement or liquidation proceeds) on the open installments:
    /// interest in installment order, then principal in installment order; then closes them.
    fn place_closing_payment(&mut self, interest: Irr, principal: Irr, now: Timestamp) {
        let (mut interest, mut principal) = (interest, principal);
        for installment in self.installments.iter_mut().filter(|i| !i.is_paid()) {
            let i = interest.min(installment.unpaid_interest());
            installment.interest_paid += i;
            interest -= i;
        }
        for installment in self.installments.iter_mut().filter(|i| !i.is_paid()) {
            let p = principal.min(installment.unpaid_principal());
            installment.principal_paid += p;
            principal -= p;
            installment.close(now);
        }
    }

    /// Records a liquidation (§7.9): the sale's applied amount pays the unpaid accrued interest
    /// first, then principal (D23's order); open installments close as PAID showing what was
    /// applied; the shortfall is recorded, not collected. Returns false (and changes nothing)
    /// when the loan is no longer ACTIVE, so a job racing a repayment skips it.
    pub fn record_liquidation(
        &mut self,
        plan: &LiquidationPlan,
        reason: LiquidationReason,
        now: Timestamp,
    ) -> bool {
        if !self.is_active() {
            return false;
        }
        let interest = plan.applied.min(self.unpaid_accrued_interest(now));
        let principal = (plan.applied - interest).min(self.unpaid_principal());
        self.place_closing_payment(interest, principal, now);
        self.interest_paid += interest;
        self.principal_paid += principal;
        self.status = LoanStatus::Liquidated;
        self.liquidation = Some(LiquidationRecord {
            reason,
            liquidated_at: now,
            plan: plan.clone(),
        });
        true
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

/// The outcome of a repayment (the numbers of api.md §9 `POST /loans/:id/repay`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Repayment {
    /// `min(amount, owed)`: what leaves cash.
    pub applied: Irr,
    pub principal_applied: Irr,
    pub interest_applied: Irr,
    pub settled: bool,
    /// Outstanding debt after the payment (business-rules §7.6 step 5; exactly 0 when settled).
    pub remaining_balance: Irr,
    /// The loan's total count of PAID installments.
    pub installments_paid: usize,
    pub interest_forgiven: Option<Irr>,
    pub collateral_unfrozen: bool,
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

/// The liquidation sale (§7.9).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiquidationPlan {
    pub debt: Irr,
    /// `G = ceil(debt / (1 − s))`: gross proceeds that clear the debt after the spread.
    pub gross_needed: Irr,
    /// `q = min(collateralQuantity, ceil8(G / priceIrr))`.
    pub quantity_sold: Quantity,
    /// Collateral units left in the holding (unfrozen).
    pub quantity_remaining: Quantity,
    /// `round(q × priceIrr)`.
    pub gross: Irr,
    /// `round(gross × s)`.
    pub spread: Irr,
    /// `gross − spread`.
    pub net: Irr,
    /// `min(net, debt)`.
    pub applied: Irr,
    /// `net − applied`, to cash.
    pub excess: Irr,
    /// `debt − applied`, recorded on the loan, not collected.
    pub shortfall: Irr,
}

/// Computes the liquidation sale (§7.9). The sold quantity rounds up (`ceil8`) so the sale
/// clears the debt, and never exceeds the collateral quantity.
///
/// # Panics
/// When `price_irr` is not positive: selling at no price is never a valid liquidation
/// ([`Loan::liquidation_trigger`] and [`liquidate_loan`] never get here with one).
pub fn liquidation_plan(
    debt: Irr,
    collateral_quantity: Quantity,
    price_irr: Decimal,
    spread: Decimal,
) -> LiquidationPlan {
    // Without a positive price nothing can be sold (callers refuse that case first).
    let gross_needed = Irr::ceil(debt.value() / (Decimal::ONE - spread));
    let quantity_sold = collateral_quantity.min(
        checked_ratio(gross_needed.value(), price_irr).map_or(Quantity::ZERO, Quantity::ceil8),
    );
    let gross = quantity_sold.value_at(price_irr);
    let spread_irr = gross.mul_round(spread);
    let net = gross - spread_irr;
    let applied = net.min(debt);
    LiquidationPlan {
        debt,
        gross_needed,
        quantity_sold,
        quantity_remaining: collateral_quantity - quantity_sold,
        gross,
        spread: spread_irr,
        net,
        applied,
        excess: net - applied,
        shortfall: debt - applied,
    }
}

/// Liquidates a loan against the portfolio (§7.9): sells `q` from the holding (never units
/// beyond the loan's collateral quantity), credits the excess to cash, unfreezes the holding and
/// records the liquidation on the loan. Returns `None` and changes nothing when the loan is no
/// longer ACTIVE or the price is not positive.
pub fn liquidate_loan(
    state: &mut PortfolioState,
    loan: &mut Loan,
    price_irr: Decimal,
    reason: LiquidationReason,
    now: Timestamp,
) -> Option<LiquidationPlan> {
    if !loan.is_active() || price_irr <= Decimal::ZERO {
        return None;
    }
    let plan = loan.liquidation_plan(now, price_irr);
    loan.record_liquidation(&plan, reason, now);
    let holding = state.holding_entry(loan.collateral_asset);
    // The holding can hold less than the collateral only if the state is inconsistent; never
    // drive a quantity negative.
    holding.quantity = if holding.quantity > plan.quantity_sold {
        holding.quantity - plan.quantity_sold
    } else {
        Quantity::ZERO
    };
    holding.frozen = false;
    state.cash += plan.excess;
    Some(plan)
}

/// Repays a loan from the portfolio's cash (§7.6): cash falls by the applied amount and the
/// collateral holding is unfrozen on settlement.
pub fn repay_loan(
    state: &mut PortfolioState,
    loan: &mut Loan,
    amount: Irr,
    now: Timestamp,
) -> RuleResult<Repayment> {
    let repayment = loan.repay(amount, state.cash, now)?;
    state.cash -= repayment.applied;
    if repayment.collateral_unfrozen
        && let Some(holding) = state.holding_mut(loan.collateral_asset)
    {
        holding.frozen = false;
    }
    Ok(repayment)
}

/// Σ outstanding debt of the ACTIVE loans (`loansOutstanding`).
pub fn loans_outstanding(loans: &[Loan], now: Timestamp) -> Irr {
    loans.iter().map(|l| l.outstanding_debt(now)).sum()
}

/// Loan capacity of a portfolio (§7.3, `GET /loans/capacity`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoanCapacity {
    /// `netValue = cash + H − loansOutstanding` (`portfolioValueIrr`).
    pub net_value: Irr,
    /// `floor(0.25 × netValue)`, never below 0.
    pub max_capacity: Irr,
    /// `loansOutstanding`.
    pub used: Irr,
    /// `max(0, maxCapacity − used)`.
    pub available: Irr,
    /// One row per open holding, registry order.
    pub per_asset: Vec<CollateralCapacity>,
}

/// One holding's row of the capacity response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CollateralCapacity {
    pub asset: AssetId,
    pub layer: Layer,
    pub max_ltv: Decimal,
    pub holding_value: Irr,
    /// `floor(value × maxLtv)`.
    pub max_loan: Irr,
    /// Outstanding debt of the ACTIVE loan on this asset, 0 if none.
    pub existing_loan: Irr,
    /// `min(maxLoan, available)`, 0 when frozen or not eligible.
    pub available_loan: Irr,
    pub frozen: bool,
    /// `maxLtv > 0` (fixed income never is).
    pub eligible: bool,
}

/// Computes capacity from one valuation (§7.3). Refuses with `PRICES_STALE` (naming the assets)
/// when a holding has no price at all, because a capacity computed without it would silently
/// understate the portfolio (§12 item 36). A negative net value (collateral collapse) gives a
/// capacity of 0 rather than a negative figure.
pub fn loan_capacity(
    valuation: &Valuation,
    loans: &[Loan],
    now: Timestamp,
) -> RuleResult<LoanCapacity> {
    let unpriced: Vec<AssetId> = valuation
        .holdings
        .iter()
        .filter(|h| !h.priced)
        .map(|h| h.asset)
        .collect();
    if !unpriced.is_empty() {
        return Err(RuleViolation::new(
            ErrorCode::PricesStale,
            "Prices are updating. Try again shortly.",
        )
        .with("assetIds", unpriced));
    }
    let used = loans_outstanding(loans, now);
    let net_value = valuation.total_value() - used;
    let max_capacity = Irr::floor(PORTFOLIO_CAP_FRACTION * net_value.value()).max_zero();
    let available = (max_capacity - used).max_zero();
    let per_asset = valuation
        .holdings
        .iter()
        .map(|h| {
            let max_ltv = h.asset.asset().effective_max_ltv();
            let eligible = max_ltv > Decimal::ZERO;
            let existing_loan = loans
                .iter()
                .filter(|l| l.is_active() && l.collateral_asset == h.asset)
                .map(|l| l.outstanding_debt(now))
                .sum();
            let frozen = h.frozen || active_loan_on(loans, h.asset);
            let max_loan = Irr::floor(h.value.value() * max_ltv);
            CollateralCapacity {
                asset: h.asset,
                layer: h.asset.layer(),
                max_ltv,
                holding_value: h.value,
                max_loan,
                existing_loan,
                available_loan: if frozen || !eligible {
                    Irr::ZERO
                } else {
                    max_loan.min(available)
                },
                frozen,
                eligible,
            }
        })
        .collect();
    Ok(LoanCapacity {
        net_value,
        max_capacity,
        used,
        available,
        per_asset,
    })
}

fn active_loan_on(loans: &[Loan], asset: AssetId) -> bool {
    loans
        .iter()
        .any(|l| l.is_active() && l.collateral_asset == asset)
}

/// A loan request after parsing (`POST /loans` and `/loans/preview`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoanRequest {
    pub collateral: AssetId,
    /// Already rounded half-up to whole rials (§0).
    pub amount: Irr,
    pub duration: LoanDuration,
}

/// The answer of `POST /loans/preview` (§7.4): always the limits, terms and schedule; the
/// refusal the creation would give, if any.
#[derive(Clone, Debug, PartialEq)]
pub struct LoanPreview {
    /// `None` when the portfolio has no priced holding of the asset.
    pub collateral_value: Option<Irr>,
    pub max_ltv: Decimal,
    /// `min(floor(collateralValue × maxLtv), availableIrr)`; `None` when it cannot be computed
    /// (no holding, or a missing price).
    pub max_loan: Option<Irr>,
    pub terms: LoanTerms,
    /// The first failing check, as creation would report it; `None` means `valid: true`.
    pub refusal: Option<RuleViolation>,
}

/// Previews a loan (§7.4): the amount minimum and checks 2–7 without effects. Freshness
/// (check 5) is the caller's; a collateral with no price at all is reported as
/// `PRICES_STALE`.
pub fn preview_loan(
    state: &PortfolioState,
    prices: &PriceBook,
    loans: &[Loan],
    request: LoanRequest,
    now: Timestamp,
) -> LoanPreview {
    let assessment = assess(state, prices, loans, request, now);
    let refusal = check_minimum(request.amount).err().or(assessment.refusal);
    LoanPreview {
        collateral_value: assessment.collateral_value,
        max_ltv: assessment.max_ltv,
        max_loan: assessment
            .asset_cap
            .zip(assessment.available)
            .map(|(cap, available)| cap.min(available)),
        terms: LoanTerms::new(request.amount, request.duration, now),
        refusal,
    }
}

/// Creates a loan (§7.4): checks 1–4, 6 and 7 in order (freshness, check 5, is the caller's),
/// then the effects on the portfolio: the whole holding is frozen and cash rises by P. On
/// refusal nothing changes. `duration_months` is the raw request value so that check 1 reports
/// both of its fields in the documented order.
pub fn create_loan(
    state: &mut PortfolioState,
    prices: &PriceBook,
    loans: &[Loan],
    collateral: AssetId,
    amount: Irr,
    duration_months: i64,
    now: Timestamp,
) -> RuleResult<Loan> {
    let duration = LoanDuration::from_months(duration_months)?;
    check_principal(amount)?;
    let request = LoanRequest {
        collateral,
        amount,
        duration,
    };
    let assessment = assess(state, prices, loans, request, now);
    if let Some(refusal) = assessment.refusal {
        return Err(refusal);
    }
    let (quantity, value) = assessment
        .collateral
        .expect("an accepted loan has priced collateral");
    let loan = Loan::from_terms(
        LoanTerms::new(amount, duration, now),
        collateral,
        quantity,
        value,
    );
    let holding = state
        .holding_mut(collateral)
        .expect("an accepted loan has a holding");
    holding.frozen = true;
    state.cash += amount;
    Ok(loan)
}

/// The principal limits: at least 1,000,000 IRR, at most `MAX_PRINCIPAL_IRR`.
pub fn check_principal(amount: Irr) -> RuleResult<()> {
    if amount > Irr::new(MAX_PRINCIPAL_IRR) {
        return Err(RuleViolation::invalid_field(
            "amountIrr",
            "must be at most 100,000,000,000,000 IRR",
        )
        .with("max", Irr::new(MAX_PRINCIPAL_IRR)));
    }
    check_minimum(amount)
}

fn check_minimum(amount: Irr) -> RuleResult<()> {
    if amount < Irr::new(MIN_PRINCIPAL_IRR) {
        return Err(
            RuleViolation::invalid_field("amountIrr", "must be at least 1,000,000 IRR")
                .with("min", Irr::new(MIN_PRINCIPAL_IRR)),
        );
    }
    Ok(())
}

struct Assessment {
    collateral: Option<(Quantity, Irr)>,
    collateral_value: Option<Irr>,
    max_ltv: Decimal,
    asset_cap: Option<Irr>,
    available: Option<Irr>,
    refusal: Option<RuleViolation>,
}

/// Checks 2–7 of §7.4 in order, collecting the limits the preview reports either way.
fn assess(
    state: &PortfolioState,
    prices: &PriceBook,
    loans: &[Loan],
    request: LoanRequest,
    now: Timestamp,
) -> Assessment {
    let asset = request.collateral;
    let max_ltv = asset.asset().effective_max_ltv();
    let holding = state.holding(asset).filter(|h| h.quantity.is_positive());
    // Fixed income is valued from its lots (it is never in the price book); a market asset
    // needs its price. No holding at all is worth 0, so the preview can always report the
    // collateral value and `maxLoanIrr` (§7.4), except when a price is missing.
    let collateral =
        holding.and_then(|h| holding_value(h, prices, now).map(|value| (h.quantity, value)));
    let price_missing = holding.is_some() && collateral.is_none();
    let collateral_value = match holding {
        Some(_) => collateral.map(|(_, v)| v),
        None => Some(Irr::ZERO),
    };
    let asset_cap = collateral_value.map(|v| Irr::floor(v.value() * max_ltv));
    let valuation = value_portfolio(state, prices, now);
    let unpriced: Vec<AssetId> = valuation
        .holdings
        .iter()
        .filter(|h| !h.priced)
        .map(|h| h.asset)
        .collect();
    let available = loan_capacity(&valuation, loans, now)
        .ok()
        .map(|c| c.available);

    let refusal = if holding.is_none() {
        Some(
            RuleViolation::new(
                ErrorCode::InsufficientHoldings,
                format!("You hold no {asset} to borrow against."),
            )
            .with("assetId", asset)
            .with("requiredIrr", request.amount)
            .with("availableIrr", Irr::ZERO),
        )
    } else if max_ltv <= Decimal::ZERO {
        Some(
            RuleViolation::new(
                ErrorCode::CollateralNotEligible,
                format!("{asset} cannot be used as collateral."),
            )
            .with("assetId", asset),
        )
    } else if holding.is_some_and(|h| h.frozen) || active_loan_on(loans, asset) {
        Some(
            RuleViolation::new(
                ErrorCode::AssetFrozen,
                format!("{asset} is already used as collateral."),
            )
            .with("assetId", asset),
        )
    } else if price_missing || !unpriced.is_empty() {
        let mut stale = unpriced;
        if price_missing && !stale.contains(&asset) {
            stale.insert(0, asset);
        }
        Some(
            RuleViolation::new(
                ErrorCode::PricesStale,
                "Prices are updating. Try again shortly.",
            )
            .with("assetIds", stale),
        )
    } else if asset_cap.is_some_and(|cap| request.amount > cap) {
        Some(
            RuleViolation::new(
                ErrorCode::ExceedsAssetLtv,
                format!(
                    "You can borrow up to {} IRR against this {asset}.",
                    asset_cap.unwrap_or_default()
                ),
            )
            .with("maxLoanIrr", asset_cap.unwrap_or_default())
            .with("maxLtv", Num(max_ltv)),
        )
    } else if available.is_some_and(|a| request.amount > a) {
        Some(
            RuleViolation::new(
                ErrorCode::ExceedsPortfolioLoanLimit,
                format!(
                    "Total borrowing is limited to 25% of your portfolio; {} IRR is available.",
                    available.unwrap_or_default()
                ),
            )
            .with("availableIrr", available.unwrap_or_default()),
        )
    } else {
        None
    };
    Assessment {
        collateral,
        collateral_value,
        max_ltv,
        asset_cap,
        available,
        refusal,
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use rust_decimal_macros::dec;

    use super::*;
    use crate::portfolio::Holding;

    const BTC_PRICE_IRR: Decimal = dec!(141960000000);

    fn at(text: &str) -> Timestamp {
        Timestamp::parse_rfc3339(text).unwrap()
    }

    fn start() -> Timestamp {
        at("2026-01-20T12:00:00Z")
    }

    fn irr(rials: i64) -> Irr {
        Irr::new(rials)
    }

    fn qty(d: Decimal) -> Quantity {
        Quantity::exact(d).unwrap()
    }

    /// Loan L1 on the H1 collateral: 30,000,000 IRR for 3 months against 0.0005 BTC.
    fn loan_l1() -> Loan {
        let quantity = qty(dec!(0.0005));
        Loan::from_terms(
            LoanTerms::new(irr(30_000_000), LoanDuration::ThreeMonths, start()),
            AssetId::Btc,
            quantity,
            quantity.value_at(BTC_PRICE_IRR),
        )
    }

    fn day(n: i64) -> Timestamp {
        start().plus_days(n)
    }

    fn ratio6(d: Decimal) -> Decimal {
        round_half_up(d, 6)
    }

    /// C1's portfolio: cash 0; BTC 60,000,000, PAXG 40,000,000 and USDT 100,000,000 at FX
    /// 1,000,000 (prices chosen so every value is exact).
    fn c1_portfolio() -> (PortfolioState, PriceBook) {
        let mut prices = PriceBook::new(dec!(1000000));
        prices.set_usd(AssetId::Btc, dec!(120000));
        prices.set_usd(AssetId::Paxg, dec!(2000));
        prices.set_usd(AssetId::Usdt, dec!(1));
        let state = PortfolioState {
            cash: Irr::ZERO,
            holdings: vec![
                Holding::new(AssetId::Usdt, qty(dec!(100))),
                Holding::new(AssetId::Paxg, qty(dec!(0.02))),
                Holding::new(AssetId::Btc, qty(dec!(0.0005))),
            ],
        };
        (state, prices)
    }

    fn capacity(state: &PortfolioState, prices: &PriceBook, loans: &[Loan]) -> LoanCapacity {
        loan_capacity(&value_portfolio(state, prices, start()), loans, start()).unwrap()
    }

    #[test]
    fn c1_the_portfolio_cap_counts_debt_not_borrowed_cash() {
        let (mut state, prices) = c1_portfolio();
        let before = capacity(&state, &prices, &[]);
        assert_eq!(before.net_value, irr(200_000_000));
        assert_eq!(before.max_capacity, irr(50_000_000));
        assert_eq!(before.available, irr(50_000_000));
        let btc_row = before
            .per_asset
            .iter()
            .find(|r| r.asset == AssetId::Btc)
            .unwrap();
        assert_eq!(btc_row.max_loan, irr(30_000_000));
        assert_eq!(btc_row.available_loan, irr(30_000_000));

        let loan1 = create_loan(
            &mut state,
            &prices,
            &[],
            AssetId::Btc,
            irr(30_000_000),
            3,
            start(),
        )
        .unwrap();
        assert_eq!(state.cash, irr(30_000_000));
        assert!(state.holding(AssetId::Btc).unwrap().frozen);
        let loans = vec![loan1];

        let after = capacity(&state, &prices, &loans);
        assert_eq!(after.net_value, irr(200_000_000));
        assert_eq!(after.used, irr(30_000_000));
        assert_eq!(after.available, irr(20_000_000));
        let btc_row = after
            .per_asset
            .iter()
            .find(|r| r.asset == AssetId::Btc)
            .unwrap();
        assert!(btc_row.frozen);
        assert_eq!(btc_row.existing_loan, irr(30_000_000));
        assert_eq!(btc_row.available_loan, Irr::ZERO);
        let paxg_row = after
            .per_asset
            .iter()
            .find(|r| r.asset == AssetId::Paxg)
            .unwrap();
        assert_eq!(paxg_row.max_loan, irr(28_000_000));
        assert_eq!(paxg_row.available_loan, irr(20_000_000));

        let refused = create_loan(
            &mut state,
            &prices,
            &loans,
            AssetId::Paxg,
            irr(25_000_000),
            3,
            start(),
        )
        .unwrap_err();
        assert_eq!(refused.code, ErrorCode::ExceedsPortfolioLoanLimit);
        assert_eq!(
            refused.details["availableIrr"],
            serde_json::json!(20_000_000)
        );
        assert_eq!(state.cash, irr(30_000_000), "a refusal changes nothing");
        assert!(!state.holding(AssetId::Paxg).unwrap().frozen);

        let loan2 = create_loan(
            &mut state,
            &prices,
            &loans,
            AssetId::Paxg,
            irr(20_000_000),
            3,
            start(),
        )
        .unwrap();
        assert_eq!(loan2.principal, irr(20_000_000));
        assert_eq!(state.cash, irr(50_000_000));
    }

    #[test]
    fn l1_schedules_six_installments_every_fifteen_days() {
        let terms = LoanTerms::new(irr(30_000_000), LoanDuration::ThreeMonths, start());
        assert_eq!(terms.total_interest, irr(2_250_000));
        assert_eq!(terms.total_due(), irr(32_250_000));
        assert_eq!(terms.due_date, at("2026-04-20T12:00:00Z"));
        assert_eq!(terms.installment_amount(), irr(5_375_000));
        let dues = [
            "2026-02-04",
            "2026-02-19",
            "2026-03-06",
            "2026-03-21",
            "2026-04-05",
            "2026-04-20",
        ];
        assert_eq!(terms.installments.len(), 6);
        for (k, (installment, due)) in terms.installments.iter().zip(dues).enumerate() {
            assert_eq!(installment.number, k as i64 + 1);
            assert_eq!(installment.due_date, at(&format!("{due}T12:00:00Z")));
            assert_eq!(installment.principal, irr(5_000_000));
            assert_eq!(installment.interest, irr(375_000));
            assert_eq!(installment.total(), irr(5_375_000));
            assert_eq!(installment.status, InstallmentStatus::Pending);
        }
    }

    #[test]
    fn l2_the_sixth_installment_takes_the_remainders() {
        let terms = LoanTerms::new(irr(100_000_000), LoanDuration::ThreeMonths, start());
        assert_eq!(terms.total_interest, irr(7_500_000));
        let principals: Vec<Irr> = terms.installments.iter().map(|i| i.principal).collect();
        let totals: Vec<Irr> = terms.installments.iter().map(Installment::total).collect();
        assert_eq!(&principals[..5], &[irr(16_666_666); 5]);
        assert_eq!(principals[5], irr(16_666_670));
        assert!(
            terms
                .installments
                .iter()
                .all(|i| i.interest == irr(1_250_000))
        );
        assert_eq!(&totals[..5], &[irr(17_916_666); 5]);
        assert_eq!(totals[5], irr(17_916_670));
        assert_eq!(totals.iter().sum::<Irr>(), irr(107_500_000));
    }

    #[test]
    fn l3_six_month_loans_fall_due_every_thirty_days() {
        let terms = LoanTerms::new(irr(30_000_000), LoanDuration::SixMonths, start());
        assert_eq!(terms.total_interest, irr(4_500_000));
        let dues = [
            "2026-02-19",
            "2026-03-21",
            "2026-04-20",
            "2026-05-20",
            "2026-06-19",
            "2026-07-19",
        ];
        for (installment, due) in terms.installments.iter().zip(dues) {
            assert_eq!(installment.due_date, at(&format!("{due}T12:00:00Z")));
            assert_eq!(installment.principal, irr(5_000_000));
            assert_eq!(installment.interest, irr(750_000));
            assert_eq!(installment.total(), irr(5_750_000));
        }
        assert_eq!(terms.due_date, at("2026-07-19T12:00:00Z"));
    }

    #[test]
    fn rp1_a_partial_repayment_pays_interest_then_principal_in_installment_order() {
        let mut loan = loan_l1();
        assert_eq!(loan.outstanding_debt(day(10)), irr(30_246_575));
        let r = loan
            .repay(irr(6_000_000), irr(100_000_000), day(10))
            .unwrap();
        assert_eq!(r.applied, irr(6_000_000));
        assert!(!r.settled);
        let (first, second) = (&loan.installments[0], &loan.installments[1]);
        assert_eq!(first.status, InstallmentStatus::Paid);
        assert_eq!(
            (first.interest_paid, first.principal_paid),
            (irr(375_000), irr(5_000_000))
        );
        assert_eq!(first.paid_at, Some(day(10)));
        assert_eq!(second.status, InstallmentStatus::Partial);
        assert_eq!(
            (second.interest_paid, second.principal_paid),
            (irr(375_000), irr(250_000))
        );
        assert!(
            loan.installments[2..]
                .iter()
                .all(|i| i.status == InstallmentStatus::Pending)
        );
        assert_eq!(loan.principal_paid, irr(5_250_000));
        assert_eq!(loan.interest_paid, irr(750_000));
        assert_eq!(
            (r.principal_applied, r.interest_applied),
            (irr(5_250_000), irr(750_000))
        );
        assert_eq!(r.remaining_balance, irr(24_750_000));
        assert_eq!(r.installments_paid, 1);
        assert_eq!(loan.paid(), irr(6_000_000));
    }

    #[test]
    fn ep1_early_payoff_charges_only_accrued_interest_and_forgives_the_rest() {
        let mut loan = loan_l1();
        let first = loan
            .repay(irr(5_375_000), irr(100_000_000), day(15))
            .unwrap();
        assert_eq!(first.installments_paid, 1);
        let payoff = loan.outstanding_debt(day(30));
        assert_eq!(loan.accrued_interest(day(30)), irr(739_726));
        assert_eq!(payoff, irr(25_364_726));
        let r = loan.repay(payoff, irr(100_000_000), day(30)).unwrap();
        assert!(r.settled && r.collateral_unfrozen);
        assert_eq!(r.applied, irr(25_364_726));
        assert_eq!(r.remaining_balance, Irr::ZERO);
        assert_eq!(r.interest_forgiven, Some(irr(1_510_274)));
        assert_eq!(r.installments_paid, 6);
        assert_eq!(loan.status, LoanStatus::Repaid);
        assert_eq!(loan.settled_at, Some(day(30)));
        assert_eq!(loan.paid(), irr(30_739_726));
        assert_eq!(loan.principal_paid, irr(30_000_000));
        assert_eq!(loan.interest_paid, irr(739_726));
        assert!(loan.installments.iter().all(|i| i.is_paid()));
        assert_eq!(loan.figures(day(30), None).progress_pct, dec!(100));
    }

    #[test]
    fn ep2_interest_paid_ahead_of_accrual_is_not_refunded() {
        let mut loan = loan_l1();
        loan.repay(irr(6_000_000), irr(100_000_000), day(10))
            .unwrap();
        assert_eq!(loan.outstanding_debt(day(30)), irr(24_750_000));
        let r = loan
            .repay(irr(50_000_000), irr(100_000_000), day(30))
            .unwrap();
        assert_eq!(
            r.applied,
            irr(24_750_000),
            "overpayment is capped to what is owed"
        );
        assert!(r.settled);
        assert_eq!(r.interest_applied, Irr::ZERO);
        assert_eq!(r.interest_forgiven, Some(irr(1_500_000)));
    }

    #[test]
    fn h1_ltv_counts_only_accrued_interest() {
        let loan = loan_l1();
        assert_eq!(loan.collateral_value_at_start, irr(70_980_000));
        let cap = Irr::floor(loan.collateral_value_at_start.value() * loan.max_ltv);
        assert_eq!(cap, irr(35_490_000));
        assert_eq!(ratio6(loan.ltv_at_creation().unwrap()), dec!(0.422654));
        let at_start = loan.health(start(), BTC_PRICE_IRR);
        assert_eq!(at_start.status, HealthStatus::Healthy);

        assert_eq!(loan.accrued_interest(day(15)), irr(369_863));
        assert_eq!(loan.outstanding_debt(day(15)), irr(30_369_863));
        // Prices at which 0.0005 BTC is worth 32,000,000 and 30,000,000.
        let worth_32m = dec!(64000000000);
        let worth_30m = dec!(60000000000);
        let h = loan.health(day(15), worth_32m);
        assert_eq!(h.collateral_value, irr(32_000_000));
        assert_eq!(ratio6(h.ltv.unwrap()), dec!(0.949058));
        assert_eq!(h.status, HealthStatus::Critical);
        assert_eq!(
            loan.liquidation_trigger(day(15), Some(worth_32m), DEFAULT_LIQUIDATION_LTV),
            None
        );
        let h = loan.health(day(15), worth_30m);
        assert_eq!(ratio6(h.ltv.unwrap()), dec!(1.012329));
        assert_eq!(
            loan.liquidation_trigger(day(15), Some(worth_30m), DEFAULT_LIQUIDATION_LTV),
            Some(LiquidationReason::LtvBreach)
        );
    }

    #[test]
    fn a_foundation_loan_at_the_maximum_ltv_starts_healthy() {
        let quantity = qty(dec!(10));
        let price = dec!(3858400000);
        let value = quantity.value_at(price);
        let principal = Irr::floor(value.value() * dec!(0.70));
        let loan = Loan::from_terms(
            LoanTerms::new(principal, LoanDuration::SixMonths, start()),
            AssetId::Paxg,
            quantity,
            value,
        );
        assert_eq!(loan.health(start(), price).status, HealthStatus::Healthy);
    }

    #[test]
    fn lq1_a_liquidation_that_cannot_cover_the_debt_records_the_shortfall() {
        let mut loan = loan_l1();
        let price = dec!(60000000000);
        let plan = loan.liquidation_plan(day(15), price);
        assert_eq!(plan.debt, irr(30_369_863));
        assert_eq!(plan.quantity_sold.value(), dec!(0.0005));
        assert_eq!(plan.gross, irr(30_000_000));
        assert_eq!(plan.spread, irr(90_000));
        assert_eq!(plan.net, irr(29_910_000));
        assert_eq!(plan.applied, irr(29_910_000));
        assert_eq!(plan.shortfall, irr(459_863));
        assert_eq!(plan.excess, Irr::ZERO);
        assert!(loan.record_liquidation(&plan, LiquidationReason::LtvBreach, day(15)));
        assert_eq!(loan.status, LoanStatus::Liquidated);
        assert_eq!(loan.outstanding_debt(day(16)), Irr::ZERO);
        assert!(loan.installments.iter().all(|i| i.is_paid()));
        assert_eq!(loan.paid(), irr(29_910_000));
        assert!(!loan.record_liquidation(&plan, LiquidationReason::LtvBreach, day(15)));
    }

    #[test]
    fn lq2_a_maturity_default_sells_just_enough_and_returns_the_excess() {
        let mut loan = loan_l1();
        let grace_end = at("2026-04-27T12:00:00Z");
        assert_eq!(
            loan.liquidation_trigger(grace_end, Some(BTC_PRICE_IRR), DEFAULT_LIQUIDATION_LTV),
            None
        );
        let now = grace_end.plus_seconds(1);
        assert_eq!(
            loan.liquidation_trigger(now, Some(BTC_PRICE_IRR), DEFAULT_LIQUIDATION_LTV),
            Some(LiquidationReason::MaturityDefault)
        );
        assert_eq!(
            loan.liquidation_trigger(now, None, DEFAULT_LIQUIDATION_LTV),
            Some(LiquidationReason::MaturityDefault),
            "maturity default does not depend on the price"
        );
        let mut state = PortfolioState {
            cash: irr(1_000),
            holdings: vec![Holding {
                frozen: true,
                ..Holding::new(AssetId::Btc, qty(dec!(0.0007)))
            }],
        };
        let plan = liquidate_loan(
            &mut state,
            &mut loan,
            BTC_PRICE_IRR,
            LiquidationReason::MaturityDefault,
            now,
        )
        .unwrap();
        assert_eq!(plan.debt, irr(32_250_000));
        assert_eq!(plan.gross_needed, irr(32_347_042));
        assert_eq!(plan.quantity_sold.value(), dec!(0.00022787));
        assert_eq!(plan.gross, irr(32_348_425));
        assert_eq!(plan.spread, irr(97_045));
        assert_eq!(plan.net, irr(32_251_380));
        assert_eq!(plan.excess, irr(1_380));
        assert_eq!(plan.shortfall, Irr::ZERO);
        assert_eq!(plan.quantity_remaining.value(), dec!(0.00027213));
        let holding = state.holding(AssetId::Btc).unwrap();
        assert_eq!(
            holding.quantity.value(),
            dec!(0.00047213),
            "units bought later stay"
        );
        assert!(!holding.frozen);
        assert_eq!(state.cash, irr(2_380));
        assert_eq!(
            loan.liquidation.as_ref().unwrap().reason,
            LiquidationReason::MaturityDefault
        );
        assert_eq!(loan.principal_paid, irr(30_000_000));
        assert_eq!(loan.interest_paid, irr(2_250_000));
    }

    #[test]
    fn creation_checks_run_in_the_documented_order() {
        let (mut state, prices) = c1_portfolio();
        state
            .holdings
            .push(Holding::new(AssetId::IrrFixedIncome, qty(dec!(0))));
        let code = |state: &mut PortfolioState, asset, amount, months| {
            create_loan(state, &prices, &[], asset, irr(amount), months, start())
                .unwrap_err()
                .code
        };
        assert_eq!(
            code(&mut state, AssetId::Eth, 500_000, 4),
            ErrorCode::ValidationError
        );
        assert_eq!(
            code(&mut state, AssetId::Eth, 500_000, 3),
            ErrorCode::ValidationError
        );
        assert_eq!(
            code(&mut state, AssetId::Eth, 5_000_000, 3),
            ErrorCode::InsufficientHoldings
        );
        assert_eq!(
            code(&mut state, AssetId::IrrFixedIncome, 5_000_000, 3),
            ErrorCode::InsufficientHoldings,
            "a zero-quantity holding is no holding"
        );
        state.holding_mut(AssetId::Btc).unwrap().frozen = true;
        assert_eq!(
            code(&mut state, AssetId::Btc, 90_000_000, 3),
            ErrorCode::AssetFrozen
        );
        let refused = create_loan(
            &mut state,
            &prices,
            &[],
            AssetId::Paxg,
            irr(28_000_001),
            6,
            start(),
        )
        .unwrap_err();
        assert_eq!(refused.code, ErrorCode::ExceedsAssetLtv);
        assert_eq!(refused.details["maxLoanIrr"], serde_json::json!(28_000_000));
        assert_eq!(refused.details["maxLtv"], serde_json::json!(0.7));
        let mut no_price = PriceBook::new(dec!(1000000));
        no_price.set_usd(AssetId::Usdt, dec!(1));
        no_price.set_usd(AssetId::Btc, dec!(120000));
        let stale = create_loan(
            &mut state,
            &no_price,
            &[],
            AssetId::Paxg,
            irr(5_000_000),
            3,
            start(),
        )
        .unwrap_err();
        assert_eq!(stale.code, ErrorCode::PricesStale);
    }

    #[test]
    fn fixed_income_is_never_collateral() {
        let (mut state, prices) = c1_portfolio();
        state
            .holdings
            .push(Holding::new(AssetId::IrrFixedIncome, qty(dec!(10))));
        let refused = create_loan(
            &mut state,
            &prices,
            &[],
            AssetId::IrrFixedIncome,
            irr(1_000_000),
            3,
            start(),
        )
        .unwrap_err();
        assert_eq!(refused.code, ErrorCode::CollateralNotEligible);
    }

    #[test]
    fn a_preview_reports_limits_even_when_the_loan_would_be_refused() {
        let (state, prices) = c1_portfolio();
        let request = LoanRequest {
            collateral: AssetId::Paxg,
            amount: irr(29_000_000),
            duration: LoanDuration::ThreeMonths,
        };
        let preview = preview_loan(&state, &prices, &[], request, start());
        assert_eq!(preview.collateral_value, Some(irr(40_000_000)));
        assert_eq!(preview.max_loan, Some(irr(28_000_000)));
        assert_eq!(preview.refusal.unwrap().code, ErrorCode::ExceedsAssetLtv);
        assert_eq!(preview.terms.installments.len(), 6);
        let small = LoanRequest {
            amount: irr(999_999),
            ..request
        };
        let preview = preview_loan(&state, &prices, &[], small, start());
        assert_eq!(preview.refusal.unwrap().code, ErrorCode::ValidationError);
        let fine = LoanRequest {
            amount: irr(28_000_000),
            ..request
        };
        assert!(
            preview_loan(&state, &prices, &[], fine, start())
                .refusal
                .is_none()
        );
    }

    #[test]
    fn an_ineligible_or_absent_collateral_still_reports_its_value_and_a_maximum_of_zero() {
        let (mut state, prices) = c1_portfolio();
        let units = qty(dec!(20));
        let mut fi = Holding::new(AssetId::IrrFixedIncome, units);
        fi.lots.push(crate::fixed_income::Lot {
            units,
            purchased_at: start(),
        });
        state.holdings.push(fi);
        let request = LoanRequest {
            collateral: AssetId::IrrFixedIncome,
            amount: irr(2_000_000),
            duration: LoanDuration::ThreeMonths,
        };
        let preview = preview_loan(&state, &prices, &[], request, start());
        assert_eq!(
            preview.refusal.unwrap().code,
            ErrorCode::CollateralNotEligible
        );
        assert_eq!(preview.collateral_value, Some(irr(10_000_000)));
        assert_eq!(preview.max_loan, Some(Irr::ZERO));
        let absent = LoanRequest {
            collateral: AssetId::Sol,
            ..request
        };
        let preview = preview_loan(&state, &prices, &[], absent, start());
        assert_eq!(
            preview.refusal.unwrap().code,
            ErrorCode::InsufficientHoldings
        );
        assert_eq!(preview.collateral_value, Some(Irr::ZERO));
        assert_eq!(preview.max_loan, Some(Irr::ZERO));
    }

    #[test]
    fn the_effective_annual_rate_is_the_rate_the_interest_implies() {
        let terms = LoanTerms::new(irr(2_000_000), LoanDuration::SixMonths, start());
        assert_eq!(terms.effective_annual_rate(), Some(dec!(0.3)));
        // I = round(1,000,001 × 0.075) = 75,000: 75,000 × 4 / 1,000,001.
        let terms = LoanTerms::new(irr(1_000_001), LoanDuration::ThreeMonths, start());
        assert_eq!(terms.effective_annual_rate(), Some(dec!(0.3)));
        assert_eq!(
            LoanTerms::new(Irr::ZERO, LoanDuration::ThreeMonths, start()).effective_annual_rate(),
            None
        );
    }

    #[test]
    fn repayment_refusals_leave_the_loan_unchanged() {
        let mut loan = loan_l1();
        let untouched = loan.clone();
        let short = loan
            .repay(irr(50_000_000), irr(30_246_574), day(10))
            .unwrap_err();
        assert_eq!(short.code, ErrorCode::InsufficientCash);
        assert_eq!(short.details["required"], serde_json::json!(30_246_575));
        assert_eq!(loan, untouched);
        // Cash covering the applied (capped) amount suffices although the request is larger.
        assert!(
            loan.repay(irr(50_000_000), irr(30_246_575), day(10))
                .unwrap()
                .settled
        );
        let closed = loan.repay(irr(1), irr(1), day(11)).unwrap_err();
        assert_eq!(closed.code, ErrorCode::LoanNotActive);
        assert_eq!(
            loan_l1().repay(Irr::ZERO, irr(1), day(1)).unwrap_err().code,
            ErrorCode::ValidationError
        );
    }

    #[test]
    fn settling_through_the_portfolio_unfreezes_the_collateral_and_spends_cash() {
        let mut loan = loan_l1();
        let mut state = PortfolioState {
            cash: irr(40_000_000),
            holdings: vec![Holding {
                frozen: true,
                ..Holding::new(AssetId::Btc, qty(dec!(0.0005)))
            }],
        };
        let r = repay_loan(&mut state, &mut loan, irr(40_000_000), start()).unwrap();
        assert_eq!(
            r.applied,
            irr(30_000_000),
            "nothing has accrued at the start instant"
        );
        assert_eq!(state.cash, irr(10_000_000));
        assert!(!state.holding(AssetId::Btc).unwrap().frozen);
        assert_eq!(r.interest_forgiven, Some(irr(2_250_000)));
    }

    #[test]
    fn health_bands_change_exactly_at_their_thresholds() {
        let band = |l: Decimal| HealthStatus::from_ltv(Some(l));
        assert_eq!(band(dec!(0.7499999)), HealthStatus::Healthy);
        assert_eq!(band(dec!(0.75)), HealthStatus::Caution);
        assert_eq!(band(dec!(0.80)), HealthStatus::Warning);
        assert_eq!(band(dec!(0.90)), HealthStatus::Critical);
        assert_eq!(HealthStatus::from_ltv(None), HealthStatus::Critical);
        assert_eq!(ltv(irr(1), Irr::ZERO), None);
    }

    #[test]
    fn accrual_counts_started_days_and_stops_at_the_scheduled_interest() {
        let loan = loan_l1();
        assert_eq!(loan.accrued_interest(start()), Irr::ZERO);
        assert_eq!(loan.accrued_interest(start().plus_seconds(1)), irr(24_658));
        assert_eq!(loan.accrued_interest(day(89)), irr(2_194_521));
        assert_eq!(loan.accrued_interest(day(92)), irr(2_250_000));
        assert_eq!(loan.accrued_interest(day(400)), irr(2_250_000));
    }

    #[test]
    fn loan_figures_follow_the_contract() {
        let mut loan = loan_l1();
        loan.repay(irr(5_375_000), irr(100_000_000), day(2))
            .unwrap();
        let f = loan.figures(day(10).plus_seconds(3600), Some(BTC_PRICE_IRR));
        assert_eq!(f.paid, irr(5_375_000));
        assert_eq!(f.remaining, irr(26_875_000));
        assert_eq!(f.progress_pct, dec!(16.67));
        assert_eq!(f.installments_paid, 1);
        // Next unpaid installment is due on day 30: 19 whole days and 23 hours away.
        assert_eq!(f.days_until_due, Some(19));
        let overdue = loan.figures(day(30).plus_seconds(1), None);
        assert_eq!(overdue.days_until_due, Some(-1));
        assert!(loan.installments[1].is_overdue(day(30).plus_seconds(1)));
        // 11 started days accrue 271,233, less than the 375,000 already paid: principal only.
        assert_eq!(
            loan.accrued_interest(day(10).plus_seconds(3600)),
            irr(271_233)
        );
        assert_eq!(f.payoff, Some(irr(25_000_000)));
        assert_eq!(f.health.unwrap().status, HealthStatus::Healthy);
    }

    #[test]
    fn the_liquidation_price_is_where_ltv_reaches_the_threshold() {
        // api.md §9 example: debt 25,105,822 on 0.0005 BTC at FX 1,456,000 → 34,486.02 USD.
        // The state is set so that day 20 (accrued 493,151) owes exactly that debt.
        let mut loan = loan_l1();
        loan.principal_paid = irr(5_000_000);
        loan.interest_paid = irr(387_329);
        let now = day(20);
        assert_eq!(loan.outstanding_debt(now), irr(25_105_822));
        let fx = dec!(1456000);
        let price = loan.liquidation_price_usd(now, fx, DEFAULT_LIQUIDATION_LTV);
        assert_eq!(price, Some(dec!(34486.02)));
        // At that price the LTV is (just under) the threshold; a cent lower it is above.
        let ltv_at = |usd: Decimal| loan.health(now, usd * fx).ltv.unwrap();
        assert!(ltv_at(dec!(34486.02)) < DEFAULT_LIQUIDATION_LTV);
        assert!(ltv_at(dec!(34486.01)) > DEFAULT_LIQUIDATION_LTV);
        // A stricter threshold moves the price up.
        assert_eq!(
            loan.liquidation_price_usd(now, fx, dec!(0.5)),
            Some(dec!(68972.04))
        );
        loan.status = LoanStatus::Repaid;
        assert_eq!(
            loan.liquidation_price_usd(now, fx, DEFAULT_LIQUIDATION_LTV),
            None
        );
    }

    proptest! {
        #[test]
        fn schedules_sum_exactly_to_principal_and_interest(
            principal in 1_000_000i64..50_000_000_000,
            six_months in any::<bool>(),
        ) {
            let duration = if six_months { LoanDuration::SixMonths } else { LoanDuration::ThreeMonths };
            let terms = LoanTerms::new(irr(principal), duration, start());
            let p: Irr = terms.installments.iter().map(|i| i.principal).sum();
            let i: Irr = terms.installments.iter().map(|i| i.interest).sum();
            prop_assert_eq!(p, irr(principal));
            prop_assert_eq!(i, terms.total_interest);
            prop_assert!(terms.installments.iter().all(|i| !i.principal.is_negative() && !i.interest.is_negative()));
            prop_assert_eq!(terms.installments[5].due_date, terms.due_date);
        }

        #[test]
        fn repayments_never_apply_more_than_owed_and_the_payoff_always_settles(
            principal in 1_000_000i64..5_000_000_000,
            six_months in any::<bool>(),
            payments in prop::collection::vec((1i64..2_000_000_000, 0i64..3_000_000), 0..8),
            payoff_after in 0i64..3_000_000,
        ) {
            let duration = if six_months { LoanDuration::SixMonths } else { LoanDuration::ThreeMonths };
            let mut loan = Loan::from_terms(
                LoanTerms::new(irr(principal), duration, start()),
                AssetId::Btc,
                qty(dec!(1)),
                irr(principal * 2),
            );
            let mut now = start();
            let mut total_applied = Irr::ZERO;
            for (amount, gap_seconds) in payments {
                now = now.plus_seconds(gap_seconds);
                if !loan.is_active() {
                    break;
                }
                let owed = loan.outstanding_debt(now);
                let r = loan.repay(irr(amount), irr(i64::MAX / 4), now).unwrap();
                prop_assert!(r.applied <= owed);
                prop_assert_eq!(r.applied, r.principal_applied + r.interest_applied);
                prop_assert!(loan.principal_paid <= loan.principal);
                prop_assert!(loan.interest_paid <= loan.total_interest);
                total_applied += r.applied;
                prop_assert_eq!(loan.paid(), total_applied);
                if !r.settled {
                    prop_assert_eq!(r.remaining_balance, loan.outstanding_debt(now));
                    prop_assert!(loan.principal_paid < loan.principal);
                }
            }
            if loan.is_active() {
                now = now.plus_seconds(payoff_after);
                let payoff = loan.outstanding_debt(now);
                let r = loan.repay(payoff, payoff, now).unwrap();
                prop_assert!(r.settled);
                prop_assert_eq!(r.remaining_balance, Irr::ZERO);
                prop_assert_eq!(loan.status, LoanStatus::Repaid);
                prop_assert_eq!(loan.principal_paid, loan.principal);
                prop_assert_eq!(loan.installments_paid(), 6);
                total_applied += r.applied;
            }
            prop_assert_eq!(loan.paid(), total_applied);
            prop_assert_eq!(
                loan.interest_forgiven.unwrap(),
                loan.total_interest - loan.interest_paid
            );
        }
    }
}
