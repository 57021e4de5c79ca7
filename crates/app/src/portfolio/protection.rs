//! Protection use cases (business-rules §8, api.md §10): eligible holdings, quotes, purchase
//! (with a quote or in one step), reads, cancellation, and settlement at expiry. Every money
//! movement goes through the portfolio lock and commits its protection rows with the ledger
//! entry and activity row (`PortfolioChange::protections`).

use std::sync::Arc;

use blu_domain::ledger::NewEntry;
use blu_domain::portfolio::{AssetPrice, holding_value};
use blu_domain::protection::{
    COVERAGE_STEP, Coverage, DURATION_PRESETS_DAYS, MAX_COVERAGE, MIN_COVERAGE, MIN_NOTIONAL_IRR,
    PricingModel, ProtectionDuration, ProtectionQuote, ProtectionStatus, PurchaseTerms,
    VolatilityRegime, check_acknowledged, check_quote_matches, implied_volatility,
    purchase_protection, quote_protection, quote_terms,
};
use blu_domain::{
    AssetId, Boundary, EntryType, Irr, Layer, PortfolioState, PriceBook, Quantity, RuleViolation,
    Timestamp, activity,
};
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::trade::number;
use super::{
    Movement, PortfolioError, PortfolioResult, PortfolioService, Prepared, QuoteError, change_set,
    target_of, ts_millis, uuid_text,
};
use crate::ports::{
    AuditEntry, Conflict, PortfolioChange, PortfolioRecord, PortfolioTx, ProtectionNotification,
    ProtectionQuoteRecord, ProtectionRecord, ProtectionStore, ProtectionWrite, QuoteState,
    RegimeSetting, StoreError,
};

/// A regime setting as an audit row records it.
fn regime_json(s: &RegimeSetting) -> Value {
    json!({ "regime": s.regime.as_str(), "reason": s.reason })
}

/// The protection use cases, on top of the portfolio service's store, prices and clock.
pub struct ProtectionService {
    portfolio: Arc<PortfolioService>,
    store: Arc<dyn ProtectionStore>,
    model: PricingModel,
}

/// Longest accepted `reason` of a volatility regime (a note for operators, not a document).
const MAX_REGIME_REASON_CHARS: usize = 500;

/// The operator's volatility regimes as read for one request; an asset without one is NORMAL.
struct Regimes(Vec<RegimeSetting>);

impl Regimes {
    fn of(&self, asset: AssetId) -> VolatilityRegime {
        self.0
            .iter()
            .find(|s| s.asset == asset)
            .map_or(VolatilityRegime::Normal, |s| s.regime)
    }
}

/// Query of `GET /protection/quote` and the terms of `POST /protection`.
#[derive(Clone, Debug, Default)]
pub struct QuoteInput {
    pub holding_id: Option<String>,
    pub asset_id: Option<String>,
    pub coverage_pct: Option<Decimal>,
    pub duration_days: Option<i64>,
    pub duration_months: Option<i64>,
}

/// Body of `POST /protection/purchase` (and `POST /protection` with a `quoteId`).
#[derive(Clone, Debug, Default)]
pub struct PurchaseInput {
    pub quote_id: String,
    pub holding_id: Option<String>,
    pub coverage_pct: Option<Decimal>,
    pub duration_days: Option<i64>,
    pub premium_irr: Option<Irr>,
    pub acknowledged_premium: bool,
}

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
    #[serde(with = "super::opt_millis", skip_serializing_if = "Option::is_none")]
    pub settlement_date: Option<Timestamp>,
    #[serde(with = "super::opt_millis", skip_serializing_if = "Option::is_none")]
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

fn regime_color(regime: VolatilityRegime) -> &'static str {
    match regime {
        VolatilityRegime::Low => "#22C55E",
        VolatilityRegime::Normal => "#3B82F6",
        VolatilityRegime::Elevated => "#F59E0B",
        VolatilityRegime::High => "#EF4444",
        VolatilityRegime::Extreme => "#7C3AED",
    }
}

fn greeks_view(p: &blu_domain::protection::Premium) -> GreeksView {
    let g = &p.greeks;
    GreeksView {
        delta: g.delta,
        gamma: g.gamma,
        vega: g.vega,
        theta: g.theta,
        rho: g.rho,
    }
}

fn quote_error(state: QuoteState, valid_until: Timestamp) -> PortfolioError {
    match state {
        QuoteState::Expired => PortfolioError::Quote(QuoteError::Expired { valid_until }),
        _ => PortfolioError::Quote(QuoteError::InUse),
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

fn parse_uuid(text: &str) -> Option<Uuid> {
    Uuid::parse_str(text.trim()).ok()
}

fn active_on(protections: &[ProtectionRecord], asset: AssetId) -> bool {
    protections.iter().any(|p| {
        p.protection.terms.asset == asset && p.protection.status == ProtectionStatus::Active
    })
}

impl QuoteInput {
    fn terms(&self) -> Result<(Coverage, ProtectionDuration), RuleViolation> {
        let coverage = Coverage::new(self.coverage_pct.unwrap_or(Decimal::ONE))?;
        let duration = match (self.duration_days, self.duration_months) {
            (Some(days), _) => ProtectionDuration::from_days(days)?,
            (None, Some(months)) => ProtectionDuration::from_months(months)?,
            (None, None) => {
                return Err(RuleViolation::invalid_field(
                    "durationDays",
                    "durationDays or durationMonths is required",
                ));
            }
        };
        Ok((coverage, duration))
    }

    /// The caller's holding named by `holdingId` or `assetId` (404 otherwise).
    fn holding<'a>(
        &self,
        record: &'a PortfolioRecord,
    ) -> PortfolioResult<&'a crate::ports::HoldingRecord> {
        let found = match (&self.holding_id, &self.asset_id) {
            (Some(id), _) => {
                parse_uuid(id).and_then(|id| record.holdings.iter().find(|h| h.id == id))
            }
            (None, Some(asset)) => asset
                .trim()
                .to_ascii_uppercase()
                .parse::<AssetId>()
                .ok()
                .and_then(|a| record.holding(a)),
            (None, None) => {
                return Err(RuleViolation::invalid_field(
                    "holdingId",
                    "holdingId or assetId is required",
                )
                .into());
            }
        };
        found
            .filter(|h| h.quantity.is_positive())
            .ok_or(PortfolioError::NotFound("holding"))
    }
}

impl ProtectionService {
    pub fn new(
        portfolio: Arc<PortfolioService>,
        store: Arc<dyn ProtectionStore>,
        model: PricingModel,
    ) -> ProtectionService {
        ProtectionService {
            portfolio,
            store,
            model,
        }
    }

    /// The regimes in force now: read from the database on every pricing request, so a change
    /// made through any instance applies to the next quote everywhere.
    async fn regimes(&self) -> PortfolioResult<Regimes> {
        Ok(Regimes(self.store.volatility_regimes().await?))
    }

    /// `GET /admin/v1/overrides` (`volatility`): the stored regimes in registry order.
    pub async fn volatility_regimes(&self) -> PortfolioResult<Vec<RegimeSetting>> {
        let mut settings = self.store.volatility_regimes().await?;
        settings.sort_by_key(|s| s.asset);
        Ok(settings)
    }

    /// `PUT /admin/v1/overrides/volatility/:assetId`: sets the regime that scales the asset's
    /// implied volatility (business-rules §8.3). Only protection-eligible assets are priced, so
    /// a regime on any other asset would be a setting with no effect: refused.
    pub async fn set_volatility_regime(
        &self,
        asset: AssetId,
        regime: &str,
        reason: Option<String>,
        audit: AuditEntry,
    ) -> PortfolioResult<RegimeSetting> {
        if !asset.asset().protection_eligible() {
            return Err(RuleViolation::invalid_field(
                "assetId",
                "volatility regimes apply to protection-eligible assets only",
            )
            .into());
        }
        let regime =
            VolatilityRegime::parse(&regime.trim().to_ascii_uppercase()).ok_or_else(|| {
                RuleViolation::invalid_field(
                    "regime",
                    "must be LOW, NORMAL, ELEVATED, HIGH or EXTREME",
                )
            })?;
        let reason = reason
            .map(|r| r.trim().to_owned())
            .filter(|r| !r.is_empty());
        if reason
            .as_ref()
            .is_some_and(|r| r.chars().count() > MAX_REGIME_REASON_CHARS)
        {
            return Err(
                RuleViolation::invalid_field("reason", "must be at most 500 characters").into(),
            );
        }
        let setting = RegimeSetting {
            asset,
            regime,
            reason,
            set_at: self.now(),
        };
        let before = self.regime_json(asset).await?;
        let audit = audit
            .with_target(asset.as_str())
            .with_before(before)
            .with_after(Some(regime_json(&setting)));
        self.store
            .set_volatility_regime(&setting, Some(&audit))
            .await?;
        Ok(setting)
    }

    /// `DELETE /admin/v1/overrides/volatility/:assetId`: the asset is NORMAL again. Returns
    /// whether a regime was set.
    pub async fn clear_volatility_regime(
        &self,
        asset: AssetId,
        audit: AuditEntry,
    ) -> PortfolioResult<bool> {
        let audit = audit
            .with_target(asset.as_str())
            .with_before(self.regime_json(asset).await?);
        Ok(self
            .store
            .clear_volatility_regime(asset, Some(&audit))
            .await?)
    }

    /// The asset's current regime setting for an audit row (`None`: NORMAL, unset).
    async fn regime_json(&self, asset: AssetId) -> PortfolioResult<Option<serde_json::Value>> {
        let settings = self.store.volatility_regimes().await?;
        Ok(settings.iter().find(|s| s.asset == asset).map(regime_json))
    }

    pub fn model(&self) -> PricingModel {
        self.model
    }

    fn now(&self) -> Timestamp {
        self.portfolio.now()
    }

    async fn record(&self, user_id: Uuid) -> PortfolioResult<PortfolioRecord> {
        self.portfolio
            .store
            .portfolio(user_id)
            .await?
            .ok_or(PortfolioError::NoPortfolio)
    }

    /// `GET /protection/holdings`.
    pub async fn eligible(&self, user_id: Uuid) -> PortfolioResult<EligibleView> {
        let record = self.record(user_id).await?;
        let protections = self.store.protections(user_id).await?;
        let regimes = self.regimes().await?;
        let book = PortfolioService::valuation_book(&self.portfolio.prices.snapshot());
        let now = self.now();
        let thirty = ProtectionDuration::from_days(30)?;
        let state = record.state();
        let holdings = record
            .holdings
            .iter()
            .filter(|h| h.asset.asset().protection_eligible() && h.quantity.is_positive())
            .filter_map(|h| {
                let price = book.get(h.asset)?;
                let value = state
                    .holding(h.asset)
                    .and_then(|holding| holding_value(holding, &book, now))?;
                if value < Irr::new(MIN_NOTIONAL_IRR) {
                    return None;
                }
                let regime = regimes.of(h.asset);
                let pct = self.model.premium_pct(h.asset, thirty, regime);
                Some(EligibleHolding {
                    holding_id: h.id,
                    asset_id: h.asset,
                    name: h.asset.asset().name,
                    layer: h.asset.layer(),
                    quantity: h.quantity,
                    value_irr: value,
                    value_usd: (h.quantity.value() * price.price_usd).normalize(),
                    price_usd: price.price_usd.normalize(),
                    price_irr: price.price_irr.normalize(),
                    frozen: h.frozen,
                    already_protected: active_on(&protections, h.asset),
                    estimated_premium_pct: pct,
                    indicative_premium: IndicativePremium {
                        thirty_day_pct: pct,
                        thirty_day_irr: value.mul_round(pct),
                    },
                    volatility: VolatilityView {
                        iv: implied_volatility(h.asset, thirty, regime),
                        regime,
                        regime_color: regime_color(regime),
                    },
                })
            })
            .collect();
        Ok(EligibleView {
            eligible_assets: blu_domain::asset::protection_eligible_assets().collect(),
            holdings,
            duration_presets: DURATION_PRESETS_DAYS.to_vec(),
            coverage_range: CoverageRange {
                min: MIN_COVERAGE.normalize(),
                max: MAX_COVERAGE.normalize(),
                step: COVERAGE_STEP.normalize(),
            },
            min_notional_irr: Irr::new(MIN_NOTIONAL_IRR),
            pricing_model: self.model,
        })
    }

    /// Prices a quote on `record` at the current fresh price (§8.2 checks in order), under the
    /// operator's regime of the holding's asset.
    fn price_quote(
        &self,
        record: &PortfolioRecord,
        protections: &[ProtectionRecord],
        input: &QuoteInput,
        regimes: &Regimes,
        now: Timestamp,
    ) -> PortfolioResult<(Uuid, ProtectionQuote)> {
        let (coverage, duration) = input.terms()?;
        let holding = input.holding(record)?;
        let already = active_on(protections, holding.asset);
        if !holding.asset.asset().protection_eligible() || already {
            let zero = AssetPrice {
                price_usd: Decimal::ZERO,
                price_irr: Decimal::ZERO,
            };
            quote_terms(
                holding.asset,
                holding.quantity,
                already,
                coverage,
                duration,
                zero,
            )?;
        }
        let snapshot = self.portfolio.prices.snapshot();
        let fresh = self
            .portfolio
            .fresh_book(&snapshot, now, &[holding.asset])?;
        let price = fresh
            .get(holding.asset)
            .ok_or(PortfolioError::NotFound("price"))?;
        let quote = quote_protection(
            holding.asset,
            holding.quantity,
            already,
            coverage,
            duration,
            price,
            self.model,
            regimes.of(holding.asset),
            now,
        )?;
        Ok((holding.id, quote))
    }

    /// `GET /protection/quote`: prices and stores a 5-minute single-use quote.
    pub async fn quote(&self, user_id: Uuid, input: &QuoteInput) -> PortfolioResult<QuoteResult> {
        input.terms()?;
        let record = self.record(user_id).await?;
        let protections = self.store.protections(user_id).await?;
        let regimes = self.regimes().await?;
        let now = self.now();
        let (holding_id, quote) = self.price_quote(&record, &protections, input, &regimes, now)?;
        let stored = ProtectionQuoteRecord {
            id: format!("pq_{}", Uuid::new_v4().simple()),
            user_id,
            portfolio_id: record.id,
            holding_id,
            quote,
            state: QuoteState::Available,
        };
        self.store.save_protection_quote(&stored).await?;
        let q = &stored.quote;
        let t = &q.terms;
        let p = &q.premium;
        let holding_value_irr = t.holding_quantity.value_at(t.spot_irr);
        let drop = Decimal::ONE - p.premium_pct;
        Ok(QuoteResult {
            quote: QuoteView {
                quote_id: stored.id.clone(),
                holding_id,
                asset_id: t.asset,
                coverage_pct: t.coverage.value(),
                protected_quantity: t.protected_quantity,
                holding_value_irr,
                holding_value_usd: (t.holding_quantity.value() * t.spot_usd).normalize(),
                notional_irr: t.notional_irr,
                notional_usd: t.notional_usd,
                duration_days: t.duration.days(),
                duration_months: t.duration.months(),
                strike_pct: Decimal::ONE,
                strike_usd: t.strike_usd.normalize(),
                strike_irr: t.strike_irr.normalize(),
                spot_price_usd: t.spot_usd.normalize(),
                spot_price_irr: t.spot_irr.normalize(),
                premium_irr: p.premium_irr,
                premium_usd: p.premium_usd,
                premium_pct: p.premium_pct.normalize(),
                annualized_pct: blu_domain::money::round_half_up(p.annualized_pct(t.duration), 6)
                    .normalize(),
                pricing_model: p.model,
                implied_volatility: p.implied_volatility,
                volatility_regime: p.regime,
                greeks: greeks_view(p),
                quoted_at: q.quoted_at,
                valid_until: q.valid_until,
            },
            breakeven: Breakeven {
                price_drop_pct: p.premium_pct.normalize(),
                break_even_usd: (t.spot_usd * drop).normalize(),
                break_even_irr: (t.spot_irr * drop).normalize(),
            },
            validity: Validity {
                seconds_remaining: q.valid_until.micros_since(now) / 1_000_000,
                valid_until: q.valid_until,
            },
        })
    }

    /// `POST /protection/purchase`: reserves the quote, checks the terms, and buys.
    pub async fn purchase(
        &self,
        user_id: Uuid,
        input: &PurchaseInput,
    ) -> PortfolioResult<Prepared<PurchaseResult>> {
        check_acknowledged(input.acknowledged_premium)?;
        let mut tx = self.portfolio.lock(user_id).await?;
        let now = self.now();
        let stored = tx
            .reserve_protection_quote(&input.quote_id, now)
            .await?
            .ok_or(PortfolioError::Quote(QuoteError::NotFound))?;
        if stored.state != QuoteState::Reserved {
            return Err(quote_error(stored.state, stored.quote.valid_until));
        }
        if stored.quote.is_expired(now) {
            return Err(quote_error(QuoteState::Expired, stored.quote.valid_until));
        }
        let quoted_holding = stored.holding_id.to_string();
        check_quote_matches(
            &stored.quote,
            &quoted_holding,
            &PurchaseTerms {
                holding_id: input
                    .holding_id
                    .as_ref()
                    .map(|h| parse_uuid(h).map_or_else(|| h.clone(), |u| u.to_string())),
                coverage: input.coverage_pct,
                duration_days: input.duration_days,
                premium_irr: input.premium_irr,
            },
        )?;
        let record = tx.portfolio().cloned().ok_or(PortfolioError::NoPortfolio)?;
        let protections = tx.protections().await?;
        let snapshot = self.portfolio.prices.snapshot();
        self.portfolio
            .fresh_book(&snapshot, now, &[stored.quote.terms.asset])?;
        self.buy(
            tx,
            &record,
            &protections,
            stored.holding_id,
            stored.quote,
            Some(stored.id),
            now,
        )
    }

    /// `POST /protection` without a `quoteId`: quotes and buys under one lock.
    pub async fn purchase_now(
        &self,
        user_id: Uuid,
        input: &QuoteInput,
        acknowledged_premium: bool,
    ) -> PortfolioResult<Prepared<PurchaseResult>> {
        input.terms()?;
        check_acknowledged(acknowledged_premium)?;
        // Read before the lock: on SQLite the lock is the database's write transaction, and
        // the regime is an ops setting, not portfolio state the movement must serialise with.
        let regimes = self.regimes().await?;
        let mut tx = self.portfolio.lock(user_id).await?;
        let now = self.now();
        let record = tx.portfolio().cloned().ok_or(PortfolioError::NoPortfolio)?;
        let protections = tx.protections().await?;
        let (holding_id, quote) = self.price_quote(&record, &protections, input, &regimes, now)?;
        self.buy(tx, &record, &protections, holding_id, quote, None, now)
    }

    #[allow(clippy::too_many_arguments)]
    fn buy(
        &self,
        tx: Box<dyn PortfolioTx>,
        record: &PortfolioRecord,
        protections: &[ProtectionRecord],
        holding_id: Uuid,
        quote: ProtectionQuote,
        quote_id: Option<String>,
        now: Timestamp,
    ) -> PortfolioResult<Prepared<PurchaseResult>> {
        let asset = quote.terms.asset;
        if !record.holdings.iter().any(|h| h.id == holding_id) {
            return Err(PortfolioError::NotFound("holding"));
        }
        let protection =
            purchase_protection(&quote, active_on(protections, asset), record.cash, now)?;
        let premium = protection.premium.premium_irr;
        let state = record.state();
        let mut after_state = state.clone();
        after_state.cash -= premium;
        let created = ProtectionRecord {
            id: Uuid::now_v7(),
            portfolio_id: record.id,
            holding_id: Some(holding_id),
            quote_id,
            protection,
            created_at: now,
        };
        let p = &created.protection;
        let g = &p.premium.greeks;
        let mut metadata = Map::new();
        metadata.insert("coverage".into(), number(p.terms.coverage.value()));
        metadata.insert("durationDays".into(), json!(p.terms.duration.days()));
        metadata.insert("notionalIrr".into(), number(p.terms.notional_irr.value()));
        metadata.insert("notionalUsd".into(), number(p.terms.notional_usd));
        metadata.insert(
            "protectedQuantity".into(),
            number(p.terms.protected_quantity.value()),
        );
        metadata.insert("strikeUsd".into(), number(p.terms.strike_usd));
        metadata.insert("model".into(), json!(p.premium.model));
        metadata.insert(
            "impliedVolatility".into(),
            number(p.premium.implied_volatility),
        );
        metadata.insert(
            "greeks".into(),
            json!({"delta": number(g.delta), "gamma": number(g.gamma), "vega": number(g.vega),
                   "theta": number(g.theta), "rho": number(g.rho)}),
        );
        if let Some(id) = &created.quote_id {
            metadata.insert("quoteId".into(), Value::String(id.clone()));
        }
        let message = activity::protection_purchased(
            u32::try_from(p.terms.duration.days()).unwrap_or_default(),
            asset,
        );
        let snapshot = self.portfolio.prices.snapshot();
        let book = PortfolioService::valuation_book(&snapshot);
        let mut change = movement(
            record,
            (&state, &after_state),
            &book,
            EntryType::ProtectionPurchase,
            message,
            premium,
            &created,
            Some(metadata),
            now,
        )?;
        change
            .protections
            .push(ProtectionWrite::Insert(created.clone()));
        let ledger_entry_id = change.entry.id.to_string();
        Ok(Prepared {
            tx,
            change,
            outcome: PurchaseResult {
                success: true,
                protection: protection_view(&created, &book, now),
                new_cash_irr: after_state.cash,
                ledger_entry_id,
            },
        })
    }

    /// `GET /protection[?status]` and `/protection/active`, newest first.
    pub async fn list(
        &self,
        user_id: Uuid,
        filter: StatusFilter,
    ) -> PortfolioResult<ProtectionList> {
        let protections = self.store.protections(user_id).await?;
        let book = PortfolioService::valuation_book(&self.portfolio.prices.snapshot());
        let now = self.now();
        Ok(ProtectionList {
            protections: protections
                .iter()
                .filter(|p| match filter {
                    StatusFilter::All => true,
                    StatusFilter::Only(s) => p.protection.status == s,
                })
                .map(|p| protection_view(p, &book, now))
                .collect(),
        })
    }

    /// `GET /protection/:id`.
    pub async fn get(&self, user_id: Uuid, id: &str) -> PortfolioResult<ProtectionView> {
        let id = parse_uuid(id).ok_or(PortfolioError::NotFound("protection"))?;
        let protections = self.store.protections(user_id).await?;
        let found = protections
            .iter()
            .find(|p| p.id == id)
            .ok_or(PortfolioError::NotFound("protection"))?;
        let book = PortfolioService::valuation_book(&self.portfolio.prices.snapshot());
        Ok(protection_view(found, &book, self.now()))
    }

    /// `DELETE /protection/:id`: CANCELLED, no refund, PROTECTION_CANCEL (amount 0).
    pub async fn cancel(&self, user_id: Uuid, id: &str) -> PortfolioResult<Prepared<CancelResult>> {
        let id = parse_uuid(id).ok_or(PortfolioError::NotFound("protection"))?;
        let mut tx = self.portfolio.lock(user_id).await?;
        let record = tx
            .portfolio()
            .cloned()
            .ok_or(PortfolioError::NotFound("protection"))?;
        let mut found = tx
            .protections()
            .await?
            .into_iter()
            .find(|p| p.id == id)
            .ok_or(PortfolioError::NotFound("protection"))?;
        let now = self.now();
        let book = PortfolioService::valuation_book(&self.portfolio.prices.snapshot());
        let change = cancellation(&record, &mut found, &book, now)?;
        Ok(Prepared {
            tx,
            change,
            outcome: CancelResult {
                success: true,
                protection: protection_view(&found, &book, now),
            },
        })
    }

    /// One `protection-expiry` tick (§8.6): settles every due protection whose asset has a
    /// fresh price fetched at or after its expiry; the others wait for the next tick.
    pub async fn settle_due(&self) -> PortfolioResult<SettleCounts> {
        let now = self.now();
        let mut counts = SettleCounts::default();
        for (user_id, protection_id) in self.store.due_protections(now).await? {
            counts.checked += 1;
            match self.settle_one(user_id, protection_id, now).await? {
                Some(ProtectionStatus::Exercised) => counts.exercised += 1,
                Some(_) => counts.expired += 1,
                None => counts.waiting += 1,
            }
        }
        Ok(counts)
    }

    async fn settle_one(
        &self,
        user_id: Uuid,
        protection_id: Uuid,
        now: Timestamp,
    ) -> PortfolioResult<Option<ProtectionStatus>> {
        let Some(mut tx) = self.portfolio.store.lock(user_id).await? else {
            return Ok(None);
        };
        let Some(record) = tx.portfolio().cloned() else {
            return Ok(None);
        };
        let Some(mut found) = tx
            .protections()
            .await?
            .into_iter()
            .find(|p| p.id == protection_id)
        else {
            return Ok(None);
        };
        let asset = found.protection.terms.asset;
        let snapshot = self.portfolio.prices.snapshot();
        let (Some(quote), Some(fx)) = (snapshot.price(asset), snapshot.fx.as_ref()) else {
            return Ok(None);
        };
        if self.portfolio.fresh_book(&snapshot, now, &[asset]).is_err() {
            return Ok(None);
        }
        let held = record.holding(asset).map_or(Quantity::ZERO, |h| h.quantity);
        let Some(settlement) = found
            .protection
            .settle(now, quote.price_usd, fx.usd_irr, quote.fetched_at, held)
            .cloned()
        else {
            return Ok(None);
        };
        let state = record.state();
        let mut after = state.clone();
        after.cash += settlement.payout_irr;
        let book = PortfolioService::valuation_book(&snapshot);
        let exercised = settlement.outcome == ProtectionStatus::Exercised;
        let (entry_type, message, amount) = if exercised {
            (
                EntryType::ProtectionPayout,
                activity::protection_payout(settlement.payout_irr, asset),
                settlement.payout_irr,
            )
        } else {
            (
                EntryType::ProtectionExpire,
                activity::protection_expired(asset),
                Irr::ZERO,
            )
        };
        let mut metadata = Map::new();
        metadata.insert("settlementPriceUsd".into(), number(settlement.spot_usd));
        metadata.insert("fxRate".into(), number(settlement.fx_rate));
        metadata.insert(
            "heldQuantity".into(),
            number(settlement.held_quantity.value()),
        );
        metadata.insert(
            "protectedQuantity".into(),
            number(found.protection.terms.protected_quantity.value()),
        );
        metadata.insert("payoutUsd".into(), number(settlement.payout_usd));
        let mut change = movement(
            &record,
            (&state, &after),
            &book,
            entry_type,
            message.clone(),
            amount,
            &found,
            Some(metadata),
            now,
        )?;
        let title = if exercised {
            "Protection paid out"
        } else {
            "Protection ended"
        };
        change.protections.push(ProtectionWrite::Transition {
            record: found.clone(),
            notification: Some(ProtectionNotification {
                user_id,
                kind: if exercised {
                    "PROTECTION_PAYOUT".into()
                } else {
                    "PROTECTION_EXPIRED".into()
                },
                entity_id: found.id.to_string(),
                dedupe_key: "settlement".into(),
                title: title.into(),
                body: message,
                data: json!({"protectionId": found.id.to_string(), "assetId": asset,
                             "payoutIrr": number(settlement.payout_irr.value())}),
            }),
        });
        match tx.commit(change).await {
            Ok(()) => Ok(Some(settlement.outcome)),
            Err(StoreError::Conflict(Conflict::ProtectionNotActive)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

/// The change set of a protection movement with its ledger entry and activity row.
#[allow(clippy::too_many_arguments)]
fn movement(
    record: &PortfolioRecord,
    (before, after): (&PortfolioState, &PortfolioState),
    book: &PriceBook,
    entry_type: EntryType,
    message: String,
    amount: Irr,
    protection: &ProtectionRecord,
    metadata: Option<Map<String, Value>>,
    now: Timestamp,
) -> PortfolioResult<PortfolioChange> {
    let target = target_of(record)?;
    let asset = protection.protection.terms.asset;
    let movement = Movement {
        portfolio_id: record.id,
        entry_type,
        boundary: Boundary::Safe,
        message,
        before: (before, book),
        after: (after, book),
        target: &target,
        now,
    };
    let (mut entry, after_snapshot): (NewEntry, _) = movement.entry();
    entry.asset_id = Some(asset);
    entry.amount_irr = Some(amount);
    entry.protection_id = Some(uuid_text(protection.id));
    entry.metadata = metadata;
    let activity = movement.activity(Some(amount), Some(asset));
    change_set(
        Some(record),
        record.id,
        entry,
        &after_snapshot,
        after,
        activity,
        now,
    )
}

/// Cancels `found` (ACTIVE → CANCELLED, no refund, else 409 `PROTECTION_NOT_ACTIVE`) as a
/// movement sealed after `record`'s ledger head: PROTECTION_CANCEL (amount 0) with its activity
/// row and the conditional transition. `DELETE /protection/:id` commits one; closing an account
/// commits one per ACTIVE protection.
pub(super) fn cancellation(
    record: &PortfolioRecord,
    found: &mut ProtectionRecord,
    book: &PriceBook,
    now: Timestamp,
) -> PortfolioResult<PortfolioChange> {
    found.protection.cancel(now)?;
    let state = record.state();
    let message = activity::protection_cancelled(found.protection.terms.asset);
    let mut change = movement(
        record,
        (&state, &state),
        book,
        EntryType::ProtectionCancel,
        message,
        Irr::ZERO,
        found,
        None,
        now,
    )?;
    change.protections.push(ProtectionWrite::Transition {
        record: found.clone(),
        notification: None,
    });
    Ok(change)
}
