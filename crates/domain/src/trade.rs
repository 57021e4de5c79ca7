//! Trades (business-rules §5, D14–D18): validation in the order of §5.4, fill mechanics (§5.2),
//! the holdings-only after-allocation (§5.5), movesToward, boundary and friction copy (§5.6–5.7).
//!
//! A trade runs in two pure steps so preview and execute share every rule:
//! [`preview_trade`] validates and computes a [`TradePlan`] (every figure of the api.md §7
//! preview body) without changing anything; [`apply_trade`] re-checks the plan against the
//! (locked) state, requires the acknowledgement of STRUCTURAL/STRESS trades, and returns the new
//! state. Checks 1–2 and 4 are on the request, 3, 5 and 6 (portfolio existence, quotes, price
//! freshness) belong to the app layer, and 7–12 run here in the spec's order.

use std::str::FromStr;

use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde::{Deserialize, Serialize};

use crate::allocation::{Allocation, StatusReport, portfolio_status};
use crate::asset::{AssetId, FIXED_INCOME_UNIT_IRR, Layer, UnknownName};
use crate::boundary::{Boundary, classify, friction_copy};
use crate::error::{ErrorCode, RuleResult, RuleViolation};
use crate::fixed_income::{self, Lot};
use crate::format::compact_irr;
use crate::money::{Irr, Quantity, checked_ratio, round_half_up};
use crate::portfolio::{AssetPrice, PortfolioState, PriceBook, value_portfolio};
use crate::time::Timestamp;

/// Minimum user trade, IRR (D16); a SELL of the whole holding may be smaller.
pub const MIN_TRADE_IRR: i64 = 1_000_000;
/// Maximum single trade, IRR (D16).
pub const MAX_TRADE_IRR: i64 = 50_000_000_000;
/// A SELL amount in `[value, 1.01 × value]` sells the whole holding; above it is refused.
pub const SELL_ALL_TOLERANCE: Decimal = dec!(1.01);
/// A SELL amount at most this many rials below the holding's value sells the whole holding
/// (D40): the app's "Max" sends `floor(quantity × priceIrr)`, which is 1 IRR below the value
/// the server rounds half-up whenever the product's fraction is ≥ 0.5.
pub const SELL_ALL_SLACK_IRR: i64 = 1;

/// BUY or SELL (also the `side` of ledger legs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum TradeAction {
    Buy,
    Sell,
}

impl TradeAction {
    /// The wire name (`BUY` / `SELL`).
    pub fn as_str(self) -> &'static str {
        match self {
            TradeAction::Buy => "BUY",
            TradeAction::Sell => "SELL",
        }
    }
}

impl FromStr for TradeAction {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<TradeAction, UnknownName> {
        [TradeAction::Buy, TradeAction::Sell]
            .into_iter()
            .find(|a| a.as_str().eq_ignore_ascii_case(s))
            .ok_or(UnknownName)
    }
}

/// A parsed trade request (`POST /trade/preview` and `/trade/execute`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TradeRequest {
    pub action: TradeAction,
    pub asset: AssetId,
    /// Requested gross amount, already rounded half-up to whole rials (§0). Ignored when
    /// `sell_all` is set.
    pub amount: Option<Irr>,
    /// SELL only: sell the whole holding whatever its value.
    pub sell_all: bool,
}

/// Check 2 of §5.4: the asset id names a registry asset (case-insensitive), else
/// `VALIDATION_ERROR` on `assetId`. Run it before any price lookup.
pub fn parse_asset_id(text: &str) -> RuleResult<AssetId> {
    text.parse().map_err(|_| {
        field_error(
            "assetId",
            "This asset is not available for trading",
            "is not a supported asset",
        )
    })
}

/// Checks 1 (amount shape) and 4 (maximum) of §5.4. A BUY needs a positive amount; a SELL needs
/// a positive amount or `sell_all`. `sell_all` on a BUY is refused rather than ignored, so a
/// client bug never turns into an unintended purchase.
pub fn validate_request(request: &TradeRequest) -> RuleResult<()> {
    if request.sell_all {
        if request.action == TradeAction::Buy {
            return Err(field_error(
                "sellAll",
                "Sell all applies to sells only",
                "is allowed only with action SELL",
            ));
        }
        return Ok(());
    }
    let Some(amount) = request.amount else {
        return Err(field_error(
            "amountIrr",
            "Enter an amount for this trade",
            "is required",
        ));
    };
    if !amount.is_positive() {
        return Err(field_error(
            "amountIrr",
            "Enter an amount above zero",
            "must be greater than 0",
        ));
    }
    let max = Irr::new(MAX_TRADE_IRR);
    if amount > max {
        return Err(field_error(
            "amountIrr",
            &format!("Maximum trade is {} IRR", compact_irr(max)),
            &format!("must be at most {max}"),
        )
        .with("max", max));
    }
    Ok(())
}

/// Everything a preview reports and an execute applies (api.md §7).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TradePlan {
    pub action: TradeAction,
    pub asset: AssetId,
    pub layer: Layer,
    /// The amount the client asked for (absent for `sellAll`); quotes are matched on it.
    pub requested_amount: Option<Irr>,
    /// Units bought or sold (floor8; the whole holding for a whole-holding sell).
    pub quantity: Quantity,
    /// BUY: the gross amount spent (= requested). SELL: the gross actually sold,
    /// `round(q × priceIrr)` (fixed income: the FIFO value), never the requested amount.
    pub amount: Irr,
    /// BUY: amount − spread (what buys units). SELL: gross − spread (what reaches cash).
    pub net_amount: Irr,
    /// USD price per unit. Fixed income: `priceIrr / fx`, 8 dp (0 when FX is unknown).
    pub price_usd: Decimal,
    /// IRR price per unit. Fixed income BUY: 500,000 (a new lot starts at principal); fixed
    /// income SELL: the average value per unit sold, `gross / units` rounded to 8 dp.
    pub price_irr: Decimal,
    /// FX of the price book the plan was computed with.
    pub fx_rate: Decimal,
    /// The layer's spread as a fraction.
    pub spread: Decimal,
    pub spread_amount: Irr,
    /// True when the whole holding is sold (`sellAll`, or an amount within 101% of its value).
    pub sell_all: bool,
    pub cash_before: Irr,
    pub cash_after: Irr,
    /// Quantity of the holding after the trade (`newHoldingQuantity`).
    pub holding_quantity_after: Quantity,
    /// Layer shares of holdings (cash excluded), full precision; the wire rounds them.
    pub before: Allocation,
    pub target: Allocation,
    pub after: Allocation,
    pub status_before: StatusReport,
    pub status_after: StatusReport,
    pub boundary: Boundary,
    pub friction_copy: Vec<String>,
    pub moves_toward: bool,
    pub requires_acknowledgment: bool,
    /// The instant the plan was priced at (fixed income accrual and the new lot's time).
    pub priced_at: Timestamp,
}

/// Validates a trade and computes its plan without changing anything (§5.4 checks 1, 2 (by
/// type), 4, 7–11).
///
/// * `fill`: the fill price of a market asset (the quote's, or the current fresh price). `None`
///   or a non-positive price for a market asset → `PRICES_STALE` (freshness itself, check 6, is
///   the app layer's). Ignored for fixed income, which is priced from its lots at `now`.
/// * `prices`: the latest stored prices of every other holding (any age), for the before and
///   after layer shares. The traded asset is valued at `fill`, so shares and fill agree.
pub fn preview_trade(
    state: &PortfolioState,
    target: &Allocation,
    request: &TradeRequest,
    fill: Option<AssetPrice>,
    prices: &PriceBook,
    now: Timestamp,
) -> RuleResult<TradePlan> {
    validate_request(request)?;
    let asset = request.asset;
    let requested = if request.sell_all {
        None
    } else {
        request.amount
    };
    let market = if asset.is_fixed_income() {
        None
    } else {
        match fill {
            Some(p) if p.price_irr > Decimal::ZERO => Some(p),
            _ => {
                return Err(RuleViolation::new(
                    ErrorCode::PricesStale,
                    "Prices are being updated. Please try again in a moment.",
                )
                .with("assetIds", [asset]));
            }
        }
    };

    let holding = state.holding(asset).filter(|h| h.quantity.is_positive());
    let holding_value = holding.map(|h| match market {
        Some(p) => h.quantity.value_at(p.price_irr),
        None => fixed_income::holding_value(&h.lots, now),
    });

    // Checks 7 and 8 (SELL): something to sell, within 101% of its value, not frozen.
    let mut whole = false;
    if request.action == TradeAction::Sell {
        let (Some(h), Some(value)) = (holding, holding_value) else {
            return Err(insufficient_holdings(asset, requested, Irr::ZERO));
        };
        let ceiling = value.value().checked_mul(SELL_ALL_TOLERANCE);
        if requested.is_some_and(|a| ceiling.is_none_or(|c| a.value() > c)) {
            return Err(insufficient_holdings(asset, requested, value));
        }
        whole = request.sell_all
            || requested.is_some_and(|a| a >= value - Irr::new(SELL_ALL_SLACK_IRR));
        if h.frozen {
            return Err(RuleViolation::new(
                ErrorCode::AssetFrozen,
                format!("{asset} is locked for a loan and cannot be sold"),
            )
            .with("assetId", asset));
        }
    }

    // Check 9: the minimum, except for a sell of the whole holding.
    let min = Irr::new(MIN_TRADE_IRR);
    if let Some(amount) = requested.filter(|&a| a < min && !whole) {
        return Err(field_error(
            "amountIrr",
            &format!("Minimum trade is {} IRR", compact_irr(min)),
            &format!("must be at least {min}"),
        )
        .with("min", min)
        .with("requested", amount));
    }

    // Check 10 (BUY): enough cash for the gross amount.
    if request.action == TradeAction::Buy {
        let amount = requested.expect("validated: a BUY has an amount");
        if amount > state.cash {
            return Err(RuleViolation::new(
                ErrorCode::InsufficientCash,
                "Not enough cash for this trade",
            )
            .with("required", amount)
            .with("available", state.cash));
        }
    }

    let spread = asset.asset().spread();
    let fill = match request.action {
        TradeAction::Buy => fill_buy(
            asset,
            requested.expect("validated"),
            spread,
            market,
            state.cash,
        ),
        TradeAction::Sell => {
            let h = holding.expect("checked above");
            fill_sell(h, requested, whole, spread, market, state.cash, now)
        }
    }?;

    // Check 11: holdings-only before/after shares (§5.5), the traded asset at the fill price.
    let valuation = value_portfolio(state, prices, now);
    let mut layer_values = valuation.layer_values;
    let layer = asset.layer();
    if holding.is_some() {
        layer_values[layer.index()] +=
            holding_value.unwrap_or(Irr::ZERO) - valuation.value_of(asset);
    }
    let before = Allocation::from_values(layer_values);
    let has_before = layer_values.iter().any(|v| v.is_positive());
    match request.action {
        TradeAction::Buy => layer_values[layer.index()] += fill.value_moved,
        TradeAction::Sell => layer_values[layer.index()] -= fill.value_moved,
    }
    let after = Allocation::from_values(layer_values);
    let has_after = layer_values.iter().any(|v| v.is_positive());
    let assessment = classify(&before, &after, target, has_before, has_after);

    let held = holding.map(|h| h.quantity).unwrap_or(Quantity::ZERO);
    let holding_quantity_after = match request.action {
        TradeAction::Buy => held + fill.quantity,
        TradeAction::Sell => held - fill.quantity,
    };
    let price_usd = match market {
        Some(p) => p.price_usd,
        None => checked_ratio(fill.price_irr, prices.fx_rate)
            .map_or(Decimal::ZERO, |p| round_half_up(p, 8).normalize()),
    };
    Ok(TradePlan {
        action: request.action,
        asset,
        layer,
        requested_amount: requested,
        quantity: fill.quantity,
        amount: fill.amount,
        net_amount: fill.amount - fill.spread_amount,
        price_usd,
        price_irr: fill.price_irr,
        fx_rate: prices.fx_rate,
        spread,
        spread_amount: fill.spread_amount,
        sell_all: whole,
        cash_before: state.cash,
        cash_after: fill.cash_after,
        holding_quantity_after,
        before,
        target: *target,
        after,
        status_before: portfolio_status(&before, target, has_before),
        status_after: portfolio_status(&after, target, has_after),
        boundary: assessment.boundary,
        friction_copy: friction_copy(&assessment),
        moves_toward: assessment.moves_toward,
        requires_acknowledgment: assessment.boundary.requires_acknowledgment(),
        priced_at: now,
    })
}

/// The mechanics of one fill (§5.2).
struct Fill {
    quantity: Quantity,
    price_irr: Decimal,
    amount: Irr,
    spread_amount: Irr,
    cash_after: Irr,
    /// Value added to (BUY, after spread) or removed from (SELL, gross) the asset's layer.
    value_moved: Irr,
}

/// BUY: `spread = round(A × s)`, `q = floor8((A − spread) / price)`; fixed income buys
/// `floor8(net / 500,000)` units at principal.
fn fill_buy(
    asset: AssetId,
    amount: Irr,
    spread: Decimal,
    market: Option<AssetPrice>,
    cash: Irr,
) -> RuleResult<Fill> {
    let spread_amount = amount.mul_round(spread);
    let net = amount - spread_amount;
    let price_irr = market.map_or(FIXED_INCOME_UNIT_IRR, |p| p.price_irr);
    let quantity = Quantity::at_price(net.value(), price_irr);
    if !quantity.is_positive() {
        return Err(too_small(asset));
    }
    Ok(Fill {
        quantity,
        price_irr,
        amount,
        spread_amount,
        cash_after: cash - amount,
        value_moved: quantity.value_at(price_irr),
    })
}

/// SELL: `q = floor8(A / price)` or the whole holding; `gross = round(q × price)`,
/// `spread = round(gross × s)`, cash += gross − spread. Fixed income sells FIFO.
fn fill_sell(
    holding: &crate::portfolio::Holding,
    requested: Option<Irr>,
    whole: bool,
    spread: Decimal,
    market: Option<AssetPrice>,
    cash: Irr,
    now: Timestamp,
) -> RuleResult<Fill> {
    let (quantity, gross, price_irr) = match market {
        Some(p) => {
            let quantity = if whole {
                holding.quantity
            } else {
                let amount = requested.expect("a partial sell has an amount");
                Quantity::at_price(amount.value(), p.price_irr).min(holding.quantity)
            };
            (quantity, quantity.value_at(p.price_irr), p.price_irr)
        }
        None => {
            let sale = if whole {
                fixed_income::sell_all(&holding.lots, now)
            } else {
                let amount = requested.expect("a partial sell has an amount");
                fixed_income::sell_fifo(&holding.lots, amount, now)
            };
            let average = checked_ratio(sale.gross.value(), sale.units.value())
                .map_or(Decimal::ZERO, |p| round_half_up(p, 8).normalize());
            (sale.units, sale.gross, average)
        }
    };
    if !quantity.is_positive() {
        return Err(too_small(holding.asset));
    }
    let spread_amount = gross.mul_round(spread);
    Ok(Fill {
        quantity,
        price_irr,
        amount: gross,
        spread_amount,
        cash_after: cash + gross - spread_amount,
        value_moved: gross,
    })
}

/// The state after an executed trade, with the fields `POST /trade/execute` reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TradeOutcome {
    pub state: PortfolioState,
    pub new_cash: Irr,
    pub new_holding_quantity: Quantity,
}

/// Check 12 of §5.4: STRUCTURAL and STRESS trades need `acknowledgedWarning: true` (D15), else
/// `ACKNOWLEDGMENT_REQUIRED` with the boundary and friction copy to show.
pub fn check_acknowledgment(plan: &TradePlan, acknowledged_warning: bool) -> RuleResult<()> {
    if plan.requires_acknowledgment && !acknowledged_warning {
        return Err(RuleViolation::new(
            ErrorCode::AcknowledgmentRequired,
            "Please confirm the warning to continue with this trade",
        )
        .with("boundary", plan.boundary)
        .with("frictionCopy", &plan.friction_copy));
    }
    Ok(())
}

/// Executes a plan on `state`, which must be the (locked) state the plan was previewed from.
///
/// Re-checks what the state decides (holding present and large enough, not frozen, enough cash)
/// so a plan applied to a changed state is refused instead of corrupting it, then check 12, then
/// applies §5.2: BUY spends the gross amount and adds the units (a frozen holding stays frozen,
/// so the new units are locked too, D18; fixed income gets a new lot at the plan's time); SELL
/// removes the units (fixed income FIFO, partly sold lots keep their purchase time) and adds
/// gross − spread to cash. A fully sold holding stays in the state with quantity 0 (responses
/// omit it, §4.1).
pub fn apply_trade(
    state: &PortfolioState,
    plan: &TradePlan,
    acknowledged_warning: bool,
) -> RuleResult<TradeOutcome> {
    let asset = plan.asset;
    let held = state
        .holding(asset)
        .map(|h| h.quantity)
        .unwrap_or(Quantity::ZERO);
    match plan.action {
        TradeAction::Sell => {
            let holding = state.holding(asset).filter(|h| h.quantity.is_positive());
            if holding.is_none_or(|h| h.quantity < plan.quantity) {
                return Err(insufficient_holdings(asset, Some(plan.amount), Irr::ZERO));
            }
            if holding.is_some_and(|h| h.frozen) {
                return Err(RuleViolation::new(
                    ErrorCode::AssetFrozen,
                    format!("{asset} is locked for a loan and cannot be sold"),
                )
                .with("assetId", asset));
            }
        }
        TradeAction::Buy => {
            if plan.amount > state.cash {
                return Err(RuleViolation::new(
                    ErrorCode::InsufficientCash,
                    "Not enough cash for this trade",
                )
                .with("required", plan.amount)
                .with("available", state.cash));
            }
        }
    }
    check_acknowledgment(plan, acknowledged_warning)?;

    let mut next = state.clone();
    let holding = next.holding_entry(asset);
    match plan.action {
        TradeAction::Buy => {
            holding.quantity = held + plan.quantity;
            if asset.is_fixed_income() {
                holding.lots.push(Lot {
                    units: plan.quantity,
                    purchased_at: plan.priced_at,
                });
            }
            next.cash -= plan.amount;
        }
        TradeAction::Sell => {
            if asset.is_fixed_income() {
                let sale = if plan.sell_all {
                    fixed_income::sell_all(&holding.lots, plan.priced_at)
                } else {
                    let amount = plan.requested_amount.expect("a partial sell has an amount");
                    fixed_income::sell_fifo(&holding.lots, amount, plan.priced_at)
                };
                if sale.units != plan.quantity || sale.gross != plan.amount {
                    return Err(insufficient_holdings(asset, Some(plan.amount), Irr::ZERO));
                }
                holding.lots = sale.remaining;
            }
            holding.quantity = held - plan.quantity;
            next.cash += plan.amount - plan.spread_amount;
        }
    }
    let new_holding_quantity = next
        .holding(asset)
        .map(|h| h.quantity)
        .unwrap_or(Quantity::ZERO);
    Ok(TradeOutcome {
        new_cash: next.cash,
        new_holding_quantity,
        state: next,
    })
}

/// Preview then apply in one call: what execute does on the locked state (§5.8).
pub fn execute_trade(
    state: &PortfolioState,
    target: &Allocation,
    request: &TradeRequest,
    fill: Option<AssetPrice>,
    prices: &PriceBook,
    now: Timestamp,
    acknowledged_warning: bool,
) -> RuleResult<(TradePlan, TradeOutcome)> {
    let plan = preview_trade(state, target, request, fill, prices, now)?;
    let outcome = apply_trade(state, &plan, acknowledged_warning)?;
    Ok((plan, outcome))
}

/// A `VALIDATION_ERROR` naming one field (api.md §1.8) with a user-facing message.
fn field_error(field: &str, message: &str, field_message: &str) -> RuleViolation {
    let fields = serde_json::json!([{ "field": field, "message": field_message }]);
    RuleViolation::new(ErrorCode::ValidationError, message).with("fields", fields)
}

fn insufficient_holdings(asset: AssetId, required: Option<Irr>, available: Irr) -> RuleViolation {
    let message = if available.is_zero() {
        format!("Not enough {asset} to sell")
    } else {
        format!(
            "Not enough {asset} to sell this amount (about {} IRR held)",
            compact_irr(available)
        )
    };
    RuleViolation::new(ErrorCode::InsufficientHoldings, message)
        .with("requiredIrr", required.unwrap_or(Irr::ZERO))
        .with("availableIrr", available)
        .with("assetId", asset)
}

/// An amount that buys or sells less than the smallest quantity step (1e-8 unit).
fn too_small(asset: AssetId) -> RuleViolation {
    field_error(
        "amountIrr",
        &format!("Amount is below the smallest tradable quantity of {asset}"),
        "is too small for a quantity of at least 0.00000001",
    )
}

#[cfg(test)]
mod tests;
