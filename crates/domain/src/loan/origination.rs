//! Loan preview and creation (business-rules §7.4): the principal limits and checks 2–7 in
//! their documented order, shared by `POST /loans/preview` (no effects, every limit reported)
//! and `POST /loans` (the holding frozen, the principal credited to cash).

use rust_decimal::Decimal;

use super::{
    Loan, LoanDuration, LoanTerms, MAX_PRINCIPAL_IRR, MIN_PRINCIPAL_IRR, active_loan_on,
    loan_capacity, prices_updating, unpriced_assets,
};
use crate::asset::AssetId;
use crate::error::{ErrorCode, RuleResult, RuleViolation};
use crate::money::{Irr, Quantity};
use crate::num::Num;
use crate::portfolio::{PortfolioState, PriceBook, holding_value, value_portfolio};
use crate::time::Timestamp;

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
    let unpriced = unpriced_assets(&valuation);
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
        Some(prices_updating(stale))
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
