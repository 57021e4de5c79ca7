//! `GET /portfolio`, `/portfolio/holdings`, `/portfolio/snapshot` (api.md §6, §2.1).

use blu_domain::fixed_income;
use blu_domain::money::{checked_ratio, round_half_up};
use blu_domain::{
    Allocation, AssetId, Irr, Layer, PriceBook, Quantity, RiskTier, Timestamp, risk_profile,
    value_portfolio,
};
use rust_decimal::Decimal;
use serde::Serialize;
use uuid::Uuid;

use super::{PortfolioError, PortfolioResult, PortfolioService, opt_millis, target_of, ts_millis};
use crate::ports::{PortfolioRecord, PriceSnapshot};

/// The body of `GET /portfolio` (no `holdings`: the app reads those from `/portfolio/holdings`).
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PortfolioView {
    pub id: Uuid,
    pub cash_irr: Irr,
    pub holdings_value_irr: Irr,
    pub total_value_irr: Irr,
    pub outstanding_loan_irr: Irr,
    pub net_value_irr: Irr,
    pub allocation: Allocation,
    pub target_allocation: Allocation,
    pub status: blu_domain::PortfolioStatus,
    #[serde(with = "blu_domain::num")]
    pub drift_pct: Decimal,
    #[serde(with = "blu_domain::num")]
    pub daily_change_percent: Decimal,
    pub risk_score: u8,
    pub risk_tier: RiskTier,
    pub profile_name: &'static str,
    pub holdings_count: usize,
    pub active_loans_count: i64,
    pub active_protections_count: i64,
    #[serde(with = "opt_millis", skip_serializing_if = "Option::is_none")]
    pub last_rebalance_at: Option<Timestamp>,
    pub prices_status: &'static str,
    #[serde(with = "ts_millis")]
    pub as_of: Timestamp,
}

/// A holding (api.md §2.1).
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HoldingView {
    pub id: Uuid,
    pub asset_id: AssetId,
    pub name: &'static str,
    pub layer: Layer,
    pub quantity: Quantity,
    pub frozen: bool,
    #[serde(with = "blu_domain::num")]
    pub price_usd: Decimal,
    #[serde(with = "blu_domain::num")]
    pub price_irr: Decimal,
    pub value_irr: Irr,
    #[serde(with = "blu_domain::num")]
    pub value_usd: Decimal,
    #[serde(
        with = "blu_domain::num::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub change_24h_pct: Option<Decimal>,
    #[serde(with = "blu_domain::num")]
    pub weight: Decimal,
    #[serde(with = "opt_millis", skip_serializing_if = "Option::is_none")]
    pub purchased_at: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fixed_income: Option<FixedIncomeView>,
}

/// Accrual details of the fixed-income holding.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FixedIncomeView {
    pub principal: Irr,
    pub accrued_interest: Irr,
    pub total: Irr,
    #[serde(with = "blu_domain::num")]
    pub days_held: Decimal,
    #[serde(with = "blu_domain::num")]
    pub daily_rate: Decimal,
}

fn ratio(part: Irr, whole: Irr) -> Decimal {
    checked_ratio(part.value(), whole.value())
        .map_or(Decimal::ZERO, |r| round_half_up(r, 6).normalize())
}

/// Builds the portfolio view and holdings of a record at the latest prices.
pub(super) fn build(
    record: &PortfolioRecord,
    snapshot: &PriceSnapshot,
    book: &PriceBook,
    now: Timestamp,
    prices_status: &'static str,
) -> PortfolioResult<(PortfolioView, Vec<HoldingView>)> {
    let target = target_of(record)?;
    let state = record.state();
    let valuation = value_portfolio(&state, book, now);
    let report = valuation.status(&target);
    let fx = book.fx_rate;
    let mut holdings = Vec::new();
    let mut weighted_change = Decimal::ZERO;
    let mut changed_value = Decimal::ZERO;
    for h in record.holdings.iter().filter(|h| h.quantity.is_positive()) {
        let value = valuation.value_of(h.asset);
        let (price_irr, fixed) = if h.asset.is_fixed_income() {
            let d = fixed_income::details(&h.lots, now);
            let unit = checked_ratio(value.value(), h.quantity.value())
                .map_or(Decimal::ZERO, |u| round_half_up(u, 2).normalize());
            let view = FixedIncomeView {
                principal: d.principal,
                accrued_interest: d.accrued_interest,
                total: d.total,
                days_held: round_half_up(d.days_held, 2).normalize(),
                daily_rate: round_half_up(d.daily_rate, 12).normalize(),
            };
            (unit, Some(view))
        } else {
            (book.price_irr(h.asset).unwrap_or(Decimal::ZERO), None)
        };
        let usd = |irr: Decimal, dp: u32| {
            checked_ratio(irr, fx).map_or(Decimal::ZERO, |u| round_half_up(u, dp).normalize())
        };
        let price_usd = match book.get(h.asset) {
            Some(p) if !h.asset.is_fixed_income() => p.price_usd.normalize(),
            _ => usd(price_irr, 8),
        };
        let change = snapshot.price(h.asset).and_then(|q| q.change_24h_pct);
        if let Some(c) = change {
            // A feed's change figure is not bounded: one that does not fit is left out (D41).
            if let Some(next) = value
                .value()
                .checked_mul(c)
                .and_then(|w| weighted_change.checked_add(w))
            {
                weighted_change = next;
                changed_value += value.value();
            }
        }
        let purchased_at = match h.lots.first() {
            Some(lot) => Some(lot.purchased_at),
            None => h.first_purchased_at,
        };
        holdings.push(HoldingView {
            id: h.id,
            asset_id: h.asset,
            name: h.asset.asset().name,
            layer: h.asset.layer(),
            quantity: h.quantity,
            frozen: h.frozen,
            price_usd,
            price_irr: price_irr.normalize(),
            value_irr: value,
            value_usd: usd(value.value(), 2),
            change_24h_pct: change.map(|c| c.normalize()),
            weight: ratio(value, valuation.holdings_value),
            purchased_at,
            fixed_income: fixed,
        });
    }
    holdings.sort_by_key(|h| (h.layer.index(), h.asset_id));
    let daily_change_percent = checked_ratio(weighted_change, changed_value)
        .map_or(Decimal::ZERO, |r| round_half_up(r, 2).normalize());
    let score = record.risk_score.unwrap_or(1);
    let profile = risk_profile(score);
    let outstanding = record.outstanding_loan_principal;
    let view = PortfolioView {
        id: record.id,
        cash_irr: record.cash,
        holdings_value_irr: valuation.holdings_value,
        total_value_irr: valuation.total_value(),
        outstanding_loan_irr: outstanding,
        net_value_irr: valuation.total_value() - outstanding,
        allocation: valuation.allocation().rounded(6),
        target_allocation: target,
        status: report.status,
        drift_pct: round_half_up(report.max_drift_pp, 2).normalize(),
        daily_change_percent,
        risk_score: score,
        risk_tier: RiskTier::for_score(score),
        profile_name: profile.map_or("", |p| p.kind.name_en()),
        holdings_count: holdings.len(),
        active_loans_count: record.active_loans,
        active_protections_count: record.active_protections,
        last_rebalance_at: record.last_rebalance_at,
        prices_status,
        as_of: now,
    };
    Ok((view, holdings))
}

impl PortfolioService {
    /// The portfolio and its holdings at the latest prices (reads never fail on stale prices).
    #[tracing::instrument(skip_all, fields(user_id = %user_id))]
    pub async fn portfolio(
        &self,
        user_id: Uuid,
    ) -> PortfolioResult<(PortfolioView, Vec<HoldingView>)> {
        let record = self
            .reads
            .run(user_id)
            .await?
            .ok_or(PortfolioError::NoPortfolio)?;
        let snapshot = self.prices.snapshot();
        let now = self.now();
        let book = Self::valuation_book(&snapshot);
        let status = snapshot.status(now, self.price_max_age).as_str();
        let (mut view, holdings) = build(&record, &snapshot, &book, now, status)?;
        if record.active_loans > 0 {
            // Debt includes accrued unpaid interest (business-rules §7.2), not just principal.
            view.outstanding_loan_irr = self.outstanding_debt(user_id, now).await?;
            view.net_value_irr = view.total_value_irr - view.outstanding_loan_irr;
        }
        Ok((view, holdings))
    }
}
