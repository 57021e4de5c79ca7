//! The rebalance planner and executor (business-rules §6, D19–D20).
//!
//! One rule set serves preview and execute (pitfall 20): [`plan_rebalance`] computes the legs
//! (§6.4–6.7) with the inter-layer pass (§6.5), SMART's second pass, and the intra-layer pass on
//! HRAM weights (§6.6, [`crate::hram`]); [`apply_plan`] executes a plan's legs against a state
//! (§6.9 step 3); [`execute_rebalance`] does cooldown, plan and apply in one call for the
//! execute use case. [`gap_analysis`] and [`gap_summary`] explain what can and cannot be fixed
//! (§6.8), and [`cooldown`] implements the 24-hour rule with its > 10 pp waiver (§6.2).
//!
//! Submodules: `plan` (the passes), `gap` (§6.8), `cooldown` (§6.2), `execute` (§6.9).

mod cooldown;
mod execute;
mod gap;
mod plan;
#[cfg(test)]
mod tests;

use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde::{Deserialize, Serialize};

use crate::allocation::{Allocation, StatusReport};
use crate::asset::{AssetId, Layer};
use crate::boundary::BoundaryAssessment;
use crate::money::{Irr, Quantity};

pub use cooldown::{COOLDOWN_HOURS, Cooldown, cooldown};
pub use execute::{RebalanceExecution, RebalanceOutcome, apply_plan, execute_rebalance};
pub use gap::{GapRow, GapSummary, gap_analysis, gap_summary};
pub use plan::{RebalanceInput, plan_rebalance};

/// Legs smaller than this are dropped (§6.4).
pub const MIN_LEG_IRR: i64 = 100_000;
/// A sell may take at most this share of a holding's value (§6.4).
pub const MAX_SELL_FRACTION: Decimal = dec!(0.80);
/// A sell must leave at least this much of the holding (§6.4).
pub const MIN_KEEP_IRR: i64 = 5_000_000;
/// HOLDINGS_ONLY: a layer is over/underweight beyond this many pp (§6.5).
pub const HOLDINGS_ONLY_GAP_PP: Decimal = dec!(1);
/// Cash modes: a layer is over/underweight beyond this many rials (§6.5).
pub const CASH_MODE_GAP_IRR: i64 = 100_000;
/// The intra-layer pass runs only on layers whose drift before the rebalance is at most this
/// (§6.6).
pub const INTRA_LAYER_MAX_DRIFT_PP: Decimal = dec!(5);
/// Intra-layer: an asset is overweight when its share exceeds its weight by more than this.
pub const INTRA_OVERWEIGHT_DIFF: Decimal = dec!(0.15);
/// Intra-layer: an asset is underweight when its share is below its weight by more than this.
pub const INTRA_UNDERWEIGHT_DIFF: Decimal = dec!(0.10);
/// Intra-layer: the band the excess/deficit formulas leave untouched.
pub const INTRA_BAND: Decimal = dec!(0.05);
/// `canFullyRebalance = residualDrift < 2` (§6.7, appendix 7).
pub const FULL_REBALANCE_MAX_DRIFT_PP: Decimal = dec!(2);
/// Below this residual drift the copy says the portfolio will be on target (§6.7).
pub const ON_TARGET_DRIFT_PP: Decimal = dec!(0.5);

/// How a rebalance may be funded (§6.1, D19).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, Default, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RebalanceMode {
    /// Buys are funded only by net sell proceeds; cash is untouched except rounding.
    #[default]
    HoldingsOnly,
    /// Gaps are measured on holdings + cash and buys may use all cash.
    HoldingsPlusCash,
    /// HOLDINGS_ONLY first, then a buys-only pass with `useCashAmount`.
    Smart,
}

impl RebalanceMode {
    pub const ALL: [RebalanceMode; 3] = [
        RebalanceMode::HoldingsOnly,
        RebalanceMode::HoldingsPlusCash,
        RebalanceMode::Smart,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RebalanceMode::HoldingsOnly => "HOLDINGS_ONLY",
            RebalanceMode::HoldingsPlusCash => "HOLDINGS_PLUS_CASH",
            RebalanceMode::Smart => "SMART",
        }
    }
}

impl std::str::FromStr for RebalanceMode {
    type Err = crate::asset::UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RebalanceMode::ALL
            .into_iter()
            .find(|m| m.as_str().eq_ignore_ascii_case(s))
            .ok_or(crate::asset::UnknownName)
    }
}

/// Direction of one leg.
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
pub enum LegSide {
    Sell,
    Buy,
}

impl LegSide {
    pub fn as_str(self) -> &'static str {
        match self {
            LegSide::Sell => "SELL",
            LegSide::Buy => "BUY",
        }
    }
}

/// One trade of a rebalance (api.md §8 `trades[]`, ledger `legs[]`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RebalanceLeg {
    pub side: LegSide,
    #[serde(rename = "assetId")]
    pub asset: AssetId,
    pub layer: Layer,
    /// SELL: `floor8(amount / price)` (fixed income: the FIFO units). BUY:
    /// `floor8((amount − spread) / price)` (fixed income: the new lot's units), as in §5.2.
    pub quantity: Quantity,
    /// Gross amount: what a sell takes out of the holding, what a buy spends.
    pub amount_irr: Irr,
    /// Price per unit. Fixed income: 500,000 for a buy; for a sell the holding's average
    /// per-unit value (principal + accrual) rounded half-up to whole rials, since FIFO lots
    /// each have their own unit value and the exact amount is `amountIrr` anyway.
    #[serde(with = "crate::num")]
    pub price_irr: Decimal,
    /// `round(amount × s)` at the asset's layer rate.
    pub spread_irr: Irr,
}

impl RebalanceLeg {
    /// What a sell adds to cash, or what a buy adds to the holding's value.
    pub fn net_irr(&self) -> Irr {
        self.amount_irr - self.spread_irr
    }
}

/// The plan of §6.7, exactly as preview shows it and execute recomputes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RebalancePlan {
    pub mode: RebalanceMode,
    /// SMART only: the cash the second pass may spend (defaults to all cash).
    pub use_cash_amount: Option<Irr>,
    /// Sells first, then buys; each in registry order. Execute runs them in this order.
    pub trades: Vec<RebalanceLeg>,
    pub current_allocation: Allocation,
    pub target_allocation: Allocation,
    /// Every leg simulated on the current values: sells remove gross, buys add net.
    pub after_allocation: Allocation,
    /// Status of the current holdings (its `max_drift_pp` is `driftPct`).
    pub status: StatusReport,
    /// `maxDriftPp` of `after_allocation`, rounded half-up to 2 dp (api.md §1.3). The flags
    /// below are decided on this rounded figure so that what the user reads ("0.50 pp") and
    /// what the copy says never disagree.
    pub residual_drift_pp: Decimal,
    pub can_fully_rebalance: bool,
    pub has_locked_collateral: bool,
    pub insufficient_cash: bool,
    pub total_sell_irr: Irr,
    pub total_buy_irr: Irr,
    /// `max(0, totalBuy − net sells)`.
    pub cash_deployed_irr: Irr,
    pub spread_irr: Irr,
    pub holdings_value_before: Irr,
    pub holdings_value_after: Irr,
    pub cash_before: Irr,
    /// Cash after every leg as planned.
    pub cash_after: Irr,
    /// Boundary of the planned before/after (§5.6); execute recomputes it on the actual state.
    pub boundary: BoundaryAssessment,
    pub gap_analysis: Vec<GapRow>,
    pub gap_summary: GapSummary,
    pub friction_copy: Vec<String>,
}

impl RebalancePlan {
    /// No legs: execute answers 409 `NO_REBALANCE_NEEDED`.
    pub fn is_empty(&self) -> bool {
        self.trades.is_empty()
    }

    pub fn sells(&self) -> impl Iterator<Item = &RebalanceLeg> {
        self.trades.iter().filter(|t| t.side == LegSide::Sell)
    }

    pub fn buys(&self) -> impl Iterator<Item = &RebalanceLeg> {
        self.trades.iter().filter(|t| t.side == LegSide::Buy)
    }
}

fn min_leg() -> Irr {
    Irr::new(MIN_LEG_IRR)
}

/// The rebalance friction copy (§6.7). `residual_drift_pp` is the reported (2 dp) figure.
pub fn rebalance_friction_copy(
    residual_drift_pp: Decimal,
    has_locked_collateral: bool,
    insufficient_cash: bool,
) -> Vec<String> {
    if residual_drift_pp < ON_TARGET_DRIFT_PP {
        return vec!["Your portfolio will be on target.".to_owned()];
    }
    let mut copy = vec!["Your portfolio couldn't be fully rebalanced.".to_owned()];
    if has_locked_collateral {
        copy.push("Some assets are locked for your loans.".to_owned());
    }
    if insufficient_cash {
        copy.push("Not enough cash to fully balance all layers.".to_owned());
    }
    // One decimal below 1 pp ("0.7%"), a whole number from 1 pp ("3%"), both half-up.
    let shown = if residual_drift_pp < Decimal::ONE {
        format!("{:.1}", crate::money::round_half_up(residual_drift_pp, 1))
    } else {
        crate::num::canonical(crate::money::round_half_up(residual_drift_pp, 0))
    };
    copy.push(format!("Remaining drift: {shown}% from target."));
    copy
}
