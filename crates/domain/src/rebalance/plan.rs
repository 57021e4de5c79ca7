//! The passes of the planner: inter-layer (§6.5), SMART's second pass, intra-layer (§6.6), then
//! consolidation, netting and the cash guard (§6.4), and the plan result (§6.7).

use rust_decimal::Decimal;

use super::gap::{gap_analysis, gap_summary};
use super::{
    CASH_MODE_GAP_IRR, FULL_REBALANCE_MAX_DRIFT_PP, HOLDINGS_ONLY_GAP_PP, INTRA_BAND,
    INTRA_LAYER_MAX_DRIFT_PP, INTRA_OVERWEIGHT_DIFF, INTRA_UNDERWEIGHT_DIFF, LegSide,
    MAX_SELL_FRACTION, MIN_KEEP_IRR, RebalanceLeg, RebalanceMode, RebalancePlan, min_leg,
    rebalance_friction_copy,
};
use crate::allocation::Allocation;
use crate::asset::{AssetId, FIXED_INCOME_UNIT_IRR, Layer};
use crate::boundary::classify;
use crate::error::{RuleResult, RuleViolation};
use crate::fixed_income;
use crate::hram::HramWeights;
use crate::money::{Irr, Quantity, checked_ratio, pro_rata, round_half_up};
use crate::portfolio::{PortfolioState, PriceBook, Valuation, value_portfolio};
use crate::time::Timestamp;

/// Everything the planner reads, from one consistent snapshot (§4.1).
#[derive(Clone, Copy, Debug)]
pub struct RebalanceInput<'a> {
    pub state: &'a PortfolioState,
    pub target: &'a Allocation,
    pub prices: &'a PriceBook,
    /// Intra-layer targets (HRAM, BALANCED preset by default, D19).
    pub weights: &'a HramWeights,
    pub mode: RebalanceMode,
    /// SMART only (ignored by the other modes, which have nothing to apply it to):
    /// 0 ≤ C ≤ cash, default all cash.
    pub use_cash_amount: Option<Irr>,
    pub now: Timestamp,
}

/// Computes the rebalance plan (§6.5–6.8). The same function serves preview and execute (D19).
///
/// Errors: `VALIDATION_ERROR` when SMART's `useCashAmount` is negative or above the cash.
pub fn plan_rebalance(input: &RebalanceInput) -> RuleResult<RebalancePlan> {
    let RebalanceInput {
        state,
        target,
        prices,
        weights,
        mode,
        now,
        ..
    } = *input;
    let use_cash = smart_cash(input)?;
    let valuation = value_portfolio(state, prices, now);
    let current = valuation.allocation();
    let status = valuation.status(target);
    let pre_drift = Layer::ALL.map(|l| current.drift_pp(target, l));

    let mut sim = Sim::new(&valuation, prices);
    let (insufficient_cash, plan_cash) = match mode {
        RebalanceMode::HoldingsOnly => {
            inter_layer_pass(&mut sim, target, weights, None, Irr::ZERO, true);
            (false, Irr::ZERO)
        }
        RebalanceMode::HoldingsPlusCash => {
            let cash = state.cash.max_zero();
            let pass = inter_layer_pass(&mut sim, target, weights, Some(cash), cash, true);
            (pass.underweight_total > pass.budget, cash)
        }
        RebalanceMode::Smart => {
            let c = use_cash.unwrap_or(Irr::ZERO);
            inter_layer_pass(&mut sim, target, weights, None, Irr::ZERO, true);
            let pass = inter_layer_pass(&mut sim, target, weights, Some(c), c, false);
            (pass.underweight_total > pass.budget, c)
        }
    };
    intra_layer_pass(&mut sim, weights, pre_drift);

    let legs = cash_guard(consolidate(&sim.legs), plan_cash);
    let trades = legs
        .iter()
        .map(|&(side, asset, amount)| materialise(state, prices, side, asset, amount, now))
        .collect::<Vec<_>>();

    let mut after_values = valuation.layer_values;
    for t in &trades {
        let layer = t.layer.index();
        match t.side {
            LegSide::Sell => after_values[layer] -= t.amount_irr,
            LegSide::Buy => after_values[layer] += t.net_irr(),
        }
    }
    let after_allocation = Allocation::from_values(after_values);
    let holdings_value_after: Irr = after_values.iter().sum();
    let residual_drift_pp = if holdings_value_after.is_positive() {
        round_half_up(after_allocation.max_drift_pp(target), 2).normalize()
    } else {
        Decimal::ZERO
    };
    let boundary = classify(
        &current,
        &after_allocation,
        target,
        valuation.has_holdings(),
        holdings_value_after.is_positive(),
    );
    let total_sell_irr: Irr = trades
        .iter()
        .filter(|t| t.side == LegSide::Sell)
        .map(|t| t.amount_irr)
        .sum();
    let net_sells: Irr = trades
        .iter()
        .filter(|t| t.side == LegSide::Sell)
        .map(RebalanceLeg::net_irr)
        .sum();
    let total_buy_irr: Irr = trades
        .iter()
        .filter(|t| t.side == LegSide::Buy)
        .map(|t| t.amount_irr)
        .sum();
    let spread_irr: Irr = trades.iter().map(|t| t.spread_irr).sum();
    let has_locked_collateral = valuation.holdings.iter().any(|h| h.frozen);

    Ok(RebalancePlan {
        mode,
        use_cash_amount: use_cash,
        current_allocation: current,
        target_allocation: *target,
        after_allocation,
        status,
        residual_drift_pp,
        can_fully_rebalance: residual_drift_pp < FULL_REBALANCE_MAX_DRIFT_PP,
        has_locked_collateral,
        insufficient_cash,
        total_sell_irr,
        total_buy_irr,
        cash_deployed_irr: (total_buy_irr - net_sells).max_zero(),
        spread_irr,
        holdings_value_before: valuation.holdings_value,
        holdings_value_after,
        cash_before: state.cash,
        cash_after: state.cash + net_sells - total_buy_irr,
        boundary,
        gap_analysis: gap_analysis(&valuation, target, mode),
        gap_summary: gap_summary(&valuation, target),
        friction_copy: rebalance_friction_copy(
            residual_drift_pp,
            has_locked_collateral,
            insufficient_cash,
        ),
        trades,
    })
}

/// SMART's cash C: `useCashAmount` or all cash; refused outside [0, cash].
fn smart_cash(input: &RebalanceInput) -> RuleResult<Option<Irr>> {
    if input.mode != RebalanceMode::Smart {
        return Ok(None);
    }
    let cash = input.state.cash.max_zero();
    let c = input.use_cash_amount.unwrap_or(cash);
    if c.is_negative() || c > cash {
        return Err(RuleViolation::invalid_field(
            "useCashAmount",
            format!("must be between 0 and {cash}"),
        )
        .with("min", Irr::ZERO)
        .with("max", cash));
    }
    Ok(Some(c))
}

/// The state the passes simulate: values per asset as legs are planned, and what each holding
/// may still sell.
struct Sim {
    original: [Irr; 15],
    values: [Irr; 15],
    frozen: [bool; 15],
    /// A leg needs a price: market assets need one in the book; fixed income is priced
    /// internally.
    tradable: [bool; 15],
    sold: [Irr; 15],
    legs: Vec<(LegSide, AssetId, Irr)>,
}

impl Sim {
    fn new(valuation: &Valuation, prices: &PriceBook) -> Sim {
        let mut values = [Irr::ZERO; 15];
        let mut frozen = [false; 15];
        for h in &valuation.holdings {
            values[h.asset.index()] = h.value;
            frozen[h.asset.index()] = h.frozen;
        }
        let tradable = AssetId::ALL
            .map(|a| a.is_fixed_income() || prices.price_irr(a).is_some_and(|p| p > Decimal::ZERO));
        Sim {
            original: values,
            values,
            frozen,
            tradable,
            sold: [Irr::ZERO; 15],
            legs: Vec::new(),
        }
    }

    fn value(&self, asset: AssetId) -> Irr {
        self.values[asset.index()]
    }

    fn layer_value(&self, layer: Layer) -> Irr {
        AssetId::in_layer(layer).map(|a| self.value(a)).sum()
    }

    fn layer_values(&self) -> [Irr; 3] {
        Layer::ALL.map(|l| self.layer_value(l))
    }

    /// What the holding may still sell: `sell_cap(original value)` minus sells already planned;
    /// 0 for frozen or unpriced holdings.
    fn cap(&self, asset: AssetId) -> Irr {
        let i = asset.index();
        if self.frozen[i] || !self.tradable[i] {
            return Irr::ZERO;
        }
        (sell_cap(self.original[i]) - self.sold[i]).max_zero()
    }

    /// Plans a sell; returns what it adds to cash.
    fn sell(&mut self, asset: AssetId, amount: Irr) -> Irr {
        self.values[asset.index()] -= amount;
        self.sold[asset.index()] += amount;
        self.legs.push((LegSide::Sell, asset, amount));
        amount - spread(asset, amount)
    }

    fn buy(&mut self, asset: AssetId, amount: Irr) {
        self.values[asset.index()] += amount - spread(asset, amount);
        self.legs.push((LegSide::Buy, asset, amount));
    }
}

/// `cap = min(0.80 × v, max(0, v − 5,000,000))`, rounded down (caps floor, §0).
pub(super) fn sell_cap(value: Irr) -> Irr {
    let eighty = Irr::floor(value.value() * MAX_SELL_FRACTION);
    let keep = (value - Irr::new(MIN_KEEP_IRR)).max_zero();
    eighty.min(keep)
}

/// `round(amount × s)` at the asset's layer rate.
pub(super) fn spread(asset: AssetId, amount: Irr) -> Irr {
    amount.mul_round(asset.asset().spread())
}

/// Splits `total` in proportion to `parts`: every part but the last rounds half-up, the last
/// absorbs the rounding so the legs sum exactly to `total` (§6.4).
fn apportion(total: Irr, parts: &[Decimal]) -> Vec<Irr> {
    let sum: Decimal = parts.iter().copied().sum();
    if parts.is_empty() || sum <= Decimal::ZERO {
        return vec![Irr::ZERO; parts.len()];
    }
    let mut out = Vec::with_capacity(parts.len());
    let mut given = Irr::ZERO;
    for (i, part) in parts.iter().enumerate() {
        let leg = if i + 1 == parts.len() {
            total - given
        } else {
            Irr::round(pro_rata(total.value(), *part, sum))
        };
        given += leg;
        out.push(leg);
    }
    out
}

/// A layer's gap on the pass's basis (§6.5 step 1).
#[derive(Clone, Copy, Debug)]
pub(super) struct LayerGap {
    pub layer: Layer,
    pub gap_irr: Irr,
    pub overweight: bool,
    pub underweight: bool,
}

/// Gaps per layer. `cash_basis = None`: HOLDINGS_ONLY rules (basis H, ±1 pp); `Some(c)`: cash
/// rules (basis H + c, ±100,000 IRR).
pub(super) fn layer_gaps(
    layer_values: [Irr; 3],
    target: &Allocation,
    cash_basis: Option<Irr>,
) -> [LayerGap; 3] {
    let holdings: Irr = layer_values.iter().sum();
    let current = Allocation::from_values(layer_values);
    // With no holdings every share is 0 (§4.1): on the holdings basis there is nothing to move,
    // so no layer is over- or underweight (the gaps stay 0 rather than 100 t_L pp of nothing).
    let measurable = cash_basis.is_some() || holdings.is_positive();
    Layer::ALL.map(|layer| {
        let t = target.get(layer);
        let v = layer_values[layer.index()];
        match cash_basis {
            None => {
                let gap_pp = (t - current.get(layer)) * Decimal::ONE_HUNDRED;
                LayerGap {
                    layer,
                    gap_irr: holdings.mul_round(t) - v,
                    overweight: measurable && gap_pp < -HOLDINGS_ONLY_GAP_PP,
                    underweight: measurable && gap_pp > HOLDINGS_ONLY_GAP_PP,
                }
            }
            Some(cash) => {
                let gap_irr = (holdings + cash).mul_round(t) - v;
                LayerGap {
                    layer,
                    gap_irr,
                    overweight: gap_irr < -Irr::new(CASH_MODE_GAP_IRR),
                    underweight: gap_irr > Irr::new(CASH_MODE_GAP_IRR),
                }
            }
        }
    })
}

struct PassOutcome {
    budget: Irr,
    /// Σ gapIrr of the underweight layers (for `insufficientCash`).
    underweight_total: Irr,
}

/// One inter-layer pass (§6.5 steps 1–4): sells in overweight layers (when allowed), then buys
/// in underweight layers funded by the net proceeds plus `extra_cash`.
fn inter_layer_pass(
    sim: &mut Sim,
    target: &Allocation,
    weights: &HramWeights,
    cash_basis: Option<Irr>,
    extra_cash: Irr,
    sells_allowed: bool,
) -> PassOutcome {
    let gaps = layer_gaps(sim.layer_values(), target, cash_basis);
    let mut proceeds = Irr::ZERO;
    if sells_allowed {
        for gap in gaps.iter().filter(|g| g.overweight) {
            proceeds += sell_layer(sim, gap.layer, -gap.gap_irr);
        }
    }
    let budget = proceeds + extra_cash;
    let underweight: Vec<&LayerGap> = gaps
        .iter()
        .filter(|g| g.underweight && g.gap_irr.is_positive())
        .collect();
    let underweight_total: Irr = underweight.iter().map(|g| g.gap_irr).sum();
    let mut remaining = budget;
    for gap in underweight {
        // The pro-rata share rounds half-up like every leg; the `remaining` bound makes the last
        // layer absorb the rounding, so the layer buys sum exactly to the budget when the budget
        // is short, and never past it. Σ gapIrr is positive here: every gap kept is.
        let share = Irr::round(pro_rata(
            budget.value(),
            gap.gap_irr.value(),
            underweight_total.value(),
        ));
        let layer_buy = gap.gap_irr.min(share).min(remaining);
        if layer_buy < min_leg() {
            continue;
        }
        remaining -= buy_layer(sim, gap.layer, layer_buy, weights);
    }
    PassOutcome {
        budget,
        underweight_total,
    }
}

/// Sells `r` out of a layer (§6.5 step 2); returns the net proceeds.
fn sell_layer(sim: &mut Sim, layer: Layer, r: Irr) -> Irr {
    if r < min_leg() {
        return Irr::ZERO;
    }
    let mut candidates: Vec<(AssetId, Irr)> = AssetId::in_layer(layer)
        .map(|a| (a, sim.cap(a)))
        .filter(|&(_, cap)| cap >= min_leg())
        .collect();
    candidates.sort_by(|a, b| sim.value(b.0).cmp(&sim.value(a.0)).then(a.0.cmp(&b.0)));
    loop {
        if candidates.is_empty() {
            return Irr::ZERO;
        }
        let capacity: Irr = candidates.iter().map(|c| c.1).sum();
        let legs: Vec<Irr> = if r >= capacity {
            candidates.iter().map(|c| c.1).collect()
        } else {
            let caps: Vec<Decimal> = candidates.iter().map(|c| c.1.value()).collect();
            let mut legs = apportion(r, &caps);
            if let (Some(last), Some(c)) = (legs.last_mut(), candidates.last()) {
                *last = (*last).min(c.1);
            }
            if legs.iter().any(|&l| l < min_leg()) {
                // Drop the smallest capacity; on a tie, the one listed last (smaller value, or
                // later in registry order).
                let smallest = candidates
                    .iter()
                    .enumerate()
                    .rev()
                    .min_by_key(|(_, c)| c.1)
                    .map(|(i, _)| i)
                    .unwrap_or(0);
                candidates.remove(smallest);
                continue;
            }
            legs
        };
        return candidates
            .iter()
            .zip(legs)
            .map(|(c, leg)| sim.sell(c.0, leg))
            .sum();
    }
}

/// Buys `layer_buy` into a layer toward its HRAM weights (§6.5 step 4); returns what it spent.
fn buy_layer(sim: &mut Sim, layer: Layer, layer_buy: Irr, weights: &HramWeights) -> Irr {
    let base = (sim.layer_value(layer) + layer_buy).value();
    let needs: Vec<(AssetId, Decimal)> = AssetId::in_layer(layer)
        .filter(|a| sim.tradable[a.index()])
        .map(|a| {
            let need = base * weights.get(a) - sim.value(a).value();
            (a, need.max(Decimal::ZERO))
        })
        .collect();
    let total_need: Decimal = needs.iter().map(|n| n.1).sum();
    if total_need <= Decimal::ZERO {
        return Irr::ZERO;
    }
    let k =
        checked_ratio(layer_buy.value(), total_need).map_or(Decimal::ONE, |k| k.min(Decimal::ONE));
    let exact: Vec<(AssetId, Decimal)> = needs.iter().map(|&(a, n)| (a, n * k)).collect();
    let min = min_leg().value();
    let kept: Vec<(AssetId, Decimal)> = exact.iter().copied().filter(|e| e.1 >= min).collect();
    let legs: Vec<(AssetId, Irr)> = if kept.is_empty() {
        // Every leg was too small: the whole layer budget buys the highest-weight asset that
        // needs anything (first in registry order on a tie).
        let best = needs
            .iter()
            .filter(|n| n.1 > Decimal::ZERO)
            .max_by(|x, y| weights.get(x.0).cmp(&weights.get(y.0)).then(y.0.cmp(&x.0)));
        best.map(|b| vec![(b.0, layer_buy)]).unwrap_or_default()
    } else {
        // Dropped legs' money goes pro rata to the kept legs: they share the whole sum.
        let total = Irr::round(layer_buy.value().min(total_need));
        let parts: Vec<Decimal> = kept.iter().map(|k| k.1).collect();
        kept.iter()
            .map(|k| k.0)
            .zip(apportion(total, &parts))
            .collect()
    };
    let mut spent = Irr::ZERO;
    for (asset, amount) in legs {
        if amount.is_positive() {
            sim.buy(asset, amount);
            spent += amount;
        }
    }
    spent
}

/// The intra-layer pass (§6.6) on the state after the inter-layer legs, for layers whose drift
/// before the rebalance was at most 5 pp. Each layer funds its own buys from its own net sells.
fn intra_layer_pass(sim: &mut Sim, weights: &HramWeights, pre_drift: [Decimal; 3]) {
    let min = min_leg();
    for layer in Layer::ALL {
        let layer_value = sim.layer_value(layer);
        if pre_drift[layer.index()] > INTRA_LAYER_MAX_DRIFT_PP || layer_value < min {
            continue;
        }
        let vl = layer_value.value();
        let mut sellable: Vec<(AssetId, Decimal)> = Vec::new();
        let mut deficits: Vec<(AssetId, Decimal)> = Vec::new();
        let mut any_overweight = false;
        for asset in AssetId::in_layer(layer) {
            let share = checked_ratio(sim.value(asset).value(), vl).unwrap_or(Decimal::ZERO);
            let diff = share - weights.get(asset);
            if diff > INTRA_OVERWEIGHT_DIFF {
                any_overweight = true;
                let excess = (diff - INTRA_BAND) * vl;
                let s = excess.min(sim.cap(asset).value());
                if s >= min.value() {
                    sellable.push((asset, s));
                }
            } else if diff < -INTRA_UNDERWEIGHT_DIFF && sim.tradable[asset.index()] {
                deficits.push((asset, (-diff - INTRA_BAND) * vl));
            }
        }
        if !any_overweight || deficits.is_empty() || sellable.is_empty() {
            continue;
        }
        let keep = Decimal::ONE - layer.params().spread;
        let n: Decimal = sellable.iter().map(|s| s.1).sum::<Decimal>() * keep;
        let d: Decimal = deficits.iter().map(|x| x.1).sum();
        let x = n.min(d);
        if x < min.value() {
            continue;
        }
        // Buy legs first: `deficit_i × X / Σ deficit`, dropping those below MIN_LEG. The sells
        // are then sized to what the surviving buys need (appendix 7: the pass "sells only what
        // its buys need"); selling for buys that were all dropped would only pay spread.
        let buys: Vec<(AssetId, Decimal)> = deficits
            .iter()
            .map(|&(a, deficit)| (a, pro_rata(x, deficit, d)))
            .filter(|b| b.1 >= min.value())
            .collect();
        let needed: Decimal = buys.iter().map(|b| b.1).sum();
        if needed < min.value() {
            continue;
        }
        let sell_total = Irr::round(needed / keep);
        let parts: Vec<Decimal> = sellable.iter().map(|s| s.1).collect();
        let mut proceeds = Irr::ZERO;
        for ((asset, _), leg) in sellable.iter().zip(apportion(sell_total, &parts)) {
            let leg = leg.min(sim.cap(*asset));
            if leg >= min {
                proceeds += sim.sell(*asset, leg);
            }
        }
        // The layer's buys never exceed its own net sells (§6.6).
        let buy_total = Irr::floor(needed).min(proceeds);
        let parts: Vec<Decimal> = buys.iter().map(|b| b.1).collect();
        for ((asset, _), leg) in buys.iter().zip(apportion(buy_total, &parts)) {
            if leg >= min {
                sim.buy(*asset, leg);
            }
        }
    }
}

/// Consolidates legs per (side, asset) and nets a buy against a sell of the same asset (§6.4).
/// Netting never costs cash: the net leg pays at most the spread of the larger side. Legs below
/// MIN_LEG after netting are dropped. Output: sells, then buys, each in registry order.
pub(super) fn consolidate(legs: &[(LegSide, AssetId, Irr)]) -> Vec<(LegSide, AssetId, Irr)> {
    let mut net = [Irr::ZERO; 15];
    let mut touched = [false; 15];
    for &(side, asset, amount) in legs {
        touched[asset.index()] = true;
        match side {
            LegSide::Buy => net[asset.index()] += amount,
            LegSide::Sell => net[asset.index()] -= amount,
        }
    }
    let mut sells = Vec::new();
    let mut buys = Vec::new();
    for asset in AssetId::ALL {
        let amount = net[asset.index()];
        if !touched[asset.index()] || amount.abs() < min_leg() {
            continue;
        }
        if amount.is_negative() {
            sells.push((LegSide::Sell, asset, -amount));
        } else {
            buys.push((LegSide::Buy, asset, amount));
        }
    }
    sells.extend(buys);
    sells
}

/// Total buys never exceed the cash available to the plan: net sell proceeds + C (§6.4). The
/// passes already respect it; this guard re-checks after netting and scales buys down
/// proportionally (dropping legs below MIN_LEG) if rounding ever pushed them over.
fn cash_guard(legs: Vec<(LegSide, AssetId, Irr)>, plan_cash: Irr) -> Vec<(LegSide, AssetId, Irr)> {
    let available: Irr = legs
        .iter()
        .filter(|l| l.0 == LegSide::Sell)
        .map(|l| l.2 - spread(l.1, l.2))
        .sum::<Irr>()
        + plan_cash;
    let buys: Irr = legs
        .iter()
        .filter(|l| l.0 == LegSide::Buy)
        .map(|l| l.2)
        .sum();
    if buys <= available {
        return legs;
    }
    let parts: Vec<Decimal> = legs
        .iter()
        .filter(|l| l.0 == LegSide::Buy)
        .map(|l| l.2.value())
        .collect();
    let mut scaled = apportion(available.max_zero(), &parts).into_iter();
    legs.into_iter()
        .filter_map(|(side, asset, amount)| match side {
            LegSide::Sell => Some((side, asset, amount)),
            LegSide::Buy => scaled
                .next()
                .filter(|&a| a >= min_leg())
                .map(|a| (side, asset, a)),
        })
        .collect()
}

/// Turns a planned amount into a trade leg with quantity, price and spread (§6.7, §5.2).
fn materialise(
    state: &PortfolioState,
    prices: &PriceBook,
    side: LegSide,
    asset: AssetId,
    amount: Irr,
    now: Timestamp,
) -> RebalanceLeg {
    let spread_irr = spread(asset, amount);
    let (quantity, price_irr) = if asset.is_fixed_income() {
        match side {
            LegSide::Buy => (
                fixed_income::units_for(amount - spread_irr),
                FIXED_INCOME_UNIT_IRR,
            ),
            LegSide::Sell => {
                let lots = state
                    .holding(asset)
                    .map(|h| h.lots.as_slice())
                    .unwrap_or(&[]);
                let units: Quantity = lots.iter().map(|l| l.units).sum();
                let value = fixed_income::holding_value(lots, now);
                let price = checked_ratio(value.value(), units.value())
                    .map_or(FIXED_INCOME_UNIT_IRR, |p| round_half_up(p, 0).normalize());
                (fixed_income::sell_fifo(lots, amount, now).units, price)
            }
        }
    } else {
        // The planner only plans legs for tradable (priced) assets.
        let price = prices.price_irr(asset).unwrap_or(Decimal::ONE);
        let held = state.holding(asset).map_or(Quantity::ZERO, |h| h.quantity);
        let quantity = match side {
            LegSide::Sell => Quantity::at_price(amount.value(), price).min(held),
            LegSide::Buy => Quantity::at_price((amount - spread_irr).value(), price),
        };
        (quantity, price)
    };
    RebalanceLeg {
        side,
        asset,
        layer: asset.layer(),
        quantity,
        amount_irr: amount,
        price_irr,
        spread_irr,
    }
}
