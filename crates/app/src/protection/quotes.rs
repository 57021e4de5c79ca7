//! Protection pricing reads (business-rules §8.2–8.3, api.md §10): the eligible holdings with
//! their indicative premiums, and single-use quotes.

use blu_domain::Irr;
use blu_domain::portfolio::holding_value;
use blu_domain::protection::{
    COVERAGE_STEP, DURATION_PRESETS_DAYS, MAX_COVERAGE, MIN_COVERAGE, MIN_NOTIONAL_IRR,
    ProtectionDuration, implied_volatility,
};
use rust_decimal::Decimal;
use uuid::Uuid;

use super::service::{ProtectionService, QuoteInput, active_on};
use super::views::{
    Breakeven, CoverageRange, EligibleHolding, EligibleView, IndicativePremium, QuoteResult,
    QuoteView, Validity, VolatilityView, greeks_view, regime_color,
};
use crate::portfolio::{PortfolioResult, PortfolioService};
use crate::ports::{ProtectionQuoteRecord, QuoteState};

impl ProtectionService {
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
}
