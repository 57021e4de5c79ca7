//! Gap analysis and gap summary (business-rules §6.8): per-layer gaps with what is sellable and
//! what is locked, and what HOLDINGS_ONLY can achieve given locked collateral, plus what cash
//! would add.

use rust_decimal::Decimal;

use super::RebalanceMode;
use super::plan::layer_gaps;
use crate::allocation::Allocation;
use crate::asset::Layer;
use crate::money::{Irr, checked_ratio, pro_rata as share, round_half_up};
use crate::portfolio::Valuation;

/// One row of `gapAnalysis`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GapRow {
    pub layer: Layer,
    /// `a_L` (fraction of holdings).
    pub current: Decimal,
    /// `t_L`.
    pub target: Decimal,
    /// `(t_L − a_L) × 100`, pp.
    pub gap_pct: Decimal,
    /// On the mode's basis (§6.5): H for HOLDINGS_ONLY and SMART (its first pass is
    /// HOLDINGS_ONLY), H + cash for HOLDINGS_PLUS_CASH.
    pub gap_irr: Irr,
    /// Σ values of unfrozen holdings of the layer.
    pub sellable_irr: Irr,
    /// Σ values of frozen (collateral) holdings of the layer.
    pub frozen_irr: Irr,
}

/// Per-layer gaps for the plan (§6.8 `gapAnalysis`).
pub fn gap_analysis(
    valuation: &Valuation,
    target: &Allocation,
    mode: RebalanceMode,
) -> Vec<GapRow> {
    let current = valuation.allocation();
    let cash_basis = match mode {
        RebalanceMode::HoldingsPlusCash => Some(valuation.cash.max_zero()),
        RebalanceMode::HoldingsOnly | RebalanceMode::Smart => None,
    };
    let gaps = layer_gaps(valuation.layer_values, target, cash_basis);
    Layer::ALL
        .into_iter()
        .map(|layer| {
            let (frozen, sellable) = split_frozen(valuation, layer);
            GapRow {
                layer,
                current: current.get(layer),
                target: target.get(layer),
                gap_pct: (target.get(layer) - current.get(layer)) * Decimal::ONE_HUNDRED,
                gap_irr: gaps[layer.index()].gap_irr,
                sellable_irr: sellable,
                frozen_irr: frozen,
            }
        })
        .collect()
}

fn split_frozen(valuation: &Valuation, layer: Layer) -> (Irr, Irr) {
    let in_layer = valuation
        .holdings
        .iter()
        .filter(|h| h.asset.layer() == layer);
    let frozen = in_layer.clone().filter(|h| h.frozen).map(|h| h.value).sum();
    let unfrozen = in_layer.filter(|h| !h.frozen).map(|h| h.value).sum();
    (frozen, unfrozen)
}

/// `gapSummary` (§6.8): what HOLDINGS_ONLY can achieve with locked collateral.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GapSummary {
    pub has_frozen_assets: bool,
    pub frozen_by_layer: [Irr; 3],
    pub current_pct: Allocation,
    /// Whole pp per layer, reported as fractions (e.g. 0.48).
    pub achievable_pct: Allocation,
    pub target_pct: Allocation,
    /// `abs(achievablePct_L − 100 t_L)` per layer, pp.
    pub gap_by_layer: [Decimal; 3],
    /// `round(Σ gapByLayer)`, pp.
    pub remaining_gap_pct: Decimal,
    pub can_achieve_perfect_balance: bool,
    pub cash_needed_for_perfect_balance: Irr,
    pub cash_sufficient: bool,
    pub cash_shortfall: Irr,
    pub can_achieve_with_cash: bool,
    pub cash_would_help: bool,
    /// Whole pp of gap that deploying the cash would remove (0 when it does not help).
    pub partial_cash_benefit: Decimal,
    pub current_cash: Irr,
}

/// Computes `gapSummary` (§6.8). Where a formula divides by zero the term is 0 (as §6.8 says for
/// the movable/deficit shares); layers with target 0 are left out of `cashNeeded`, since no
/// amount of cash can shrink a layer whose target is 0.
pub fn gap_summary(valuation: &Valuation, target: &Allocation) -> GapSummary {
    let h = valuation.holdings_value.value();
    let cash = valuation.cash.max_zero();
    let v = valuation.layer_values.map(Irr::value);
    let t = target.values();
    let big_t = t.map(|t| t * h);
    let unfrozen = Layer::ALL.map(|l| split_frozen(valuation, l).1.value());
    let frozen_by_layer = Layer::ALL.map(|l| split_frozen(valuation, l).0);

    let movable: [Decimal; 3] =
        std::array::from_fn(|i| (v[i] - big_t[i]).max(Decimal::ZERO).min(unfrozen[i]));
    let deficit: [Decimal; 3] = std::array::from_fn(|i| (big_t[i] - v[i]).max(Decimal::ZERO));
    let (sum_movable, sum_deficit) = (sum(&movable), sum(&deficit));
    let moved = sum_movable.min(sum_deficit);
    let achievable: [Decimal; 3] = std::array::from_fn(|i| {
        v[i] - share(moved, movable[i], sum_movable) + share(moved, deficit[i], sum_deficit)
    });
    let achievable_pp: [Decimal; 3] = std::array::from_fn(|i| {
        checked_ratio(achievable[i], h).map_or(Decimal::ZERO, |r| {
            round_half_up(r * Decimal::ONE_HUNDRED, 0)
        })
    });
    let gap_by_layer: [Decimal; 3] =
        std::array::from_fn(|i| (achievable_pp[i] - t[i] * Decimal::ONE_HUNDRED).abs());
    let remaining_gap_pct = round_half_up(sum(&gap_by_layer), 0).normalize();

    let cash_needed = (0..3)
        .filter(|&i| t[i] > Decimal::ZERO && achievable[i] > big_t[i] + Decimal::ONE)
        .filter_map(|i| checked_ratio(achievable[i], t[i]).map(|base| base - h))
        .fold(Decimal::ZERO, Decimal::max);
    let cash_needed = Irr::ceil(cash_needed);
    let cash_sufficient = cash >= cash_needed;

    let d_prime: [Decimal; 3] =
        std::array::from_fn(|i| (t[i] * (h + cash.value()) - achievable[i]).max(Decimal::ZERO));
    let deployed_total = cash.value().min(sum(&d_prime));
    let new_base = h + deployed_total;
    let new_gap = if new_base.is_zero() {
        remaining_gap_pct
    } else {
        (0..3)
            .map(|i| {
                let deployed = share(deployed_total, d_prime[i], sum(&d_prime));
                let pct = checked_ratio(achievable[i] + deployed, new_base).unwrap_or_default();
                (pct * Decimal::ONE_HUNDRED - t[i] * Decimal::ONE_HUNDRED).abs()
            })
            .sum()
    };
    let cash_would_help = new_gap < remaining_gap_pct;

    GapSummary {
        has_frozen_assets: valuation.holdings.iter().any(|h| h.frozen),
        frozen_by_layer,
        current_pct: valuation.allocation(),
        achievable_pct: Allocation::new(
            achievable_pp[0] / Decimal::ONE_HUNDRED,
            achievable_pp[1] / Decimal::ONE_HUNDRED,
            achievable_pp[2] / Decimal::ONE_HUNDRED,
        ),
        target_pct: *target,
        gap_by_layer,
        remaining_gap_pct,
        can_achieve_perfect_balance: remaining_gap_pct < Decimal::ONE,
        cash_needed_for_perfect_balance: cash_needed,
        cash_sufficient,
        cash_shortfall: (cash_needed - cash).max_zero(),
        can_achieve_with_cash: cash_sufficient || cash_needed.is_zero(),
        cash_would_help,
        partial_cash_benefit: if cash_would_help {
            round_half_up(remaining_gap_pct - new_gap, 0).normalize()
        } else {
            Decimal::ZERO
        },
        current_cash: cash,
    }
}

fn sum(values: &[Decimal; 3]) -> Decimal {
    values.iter().copied().sum()
}
