//! Rebalancing (business-rules §6, D19–D20): status, preview and execute. One rule set serves
//! preview and execute (`blu_domain::rebalance::plan_rebalance`); execute recomputes the plan
//! from the locked state, requires fresh prices for every asset with a leg, and writes one
//! REBALANCE ledger entry with the executed legs.

use blu_domain::hram::{HramPreset, HramWeights, PriceHistory};
use blu_domain::ledger::{Leg, LegSide as LedgerSide};
use blu_domain::money::round_half_up;
use blu_domain::rebalance::{
    Cooldown, GapRow, GapSummary, LegSide, RebalanceInput, RebalanceLeg, RebalanceMode,
    RebalancePlan, cooldown, execute_rebalance, plan_rebalance,
};
use blu_domain::{
    Allocation, AssetId, Boundary, EntryType, Irr, Layer, PortfolioStatus, RuleViolation,
    Timestamp, activity, value_portfolio,
};
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::{Map, Value};
use tracing::field::Empty;
use uuid::Uuid;

use super::trade::number;
use super::{
    Movement, PortfolioError, PortfolioRecord, PortfolioResult, PortfolioService, Prepared,
    Replied, Reply, change_set, opt_millis, target_of,
};
use crate::prices::PriceService;

/// Daily closes read per asset for the HRAM weights: 61 closes give 60 returns (§6.3).
pub const HRAM_HISTORY_DAYS: u32 = 61;

/// A rebalance request as received (mode case-insensitive, default HOLDINGS_ONLY).
#[derive(Clone, Debug, Default)]
pub struct RebalanceRequest {
    pub mode: Option<String>,
    /// SMART only: the cash the second pass may spend (fractions rounded half-up).
    pub use_cash_amount: Option<Decimal>,
}

impl RebalanceRequest {
    fn mode(&self) -> PortfolioResult<RebalanceMode> {
        match self.mode.as_deref().map(str::trim) {
            None | Some("") => Ok(RebalanceMode::default()),
            Some(text) => text.parse().map_err(|_| {
                RuleViolation::invalid_field(
                    "mode",
                    "must be HOLDINGS_ONLY, HOLDINGS_PLUS_CASH or SMART",
                )
                .into()
            }),
        }
    }

    fn use_cash(&self) -> PortfolioResult<Option<Irr>> {
        match self.use_cash_amount {
            Some(amount) if amount.is_sign_negative() && !amount.is_zero() => {
                Err(RuleViolation::invalid_field("useCashAmount", "must not be negative").into())
            }
            amount => Ok(amount.map(Irr::round)),
        }
    }
}

/// Intra-layer target weights (§6.3) from the stored daily closes of the last 61 days; assets
/// without enough history use the fallbacks.
pub async fn hram_weights(
    prices: &PriceService,
    preset: HramPreset,
) -> PortfolioResult<HramWeights> {
    let mut history = PriceHistory::new();
    for asset in AssetId::ALL.into_iter().filter(|a| !a.is_fixed_income()) {
        let closes = prices
            .history(asset, HRAM_HISTORY_DAYS)
            .await
            .map_err(|e| PortfolioError::Store(crate::ports::StoreError::Other(e.into())))?;
        history.set_series(
            asset,
            closes.into_iter().filter_map(|c| {
                let day = Timestamp::parse_rfc3339(&format!("{}T00:00:00Z", c.day))?;
                Some((PriceHistory::day_of(day), c.close_usd))
            }),
        );
    }
    Ok(HramWeights::compute(&history, &preset.params()))
}

/// `cooldown` of the preview (D20).
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CooldownView {
    pub active: bool,
    pub waived: bool,
    pub hours_remaining: i64,
    #[serde(with = "opt_millis", skip_serializing_if = "Option::is_none")]
    pub next_available_at: Option<Timestamp>,
    #[serde(with = "opt_millis", skip_serializing_if = "Option::is_none")]
    pub last_rebalance_at: Option<Timestamp>,
}

impl From<&Cooldown> for CooldownView {
    fn from(c: &Cooldown) -> CooldownView {
        CooldownView {
            active: c.active,
            waived: c.waived,
            hours_remaining: c.hours_remaining,
            next_available_at: c.next_available_at,
            last_rebalance_at: c.last_rebalance_at,
        }
    }
}

/// One row of `gapAnalysis` (§6.8).
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GapRowView {
    pub layer: Layer,
    /// Current share of holdings (6 dp).
    #[serde(with = "blu_domain::num")]
    pub current: Decimal,
    #[serde(with = "blu_domain::num")]
    pub target: Decimal,
    /// Target minus current, pp (2 dp).
    #[serde(with = "blu_domain::num")]
    pub gap_pct: Decimal,
    pub gap_irr: Irr,
    pub sellable_irr: Irr,
    pub frozen_irr: Irr,
}

impl From<&GapRow> for GapRowView {
    fn from(r: &GapRow) -> GapRowView {
        GapRowView {
            layer: r.layer,
            current: round_half_up(r.current, 6).normalize(),
            target: r.target.normalize(),
            gap_pct: round_half_up(r.gap_pct, 2).normalize(),
            gap_irr: r.gap_irr,
            sellable_irr: r.sellable_irr,
            frozen_irr: r.frozen_irr,
        }
    }
}

/// Amounts per layer (UPPERCASE keys, like allocations).
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub struct LayerAmounts {
    pub foundation: Irr,
    pub growth: Irr,
    pub upside: Irr,
}

/// `gapSummary` (§6.8): what HOLDINGS_ONLY can achieve with locked collateral.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GapSummaryView {
    pub has_frozen_assets: bool,
    pub frozen_by_layer: LayerAmounts,
    pub current_pct: Allocation,
    pub achievable_pct: Allocation,
    pub target_pct: Allocation,
    #[serde(with = "blu_domain::num")]
    pub remaining_gap_pct: Decimal,
    pub can_achieve_perfect_balance: bool,
    pub cash_needed_for_perfect_balance: Irr,
    pub cash_sufficient: bool,
    pub cash_shortfall: Irr,
    pub can_achieve_with_cash: bool,
    pub cash_would_help: bool,
    #[serde(with = "blu_domain::num")]
    pub partial_cash_benefit: Decimal,
    pub current_cash: Irr,
}

impl From<&GapSummary> for GapSummaryView {
    fn from(s: &GapSummary) -> GapSummaryView {
        let [foundation, growth, upside] = s.frozen_by_layer;
        GapSummaryView {
            has_frozen_assets: s.has_frozen_assets,
            frozen_by_layer: LayerAmounts {
                foundation,
                growth,
                upside,
            },
            current_pct: s.current_pct.rounded(6),
            achievable_pct: s.achievable_pct.rounded(6),
            target_pct: s.target_pct.rounded(6),
            remaining_gap_pct: s.remaining_gap_pct.normalize(),
            can_achieve_perfect_balance: s.can_achieve_perfect_balance,
            cash_needed_for_perfect_balance: s.cash_needed_for_perfect_balance,
            cash_sufficient: s.cash_sufficient,
            cash_shortfall: s.cash_shortfall,
            can_achieve_with_cash: s.can_achieve_with_cash,
            cash_would_help: s.cash_would_help,
            partial_cash_benefit: s.partial_cash_benefit.normalize(),
            current_cash: s.current_cash,
        }
    }
}

/// The body of `GET /rebalance/preview` (api.md §8).
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RebalancePreview {
    pub mode: RebalanceMode,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub use_cash_amount: Option<Irr>,
    /// Sells first, then buys.
    pub trades: Vec<RebalanceLeg>,
    pub current_allocation: Allocation,
    pub target_allocation: Allocation,
    pub after_allocation: Allocation,
    pub total_sell_irr: Irr,
    pub total_buy_irr: Irr,
    pub cash_deployed_irr: Irr,
    pub spread_irr: Irr,
    pub can_fully_rebalance: bool,
    /// pp, 2 dp.
    #[serde(with = "blu_domain::num")]
    pub residual_drift: Decimal,
    pub has_locked_collateral: bool,
    pub insufficient_cash: bool,
    pub gap_analysis: Vec<GapRowView>,
    pub gap_summary: GapSummaryView,
    pub friction_copy: Vec<String>,
    pub boundary: Boundary,
    pub status: PortfolioStatus,
    /// pp, 2 dp.
    #[serde(with = "blu_domain::num")]
    pub drift_pct: Decimal,
    /// `live`, `stale` or `offline`: a stale preview uses the last prices.
    pub prices_status: &'static str,
    pub cooldown: CooldownView,
}

/// The body of `GET /rebalance/status` (api.md §8).
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RebalanceStatus {
    pub current_allocation: Allocation,
    pub target_allocation: Allocation,
    #[serde(with = "blu_domain::num")]
    pub drift_pct: Decimal,
    pub status: PortfolioStatus,
    pub needs_rebalance: bool,
    pub can_rebalance: bool,
    pub cooldown_waived: bool,
    pub hours_remaining: i64,
    #[serde(with = "opt_millis", skip_serializing_if = "Option::is_none")]
    pub last_rebalance_at: Option<Timestamp>,
    #[serde(
        with = "blu_domain::num::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub hours_since_rebalance: Option<Decimal>,
}

/// The body of `POST /rebalance/execute` (api.md §8).
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RebalanceExecuted {
    pub success: bool,
    /// Legs actually executed.
    pub trades_executed: usize,
    pub new_status: PortfolioStatus,
    pub new_allocation: Allocation,
    /// pp, 2 dp.
    #[serde(with = "blu_domain::num")]
    pub residual_drift: Decimal,
    pub boundary: Boundary,
    pub ledger_entry_id: String,
}

fn drift_2dp(value: Decimal) -> Decimal {
    round_half_up(value, 2).normalize()
}

fn ledger_leg(leg: &RebalanceLeg) -> Leg {
    Leg {
        side: match leg.side {
            LegSide::Sell => LedgerSide::Sell,
            LegSide::Buy => LedgerSide::Buy,
        },
        asset_id: leg.asset,
        layer: Some(leg.layer),
        quantity: leg.quantity,
        price_irr: leg.price_irr.normalize(),
        amount_irr: leg.amount_irr,
        spread_irr: leg.spread_irr,
    }
}

/// Everything a plan reads, loaded once (§4.1: one consistent read per request).
struct PlanContext {
    record: PortfolioRecord,
    target: Allocation,
    now: Timestamp,
    snapshot: std::sync::Arc<crate::ports::PriceSnapshot>,
    /// The latest prices, whatever their age.
    book: blu_domain::PriceBook,
    state: blu_domain::PortfolioState,
    mode: RebalanceMode,
    use_cash_amount: Option<Irr>,
}

impl PlanContext {
    fn input<'a>(&'a self, weights: &'a HramWeights) -> RebalanceInput<'a> {
        RebalanceInput {
            state: &self.state,
            target: &self.target,
            prices: &self.book,
            weights,
            mode: self.mode,
            use_cash_amount: self.use_cash_amount,
            now: self.now,
        }
    }
}

impl PortfolioService {
    fn plan_context(
        &self,
        record: PortfolioRecord,
        request: &RebalanceRequest,
    ) -> PortfolioResult<PlanContext> {
        let snapshot = self.prices.snapshot();
        Ok(PlanContext {
            target: target_of(&record)?,
            now: self.now(),
            book: Self::valuation_book(&snapshot),
            state: record.state(),
            mode: request.mode()?,
            use_cash_amount: request.use_cash()?,
            snapshot,
            record,
        })
    }

    async fn rebalance_record(&self, user_id: Uuid) -> PortfolioResult<PortfolioRecord> {
        self.reads
            .run(user_id)
            .await?
            .ok_or(PortfolioError::NoPortfolio)
    }

    /// `GET /rebalance/status`.
    #[tracing::instrument(skip_all, fields(user_id = %user_id))]
    pub async fn rebalance_status(&self, user_id: Uuid) -> PortfolioResult<RebalanceStatus> {
        let record = self.rebalance_record(user_id).await?;
        let target = target_of(&record)?;
        let now = self.now();
        let book = Self::valuation_book(&self.prices.snapshot());
        let valuation = value_portfolio(&record.state(), &book, now);
        let report = valuation.status(&target);
        let window = cooldown(record.last_rebalance_at, now, report.max_drift_pp);
        Ok(RebalanceStatus {
            current_allocation: valuation.allocation().rounded(6),
            target_allocation: target,
            drift_pct: drift_2dp(report.max_drift_pp),
            status: report.status,
            needs_rebalance: report.status != PortfolioStatus::Balanced,
            can_rebalance: window.can_rebalance(),
            cooldown_waived: window.waived,
            hours_remaining: window.hours_remaining,
            last_rebalance_at: window.last_rebalance_at,
            hours_since_rebalance: window.hours_since_rebalance,
        })
    }

    /// `GET /rebalance/preview`: the plan at the latest prices (whatever their age; the
    /// freshness is reported in `pricesStatus`), with the cooldown reported, never raised.
    #[tracing::instrument(skip_all, fields(user_id = %user_id))]
    pub async fn preview_rebalance(
        &self,
        user_id: Uuid,
        request: &RebalanceRequest,
        weights: &HramWeights,
    ) -> PortfolioResult<RebalancePreview> {
        let record = self.rebalance_record(user_id).await?;
        let context = self.plan_context(record, request)?;
        let plan = plan_rebalance(&context.input(weights))?;
        let window = cooldown(
            context.record.last_rebalance_at,
            context.now,
            plan.status.max_drift_pp,
        );
        Ok(preview_view(
            plan,
            &window,
            context
                .snapshot
                .status(context.now, self.price_max_age)
                .as_str(),
        ))
    }

    /// `POST /rebalance/execute` (§6.9): cooldown, plan recomputed on the locked state, fresh
    /// prices for every asset with a leg, legs applied; one REBALANCE entry with the executed
    /// legs and `lastRebalanceAt = now`.
    #[tracing::instrument(skip_all, fields(user_id = %user_id, portfolio_id = Empty))]
    pub async fn execute_rebalance(
        &self,
        user_id: Uuid,
        request: &RebalanceRequest,
        weights: &HramWeights,
        reply: Reply,
    ) -> PortfolioResult<Replied> {
        let tx = self.lock(user_id).await?;
        let record = tx.portfolio().cloned().ok_or(PortfolioError::NoPortfolio)?;
        let context = self.plan_context(record, request)?;
        let PlanContext {
            record,
            target,
            now,
            snapshot,
            book,
            state,
            mode,
            ..
        } = &context;
        let (now, mode) = (*now, *mode);
        let input = context.input(weights);
        let before = value_portfolio(state, book, now).status(target);
        cooldown(record.last_rebalance_at, now, before.max_drift_pp).check()?;
        let plan = plan_rebalance(&input)?;
        let mut assets: Vec<AssetId> = plan
            .trades
            .iter()
            .map(|l| l.asset)
            .filter(|a| !a.is_fixed_income())
            .collect();
        assets.sort_by_key(|a| a.index());
        assets.dedup();
        if !plan.is_empty() {
            self.fresh_book(snapshot, now, &assets)?;
        }
        let outcome = execute_rebalance(&input, record.last_rebalance_at)?;
        let sells = outcome
            .trades_executed
            .iter()
            .filter(|l| l.side == LegSide::Sell)
            .count();
        let buys = outcome.trades_executed.len() - sells;
        let movement = Movement {
            portfolio_id: record.id,
            entry_type: EntryType::Rebalance,
            boundary: outcome.boundary.boundary,
            message: format!("Rebalanced portfolio ({sells} sells, {buys} buys)"),
            before: (state, book),
            after: (&outcome.state, book),
            target,
            now,
        };
        let (mut entry, after) = movement.entry();
        let amount = outcome.total_sell_irr + outcome.total_buy_irr;
        entry.amount_irr = Some(amount);
        entry.legs = Some(outcome.trades_executed.iter().map(ledger_leg).collect());
        let mut metadata = Map::new();
        metadata.insert("mode".into(), Value::String(mode.as_str().to_owned()));
        if let Some(cash) = plan
            .use_cash_amount
            .filter(|_| mode == RebalanceMode::Smart)
        {
            metadata.insert("useCashAmount".into(), number(cash.value()));
        }
        metadata.insert(
            "totalSellIrr".into(),
            number(outcome.total_sell_irr.value()),
        );
        metadata.insert("totalBuyIrr".into(), number(outcome.total_buy_irr.value()));
        metadata.insert("spreadIrr".into(), number(outcome.spread_irr.value()));
        metadata.insert("residualDrift".into(), number(outcome.residual_drift_pp));
        entry.metadata = Some(metadata);
        let mut activity = movement.activity(Some(amount), None);
        activity.message = activity::rebalanced();
        let mut change = change_set(
            Some(record),
            record.id,
            entry,
            &after,
            &outcome.state,
            activity,
            now,
        )?;
        change.rebalanced = true;
        let result = RebalanceExecuted {
            success: true,
            trades_executed: outcome.trades_executed.len(),
            new_status: outcome.new_status.status,
            new_allocation: outcome.new_allocation.rounded(6),
            residual_drift: outcome.residual_drift_pp,
            boundary: outcome.boundary.boundary,
            ledger_entry_id: change.entry.id.to_string(),
        };
        Prepared {
            tx,
            change,
            outcome: result,
        }
        .reply(reply)
        .await
    }
}

fn preview_view(
    plan: RebalancePlan,
    window: &Cooldown,
    prices_status: &'static str,
) -> RebalancePreview {
    RebalancePreview {
        mode: plan.mode,
        use_cash_amount: plan.use_cash_amount,
        current_allocation: plan.current_allocation.rounded(6),
        target_allocation: plan.target_allocation,
        after_allocation: plan.after_allocation.rounded(6),
        total_sell_irr: plan.total_sell_irr,
        total_buy_irr: plan.total_buy_irr,
        cash_deployed_irr: plan.cash_deployed_irr,
        spread_irr: plan.spread_irr,
        can_fully_rebalance: plan.can_fully_rebalance,
        residual_drift: plan.residual_drift_pp,
        has_locked_collateral: plan.has_locked_collateral,
        insufficient_cash: plan.insufficient_cash,
        gap_analysis: plan.gap_analysis.iter().map(GapRowView::from).collect(),
        gap_summary: GapSummaryView::from(&plan.gap_summary),
        friction_copy: plan.friction_copy,
        boundary: plan.boundary.boundary,
        status: plan.status.status,
        drift_pct: drift_2dp(plan.status.max_drift_pp),
        prices_status,
        cooldown: CooldownView::from(window),
        trades: plan.trades,
    }
}
