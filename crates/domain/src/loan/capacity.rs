//! Loan capacity (business-rules §7.3, `GET /loans/capacity`): 25 % of the net portfolio value
//! less the outstanding debt, and what each holding could still secure.

use rust_decimal::Decimal;

use super::{Loan, PORTFOLIO_CAP_FRACTION, loans_outstanding};
use crate::asset::{AssetId, Layer};
use crate::error::{ErrorCode, RuleResult, RuleViolation};
use crate::money::Irr;
use crate::portfolio::Valuation;
use crate::time::Timestamp;

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
    let unpriced = unpriced_assets(valuation);
    if !unpriced.is_empty() {
        return Err(prices_updating(unpriced));
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

/// The held assets the valuation could not price: a capacity computed without them would
/// understate the portfolio (§12 item 36).
pub(super) fn unpriced_assets(valuation: &Valuation) -> Vec<AssetId> {
    valuation
        .holdings
        .iter()
        .filter(|h| !h.priced)
        .map(|h| h.asset)
        .collect()
}

/// `PRICES_STALE` naming the assets without a usable price.
pub(super) fn prices_updating(assets: Vec<AssetId>) -> RuleViolation {
    RuleViolation::new(
        ErrorCode::PricesStale,
        "Prices are updating. Try again shortly.",
    )
    .with("assetIds", assets)
}

pub(super) fn active_loan_on(loans: &[Loan], asset: AssetId) -> bool {
    loans
        .iter()
        .any(|l| l.is_active() && l.collateral_asset == asset)
}
