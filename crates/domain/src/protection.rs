//! Protection: a cash-settled, at-the-money European put on part of a holding
//! (business-rules §8; decisions D11, D25–D27; api.md §2.3 and §10).
//!
//! Terms (§8.1), the quote checks (§8.2), the two premium models behind one enum (§8.3),
//! implied volatility and greeks (§8.4), quote matching and purchase (§8.5), payout at expiry
//! (§8.6) and cancellation (§8.7). Money stays decimal throughout; `f64` appears only inside
//! the transcendental parts of Black–Scholes (√, exp, the normal CDF and density), and those
//! results are quantized (8 dp for pricing inputs, 12 significant digits for greeks) before they
//! meet any other number. Ownership, quote reservation and price freshness are the caller's.

use rust_decimal::Decimal;
use rust_decimal::prelude::{FromPrimitive, ToPrimitive};
use rust_decimal_macros::dec;
use serde::{Deserialize, Serialize};

use crate::asset::AssetId;
use crate::error::{ErrorCode, RuleResult, RuleViolation};
use crate::money::{Irr, Quantity, checked_ratio, round_half_up};
use crate::num::Num;
use crate::portfolio::AssetPrice;
use crate::time::Timestamp;

/// Smallest coverage, as a fraction of the holding (D25).
pub const MIN_COVERAGE: Decimal = dec!(0.10);
/// Largest coverage: the whole holding.
pub const MAX_COVERAGE: Decimal = dec!(1.00);
/// Coverage step advertised to clients (`coverageRange.step`); not enforced, because any
/// coverage inside the range prices and settles correctly.
pub const COVERAGE_STEP: Decimal = dec!(0.05);
/// The only durations offered, in days (D25; no lossy day↔month conversions, §12 item 38).
pub const DURATION_PRESETS_DAYS: [i64; 6] = [30, 60, 90, 120, 150, 180];
/// Smallest notional a protection may cover, in rials.
pub const MIN_NOTIONAL_IRR: i64 = 1_000_000;
/// A quote is valid this long (D25).
pub const QUOTE_VALIDITY_SECONDS: i64 = 300;
/// A purchase's coverage may differ from the quote's by at most this much (§8.5 step 3).
pub const COVERAGE_MATCH_TOLERANCE: Decimal = dec!(0.001);
/// Risk-free rate of the Black–Scholes model.
pub const RISK_FREE_RATE: Decimal = dec!(0.045);
/// Global floor of the 30-day premium (§2.2).
pub const GLOBAL_MIN_PREMIUM_30D: Decimal = dec!(0.025);

/// Decimal places of pricing ratios (fair value, bounds, premiumPct, IV).
const RATIO_DP: u32 = 8;
/// Significant digits kept on greeks (≥ 10 required, §8.4 and §12 item 45).
const GREEK_SIGNIFICANT_DIGITS: u32 = 12;

/// Coverage `c`, a fraction of the holding in [0.10, 1.00].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Coverage(Decimal);

impl Coverage {
    /// Validates `coveragePct` (§8.2 check 1).
    pub fn new(fraction: Decimal) -> RuleResult<Coverage> {
        if (MIN_COVERAGE..=MAX_COVERAGE).contains(&fraction) {
            Ok(Coverage(fraction.normalize()))
        } else {
            Err(
                RuleViolation::invalid_field("coveragePct", "must be between 0.1 and 1")
                    .with("min", Num(MIN_COVERAGE))
                    .with("max", Num(MAX_COVERAGE)),
            )
        }
    }

    pub fn value(self) -> Decimal {
        self.0
    }
}

/// A protection duration: one of the six presets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProtectionDuration(i64);

impl ProtectionDuration {
    /// Validates `durationDays` (§8.2 check 1).
    pub fn from_days(days: i64) -> RuleResult<ProtectionDuration> {
        if DURATION_PRESETS_DAYS.contains(&days) {
            Ok(ProtectionDuration(days))
        } else {
            Err(RuleViolation::invalid_field(
                "durationDays",
                "must be 30, 60, 90, 120, 150 or 180",
            ))
        }
    }

    /// Validates `durationMonths` 1–6, exactly 30 days each.
    pub fn from_months(months: i64) -> RuleResult<ProtectionDuration> {
        if (1..=6).contains(&months) {
            Ok(ProtectionDuration(months * 30))
        } else {
            Err(RuleViolation::invalid_field(
                "durationMonths",
                "must be between 1 and 6",
            ))
        }
    }

    pub fn days(self) -> i64 {
        self.0
    }

    pub fn months(self) -> i64 {
        self.0 / 30
    }
}

/// Volatility regime of an asset (ops setting, default NORMAL), scaling the implied volatility.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "UPPERCASE")]
pub enum VolatilityRegime {
    Low,
    #[default]
    Normal,
    Elevated,
    High,
    Extreme,
}

impl VolatilityRegime {
    /// Every regime, calmest first.
    pub const ALL: [VolatilityRegime; 5] = [
        VolatilityRegime::Low,
        VolatilityRegime::Normal,
        VolatilityRegime::Elevated,
        VolatilityRegime::High,
        VolatilityRegime::Extreme,
    ];

    /// The wire and stored name (`LOW` … `EXTREME`).
    pub fn as_str(self) -> &'static str {
        match self {
            VolatilityRegime::Low => "LOW",
            VolatilityRegime::Normal => "NORMAL",
            VolatilityRegime::Elevated => "ELEVATED",
            VolatilityRegime::High => "HIGH",
            VolatilityRegime::Extreme => "EXTREME",
        }
    }

    /// The regime named exactly `text` (upper case), if any.
    pub fn parse(text: &str) -> Option<VolatilityRegime> {
        VolatilityRegime::ALL
            .into_iter()
            .find(|r| r.as_str() == text)
    }

    pub fn multiplier(self) -> Decimal {
        match self {
            VolatilityRegime::Low => dec!(0.85),
            VolatilityRegime::Normal => dec!(1.00),
            VolatilityRegime::Elevated => dec!(1.15),
            VolatilityRegime::High => dec!(1.35),
            VolatilityRegime::Extreme => dec!(1.60),
        }
    }
}

/// The terms of a protection on one holding at one spot price (§8.1). Strike is at the money.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProtectionTerms {
    pub asset: AssetId,
    pub coverage: Coverage,
    pub duration: ProtectionDuration,
    pub holding_quantity: Quantity,
    /// `floor8(holdingQuantity × c)`.
    pub protected_quantity: Quantity,
    /// Spot `S` in USD.
    pub spot_usd: Decimal,
    /// Spot `S_irr` in IRR.
    pub spot_irr: Decimal,
    /// `protectedQuantity × S`, exact.
    pub notional_usd: Decimal,
    /// `round(protectedQuantity × S_irr)`.
    pub notional_irr: Irr,
    /// `K = S`.
    pub strike_usd: Decimal,
    pub strike_irr: Decimal,
}

impl ProtectionTerms {
    /// Computes the terms without any eligibility check (use [`quote_terms`] for the checked
    /// path).
    pub fn new(
        asset: AssetId,
        holding_quantity: Quantity,
        coverage: Coverage,
        duration: ProtectionDuration,
        price: AssetPrice,
    ) -> ProtectionTerms {
        let protected_quantity = Quantity::floor8(holding_quantity.value() * coverage.value());
        ProtectionTerms {
            asset,
            coverage,
            duration,
            holding_quantity,
            protected_quantity,
            spot_usd: price.price_usd,
            spot_irr: price.price_irr,
            notional_usd: (protected_quantity.value() * price.price_usd).normalize(),
            notional_irr: protected_quantity.value_at(price.price_irr),
            strike_usd: price.price_usd,
            strike_irr: price.price_irr,
        }
    }

    /// `fx = S_irr / S`; `None` for a non-positive spot (bad data, never priced).
    pub fn fx_rate(&self) -> Option<Decimal> {
        (self.spot_usd > Decimal::ZERO).then(|| self.spot_irr / self.spot_usd)
    }
}

/// The quote checks of §8.2 that are rules rather than plumbing, in order: check 1 happened when
/// `coverage` and `duration` were parsed; then 3 (asset eligible), 4 (no ACTIVE protection on
/// the holding) and 6 (notional ≥ 1,000,000 IRR). Ownership (2) and freshness (5) are the
/// caller's.
pub fn quote_terms(
    asset: AssetId,
    holding_quantity: Quantity,
    already_protected: bool,
    coverage: Coverage,
    duration: ProtectionDuration,
    price: AssetPrice,
) -> RuleResult<ProtectionTerms> {
    check_eligible(asset)?;
    check_not_protected(already_protected)?;
    let terms = ProtectionTerms::new(asset, holding_quantity, coverage, duration, price);
    if terms.notional_irr < Irr::new(MIN_NOTIONAL_IRR) {
        return Err(RuleViolation::new(
            ErrorCode::ProtectionNotEligible,
            "The protected value must be at least 1,000,000 IRR.",
        )
        .with("minNotionalIrr", Irr::new(MIN_NOTIONAL_IRR))
        .with("notionalIrr", terms.notional_irr));
    }
    Ok(terms)
}

fn check_eligible(asset: AssetId) -> RuleResult<()> {
    if asset.asset().protection_eligible() {
        Ok(())
    } else {
        Err(RuleViolation::new(
            ErrorCode::ProtectionNotEligible,
            format!("{asset} cannot be protected."),
        )
        .with("assetId", asset))
    }
}

fn check_not_protected(already_protected: bool) -> RuleResult<()> {
    if already_protected {
        Err(RuleViolation::new(
            ErrorCode::ProtectionExists,
            "This holding is already protected.",
        ))
    } else {
        Ok(())
    }
}

/// Which premium model prices quotes (`PROTECTION_PRICING_MODEL`, D26).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PricingModel {
    /// `premiumPct = monthlyRate(layer) × days / 30` (the default).
    #[default]
    LayerRate,
    /// Fair value of the at-the-money put plus spread and margin, clamped to √-scaled bounds.
    BlackScholes,
}

/// Greeks of the at-the-money put on one unit of the underlying, in USD (§8.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Greeks {
    pub d1: Decimal,
    /// `N(d1) − 1`.
    pub delta: Decimal,
    /// Per USD.
    pub gamma: Decimal,
    /// Per volatility point.
    pub vega: Decimal,
    /// Per calendar day.
    pub theta: Decimal,
    /// Per rate point.
    pub rho: Decimal,
}

/// The intermediate numbers of the Black–Scholes model, kept for audit and tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlackScholesBreakdown {
    /// Fair put value as a fraction of notional, 8 dp.
    pub fair: Decimal,
    /// `fair + executionSpread + margin × days`.
    pub raw: Decimal,
    /// `max(min30, 0.025) × √(days/30)`, 8 dp.
    pub lower_bound: Decimal,
    /// `max30 × √(days/30)`, 8 dp.
    pub upper_bound: Decimal,
}

/// A priced premium (§8.3–8.4), identical in shape under both models.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Premium {
    pub model: PricingModel,
    /// Fraction of notional, 8 dp.
    pub premium_pct: Decimal,
    /// `round(notionalIrr × premiumPct)`.
    pub premium_irr: Irr,
    /// `notionalUsd × premiumPct`, half-up to 2 dp.
    pub premium_usd: Decimal,
    /// The Black–Scholes IV, reported under both models.
    pub implied_volatility: Decimal,
    pub regime: VolatilityRegime,
    pub greeks: Greeks,
    /// Present under BLACK_SCHOLES only.
    pub black_scholes: Option<BlackScholesBreakdown>,
}

impl Premium {
    /// `annualizedPct = premiumPct × 365 / days` (api.md §10), full precision.
    pub fn annualized_pct(&self, duration: ProtectionDuration) -> Decimal {
        self.premium_pct * dec!(365) / Decimal::from(duration.days())
    }
}

impl PricingModel {
    /// `premiumPct` for an asset and duration (§8.3).
    ///
    /// # Panics
    /// Under BLACK_SCHOLES when the asset is not protection-eligible (it has no spread or
    /// bounds); [`quote_terms`] refuses such assets first.
    pub fn premium_pct(
        self,
        asset: AssetId,
        duration: ProtectionDuration,
        regime: VolatilityRegime,
    ) -> Decimal {
        match self {
            PricingModel::LayerRate => layer_rate_premium_pct(asset, duration),
            PricingModel::BlackScholes => black_scholes_premium(asset, duration, regime).0,
        }
    }

    /// Prices the terms: premium in both currencies, IV, regime and greeks (§8.3–8.4).
    ///
    /// # Panics
    /// Under BLACK_SCHOLES when the asset is not protection-eligible, as [`Self::premium_pct`].
    pub fn price(self, terms: &ProtectionTerms, regime: VolatilityRegime) -> Premium {
        let (premium_pct, black_scholes) = match self {
            PricingModel::LayerRate => (layer_rate_premium_pct(terms.asset, terms.duration), None),
            PricingModel::BlackScholes => {
                let (pct, breakdown) = black_scholes_premium(terms.asset, terms.duration, regime);
                (pct, Some(breakdown))
            }
        };
        let implied_volatility = implied_volatility(terms.asset, terms.duration, regime);
        Premium {
            model: self,
            premium_pct,
            premium_irr: terms.notional_irr.mul_round(premium_pct),
            premium_usd: round_half_up(terms.notional_usd * premium_pct, 2).normalize(),
            implied_volatility,
            regime,
            greeks: greeks(terms.spot_usd, implied_volatility, terms.duration),
            black_scholes,
        }
    }
}

/// LAYER_RATE: `monthlyRate(layer) × days / 30`.
pub fn layer_rate_premium_pct(asset: AssetId, duration: ProtectionDuration) -> Decimal {
    let rate = asset.asset().layer.params().protection_monthly_rate;
    (rate * Decimal::from(duration.days()) / dec!(30)).normalize()
}

/// Term-structure knots of the IV multiplier (days, multiplier).
const TERM_KNOTS: [(i64, Decimal); 6] = [
    (7, dec!(1.20)),
    (14, dec!(1.12)),
    (30, dec!(1.00)),
    (60, dec!(0.95)),
    (90, dec!(0.92)),
    (180, dec!(0.88)),
];

/// `term(days)`: the knots, linear in between, clamped outside 7–180 days. Exact decimal.
pub fn term_multiplier(days: i64) -> Decimal {
    let (first, last) = (TERM_KNOTS[0], TERM_KNOTS[TERM_KNOTS.len() - 1]);
    if days <= first.0 {
        return first.1;
    }
    if days >= last.0 {
        return last.1;
    }
    let upper = TERM_KNOTS
        .iter()
        .position(|(d, _)| *d >= days)
        .expect("days is inside the knots");
    let (d0, m0) = TERM_KNOTS[upper - 1];
    let (d1, m1) = TERM_KNOTS[upper];
    m0 + (m1 - m0) * Decimal::from(days - d0) / Decimal::from(d1 - d0)
}

/// `IV = impliedVol(asset) × term(days) × regime × skew` (skew = 1 at the money), rounded
/// half-up to 8 dp: the stored ratio precision, and the value both the premium and the greeks
/// use, so a quote's reported IV is exactly the one it was priced with (the §8.3 table holds at
/// 4 dp of a percent with this rounding).
pub fn implied_volatility(
    asset: AssetId,
    duration: ProtectionDuration,
    regime: VolatilityRegime,
) -> Decimal {
    let iv =
        asset.asset().implied_volatility * term_multiplier(duration.days()) * regime.multiplier();
    round_half_up(iv, RATIO_DP).normalize()
}

/// BLACK_SCHOLES: `premiumPct = clamp(fair + spread + margin × days, lo, hi)`, all at 8 dp.
fn black_scholes_premium(
    asset: AssetId,
    duration: ProtectionDuration,
    regime: VolatilityRegime,
) -> (Decimal, BlackScholesBreakdown) {
    let params = asset
        .asset()
        .protection
        .as_ref()
        .expect("only protection-eligible assets are priced");
    let days = duration.days();
    let iv = implied_volatility(asset, duration, regime);
    let fair = quantize8(atm_put_fraction(to_f64(iv), years(days)));
    let margin = asset.asset().layer.params().protection_margin_per_day;
    let raw = fair + params.execution_spread + margin * Decimal::from(days);
    let scale = quantize8((days as f64 / 30.0).sqrt());
    let lower_bound = round_half_up(
        params.min_premium_30d.max(GLOBAL_MIN_PREMIUM_30D) * scale,
        RATIO_DP,
    );
    let upper_bound = round_half_up(params.max_premium_30d * scale, RATIO_DP);
    let premium_pct = round_half_up(raw.max(lower_bound).min(upper_bound), RATIO_DP).normalize();
    (
        premium_pct,
        BlackScholesBreakdown {
            fair,
            raw,
            lower_bound,
            upper_bound,
        },
    )
}

fn years(days: i64) -> f64 {
    days as f64 / 365.0
}

fn to_f64(d: Decimal) -> f64 {
    d.to_f64().expect("ratios fit in f64")
}

/// Quantizes a transcendental result to 8 dp, half-up.
fn quantize8(x: f64) -> Decimal {
    round_half_up(Decimal::from_f64(x).expect("finite"), RATIO_DP)
}

/// Keeps `GREEK_SIGNIFICANT_DIGITS` significant digits of a greek.
fn significant(x: f64) -> Decimal {
    // A non-finite or unrepresentable greek reads 0 rather than failing the quote (D41); with
    // positive volatility and duration (always, from the registry and the presets) it is finite.
    let Some(d) = Decimal::from_f64(x) else {
        return Decimal::ZERO;
    };
    d.round_sf(GREEK_SIGNIFICANT_DIGITS)
        .unwrap_or(d)
        .normalize()
}

/// `d1` and `d2` of an at-the-money option (S = K), `T` in years.
fn d1_d2(iv: f64, t: f64) -> (f64, f64) {
    let r = to_f64(RISK_FREE_RATE);
    let vol_sqrt_t = iv * t.sqrt();
    let d1 = (r + iv * iv / 2.0) * t / vol_sqrt_t;
    (d1, d1 - vol_sqrt_t)
}

/// `fair = e^(−rT)·N(−d2) − N(−d1)`: the at-the-money put as a fraction of notional.
fn atm_put_fraction(iv: f64, t: f64) -> f64 {
    let r = to_f64(RISK_FREE_RATE);
    let (d1, d2) = d1_d2(iv, t);
    (-r * t).exp() * normal_cdf(-d2) - normal_cdf(-d1)
}

/// The standard normal CDF by Abramowitz–Stegun 7.1.26 (the spec's `N`, max error ≈ 1.5e-7).
pub fn normal_cdf(x: f64) -> f64 {
    let z = x.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * z);
    let poly = ((((1.061_405_429 * t - 1.453_152_027) * t + 1.421_413_741) * t - 0.284_496_736)
        * t
        + 0.254_829_592)
        * t;
    let y = 1.0 - poly * (-z * z).exp();
    0.5 * (1.0 + x.signum() * y)
}

/// The standard normal density φ.
fn normal_pdf(x: f64) -> f64 {
    (-x * x / 2.0).exp() / (2.0 * std::f64::consts::PI).sqrt()
}

/// Greeks of the at-the-money put on one unit at spot `S = K` (§8.4), 12 significant digits.
/// They are undefined for a non-positive spot or volatility; then every greek is 0 rather than
/// a panic, because greeks are informational and such a quote fails its notional check anyway.
pub fn greeks(
    spot_usd: Decimal,
    implied_volatility: Decimal,
    duration: ProtectionDuration,
) -> Greeks {
    if spot_usd <= Decimal::ZERO || implied_volatility <= Decimal::ZERO {
        return Greeks {
            d1: Decimal::ZERO,
            delta: Decimal::ZERO,
            gamma: Decimal::ZERO,
            vega: Decimal::ZERO,
            theta: Decimal::ZERO,
            rho: Decimal::ZERO,
        };
    }
    let (s, iv, t) = (
        to_f64(spot_usd),
        to_f64(implied_volatility),
        years(duration.days()),
    );
    let r = to_f64(RISK_FREE_RATE);
    let k = s;
    let (d1, d2) = d1_d2(iv, t);
    let pdf = normal_pdf(d1);
    let discount = (-r * t).exp();
    Greeks {
        d1: significant(d1),
        delta: significant(normal_cdf(d1) - 1.0),
        gamma: significant(pdf / (s * iv * t.sqrt())),
        vega: significant(s * pdf * t.sqrt() / 100.0),
        theta: significant(
            (-s * pdf * iv / (2.0 * t.sqrt()) + r * k * discount * normal_cdf(-d2)) / 365.0,
        ),
        rho: significant(-k * t * discount * normal_cdf(-d2) / 100.0),
    }
}

/// A priced quote (§8.2): terms plus every pricing output, valid for 5 minutes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProtectionQuote {
    pub terms: ProtectionTerms,
    pub premium: Premium,
    pub quoted_at: Timestamp,
    pub valid_until: Timestamp,
}

impl ProtectionQuote {
    /// Past `validUntil` (then 410 `QUOTE_EXPIRED`, a caller's code).
    pub fn is_expired(&self, now: Timestamp) -> bool {
        now > self.valid_until
    }
}

/// Quotes a protection: the §8.2 checks ([`quote_terms`]) and the chosen model's price.
#[allow(clippy::too_many_arguments)]
pub fn quote_protection(
    asset: AssetId,
    holding_quantity: Quantity,
    already_protected: bool,
    coverage: Coverage,
    duration: ProtectionDuration,
    price: AssetPrice,
    model: PricingModel,
    regime: VolatilityRegime,
    now: Timestamp,
) -> RuleResult<ProtectionQuote> {
    let terms = quote_terms(
        asset,
        holding_quantity,
        already_protected,
        coverage,
        duration,
        price,
    )?;
    let premium = model.price(&terms, regime);
    Ok(ProtectionQuote {
        terms,
        premium,
        quoted_at: now,
        valid_until: now.plus_seconds(QUOTE_VALIDITY_SECONDS),
    })
}

/// §8.5 step 1: the user must acknowledge the premium.
pub fn check_acknowledged(acknowledged_premium: bool) -> RuleResult<()> {
    if acknowledged_premium {
        Ok(())
    } else {
        Err(RuleViolation::new(
            ErrorCode::AcknowledgmentRequired,
            "Please confirm the protection cost.",
        ))
    }
}

/// The optional terms a purchase request may repeat from its quote (§8.5). `H` is the caller's
/// holding id type.
#[derive(Clone, Debug, PartialEq)]
pub struct PurchaseTerms<H> {
    pub holding_id: Option<H>,
    pub coverage: Option<Decimal>,
    pub duration_days: Option<i64>,
    pub premium_irr: Option<Irr>,
}

/// §8.5 step 3: every term the request sends must equal the quote — the holding and duration
/// exactly, the coverage within ±0.001, the premium exactly. The first mismatch, in that order,
/// is reported as `QUOTE_MISMATCH` with `field`, `quoted` and `requested`.
pub fn check_quote_matches<H: PartialEq + Serialize>(
    quote: &ProtectionQuote,
    quote_holding_id: &H,
    request: &PurchaseTerms<H>,
) -> RuleResult<()> {
    let mismatch = |field: &str, quoted: serde_json::Value, requested: serde_json::Value| {
        Err(RuleViolation::new(
            ErrorCode::QuoteMismatch,
            "The request does not match the quote. Please get a new quote.",
        )
        .with("field", field)
        .with("quoted", quoted)
        .with("requested", requested))
    };
    if let Some(holding) = &request.holding_id
        && holding != quote_holding_id
    {
        return mismatch("holdingId", json(quote_holding_id), json(holding));
    }
    let quoted_coverage = quote.terms.coverage.value();
    if let Some(coverage) = request.coverage
        && (coverage - quoted_coverage).abs() > COVERAGE_MATCH_TOLERANCE
    {
        return mismatch(
            "coveragePct",
            json(&Num(quoted_coverage)),
            json(&Num(coverage)),
        );
    }
    let quoted_days = quote.terms.duration.days();
    if let Some(days) = request.duration_days
        && days != quoted_days
    {
        return mismatch("durationDays", json(&quoted_days), json(&days));
    }
    if let Some(premium) = request.premium_irr
        && premium != quote.premium.premium_irr
    {
        return mismatch(
            "premiumIrr",
            json(&quote.premium.premium_irr),
            json(&premium),
        );
    }
    Ok(())
}

fn json<T: Serialize + ?Sized>(value: &T) -> serde_json::Value {
    serde_json::to_value(value).unwrap_or(serde_json::Value::Null)
}

/// Protection status (api.md §1.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum ProtectionStatus {
    Active,
    Expired,
    Exercised,
    Cancelled,
}

/// The settlement at expiry (§8.6).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settlement {
    pub spot_usd: Decimal,
    pub fx_rate: Decimal,
    pub held_quantity: Quantity,
    /// `max(0, K − S_T) × min(protectedQuantity, held_T)`, exact.
    pub payout_usd: Decimal,
    /// `round(payoutUsd × FX_T)`.
    pub payout_irr: Irr,
    /// EXERCISED when the payout is positive, EXPIRED otherwise.
    pub outcome: ProtectionStatus,
    pub settled_at: Timestamp,
}

/// The payout of an expired protection (§8.6, D27): cash-settled at `S_T`, scaled down to the
/// units still held (frozen units count; 0 if sold).
pub fn payout(
    strike_usd: Decimal,
    protected_quantity: Quantity,
    spot_usd: Decimal,
    fx_rate: Decimal,
    held_quantity: Quantity,
) -> (Decimal, Irr) {
    let covered = protected_quantity.min(held_quantity).value();
    let payout_usd = ((strike_usd - spot_usd).max(Decimal::ZERO) * covered).normalize();
    (payout_usd, Irr::round(payout_usd * fx_rate))
}

/// A purchased protection. Identity (id, portfolio, holding, quote id) is the caller's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Protection {
    pub terms: ProtectionTerms,
    pub premium: Premium,
    pub start_at: Timestamp,
    /// `startAt + days × 86,400 s`.
    pub expires_at: Timestamp,
    pub status: ProtectionStatus,
    pub cancelled_at: Option<Timestamp>,
    pub settlement: Option<Settlement>,
}

/// §8.5 step 4, the rule checks inside the purchase transaction (the caller re-checks expiry
/// and freshness): eligibility, no ACTIVE protection on the holding, cash ≥ the quoted premium.
/// On success the caller deducts `premium.premium_irr` from cash.
pub fn purchase_protection(
    quote: &ProtectionQuote,
    already_protected: bool,
    cash: Irr,
    now: Timestamp,
) -> RuleResult<Protection> {
    check_eligible(quote.terms.asset)?;
    check_not_protected(already_protected)?;
    let premium = quote.premium.premium_irr;
    if cash < premium {
        return Err(RuleViolation::new(
            ErrorCode::InsufficientCash,
            "Not enough cash for this protection cost.",
        )
        .with("required", premium)
        .with("available", cash));
    }
    Ok(Protection {
        terms: quote.terms.clone(),
        premium: quote.premium.clone(),
        start_at: now,
        expires_at: now.plus_days(quote.terms.duration.days()),
        status: ProtectionStatus::Active,
        cancelled_at: None,
        settlement: None,
    })
}

impl Protection {
    /// Cancels an ACTIVE protection (§8.7): no refund.
    pub fn cancel(&mut self, now: Timestamp) -> RuleResult<()> {
        if self.status != ProtectionStatus::Active {
            return Err(RuleViolation::new(
                ErrorCode::ProtectionNotActive,
                "This protection is no longer active.",
            ));
        }
        self.status = ProtectionStatus::Cancelled;
        self.cancelled_at = Some(now);
        Ok(())
    }

    /// Settles at expiry (§8.6) with the first fresh price fetched at or after `expiresAt`.
    /// Returns `None` and changes nothing when the protection is not ACTIVE, has not expired
    /// yet, or the price predates the expiry (the job retries next tick).
    pub fn settle(
        &mut self,
        now: Timestamp,
        spot_usd: Decimal,
        fx_rate: Decimal,
        price_fetched_at: Timestamp,
        held_quantity: Quantity,
    ) -> Option<&Settlement> {
        if self.status != ProtectionStatus::Active
            || now < self.expires_at
            || price_fetched_at < self.expires_at
        {
            return None;
        }
        let (payout_usd, payout_irr) = payout(
            self.terms.strike_usd,
            self.terms.protected_quantity,
            spot_usd,
            fx_rate,
            held_quantity,
        );
        let outcome = if payout_irr.is_positive() {
            ProtectionStatus::Exercised
        } else {
            ProtectionStatus::Expired
        };
        self.status = outcome;
        self.settlement = Some(Settlement {
            spot_usd,
            fx_rate,
            held_quantity,
            payout_usd,
            payout_irr,
            outcome,
            settled_at: now,
        });
        self.settlement.as_ref()
    }

    /// `daysRemaining`: whole days left, rounded up, while ACTIVE; otherwise 0.
    pub fn days_remaining(&self, now: Timestamp) -> i64 {
        if self.status == ProtectionStatus::Active {
            self.expires_at.started_days_since(now)
        } else {
            0
        }
    }

    /// `progressPct`: time elapsed, percentage points (2 dp), within 0–100.
    pub fn progress_pct(&self, now: Timestamp) -> Decimal {
        let total = Decimal::from(self.expires_at.micros_since(self.start_at));
        let elapsed = Decimal::from(now.micros_since(self.start_at)).clamp(Decimal::ZERO, total);
        checked_ratio(dec!(100) * elapsed, total)
            .map_or(Decimal::ZERO, |p| round_half_up(p, 2).normalize())
    }
}

#[cfg(test)]
mod tests;
