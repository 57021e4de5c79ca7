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
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::allocation::PortfolioStatus;
    use crate::portfolio::Holding;

    fn at(text: &str) -> Timestamp {
        Timestamp::parse_rfc3339(text).unwrap()
    }

    fn now() -> Timestamp {
        at("2026-01-20T12:00:00Z")
    }

    fn target() -> Allocation {
        Allocation::new(dec!(0.50), dec!(0.35), dec!(0.15))
    }

    fn book() -> PriceBook {
        PriceBook::defaults()
    }

    fn price(asset: AssetId) -> Option<AssetPrice> {
        book().get(asset)
    }

    fn q(text: Decimal) -> Quantity {
        Quantity::exact(text).unwrap()
    }

    /// The §5.9 start: cash 100,000,000; holdings worth F 50,000,000 (USDT 20,000,000 and 60
    /// fixed-income units bought at `now`, 30,000,000) · G 35,000,000 (XRP) · U 15,000,000
    /// (MATIC) at default prices. These quantities value to the layer amounts exactly, so
    /// H = 100,000,000 (asserted in `the_trade_vector_start_state_is_worth_exactly_100m`).
    fn start_state() -> PortfolioState {
        let mut fi = Holding::new(AssetId::IrrFixedIncome, q(dec!(60)));
        fi.lots.push(Lot {
            units: q(dec!(60)),
            purchased_at: now(),
        });
        PortfolioState {
            cash: Irr::new(100_000_000),
            holdings: vec![
                Holding::new(AssetId::Usdt, q(dec!(13.73626373))),
                fi,
                Holding::new(AssetId::Xrp, q(dec!(10.92657342))),
                Holding::new(AssetId::Matic, q(dec!(22.89377289))),
            ],
        }
    }

    fn buy(asset: AssetId, amount: i64) -> TradeRequest {
        TradeRequest {
            action: TradeAction::Buy,
            asset,
            amount: Some(Irr::new(amount)),
            sell_all: false,
        }
    }

    fn sell(asset: AssetId, amount: i64) -> TradeRequest {
        TradeRequest {
            action: TradeAction::Sell,
            asset,
            amount: Some(Irr::new(amount)),
            sell_all: false,
        }
    }

    fn sell_all(asset: AssetId) -> TradeRequest {
        TradeRequest {
            action: TradeAction::Sell,
            asset,
            amount: None,
            sell_all: true,
        }
    }

    fn preview(state: &PortfolioState, request: TradeRequest) -> RuleResult<TradePlan> {
        preview_trade(
            state,
            &target(),
            &request,
            price(request.asset),
            &book(),
            now(),
        )
    }

    fn error(state: &PortfolioState, request: TradeRequest) -> RuleViolation {
        preview(state, request).unwrap_err()
    }

    fn after_6dp(plan: &TradePlan) -> [Decimal; 3] {
        plan.after.rounded(6).values()
    }

    #[test]
    fn the_trade_vector_start_state_is_worth_exactly_100m() {
        let v = value_portfolio(&start_state(), &book(), now());
        assert_eq!(
            v.layer_values,
            [50_000_000, 35_000_000, 15_000_000].map(Irr::new)
        );
        assert_eq!(v.holdings_value, Irr::new(100_000_000));
        assert_eq!(v.status(&target()).status, PortfolioStatus::Balanced);
    }

    #[test]
    fn t1_buying_btc_for_10m_drifts_growth_slightly() {
        let plan = preview(&start_state(), buy(AssetId::Btc, 10_000_000)).unwrap();
        assert_eq!(plan.spread_amount, Irr::new(30_000));
        assert_eq!(plan.net_amount, Irr::new(9_970_000));
        assert_eq!(plan.quantity.value(), dec!(0.00007023));
        assert_eq!(
            after_6dp(&plan),
            [dec!(0.454670), dec!(0.408929), dec!(0.136401)]
        );
        assert_eq!(plan.status_after.status, PortfolioStatus::SlightlyOff);
        assert_eq!(round_half_up(plan.status_after.max_drift_pp, 2), dec!(5.89));
        assert_eq!(plan.boundary, Boundary::Drift);
        assert!(!plan.moves_toward);
        assert!(!plan.requires_acknowledgment);
        assert_eq!(plan.friction_copy.len(), 2);
        assert_eq!(plan.cash_after, Irr::new(90_000_000));
        assert_eq!(plan.before, target());
        assert_eq!(plan.spread, dec!(0.003));
        assert_eq!(plan.price_usd, dec!(97500));
        assert_eq!(plan.price_irr, dec!(141960000000));
    }

    #[test]
    fn t2_buying_usdt_for_10m_stays_balanced_and_safe() {
        let plan = preview(&start_state(), buy(AssetId::Usdt, 10_000_000)).unwrap();
        assert_eq!(plan.spread_amount, Irr::new(15_000));
        assert_eq!(plan.quantity.value(), dec!(6.85782967));
        assert_eq!(
            after_6dp(&plan),
            [dec!(0.545393), dec!(0.318225), dec!(0.136382)]
        );
        assert_eq!(plan.status_after.status, PortfolioStatus::Balanced);
        assert_eq!(round_half_up(plan.status_after.max_drift_pp, 2), dec!(4.54));
        assert_eq!(plan.boundary, Boundary::Safe);
        assert!(plan.friction_copy.is_empty());
        assert!(!plan.requires_acknowledgment);
        assert_eq!(plan.cash_after, Irr::new(90_000_000));
    }

    #[test]
    fn t3_buying_sol_for_20m_breaks_the_upside_cap_and_needs_confirmation() {
        let state = start_state();
        let plan = preview(&state, buy(AssetId::Sol, 20_000_000)).unwrap();
        assert_eq!(plan.spread_amount, Irr::new(120_000));
        assert_eq!(plan.quantity.value(), dec!(0.07380457));
        assert_eq!(
            after_6dp(&plan),
            [dec!(0.417084), dec!(0.291959), dec!(0.290958)]
        );
        assert_eq!(plan.status_after.status, PortfolioStatus::AttentionRequired);
        assert!(
            plan.status_after
                .issues
                .contains(&"UPSIDE_ABOVE_HARD_CAP".to_owned())
        );
        assert_eq!(plan.boundary, Boundary::Structural);
        assert!(plan.requires_acknowledgment);
        assert_eq!(plan.cash_after, Irr::new(80_000_000));

        let err = apply_trade(&state, &plan, false).unwrap_err();
        assert_eq!(err.code, ErrorCode::AcknowledgmentRequired);
        assert_eq!(err.details["boundary"], "STRUCTURAL");
        assert_eq!(
            err.details["frictionCopy"],
            serde_json::json!(plan.friction_copy)
        );
        let done = apply_trade(&state, &plan, true).unwrap();
        assert_eq!(done.new_cash, Irr::new(80_000_000));
        assert_eq!(done.new_holding_quantity.value(), dec!(0.07380457));
    }

    #[test]
    fn executing_a_buy_spends_the_gross_amount_and_adds_the_units() {
        let state = start_state();
        let (plan, done) = execute_trade(
            &state,
            &target(),
            &buy(AssetId::Usdt, 10_000_000),
            price(AssetId::Usdt),
            &book(),
            now(),
            false,
        )
        .unwrap();
        assert_eq!(done.new_cash, Irr::new(90_000_000));
        assert_eq!(done.new_holding_quantity.value(), dec!(20.5940934));
        assert_eq!(plan.holding_quantity_after, done.new_holding_quantity);
        let after = value_portfolio(&done.state, &book(), now());
        assert_eq!(after.allocation(), plan.after);
    }

    #[test]
    fn an_unknown_asset_id_is_a_validation_error_on_asset_id() {
        let err = parse_asset_id("DOGE").unwrap_err();
        assert_eq!(err.code, ErrorCode::ValidationError);
        assert_eq!(err.details["fields"][0]["field"], "assetId");
        assert_eq!(parse_asset_id("btc").unwrap(), AssetId::Btc);
    }

    #[test]
    fn a_missing_or_non_positive_amount_is_a_validation_error() {
        let state = start_state();
        let mut request = buy(AssetId::Btc, 0);
        assert_eq!(error(&state, request).code, ErrorCode::ValidationError);
        request.amount = None;
        let err = error(&state, request);
        assert_eq!(err.details["fields"][0]["field"], "amountIrr");
        request.sell_all = true;
        let err = error(&state, request);
        assert_eq!(err.details["fields"][0]["field"], "sellAll");
    }

    #[test]
    fn an_amount_above_50b_is_a_validation_error_with_max() {
        let err = error(&start_state(), buy(AssetId::Btc, 50_000_000_001));
        assert_eq!(err.code, ErrorCode::ValidationError);
        assert_eq!(err.details["max"], serde_json::json!(50_000_000_000_i64));
        // The maximum is checked before cash (check 4 before check 10).
        assert!(validate_request(&buy(AssetId::Btc, 50_000_000_000)).is_ok());
    }

    #[test]
    fn a_market_asset_without_a_fill_price_is_prices_stale() {
        let request = buy(AssetId::Btc, 10_000_000);
        let err =
            preview_trade(&start_state(), &target(), &request, None, &book(), now()).unwrap_err();
        assert_eq!(err.code, ErrorCode::PricesStale);
        assert_eq!(err.details["assetIds"], serde_json::json!(["BTC"]));
    }

    #[test]
    fn selling_an_asset_not_held_is_insufficient_holdings() {
        let err = error(&start_state(), sell(AssetId::Btc, 1_000_000));
        assert_eq!(err.code, ErrorCode::InsufficientHoldings);
        assert_eq!(err.details["availableIrr"], serde_json::json!(0));
        assert_eq!(err.details["requiredIrr"], serde_json::json!(1_000_000));
        let err = error(&start_state(), sell_all(AssetId::Btc));
        assert_eq!(err.code, ErrorCode::InsufficientHoldings);
    }

    #[test]
    fn selling_more_than_101_percent_of_the_holding_is_insufficient_holdings() {
        // XRP is worth 35,000,000; 101% is 35,350,000.
        let state = start_state();
        let err = error(&state, sell(AssetId::Xrp, 35_350_001));
        assert_eq!(err.code, ErrorCode::InsufficientHoldings);
        assert_eq!(err.details["requiredIrr"], serde_json::json!(35_350_001));
        assert_eq!(err.details["availableIrr"], serde_json::json!(35_000_000));
        let plan = preview(&state, sell(AssetId::Xrp, 35_350_000)).unwrap();
        assert!(plan.sell_all);
    }

    #[test]
    fn a_sell_one_rial_below_the_value_sells_the_whole_holding_and_two_below_does_not() {
        // D40: BTC 0.00070001 × 141,960,000,000 = 99,373,419.6 → value 99,373,420, while the
        // app's Max sends floor(99,373,419.6) = 99,373,419.
        let state = PortfolioState {
            cash: Irr::ZERO,
            holdings: vec![Holding::new(AssetId::Btc, q(dec!(0.00070001)))],
        };
        let max = preview(&state, sell(AssetId::Btc, 99_373_419)).unwrap();
        assert!(max.sell_all);
        assert_eq!(max.quantity.value(), dec!(0.00070001));
        assert!(max.holding_quantity_after.is_zero());
        let short = preview(&state, sell(AssetId::Btc, 99_373_418)).unwrap();
        assert!(!short.sell_all);
        assert!(short.holding_quantity_after.is_positive());
    }

    #[test]
    fn a_sell_at_100_5_percent_of_value_sells_the_whole_holding() {
        let state = start_state();
        let plan = preview(&state, sell(AssetId::Xrp, 35_175_000)).unwrap();
        assert!(plan.sell_all);
        assert_eq!(plan.quantity.value(), dec!(10.92657342));
        // The gross is what was actually sold, never the requested amount.
        assert_eq!(plan.amount, Irr::new(35_000_000));
        assert_eq!(plan.spread_amount, Irr::new(105_000));
        assert_eq!(
            plan.cash_after,
            Irr::new(100_000_000 + 35_000_000 - 105_000)
        );
        assert_eq!(plan.requested_amount, Some(Irr::new(35_175_000)));
        let done = apply_trade(&state, &plan, true).unwrap();
        assert_eq!(done.new_holding_quantity, Quantity::ZERO);
        assert_eq!(done.new_cash, Irr::new(134_895_000));
    }

    #[test]
    fn a_partial_sell_takes_floor8_of_amount_over_price() {
        let state = start_state();
        let plan = preview(&state, sell(AssetId::Usdt, 10_000_000)).unwrap();
        assert!(!plan.sell_all);
        // floor8(10,000,000 / 1,456,000) = 6.86813186; gross = round(9,999,999.988…).
        assert_eq!(plan.quantity.value(), dec!(6.86813186));
        assert_eq!(plan.amount, Irr::new(10_000_000));
        assert_eq!(plan.spread_amount, Irr::new(15_000));
        assert_eq!(plan.net_amount, Irr::new(9_985_000));
        assert_eq!(plan.cash_after, Irr::new(109_985_000));
        // Selling Foundation away from an on-target portfolio.
        assert!(!plan.moves_toward);
    }

    #[test]
    fn a_frozen_holding_cannot_be_sold() {
        let mut state = start_state();
        state.holding_mut(AssetId::Xrp).unwrap().frozen = true;
        let err = error(&state, sell(AssetId::Xrp, 5_000_000));
        assert_eq!(err.code, ErrorCode::AssetFrozen);
        assert_eq!(
            error(&state, sell_all(AssetId::Xrp)).code,
            ErrorCode::AssetFrozen
        );
    }

    #[test]
    fn buying_into_a_frozen_holding_is_allowed_and_the_new_units_stay_locked() {
        let mut state = start_state();
        state.holding_mut(AssetId::Xrp).unwrap().frozen = true;
        let plan = preview(&state, buy(AssetId::Xrp, 2_000_000)).unwrap();
        let done = apply_trade(&state, &plan, true).unwrap();
        let xrp = done.state.holding(AssetId::Xrp).unwrap();
        assert!(xrp.frozen);
        assert_eq!(xrp.quantity, q(dec!(10.92657342)) + plan.quantity);
    }

    #[test]
    fn an_amount_below_1m_is_refused_unless_it_sells_the_whole_holding() {
        let mut state = start_state();
        let err = error(&state, buy(AssetId::Btc, 999_999));
        assert_eq!(err.code, ErrorCode::ValidationError);
        assert_eq!(err.details["min"], serde_json::json!(1_000_000));
        // A small holding worth 500,000: a partial sell below the minimum is refused…
        state
            .holdings
            .push(Holding::new(AssetId::Ton, q(dec!(0.06604001))));
        let value = q(dec!(0.06604001)).value_at(dec!(7571200));
        assert_eq!(value, Irr::new(500_002));
        let err = error(&state, sell(AssetId::Ton, 400_000));
        assert_eq!(err.code, ErrorCode::ValidationError);
        assert_eq!(err.details["min"], serde_json::json!(1_000_000));
        // …while selling all of it is allowed, by amount or by sellAll.
        let plan = preview(&state, sell(AssetId::Ton, 500_002)).unwrap();
        assert!(plan.sell_all);
        assert_eq!(plan.amount, Irr::new(500_002));
        let plan = preview(&state, sell_all(AssetId::Ton)).unwrap();
        assert_eq!(plan.quantity.value(), dec!(0.06604001));
        assert_eq!(plan.requested_amount, None);
    }

    #[test]
    fn a_buy_above_cash_is_insufficient_cash_with_required_and_available() {
        let mut state = start_state();
        state.cash = Irr::new(3_000_000);
        let err = error(&state, buy(AssetId::Btc, 5_000_000));
        assert_eq!(err.code, ErrorCode::InsufficientCash);
        assert_eq!(err.details["required"], serde_json::json!(5_000_000));
        assert_eq!(err.details["available"], serde_json::json!(3_000_000));
    }

    #[test]
    fn validation_failures_come_in_the_order_of_business_rules_5_4() {
        let mut state = start_state();
        state.cash = Irr::ZERO;
        state.holding_mut(AssetId::Xrp).unwrap().frozen = true;
        // Check 4 (max) before check 10 (cash).
        let err = error(&state, buy(AssetId::Btc, 60_000_000_000));
        assert!(err.details.contains_key("max"));
        // Check 7 (over 101%) before check 8 (frozen).
        let err = error(&state, sell(AssetId::Xrp, 40_000_000));
        assert_eq!(err.code, ErrorCode::InsufficientHoldings);
        // Check 8 (frozen) before check 9 (minimum).
        let err = error(&state, sell(AssetId::Xrp, 500_000));
        assert_eq!(err.code, ErrorCode::AssetFrozen);
        // Check 9 (minimum) before check 10 (cash).
        let err = error(&state, buy(AssetId::Btc, 500_000));
        assert_eq!(err.code, ErrorCode::ValidationError);
    }

    fn fi2_state() -> PortfolioState {
        let lots = vec![
            Lot {
                units: q(dec!(30)),
                purchased_at: at("2026-01-01T00:00:00Z"),
            },
            Lot {
                units: q(dec!(20)),
                purchased_at: at("2026-03-02T00:00:00Z"),
            },
        ];
        let mut holding = Holding::new(AssetId::IrrFixedIncome, q(dec!(50)));
        holding.lots = lots;
        PortfolioState {
            cash: Irr::ZERO,
            holdings: vec![holding],
        }
    }

    #[test]
    fn fi2_selling_10m_of_fixed_income_goes_fifo_from_the_oldest_lot() {
        let state = fi2_state();
        let when = at("2026-04-01T00:00:00Z");
        let request = sell(AssetId::IrrFixedIncome, 10_000_000);
        let plan = preview_trade(&state, &target(), &request, None, &book(), when).unwrap();
        assert!(!plan.sell_all);
        assert_eq!(plan.quantity.value(), dec!(18.62244897));
        assert_eq!(plan.amount, Irr::new(10_000_000));
        assert_eq!(plan.spread_amount, Irr::new(15_000));
        assert_eq!(plan.cash_after, Irr::new(9_985_000));
        let done = apply_trade(&state, &plan, true).unwrap();
        assert_eq!(done.new_cash, Irr::new(9_985_000));
        let fi = done.state.holding(AssetId::IrrFixedIncome).unwrap();
        assert_eq!(fi.quantity.value(), dec!(31.37755103));
        assert_eq!(fi.lots[0].units.value(), dec!(11.37755103));
        assert_eq!(fi.lots[0].purchased_at, at("2026-01-01T00:00:00Z"));
        assert_eq!(fi.lots[1], state.holdings[0].lots[1]);
    }

    #[test]
    fn selling_all_fixed_income_takes_every_lot_at_its_accrued_value() {
        let state = fi2_state();
        let when = at("2026-04-01T00:00:00Z");
        let request = sell_all(AssetId::IrrFixedIncome);
        let plan = preview_trade(&state, &target(), &request, None, &book(), when).unwrap();
        assert_eq!(plan.amount, Irr::new(26_356_164));
        assert_eq!(plan.quantity.value(), dec!(50));
        let done = apply_trade(&state, &plan, true).unwrap();
        let fi = done.state.holding(AssetId::IrrFixedIncome).unwrap();
        assert!(fi.lots.is_empty());
        assert_eq!(fi.quantity, Quantity::ZERO);
        assert_eq!(done.new_cash, Irr::new(26_356_164 - 39_534));
    }

    #[test]
    fn buying_fixed_income_creates_a_new_lot_at_principal() {
        let state = fi2_state();
        let mut state = state;
        state.cash = Irr::new(10_000_000);
        let when = at("2026-04-01T00:00:00Z");
        let request = buy(AssetId::IrrFixedIncome, 10_000_000);
        let plan = preview_trade(&state, &target(), &request, None, &book(), when).unwrap();
        assert_eq!(plan.spread_amount, Irr::new(15_000));
        assert_eq!(plan.quantity.value(), dec!(19.97));
        assert_eq!(plan.price_irr, dec!(500000));
        let done = apply_trade(&state, &plan, true).unwrap();
        let fi = done.state.holding(AssetId::IrrFixedIncome).unwrap();
        assert_eq!(fi.lots.len(), 3);
        assert_eq!(
            fi.lots[2],
            Lot {
                units: q(dec!(19.97)),
                purchased_at: when
            }
        );
        assert_eq!(fi.quantity.value(), dec!(69.97));
    }

    #[test]
    fn a_buy_into_an_all_cash_portfolio_is_never_stress() {
        let state = PortfolioState {
            cash: Irr::new(50_000_000),
            holdings: Vec::new(),
        };
        let plan = preview(&state, buy(AssetId::Sol, 10_000_000)).unwrap();
        assert_eq!(plan.before, Allocation::ZERO);
        assert_eq!(plan.boundary, Boundary::Structural);
        let plan = preview(&state, buy(AssetId::Usdt, 10_000_000)).unwrap();
        assert_eq!(plan.boundary, Boundary::Structural);
    }

    #[test]
    fn a_trade_toward_target_is_safe_with_the_closer_copy() {
        let state = start_state();
        // Upside-heavy portfolio: buy more of Upside first, then selling Upside moves toward.
        let plan = preview(&state, buy(AssetId::Sol, 20_000_000)).unwrap();
        let heavy = apply_trade(&state, &plan, true).unwrap().state;
        let plan = preview(&heavy, sell(AssetId::Sol, 10_000_000)).unwrap();
        assert!(plan.moves_toward);
        assert_eq!(plan.boundary, Boundary::Safe);
        assert_eq!(plan.friction_copy.len(), 1);
    }

    #[test]
    fn apply_refuses_a_plan_the_state_can_no_longer_pay_for() {
        let state = start_state();
        let plan = preview(&state, buy(AssetId::Btc, 10_000_000)).unwrap();
        let mut poorer = state.clone();
        poorer.cash = Irr::new(1_000_000);
        let err = apply_trade(&poorer, &plan, true).unwrap_err();
        assert_eq!(err.code, ErrorCode::InsufficientCash);
        let plan = preview(&state, sell_all(AssetId::Xrp)).unwrap();
        let mut frozen = state;
        frozen.holding_mut(AssetId::Xrp).unwrap().frozen = true;
        assert_eq!(
            apply_trade(&frozen, &plan, true).unwrap_err().code,
            ErrorCode::AssetFrozen
        );
    }

    #[test]
    fn every_trade_error_message_follows_the_communication_doctrine() {
        let mut state = start_state();
        state.holding_mut(AssetId::Xrp).unwrap().frozen = true;
        let plan = preview(&state, buy(AssetId::Sol, 20_000_000)).unwrap();
        let errors = [
            parse_asset_id("DOGE").unwrap_err(),
            error(&state, buy(AssetId::Btc, 0)),
            error(
                &state,
                TradeRequest {
                    amount: None,
                    ..buy(AssetId::Btc, 1)
                },
            ),
            error(
                &state,
                TradeRequest {
                    sell_all: true,
                    ..buy(AssetId::Btc, 1)
                },
            ),
            error(&state, buy(AssetId::Btc, 60_000_000_000)),
            error(&state, buy(AssetId::Btc, 500_000)),
            error(&state, buy(AssetId::Btc, 200_000_000)),
            error(&state, sell(AssetId::Btc, 2_000_000)),
            error(&state, sell(AssetId::Usdt, 90_000_000)),
            error(&state, sell(AssetId::Xrp, 2_000_000)),
            preview_trade(
                &state,
                &target(),
                &buy(AssetId::Btc, 1_000_000),
                None,
                &book(),
                now(),
            )
            .unwrap_err(),
            too_small(AssetId::Btc),
            apply_trade(&state, &plan, false).unwrap_err(),
        ];
        for err in errors {
            let m = err.message.to_lowercase();
            assert_eq!(crate::activity::forbidden_word_in(&m), None, "{m}");
            for word in ["token", "unauthorized", "401"] {
                assert!(!m.contains(word), "{m}");
            }
        }
    }

    fn market_asset() -> impl Strategy<Value = AssetId> {
        prop::sample::select(
            AssetId::ALL
                .into_iter()
                .filter(|a| !a.is_fixed_income())
                .collect::<Vec<_>>(),
        )
    }

    fn quantity() -> impl Strategy<Value = Quantity> {
        (1i64..=10_000_000_000_000).prop_map(|units| Quantity::floor8(Decimal::new(units, 8)))
    }

    proptest! {
        #[test]
        fn a_sell_never_takes_more_than_the_holding(
            asset in market_asset(),
            held in quantity(),
            amount in 1i64..=MAX_TRADE_IRR,
            all in any::<bool>(),
        ) {
            let state = PortfolioState {
                cash: Irr::ZERO,
                holdings: vec![Holding::new(asset, held)],
            };
            let request = if all { sell_all(asset) } else { sell(asset, amount) };
            if let Ok(plan) = preview(&state, request) {
                prop_assert!(plan.quantity <= held);
                prop_assert!(plan.quantity.is_positive());
                let done = apply_trade(&state, &plan, true).unwrap();
                prop_assert_eq!(done.new_holding_quantity, held - plan.quantity);
                prop_assert!(done.new_holding_quantity >= Quantity::ZERO);
                prop_assert_eq!(plan.sell_all, done.new_holding_quantity.is_zero());
            }
        }

        #[test]
        fn a_buy_never_spends_more_than_cash(
            asset in market_asset(),
            cash in 0i64..=60_000_000_000,
            amount in 1i64..=MAX_TRADE_IRR,
        ) {
            let state = PortfolioState { cash: Irr::new(cash), holdings: Vec::new() };
            match preview(&state, buy(asset, amount)) {
                Ok(plan) => {
                    prop_assert!(plan.amount <= state.cash);
                    let done = apply_trade(&state, &plan, true).unwrap();
                    prop_assert!(!done.new_cash.is_negative());
                    // Units received are never worth more than the net amount paid for them.
                    prop_assert!(plan.quantity.value() * plan.price_irr <= plan.net_amount.value());
                }
                Err(err) => prop_assert!(amount > cash || amount < MIN_TRADE_IRR
                    || err.code == ErrorCode::ValidationError, "{err}"),
            }
        }

        #[test]
        fn cash_after_is_cash_minus_amount_or_plus_gross_minus_spread(
            asset in market_asset(),
            held in quantity(),
            cash in 0i64..=60_000_000_000,
            amount in MIN_TRADE_IRR..=MAX_TRADE_IRR,
            selling in any::<bool>(),
        ) {
            let state = PortfolioState {
                cash: Irr::new(cash),
                holdings: vec![Holding::new(asset, held)],
            };
            let request = if selling { sell(asset, amount) } else { buy(asset, amount) };
            if let Ok(plan) = preview(&state, request) {
                let done = apply_trade(&state, &plan, true).unwrap();
                let expected = match plan.action {
                    TradeAction::Buy => state.cash - Irr::new(amount),
                    TradeAction::Sell => state.cash + plan.amount - plan.spread_amount,
                };
                prop_assert_eq!(plan.cash_after, expected);
                prop_assert_eq!(done.new_cash, expected);
                prop_assert_eq!(plan.spread_amount, plan.amount.mul_round(asset.asset().spread()));
            }
        }
    }
}
