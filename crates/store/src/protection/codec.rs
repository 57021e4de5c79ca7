//! Protection rows (business-rules §8): the column values of a protection, the decoding of a
//! row, and the JSON document of a quote's terms.

use anyhow::{Context, anyhow};
use blu_app::ports::{ProtectionQuoteRecord, ProtectionRecord, QuoteState, RegimeSetting};
use blu_domain::AssetId;
use blu_domain::protection::{
    BlackScholesBreakdown, Coverage, Greeks, Premium, PricingModel, Protection, ProtectionDuration,
    ProtectionQuote, ProtectionStatus, ProtectionTerms, Settlement, VolatilityRegime,
};
use rust_decimal::Decimal;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::codec::{dec_text, ts_text};
use crate::driver::{Arg, FromRow, Row};
use crate::portfolio::codec as pc;

/// The selected columns of a protection row, in `protection_values` order.
macro_rules! protection_columns {
    () => {
        "id, portfolio_id, holding_id, asset_id, coverage_pct, \
     protected_quantity, notional_irr, notional_usd, strike_usd, strike_irr, duration_days, \
     start_at, expires_at, premium_irr, premium_usd, premium_pct, pricing_model, \
     implied_volatility, volatility_regime, greek_delta, greek_gamma, greek_vega, greek_theta, \
     greek_rho, quote_id, status, cancelled_at, settled_at, settlement_price_usd, \
     settlement_fx_rate, settlement_held_quantity, payout_usd, payout_irr, created_at"
    };
}
pub(super) use protection_columns;

/// A `volatility_regimes` row (`asset_id, regime, reason, set_at`).
pub fn regime_row(r: &Row) -> anyhow::Result<RegimeSetting> {
    let regime = r.text("regime")?;
    Ok(RegimeSetting {
        asset: pc::asset(&r.text("asset_id")?)?,
        regime: VolatilityRegime::parse(&regime)
            .ok_or_else(|| anyhow!("unknown stored regime {regime:?}"))?,
        reason: r.opt_text("reason")?,
        set_at: r.ts("set_at")?,
    })
}

fn enum_text<T: serde::Serialize>(value: T) -> String {
    match serde_json::to_value(value) {
        Ok(Value::String(s)) => s,
        _ => String::new(),
    }
}

fn parse_enum<T: DeserializeOwned>(text: &str) -> anyhow::Result<T> {
    serde_json::from_value(Value::String(text.to_owned()))
        .with_context(|| format!("unknown stored value {text:?}"))
}

/// The column values of a protection, in `protection_columns!()` order (created_at last);
/// `updated_at` is `created_at`'s value at insert.
pub fn protection_values(r: &ProtectionRecord) -> Vec<Arg> {
    let p = &r.protection;
    let s = p.settlement.as_ref();
    vec![
        r.id.into(),
        r.portfolio_id.into(),
        r.holding_id.into(),
        p.terms.asset.as_str().into(),
        p.terms.coverage.value().into(),
        p.terms.protected_quantity.value().into(),
        p.terms.notional_irr.value().into(),
        p.terms.notional_usd.into(),
        p.terms.strike_usd.into(),
        p.terms.strike_irr.into(),
        i32::try_from(p.terms.duration.days())
            .unwrap_or(i32::MAX)
            .into(),
        p.start_at.into(),
        p.expires_at.into(),
        p.premium.premium_irr.value().into(),
        p.premium.premium_usd.into(),
        p.premium.premium_pct.into(),
        enum_text(p.premium.model).into(),
        p.premium.implied_volatility.into(),
        enum_text(p.premium.regime).into(),
        p.premium.greeks.delta.into(),
        p.premium.greeks.gamma.into(),
        p.premium.greeks.vega.into(),
        p.premium.greeks.theta.into(),
        p.premium.greeks.rho.into(),
        r.quote_id.clone().into(),
        enum_text(p.status).into(),
        p.cancelled_at.into(),
        s.map(|s| s.settled_at).into(),
        s.map(|s| s.spot_usd).into(),
        s.map(|s| s.fx_rate).into(),
        s.map(|s| s.held_quantity.value()).into(),
        s.map(|s| s.payout_usd).into(),
        s.map(|s| s.payout_irr.value()).into(),
        r.created_at.into(),
    ]
}

/// Decodes a row selected with `protection_columns!()`.
pub fn protection_row(r: &Row) -> anyhow::Result<ProtectionRecord> {
    let asset = pc::asset(&r.text("asset_id")?)?;
    let protected_quantity = pc::quantity(r.dec("protected_quantity")?)?;
    let strike_usd = r.dec("strike_usd")?;
    let strike_irr = r.dec("strike_irr")?;
    let status: ProtectionStatus = parse_enum(&r.text("status")?)?;
    let settlement = match r.opt_ts("settled_at")? {
        Some(settled_at) => Some(Settlement {
            spot_usd: r.opt_dec("settlement_price_usd")?.unwrap_or_default(),
            fx_rate: r.opt_dec("settlement_fx_rate")?.unwrap_or_default(),
            held_quantity: pc::quantity(
                r.opt_dec("settlement_held_quantity")?.unwrap_or_default(),
            )?,
            payout_usd: r.opt_dec("payout_usd")?.unwrap_or_default(),
            payout_irr: pc::irr(r.opt_dec("payout_irr")?.unwrap_or_default())?,
            outcome: status,
            settled_at,
        }),
        None => None,
    };
    let protection = Protection {
        terms: ProtectionTerms {
            asset,
            coverage: Coverage::new(r.dec("coverage_pct")?).map_err(|e| anyhow!("{e}"))?,
            duration: ProtectionDuration::from_days(r.int("duration_days")?)
                .map_err(|e| anyhow!("{e}"))?,
            holding_quantity: protected_quantity,
            protected_quantity,
            spot_usd: strike_usd,
            spot_irr: strike_irr,
            notional_usd: r.dec("notional_usd")?,
            notional_irr: pc::irr(r.dec("notional_irr")?)?,
            strike_usd,
            strike_irr,
        },
        premium: Premium {
            model: parse_enum(&r.text("pricing_model")?)?,
            premium_pct: r.dec("premium_pct")?,
            premium_irr: pc::irr(r.dec("premium_irr")?)?,
            premium_usd: r.dec("premium_usd")?,
            implied_volatility: r.dec("implied_volatility")?,
            regime: parse_enum(&r.text("volatility_regime")?)?,
            greeks: Greeks {
                d1: Decimal::ZERO,
                delta: r.dec("greek_delta")?,
                gamma: r.dec("greek_gamma")?,
                vega: r.dec("greek_vega")?,
                theta: r.dec("greek_theta")?,
                rho: r.dec("greek_rho")?,
            },
            black_scholes: None,
        },
        start_at: r.ts("start_at")?,
        expires_at: r.ts("expires_at")?,
        status,
        cancelled_at: r.opt_ts("cancelled_at")?,
        settlement,
    };
    Ok(ProtectionRecord {
        id: r.uuid("id")?,
        portfolio_id: r.uuid("portfolio_id")?,
        holding_id: r.opt_uuid("holding_id")?,
        quote_id: r.opt_text("quote_id")?,
        protection,
        created_at: r.ts("created_at")?,
    })
}

fn d(value: Decimal) -> Value {
    Value::String(dec_text(value))
}

/// The `terms` document of a quote: every input and pricing output, decimals as strings.
pub fn quote_terms_json(q: &ProtectionQuote) -> Value {
    let t = &q.terms;
    let p = &q.premium;
    let g = &p.greeks;
    json!({
        "assetId": t.asset.as_str(),
        "coveragePct": d(t.coverage.value()),
        "durationDays": t.duration.days(),
        "holdingQuantity": d(t.holding_quantity.value()),
        "protectedQuantity": d(t.protected_quantity.value()),
        "spotUsd": d(t.spot_usd),
        "spotIrr": d(t.spot_irr),
        "notionalUsd": d(t.notional_usd),
        "notionalIrr": d(t.notional_irr.value()),
        "strikeUsd": d(t.strike_usd),
        "strikeIrr": d(t.strike_irr),
        "model": enum_text(p.model),
        "premiumPct": d(p.premium_pct),
        "premiumIrr": d(p.premium_irr.value()),
        "premiumUsd": d(p.premium_usd),
        "impliedVolatility": d(p.implied_volatility),
        "regime": enum_text(p.regime),
        "greeks": {"d1": d(g.d1), "delta": d(g.delta), "gamma": d(g.gamma), "vega": d(g.vega),
                   "theta": d(g.theta), "rho": d(g.rho)},
        "blackScholes": p.black_scholes.map(|b| json!({"fair": d(b.fair), "raw": d(b.raw),
            "lowerBound": d(b.lower_bound), "upperBound": d(b.upper_bound)})),
        "quotedAt": ts_text(q.quoted_at),
        "validUntil": ts_text(q.valid_until),
    })
}

fn field<'a>(v: &'a Value, path: &[&str]) -> anyhow::Result<&'a Value> {
    path.iter().try_fold(v, |v, k| {
        v.get(k).ok_or_else(|| anyhow!("quote terms lack {k}"))
    })
}

fn dec_at(v: &Value, path: &[&str]) -> anyhow::Result<Decimal> {
    let text = field(v, path)?
        .as_str()
        .ok_or_else(|| anyhow!("quote terms {path:?} is not a string"))?;
    crate::codec::parse_dec_text(text)
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> anyhow::Result<&'a str> {
    field(v, path)?
        .as_str()
        .ok_or_else(|| anyhow!("quote terms {path:?} is not a string"))
}

/// Decodes the `terms` document written by [`quote_terms_json`].
pub fn quote_from_json(v: &Value) -> anyhow::Result<ProtectionQuote> {
    let asset: AssetId = pc::asset(str_at(v, &["assetId"])?)?;
    let days = field(v, &["durationDays"])?
        .as_i64()
        .ok_or_else(|| anyhow!("quote terms durationDays"))?;
    let black_scholes = match v.get("blackScholes") {
        Some(b) if !b.is_null() => Some(BlackScholesBreakdown {
            fair: dec_at(b, &["fair"])?,
            raw: dec_at(b, &["raw"])?,
            lower_bound: dec_at(b, &["lowerBound"])?,
            upper_bound: dec_at(b, &["upperBound"])?,
        }),
        _ => None,
    };
    let model: PricingModel = parse_enum(str_at(v, &["model"])?)?;
    let regime: VolatilityRegime = parse_enum(str_at(v, &["regime"])?)?;
    Ok(ProtectionQuote {
        terms: ProtectionTerms {
            asset,
            coverage: Coverage::new(dec_at(v, &["coveragePct"])?).map_err(|e| anyhow!("{e}"))?,
            duration: ProtectionDuration::from_days(days).map_err(|e| anyhow!("{e}"))?,
            holding_quantity: pc::quantity(dec_at(v, &["holdingQuantity"])?)?,
            protected_quantity: pc::quantity(dec_at(v, &["protectedQuantity"])?)?,
            spot_usd: dec_at(v, &["spotUsd"])?,
            spot_irr: dec_at(v, &["spotIrr"])?,
            notional_usd: dec_at(v, &["notionalUsd"])?,
            notional_irr: pc::irr(dec_at(v, &["notionalIrr"])?)?,
            strike_usd: dec_at(v, &["strikeUsd"])?,
            strike_irr: dec_at(v, &["strikeIrr"])?,
        },
        premium: Premium {
            model,
            premium_pct: dec_at(v, &["premiumPct"])?,
            premium_irr: pc::irr(dec_at(v, &["premiumIrr"])?)?,
            premium_usd: dec_at(v, &["premiumUsd"])?,
            implied_volatility: dec_at(v, &["impliedVolatility"])?,
            regime,
            greeks: Greeks {
                d1: dec_at(v, &["greeks", "d1"])?,
                delta: dec_at(v, &["greeks", "delta"])?,
                gamma: dec_at(v, &["greeks", "gamma"])?,
                vega: dec_at(v, &["greeks", "vega"])?,
                theta: dec_at(v, &["greeks", "theta"])?,
                rho: dec_at(v, &["greeks", "rho"])?,
            },
            black_scholes,
        },
        quoted_at: crate::codec::parse_ts_text(str_at(v, &["quotedAt"])?)?,
        valid_until: crate::codec::parse_ts_text(str_at(v, &["validUntil"])?)?,
    })
}

/// The column values of a new quote: id, user, portfolio, holding, asset, coverage, days,
/// premium, terms, expires_at, created_at.
pub fn quote_values(q: &ProtectionQuoteRecord) -> Vec<Arg> {
    vec![
        q.id.as_str().into(),
        q.user_id.into(),
        q.portfolio_id.into(),
        q.holding_id.into(),
        q.quote.terms.asset.as_str().into(),
        q.quote.terms.coverage.value().into(),
        i32::try_from(q.quote.terms.duration.days())
            .unwrap_or(i32::MAX)
            .into(),
        q.quote.premium.premium_irr.value().into(),
        quote_terms_json(&q.quote).into(),
        q.quote.valid_until.into(),
        q.quote.quoted_at.into(),
    ]
}

/// Decodes a quote row (`id, user_id, portfolio_id, holding_id, terms, state`).
pub fn quote_row(r: &Row) -> anyhow::Result<ProtectionQuoteRecord> {
    let state = r.text("state")?;
    Ok(ProtectionQuoteRecord {
        id: r.text("id")?,
        user_id: r.uuid("user_id")?,
        portfolio_id: r.uuid("portfolio_id")?,
        holding_id: r.uuid("holding_id")?,
        quote: quote_from_json(&r.json("terms")?)?,
        state: QuoteState::parse(&state).ok_or_else(|| anyhow!("quote state {state:?}"))?,
    })
}

impl FromRow for ProtectionRecord {
    fn from_row(r: Row) -> anyhow::Result<ProtectionRecord> {
        protection_row(&r)
    }
}

impl FromRow for ProtectionQuoteRecord {
    fn from_row(r: Row) -> anyhow::Result<ProtectionQuoteRecord> {
        quote_row(&r)
    }
}

impl FromRow for RegimeSetting {
    fn from_row(r: Row) -> anyhow::Result<RegimeSetting> {
        regime_row(&r)
    }
}
