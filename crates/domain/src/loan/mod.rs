//! Loans against one holding (business-rules §7; decisions D10, D21–D24; api.md §2.2 and §9).
//!
//! A loan freezes its whole collateral holding, charges 30 % simple annual interest on the
//! original principal and is scheduled as six installments. What the user owes at any instant is
//! the unpaid principal plus the interest accrued so far (ACT/365, started days) that has not been
//! paid yet; this one figure drives the early-payoff amount, the LTV, the health band and the
//! liquidation sale. Freshness of prices is the caller's concern: every function here takes the
//! price it should use and `now` as parameters.
//!
//! Submodules: `terms` (durations, interest, schedule), `model` (the loan, its debt and
//! figures), `health` (LTV bands), `repayment` (§7.6–7.7), `liquidation` (§7.9), `capacity`
//! (§7.3) and `origination` (preview and creation, §7.4).

mod capacity;
mod health;
mod liquidation;
mod model;
mod origination;
mod repayment;
mod terms;
#[cfg(test)]
mod tests;

use rust_decimal::Decimal;
use rust_decimal_macros::dec;

pub use capacity::{CollateralCapacity, LoanCapacity, loan_capacity};
use capacity::{active_loan_on, prices_updating, unpriced_assets};
pub use health::{HealthStatus, LoanHealth, ltv};
pub use liquidation::{
    LiquidationPlan, LiquidationReason, LiquidationRecord, liquidate_loan, liquidation_plan,
};
pub use model::{Loan, LoanFigures, LoanStatus, loans_outstanding};
pub use origination::{LoanPreview, LoanRequest, check_principal, create_loan, preview_loan};
pub use repayment::{Repayment, repay_loan};
pub use terms::{
    Installment, InstallmentStatus, LoanDuration, LoanTerms, installment_schedule, total_interest,
};

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
