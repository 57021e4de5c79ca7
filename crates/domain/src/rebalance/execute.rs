//! Executing a rebalance (business-rules §6.9, D20): sells first, then buys, each leg re-checked
//! against the state as it is at that moment, so what is executed can never oversell a holding or
//! overdraw cash even if the plan and the state disagree.

use rust_decimal::Decimal;

use super::plan::{plan_rebalance, spread};
use super::{LegSide, RebalanceInput, RebalanceLeg, RebalancePlan, cooldown, min_leg};
use crate::allocation::{Allocation, StatusReport};
use crate::boundary::{BoundaryAssessment, classify};
use crate::error::{ErrorCode, RuleResult, RuleViolation};
use crate::fixed_income::{self, Lot};
use crate::money::{Irr, Quantity, round_half_up};
use crate::portfolio::{PortfolioState, PriceBook, value_portfolio};
use crate::time::Timestamp;

/// The state after a plan's legs, with the legs actually executed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RebalanceExecution {
    pub state: PortfolioState,
    /// Executed legs with executed quantities and amounts (the ledger records these, never the
    /// planned ones — pitfall 25).
    pub executed: Vec<RebalanceLeg>,
}

/// Applies a plan's legs to `state` (§6.9 step 3):
/// - sells first: `q = floor8(leg / priceIrr)` capped to the unfrozen holding (fixed income
///   FIFO); gross = `round(q × priceIrr)`, spread = `round(gross × s)`, net proceeds to cash;
/// - then buys, each capped to the cash then available and skipped below MIN_LEG; quantity
///   `floor8((A − spread) / priceIrr)`; fixed income gets a new lot bought at `now`; units bought
///   into a frozen holding stay frozen (D18).
///
/// Frozen holdings are never sold, whatever the plan says. A leg that would move zero units is
/// skipped (paying for nothing is never right).
///
/// Errors: `NO_REBALANCE_NEEDED` when the plan has no legs or none could be executed;
/// `PRICES_STALE` when a market leg's asset has no price in the book.
pub fn apply_plan(
    state: &PortfolioState,
    plan: &RebalancePlan,
    prices: &PriceBook,
    now: Timestamp,
) -> RuleResult<RebalanceExecution> {
    if plan.is_empty() {
        return Err(no_rebalance_needed());
    }
    let missing: Vec<&str> = plan
        .trades
        .iter()
        .filter(|t| !t.asset.is_fixed_income() && prices.price_irr(t.asset).is_none())
        .map(|t| t.asset.as_str())
        .collect();
    if !missing.is_empty() {
        return Err(RuleViolation::new(
            ErrorCode::PricesStale,
            "Prices are updating. Please try again in a moment.",
        )
        .with("assetIds", missing));
    }
    let mut next = state.clone();
    let mut executed = Vec::new();
    for leg in plan.sells() {
        if let Some(done) = execute_sell(&mut next, leg, prices, now) {
            executed.push(done);
        }
    }
    for leg in plan.buys() {
        if let Some(done) = execute_buy(&mut next, leg, prices, now) {
            executed.push(done);
        }
    }
    if executed.is_empty() {
        return Err(no_rebalance_needed());
    }
    Ok(RebalanceExecution {
        state: next,
        executed,
    })
}

fn no_rebalance_needed() -> RuleViolation {
    RuleViolation::new(
        ErrorCode::NoRebalanceNeeded,
        "Your portfolio needs no rebalancing right now",
    )
}

fn execute_sell(
    state: &mut PortfolioState,
    leg: &RebalanceLeg,
    prices: &PriceBook,
    now: Timestamp,
) -> Option<RebalanceLeg> {
    let holding = state.holding_mut(leg.asset)?;
    if holding.frozen || !holding.quantity.is_positive() {
        return None;
    }
    let (quantity, gross, price_irr) = if leg.asset.is_fixed_income() {
        let sale = fixed_income::sell_fifo(&holding.lots, leg.amount_irr, now);
        if sale.units.is_zero() {
            return None;
        }
        holding.lots = sale.remaining;
        holding.quantity = holding.lots.iter().map(|l| l.units).sum();
        (sale.units, sale.gross, leg.price_irr)
    } else {
        let price = prices.price_irr(leg.asset)?;
        let q = Quantity::at_price(leg.amount_irr.value(), price).min(holding.quantity);
        if q.is_zero() {
            return None;
        }
        holding.quantity -= q;
        (q, q.value_at(price), price)
    };
    let spread_irr = spread(leg.asset, gross);
    state.cash += gross - spread_irr;
    Some(RebalanceLeg {
        side: LegSide::Sell,
        asset: leg.asset,
        layer: leg.layer,
        quantity,
        amount_irr: gross,
        price_irr,
        spread_irr,
    })
}

fn execute_buy(
    state: &mut PortfolioState,
    leg: &RebalanceLeg,
    prices: &PriceBook,
    now: Timestamp,
) -> Option<RebalanceLeg> {
    let amount = leg.amount_irr.min(state.cash);
    if amount < min_leg() {
        return None;
    }
    let spread_irr = spread(leg.asset, amount);
    let net = amount - spread_irr;
    let (quantity, price_irr) = if leg.asset.is_fixed_income() {
        (fixed_income::units_for(net), leg.price_irr)
    } else {
        let price = prices.price_irr(leg.asset)?;
        (Quantity::at_price(net.value(), price), price)
    };
    if quantity.is_zero() {
        return None;
    }
    state.cash -= amount;
    let holding = state.holding_entry(leg.asset);
    holding.quantity += quantity;
    if leg.asset.is_fixed_income() {
        holding.lots.push(Lot {
            units: quantity,
            purchased_at: now,
        });
    }
    Some(RebalanceLeg {
        side: LegSide::Buy,
        asset: leg.asset,
        layer: leg.layer,
        quantity,
        amount_irr: amount,
        price_irr,
        spread_irr,
    })
}

/// The result of the execute use case (api.md §8 `POST /rebalance/execute`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RebalanceOutcome {
    /// The plan recomputed from the locked state (its numbers are what was intended).
    pub plan: RebalancePlan,
    pub state: PortfolioState,
    /// Legs actually executed (`tradesExecuted` is its length).
    pub trades_executed: Vec<RebalanceLeg>,
    pub new_allocation: Allocation,
    pub new_status: StatusReport,
    /// `maxDriftPp` of the executed state, 2 dp.
    pub residual_drift_pp: Decimal,
    /// Boundary of the actual before/after (§5.6); never needs an acknowledgement (D15).
    pub boundary: BoundaryAssessment,
    pub total_sell_irr: Irr,
    pub total_buy_irr: Irr,
    pub spread_irr: Irr,
}

/// Execute (§6.9 steps 1–3): cooldown, plan recomputed from `input` (the locked state at fresh
/// prices), then the legs applied. The caller checks price freshness and persists the result,
/// `lastRebalanceAt = now` and the ledger entry (steps 2 and 4).
pub fn execute_rebalance(
    input: &RebalanceInput,
    last_rebalance_at: Option<Timestamp>,
) -> RuleResult<RebalanceOutcome> {
    let before = value_portfolio(input.state, input.prices, input.now);
    let before_status = before.status(input.target);
    cooldown(last_rebalance_at, input.now, before_status.max_drift_pp).check()?;
    let plan = plan_rebalance(input)?;
    let execution = apply_plan(input.state, &plan, input.prices, input.now)?;
    let after = value_portfolio(&execution.state, input.prices, input.now);
    let new_allocation = after.allocation();
    let new_status = after.status(input.target);
    let boundary = classify(
        &before.allocation(),
        &new_allocation,
        input.target,
        before.has_holdings(),
        after.has_holdings(),
    );
    let sum = |side: LegSide| -> Irr {
        execution
            .executed
            .iter()
            .filter(|l| l.side == side)
            .map(|l| l.amount_irr)
            .sum()
    };
    Ok(RebalanceOutcome {
        residual_drift_pp: round_half_up(new_status.max_drift_pp, 2).normalize(),
        total_sell_irr: sum(LegSide::Sell),
        total_buy_irr: sum(LegSide::Buy),
        spread_irr: execution.executed.iter().map(|l| l.spread_irr).sum(),
        plan,
        state: execution.state,
        trades_executed: execution.executed,
        new_allocation,
        new_status,
        boundary,
    })
}
