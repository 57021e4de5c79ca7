//! The wire shapes of the protection use cases (api.md §2.3 and §10): eligible holdings, quotes,
//! protections, purchase and cancellation results, and the `GET /protection` status filter.

use blu_domain::protection::{PricingModel, ProtectionStatus, VolatilityRegime};
use blu_domain::{AssetId, Irr, Layer, PriceBook, Quantity, RuleViolation, Timestamp};
use rust_decimal::Decimal;
use serde::Serialize;
use uuid::Uuid;

use crate::portfolio::{opt_millis, ts_millis};
use crate::ports::ProtectionRecord;

/// `GET /protection/holdings`.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EligibleView {
    pub eligible_assets: Vec<AssetId>,
    pub holdings: Vec<EligibleHolding>,
    pub duration_presets: Vec<i64>,
    pub coverage_range: CoverageRange,
    pub min_notional_irr: Irr,
    pub pricing_model: PricingModel,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct CoverageRange {
    #[serde(with = "blu_domain::num")]
    pub min: Decimal,
    #[serde(with = "blu_domain::num")]
    pub max: Decimal,
    #[serde(with = "blu_domain::num")]
    pub step: Decimal,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EligibleHolding {
    pub holding_id: Uuid,
    pub asset_id: AssetId,
    pub name: &'static str,
    pub layer: Layer,
    pub quantity: Quantity,
    pub value_irr: Irr,
    #[serde(with = "blu_domain::num")]
    pub value_usd: Decimal,
    #[serde(with = "blu_domain::num")]
    pub price_usd: Decimal,
    #[serde(with = "blu_domain::num")]
    pub price_irr: Decimal,
    pub frozen: bool,
    pub already_protected: bool,
    #[serde(with = "blu_domain::num")]
    pub estimated_premium_pct: Decimal,
    pub indicative_premium: IndicativePremium,
    pub volatility: VolatilityView,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IndicativePremium {
    #[serde(with = "blu_domain::num")]
    pub thirty_day_pct: Decimal,
    pub thirty_day_irr: Irr,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VolatilityView {
    #[serde(with = "blu_domain::num")]
    pub iv: Decimal,
    pub regime: VolatilityRegime,
    pub regime_color: &'static str,
}

/// `GET /protection/quote`.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QuoteResult {
    pub quote: QuoteView,
    pub breakeven: Breakeven,
    pub validity: Validity,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QuoteView {
    pub quote_id: String,
    pub holding_id: Uuid,
    pub asset_id: AssetId,
    #[serde(with = "blu_domain::num")]
    pub coverage_pct: Decimal,
    pub protected_quantity: Quantity,
    pub holding_value_irr: Irr,
    #[serde(with = "blu_domain::num")]
    pub holding_value_usd: Decimal,
    pub notional_irr: Irr,
    #[serde(with = "blu_domain::num")]
    pub notional_usd: Decimal,
    pub duration_days: i64,
    pub duration_months: i64,
    #[serde(with = "blu_domain::num")]
    pub strike_pct: Decimal,
    #[serde(with = "blu_domain::num")]
    pub strike_usd: Decimal,
    #[serde(with = "blu_domain::num")]
    pub strike_irr: Decimal,
    #[serde(with = "blu_domain::num")]
    pub spot_price_usd: Decimal,
    #[serde(with = "blu_domain::num")]
    pub spot_price_irr: Decimal,
    pub premium_irr: Irr,
    #[serde(with = "blu_domain::num")]
    pub premium_usd: Decimal,
    #[serde(with = "blu_domain::num")]
    pub premium_pct: Decimal,
    #[serde(with = "blu_domain::num")]
    pub annualized_pct: Decimal,
    pub pricing_model: PricingModel,
    #[serde(with = "blu_domain::num")]
    pub implied_volatility: Decimal,
    pub volatility_regime: VolatilityRegime,
    pub greeks: GreeksView,
    #[serde(with = "ts_millis")]
    pub quoted_at: Timestamp,
    #[serde(with = "ts_millis")]
    pub valid_until: Timestamp,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct GreeksView {
    #[serde(with = "blu_domain::num")]
    pub delta: Decimal,
    #[serde(with = "blu_domain::num")]
    pub gamma: Decimal,
    #[serde(with = "blu_domain::num")]
    pub vega: Decimal,
    #[serde(with = "blu_domain::num")]
    pub theta: Decimal,
    #[serde(with = "blu_domain::num")]
    pub rho: Decimal,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Breakeven {
    #[serde(with = "blu_domain::num")]
    pub price_drop_pct: Decimal,
    #[serde(with = "blu_domain::num")]
    pub break_even_usd: Decimal,
    #[serde(with = "blu_domain::num")]
    pub break_even_irr: Decimal,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Validity {
    pub seconds_remaining: i64,
    #[serde(with = "ts_millis")]
    pub valid_until: Timestamp,
}

/// A protection on the wire (api.md §2.3).
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProtectionView {
    pub id: Uuid,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub holding_id: Option<Uuid>,
    pub asset_id: AssetId,
    pub status: ProtectionStatus,
    #[serde(with = "blu_domain::num")]
    pub coverage_pct: Decimal,
    pub protected_quantity: Quantity,
    pub notional_irr: Irr,
    #[serde(with = "blu_domain::num")]
    pub notional_usd: Decimal,
    #[serde(with = "blu_domain::num")]
    pub strike_pct: Decimal,
    #[serde(with = "blu_domain::num")]
    pub strike_usd: Decimal,
    #[serde(with = "blu_domain::num")]
    pub strike_irr: Decimal,
    pub premium_irr: Irr,
    #[serde(with = "blu_domain::num")]
    pub premium_usd: Decimal,
    #[serde(with = "blu_domain::num")]
    pub premium_pct: Decimal,
    pub pricing_model: PricingModel,
    #[serde(with = "blu_domain::num")]
    pub implied_volatility: Decimal,
    pub greeks: GreeksView,
    pub duration_days: i64,
    pub duration_months: i64,
    #[serde(with = "ts_millis")]
    pub start_date: Timestamp,
    #[serde(with = "ts_millis")]
    pub expiry_date: Timestamp,
    pub days_remaining: i64,
    #[serde(with = "blu_domain::num")]
    pub progress_pct: Decimal,
    #[serde(
        with = "blu_domain::num::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub current_value_usd: Option<Decimal>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub settlement_irr: Option<Irr>,
    #[serde(
        with = "blu_domain::num::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub settlement_usd: Option<Decimal>,
    #[serde(with = "opt_millis", skip_serializing_if = "Option::is_none")]
    pub settlement_date: Option<Timestamp>,
    #[serde(with = "opt_millis", skip_serializing_if = "Option::is_none")]
    pub cancelled_at: Option<Timestamp>,
}

/// `{"protections": […]}`.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ProtectionList {
    pub protections: Vec<ProtectionView>,
}

/// 201 of a purchase.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PurchaseResult {
    /// Always `true` (the app's `ProtectionPurchaseResponse` reads it); a refusal is an error.
    pub success: bool,
    pub protection: ProtectionView,
    pub new_cash_irr: Irr,
    pub ledger_entry_id: String,
}

/// 200 of a cancellation.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct CancelResult {
    pub success: bool,
    pub protection: ProtectionView,
}

/// Result of one `protection-expiry` tick.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SettleCounts {
    pub checked: u64,
    pub exercised: u64,
    pub expired: u64,
    pub waiting: u64,
}

/// Which protections `GET /protection` lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusFilter {
    All,
    Only(ProtectionStatus),
}

impl StatusFilter {
    /// `ACTIVE` (default), `EXPIRED`, `EXERCISED`, `CANCELLED` or `ALL`.
    pub fn parse(text: Option<&str>) -> Result<StatusFilter, RuleViolation> {
        Ok(match text.unwrap_or("ACTIVE") {
            "ALL" => StatusFilter::All,
            "ACTIVE" => StatusFilter::Only(ProtectionStatus::Active),
            "EXPIRED" => StatusFilter::Only(ProtectionStatus::Expired),
            "EXERCISED" => StatusFilter::Only(ProtectionStatus::Exercised),
            "CANCELLED" => StatusFilter::Only(ProtectionStatus::Cancelled),
            _ => {
                return Err(RuleViolation::invalid_field(
                    "status",
                    "must be ACTIVE, EXPIRED, EXERCISED, CANCELLED or ALL",
                ));
            }
        })
    }
}

pub(super) fn regime_color(regime: VolatilityRegime) -> &'static str {
    match regime {
        VolatilityRegime::Low => "#22C55E",
        VolatilityRegime::Normal => "#3B82F6",
        VolatilityRegime::Elevated => "#F59E0B",
        VolatilityRegime::High => "#EF4444",
        VolatilityRegime::Extreme => "#7C3AED",
    }
}

pub(super) fn greeks_view(p: &blu_domain::protection::Premium) -> GreeksView {
    let g = &p.greeks;
    GreeksView {
        delta: g.delta,
        gamma: g.gamma,
        vega: g.vega,
        theta: g.theta,
        rho: g.rho,
    }
}
/// Views a protection at `now`; `book` gives the current value of ACTIVE protections.
pub fn protection_view(r: &ProtectionRecord, book: &PriceBook, now: Timestamp) -> ProtectionView {
    let p = &r.protection;
    let active = p.status == ProtectionStatus::Active;
    let settled = p.settlement.as_ref();
    ProtectionView {
        id: r.id,
        holding_id: r.holding_id,
        asset_id: p.terms.asset,
        status: p.status,
        coverage_pct: p.terms.coverage.value(),
        protected_quantity: p.terms.protected_quantity,
        notional_irr: p.terms.notional_irr,
        notional_usd: p.terms.notional_usd,
        strike_pct: Decimal::ONE,
        strike_usd: p.terms.strike_usd,
        strike_irr: p.terms.strike_irr,
        premium_irr: p.premium.premium_irr,
        premium_usd: p.premium.premium_usd,
        premium_pct: p.premium.premium_pct,
        pricing_model: p.premium.model,
        implied_volatility: p.premium.implied_volatility,
        greeks: greeks_view(&p.premium),
        duration_days: p.terms.duration.days(),
        duration_months: p.terms.duration.months(),
        start_date: p.start_at,
        expiry_date: p.expires_at,
        days_remaining: p.days_remaining(now),
        progress_pct: p.progress_pct(now),
        current_value_usd: active
            .then(|| book.get(p.terms.asset))
            .flatten()
            .map(|price| (price.price_usd * p.terms.protected_quantity.value()).normalize()),
        settlement_irr: settled.map(|s| s.payout_irr),
        settlement_usd: settled.map(|s| s.payout_usd),
        settlement_date: settled.map(|s| s.settled_at),
        cancelled_at: p.cancelled_at,
    }
}
