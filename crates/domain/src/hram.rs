//! HRAM: the intra-layer target weights used by the rebalance planner (business-rules §6.3,
//! D19). Each asset starts from its static layer weight (§2.1) and is tilted by four factors —
//! volatility, momentum, correlation and liquidity — computed from one USD close per asset per
//! UTC day (§2.4, appendix 8). With too little history every factor falls back to a neutral value,
//! so a brand-new deployment still gets deterministic weights (the §6.3.3 test vectors).
//!
//! Everything is exact `rust_decimal`; the square roots of σ and of Pearson's ρ use
//! `MathematicalOps::sqrt` (no `f64`).

use rust_decimal::Decimal;
use rust_decimal::prelude::MathematicalOps;
use rust_decimal_macros::dec;
use serde::{Deserialize, Serialize};

use crate::asset::{AssetId, Layer, price_usd_in_bounds};
use crate::money::checked_ratio;
use crate::time::{MICROS_PER_DAY, Timestamp};

/// Returns of this many most recent days feed σ (§6.3).
pub const VOLATILITY_WINDOW_RETURNS: usize = 30;
/// Closes of this many most recent days feed the momentum SMA (§6.3).
pub const MOMENTUM_WINDOW_CLOSES: usize = 50;
/// Momentum falls back to 0 with fewer closes than this (§6.3).
pub const MOMENTUM_MIN_CLOSES: usize = 25;
/// Returns of this many most recent common days feed Pearson's ρ (§6.3).
pub const CORRELATION_WINDOW_RETURNS: usize = 60;
/// At most this many passes of the min/max caps (§6.3).
pub const MAX_CAP_PASSES: usize = 10;
/// Fixed income has no market history; it always uses this σ (§6.3).
pub const FIXED_INCOME_VOLATILITY: Decimal = dec!(0.05);

const VOL_TARGET: Decimal = dec!(0.30);
const VOL_FLOOR: Decimal = dec!(0.01);
const VOL_ADJ_BASE: Decimal = dec!(0.85);
const VOL_ADJ_SLOPE: Decimal = dec!(0.15);
const VOL_ADJ_MIN: Decimal = dec!(0.85);
const VOL_ADJ_MAX: Decimal = dec!(1.15);
const LIQUIDITY_PIVOT: Decimal = dec!(0.80);
const LIQUIDITY_SLOPE: Decimal = dec!(0.10);
const DAYS_PER_YEAR: Decimal = dec!(365);

/// One daily USD close. `day` is the UTC day number (days since 1970-01-01), so closes of
/// different assets line up by equality of `day` ("common dates").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DailyClose {
    pub day: i64,
    pub close_usd: Decimal,
}

/// The stored daily price history (§2.4): per asset, closes from oldest to newest, at most one
/// per UTC day. Fixed income never has history (it is priced internally).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PriceHistory {
    series: [Vec<DailyClose>; 15],
}

impl PriceHistory {
    /// An empty history: every factor falls back (§6.3.3).
    pub fn new() -> PriceHistory {
        PriceHistory::default()
    }

    /// The UTC day number of an instant (the key of a daily close).
    pub fn day_of(instant: Timestamp) -> i64 {
        instant.as_micros().div_euclid(MICROS_PER_DAY)
    }

    /// Replaces an asset's series. Closes are sorted by day; when a day appears twice the later
    /// entry wins (the daily row holds the last price seen that day); non-positive closes are
    /// dropped because a simple return off a zero close is undefined, and a price feed never
    /// legitimately reports one; so are closes outside the asset's price bounds
    /// (`asset::price_usd_bounds`), which keep every return and variance representable (D41).
    /// Fixed income is ignored: it always uses the fallbacks.
    pub fn set_series(&mut self, asset: AssetId, closes: impl IntoIterator<Item = (i64, Decimal)>) {
        if asset.is_fixed_income() {
            return;
        }
        let mut by_day: Vec<DailyClose> = Vec::new();
        let mut input: Vec<(usize, i64, Decimal)> = closes
            .into_iter()
            .enumerate()
            .filter(|(_, (_, close))| price_usd_in_bounds(asset, *close))
            .map(|(i, (day, close))| (i, day, close))
            .collect();
        input.sort_by_key(|&(i, day, _)| (day, i));
        for (_, day, close_usd) in input {
            match by_day.last_mut() {
                Some(last) if last.day == day => last.close_usd = close_usd,
                _ => by_day.push(DailyClose { day, close_usd }),
            }
        }
        self.series[asset.index()] = by_day;
    }

    /// Closes of one asset, oldest first.
    pub fn closes(&self, asset: AssetId) -> &[DailyClose] {
        &self.series[asset.index()]
    }
}

/// The tuning knobs of one preset (§6.3.2). A value of 0 means 0: presets are plain data, never
/// "value or default" (pitfall 24).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HramParams {
    pub momentum_strength: Decimal,
    pub correlation_penalty: Decimal,
    pub min_weight: Decimal,
    pub max_weight: Decimal,
}

/// The named presets of §6.3.2; `Balanced` is the default (D19).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum HramPreset {
    EqualWeight,
    RiskParity,
    MomentumTilt,
    MaxDiversification,
    #[default]
    Balanced,
    Conservative,
    Aggressive,
}

impl HramPreset {
    pub const ALL: [HramPreset; 7] = [
        HramPreset::EqualWeight,
        HramPreset::RiskParity,
        HramPreset::MomentumTilt,
        HramPreset::MaxDiversification,
        HramPreset::Balanced,
        HramPreset::Conservative,
        HramPreset::Aggressive,
    ];

    pub fn params(self) -> HramParams {
        let (momentum_strength, correlation_penalty, min_weight, max_weight) = match self {
            HramPreset::EqualWeight => (dec!(0), dec!(0), dec!(0.05), dec!(0.50)),
            HramPreset::RiskParity => (dec!(0), dec!(0), dec!(0.05), dec!(0.40)),
            HramPreset::MomentumTilt => (dec!(0.5), dec!(0.1), dec!(0.05), dec!(0.35)),
            HramPreset::MaxDiversification => (dec!(0.1), dec!(0.4), dec!(0.10), dec!(0.30)),
            HramPreset::Balanced => (dec!(0.3), dec!(0.2), dec!(0.05), dec!(0.40)),
            HramPreset::Conservative => (dec!(0.1), dec!(0.3), dec!(0.10), dec!(0.35)),
            HramPreset::Aggressive => (dec!(0.5), dec!(0.1), dec!(0.05), dec!(0.50)),
        };
        HramParams {
            momentum_strength,
            correlation_penalty,
            min_weight,
            max_weight,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            HramPreset::EqualWeight => "EQUAL_WEIGHT",
            HramPreset::RiskParity => "RISK_PARITY",
            HramPreset::MomentumTilt => "MOMENTUM_TILT",
            HramPreset::MaxDiversification => "MAX_DIVERSIFICATION",
            HramPreset::Balanced => "BALANCED",
            HramPreset::Conservative => "CONSERVATIVE",
            HramPreset::Aggressive => "AGGRESSIVE",
        }
    }
}

impl std::str::FromStr for HramPreset {
    type Err = crate::asset::UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        HramPreset::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(s))
            .ok_or(crate::asset::UnknownName)
    }
}

/// The factors behind one asset's weight, kept for explanations and tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HramFactors {
    /// Annualised σ used (base vol when the history is too short).
    pub volatility: Decimal,
    pub vol_adjustment: Decimal,
    /// `m_i`, clamped to [−1, 1]; 0 with too little history.
    pub momentum: Decimal,
    pub momentum_factor: Decimal,
    /// `avg_{j≠i} |ρ_ij|` over the other assets of the layer.
    pub avg_abs_correlation: Decimal,
    pub correlation_factor: Decimal,
    pub liquidity_factor: Decimal,
    /// `layerWeight × volAdj × momentum × correlation × liquidity`.
    pub raw: Decimal,
}

/// Intra-layer target weights of every asset: within each layer they sum to 1.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HramWeights {
    weights: [Decimal; 15],
    factors: [HramFactors; 15],
}

impl HramWeights {
    /// Computes the weights of all three layers from the stored history.
    pub fn compute(history: &PriceHistory, params: &HramParams) -> HramWeights {
        let neutral = HramFactors {
            volatility: Decimal::ZERO,
            vol_adjustment: Decimal::ONE,
            momentum: Decimal::ZERO,
            momentum_factor: Decimal::ONE,
            avg_abs_correlation: Decimal::ZERO,
            correlation_factor: Decimal::ONE,
            liquidity_factor: Decimal::ONE,
            raw: Decimal::ZERO,
        };
        let mut weights = [Decimal::ZERO; 15];
        let mut factors = [neutral; 15];
        for layer in Layer::ALL {
            let assets: Vec<AssetId> = AssetId::in_layer(layer).collect();
            let layer_factors: Vec<HramFactors> = assets
                .iter()
                .map(|&a| asset_factors(a, &assets, history, params))
                .collect();
            let layer_weights = cap_weights(
                normalise(&layer_factors.iter().map(|f| f.raw).collect::<Vec<_>>()),
                params.min_weight,
                params.max_weight,
            );
            for ((asset, f), w) in assets.iter().zip(layer_factors).zip(layer_weights) {
                weights[asset.index()] = w;
                factors[asset.index()] = f;
            }
        }
        HramWeights { weights, factors }
    }

    /// The weights of a preset with no history at all (every fallback active, §6.3.3).
    pub fn without_history(preset: HramPreset) -> HramWeights {
        HramWeights::compute(&PriceHistory::new(), &preset.params())
    }

    /// The asset's weight inside its own layer.
    pub fn get(&self, asset: AssetId) -> Decimal {
        self.weights[asset.index()]
    }

    pub fn factors(&self, asset: AssetId) -> &HramFactors {
        &self.factors[asset.index()]
    }

    /// `(asset, weight)` of one layer, in registry order.
    pub fn layer(&self, layer: Layer) -> Vec<(AssetId, Decimal)> {
        AssetId::in_layer(layer).map(|a| (a, self.get(a))).collect()
    }
}

fn asset_factors(
    asset: AssetId,
    layer_assets: &[AssetId],
    history: &PriceHistory,
    params: &HramParams,
) -> HramFactors {
    let spec = asset.asset();
    let closes = history.closes(asset);
    let (volatility, momentum) = if asset.is_fixed_income() {
        (FIXED_INCOME_VOLATILITY, Decimal::ZERO)
    } else {
        (
            annualised_volatility(closes).unwrap_or(spec.base_volatility),
            momentum(closes).unwrap_or(Decimal::ZERO),
        )
    };
    let vol_adjustment = (VOL_ADJ_BASE
        + (VOL_TARGET / volatility.max(VOL_FLOOR) - Decimal::ONE) * VOL_ADJ_SLOPE)
        .clamp(VOL_ADJ_MIN, VOL_ADJ_MAX);
    let momentum_factor = Decimal::ONE + momentum * params.momentum_strength;
    let others: Vec<AssetId> = layer_assets
        .iter()
        .copied()
        .filter(|&o| o != asset)
        .collect();
    // Every other asset of the layer counts in the average, including those whose ρ fell back
    // to 0 (fixed income, short histories): a fallback means "no evidence of correlation".
    let avg_abs_correlation = if others.is_empty() {
        Decimal::ZERO
    } else {
        let total: Decimal = others
            .iter()
            .map(|&o| correlation(asset, o, history).abs())
            .sum();
        total / Decimal::from(others.len())
    };
    let correlation_factor = Decimal::ONE - avg_abs_correlation * params.correlation_penalty;
    let liquidity_factor =
        Decimal::ONE + (spec.liquidity_score - LIQUIDITY_PIVOT) * LIQUIDITY_SLOPE;
    // A negative raw weight is impossible with the published presets (momentum strength ≤ 0.5,
    // penalty ≤ 0.4); a custom configuration could produce one, and a negative target weight
    // would mean "short this asset", which the product cannot do, so it is floored at 0.
    let raw = (spec.layer_weight
        * vol_adjustment
        * momentum_factor
        * correlation_factor
        * liquidity_factor)
        .max(Decimal::ZERO);
    HramFactors {
        volatility,
        vol_adjustment,
        momentum,
        momentum_factor,
        avg_abs_correlation,
        correlation_factor,
        liquidity_factor,
        raw,
    }
}

/// Daily simple returns of consecutive closes.
fn simple_returns(closes: &[Decimal]) -> Vec<Decimal> {
    closes
        .windows(2)
        .map(|w| checked_ratio(w[1], w[0]).map_or(Decimal::ZERO, |r| r - Decimal::ONE))
        .collect()
}

fn mean(values: &[Decimal]) -> Decimal {
    let n = Decimal::from(values.len());
    checked_ratio(values.iter().copied().sum::<Decimal>(), n).unwrap_or(Decimal::ZERO)
}

/// σ = population standard deviation of the last 30 daily simple returns × √365; `None`
/// (fall back to base vol) with fewer than 2 closes. With 2–30 closes every available return is
/// used: the spec's fallback threshold is 2 closes, so a short series is still evidence.
fn annualised_volatility(closes: &[DailyClose]) -> Option<Decimal> {
    if closes.len() < 2 {
        return None;
    }
    let start = closes.len().saturating_sub(VOLATILITY_WINDOW_RETURNS + 1);
    let window: Vec<Decimal> = closes[start..].iter().map(|c| c.close_usd).collect();
    let returns = simple_returns(&window);
    let m = mean(&returns);
    let variance = mean(
        &returns
            .iter()
            .map(|r| (r - m) * (r - m))
            .collect::<Vec<_>>(),
    );
    (variance * DAYS_PER_YEAR).sqrt()
}

/// `m = clamp((P_last − SMA50) / SMA50, −1, 1)`, SMA over the last 50 closes including the
/// latest (all of them when 25–49 exist); `None` (m = 0) with fewer than 25 closes.
fn momentum(closes: &[DailyClose]) -> Option<Decimal> {
    if closes.len() < MOMENTUM_MIN_CLOSES {
        return None;
    }
    let start = closes.len().saturating_sub(MOMENTUM_WINDOW_CLOSES);
    let window: Vec<Decimal> = closes[start..].iter().map(|c| c.close_usd).collect();
    let sma = mean(&window);
    let last = *window.last()?;
    if sma.is_zero() {
        return None;
    }
    Some(checked_ratio(last - sma, sma)?.clamp(-Decimal::ONE, Decimal::ONE))
}

/// Pearson ρ of daily simple returns over the last 60 returns (61 closes) on the dates both
/// assets have. 0 when either asset is fixed income or has fewer than 2 closes, when fewer than
/// 2 common returns exist, or when a series has zero variance (§6.3).
fn correlation(a: AssetId, b: AssetId, history: &PriceHistory) -> Decimal {
    if a.is_fixed_income() || b.is_fixed_income() {
        return Decimal::ZERO;
    }
    let (xa, xb) = (history.closes(a), history.closes(b));
    if xa.len() < 2 || xb.len() < 2 {
        return Decimal::ZERO;
    }
    let mut common: Vec<(Decimal, Decimal)> = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < xa.len() && j < xb.len() {
        match xa[i].day.cmp(&xb[j].day) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                common.push((xa[i].close_usd, xb[j].close_usd));
                i += 1;
                j += 1;
            }
        }
    }
    let start = common.len().saturating_sub(CORRELATION_WINDOW_RETURNS + 1);
    let common = &common[start..];
    let ra = simple_returns(&common.iter().map(|c| c.0).collect::<Vec<_>>());
    let rb = simple_returns(&common.iter().map(|c| c.1).collect::<Vec<_>>());
    pearson(&ra, &rb).unwrap_or(Decimal::ZERO)
}

fn pearson(x: &[Decimal], y: &[Decimal]) -> Option<Decimal> {
    if x.len() < 2 || x.len() != y.len() {
        return None;
    }
    let (mx, my) = (mean(x), mean(y));
    let mut cov = Decimal::ZERO;
    let mut vx = Decimal::ZERO;
    let mut vy = Decimal::ZERO;
    for (a, b) in x.iter().zip(y) {
        let (dx, dy) = (a - mx, b - my);
        cov += dx * dy;
        vx += dx * dx;
        vy += dy * dy;
    }
    if vx.is_zero() || vy.is_zero() {
        return None;
    }
    let denominator = vx.sqrt()? * vy.sqrt()?;
    if denominator.is_zero() {
        return None;
    }
    // Rounding in the square roots can push |ρ| a hair past 1.
    Some(checked_ratio(cov, denominator)?.clamp(-Decimal::ONE, Decimal::ONE))
}

/// `w_i = raw_i / Σ raw`, equal weights when Σ = 0.
fn normalise(raw: &[Decimal]) -> Vec<Decimal> {
    let total: Decimal = raw.iter().copied().sum();
    if total.is_zero() {
        let equal = Decimal::ONE / Decimal::from(raw.len().max(1));
        return vec![equal; raw.len()];
    }
    raw.iter().map(|r| r / total).collect()
}

/// The caps of §6.3: at most 10 passes of clip-and-redistribute, then renormalise to Σ = 1.
/// The surplus of a pass is what that pass clipped (excess above MAX minus shortfall below MIN);
/// it goes in equal parts to the weights strictly between MIN and MAX. When MIN × n > 1 or
/// MAX × n < 1 the bounds cannot all hold; the final renormalisation then wins (Σ = 1 is the
/// invariant the planner relies on).
fn cap_weights(mut weights: Vec<Decimal>, min: Decimal, max: Decimal) -> Vec<Decimal> {
    for _ in 0..MAX_CAP_PASSES {
        let mut surplus = Decimal::ZERO;
        let mut clipped = false;
        for w in weights.iter_mut() {
            if *w > max {
                surplus += *w - max;
                *w = max;
                clipped = true;
            } else if *w < min {
                surplus -= min - *w;
                *w = min;
                clipped = true;
            }
        }
        let between: Vec<usize> = (0..weights.len())
            .filter(|&i| weights[i] > min && weights[i] < max)
            .collect();
        if !clipped || between.is_empty() {
            break;
        }
        let share = surplus / Decimal::from(between.len());
        for i in between {
            weights[i] += share;
        }
    }
    normalise(&weights)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::money::round_half_up;

    fn six_dp(weights: &HramWeights, asset: AssetId) -> Decimal {
        round_half_up(weights.get(asset), 6)
    }

    fn layer_sum(weights: &HramWeights, layer: Layer) -> Decimal {
        weights.layer(layer).iter().map(|(_, w)| *w).sum()
    }

    #[test]
    fn balanced_weights_with_no_history_match_the_test_vectors_of_6_3_3() {
        use AssetId::*;
        let w = HramWeights::without_history(HramPreset::Balanced);
        let expected = [
            (Usdt, dec!(0.400000)),
            (Paxg, dec!(0.293819)),
            (IrrFixedIncome, dec!(0.306181)),
            (Btc, dec!(0.243955)),
            (Eth, dec!(0.194972)),
            (Bnb, dec!(0.145941)),
            (Xrp, dec!(0.097198)),
            (Kag, dec!(0.159897)),
            (Qqq, dec!(0.158036)),
            (Sol, dec!(0.200754)),
            (Ton, dec!(0.179429)),
            (Link, dec!(0.180321)),
            (Avax, dec!(0.159968)),
            (Matic, dec!(0.139972)),
            (Arb, dec!(0.139556)),
        ];
        for (asset, weight) in expected {
            assert_eq!(six_dp(&w, asset), weight, "{asset}");
        }
    }

    #[test]
    fn usdt_is_capped_at_the_balanced_maximum_from_0_414703() {
        let params = HramPreset::Balanced.params();
        let history = PriceHistory::new();
        let assets: Vec<AssetId> = AssetId::in_layer(Layer::Foundation).collect();
        let raw: Vec<Decimal> = assets
            .iter()
            .map(|&a| asset_factors(a, &assets, &history, &params).raw)
            .collect();
        let uncapped = normalise(&raw);
        assert_eq!(round_half_up(uncapped[0], 6), dec!(0.414703));
        let w = HramWeights::without_history(HramPreset::Balanced);
        assert_eq!(w.get(AssetId::Usdt), dec!(0.4));
    }

    #[test]
    fn conservative_weights_with_no_history_cap_usdt_and_floor_xrp() {
        let w = HramWeights::without_history(HramPreset::Conservative);
        assert_eq!(six_dp(&w, AssetId::Usdt), dec!(0.350000));
        assert_eq!(six_dp(&w, AssetId::Paxg), dec!(0.318819));
        assert_eq!(six_dp(&w, AssetId::IrrFixedIncome), dec!(0.331181));
        assert_eq!(six_dp(&w, AssetId::Xrp), dec!(0.100000));
    }

    #[test]
    fn fixed_income_always_uses_its_fallbacks_even_if_history_is_offered() {
        let mut history = PriceHistory::new();
        history.set_series(
            AssetId::IrrFixedIncome,
            (0..80).map(|d| (d, Decimal::from(100 + d))),
        );
        assert!(history.closes(AssetId::IrrFixedIncome).is_empty());
        let f = *HramWeights::compute(&history, &HramPreset::Balanced.params())
            .factors(AssetId::IrrFixedIncome);
        assert_eq!(f.volatility, dec!(0.05));
        assert_eq!(f.momentum, Decimal::ZERO);
        assert_eq!(f.avg_abs_correlation, Decimal::ZERO);
    }

    fn flat(days: i64, price: Decimal) -> Vec<(i64, Decimal)> {
        (0..days).map(|d| (d, price)).collect()
    }

    #[test]
    fn a_rising_series_gets_more_weight_than_a_flat_one() {
        let mut history = PriceHistory::new();
        // BTC rises 1% a day for 60 days; ETH is flat.
        let mut price = dec!(100);
        let rising: Vec<(i64, Decimal)> = (0..60)
            .map(|d| {
                price *= dec!(1.01);
                (d, price)
            })
            .collect();
        history.set_series(AssetId::Btc, rising);
        history.set_series(AssetId::Eth, flat(60, dec!(3200)));
        let params = HramPreset::MomentumTilt.params();
        let with = HramWeights::compute(&history, &params);
        let f = with.factors(AssetId::Btc);
        assert!(f.momentum > Decimal::ZERO);
        assert!(f.momentum_factor > Decimal::ONE);
        // Same history with momentum switched off: BTC's weight is lower.
        let without = HramWeights::compute(
            &history,
            &HramParams {
                momentum_strength: Decimal::ZERO,
                ..params
            },
        );
        assert!(with.get(AssetId::Btc) > without.get(AssetId::Btc));
        assert_eq!(with.factors(AssetId::Eth).momentum, Decimal::ZERO);
    }

    #[test]
    fn momentum_needs_twenty_five_closes() {
        let mut history = PriceHistory::new();
        let rising: Vec<(i64, Decimal)> = (0..24).map(|d| (d, Decimal::from(100 + d))).collect();
        history.set_series(AssetId::Sol, rising);
        let w = HramWeights::compute(&history, &HramPreset::Aggressive.params());
        assert_eq!(w.factors(AssetId::Sol).momentum, Decimal::ZERO);
        let rising: Vec<(i64, Decimal)> = (0..25).map(|d| (d, Decimal::from(100 + d))).collect();
        history.set_series(AssetId::Sol, rising);
        let w = HramWeights::compute(&history, &HramPreset::Aggressive.params());
        // SMA of 100..=124 is 112; (124 − 112) / 112.
        assert_eq!(w.factors(AssetId::Sol).momentum, dec!(12) / dec!(112));
    }

    #[test]
    fn a_preset_value_of_zero_means_zero() {
        let mut history = PriceHistory::new();
        let rising: Vec<(i64, Decimal)> = (0..60).map(|d| (d, Decimal::from(100 + d))).collect();
        history.set_series(AssetId::Btc, rising.clone());
        history.set_series(AssetId::Eth, rising);
        let w = HramWeights::compute(&history, &HramPreset::EqualWeight.params());
        let f = w.factors(AssetId::Btc);
        assert!(f.momentum > Decimal::ZERO);
        assert!(f.avg_abs_correlation > Decimal::ZERO);
        assert_eq!(f.momentum_factor, Decimal::ONE);
        assert_eq!(f.correlation_factor, Decimal::ONE);
    }

    /// A zig-zag series with real variance, `phase` shifts it so series can be made uncorrelated.
    fn zigzag(days: i64, phase: i64) -> Vec<(i64, Decimal)> {
        (0..days)
            .map(|d| {
                let up = ((d + phase) / 2) % 2 == 0;
                (
                    d,
                    if up { dec!(110) } else { dec!(100) } + Decimal::from(d % 3),
                )
            })
            .collect()
    }

    #[test]
    fn two_perfectly_correlated_assets_are_penalised() {
        let mut independent = PriceHistory::new();
        independent.set_series(AssetId::Btc, zigzag(70, 0));
        let mut correlated = independent.clone();
        // ETH moves exactly like BTC (a scaled copy): ρ = 1.
        correlated.set_series(
            AssetId::Eth,
            zigzag(70, 0).into_iter().map(|(d, p)| (d, p * dec!(30))),
        );
        let params = HramPreset::MaxDiversification.params();
        let base = HramWeights::compute(&independent, &params);
        let penalised = HramWeights::compute(&correlated, &params);
        assert_eq!(
            correlation(AssetId::Btc, AssetId::Eth, &correlated),
            Decimal::ONE
        );
        // 5 other Growth assets, one with |ρ| = 1: average 0.2, penalty 0.4 → factor 0.92.
        assert_eq!(
            penalised.factors(AssetId::Btc).correlation_factor,
            dec!(0.92)
        );
        assert!(penalised.factors(AssetId::Btc).raw < base.factors(AssetId::Btc).raw);
    }

    #[test]
    fn correlation_uses_only_common_dates() {
        let mut history = PriceHistory::new();
        history.set_series(AssetId::Sol, zigzag(40, 0));
        // TON has the same prices but only on even days, plus junk on days SOL lacks.
        let ton: Vec<(i64, Decimal)> = zigzag(40, 0)
            .into_iter()
            .filter(|(d, _)| d % 2 == 0)
            .chain((100..110).map(|d| (d, Decimal::from(d))))
            .collect();
        history.set_series(AssetId::Ton, ton);
        assert_eq!(
            correlation(AssetId::Sol, AssetId::Ton, &history),
            Decimal::ONE
        );
    }

    #[test]
    fn zero_variance_or_a_single_close_gives_no_correlation() {
        let mut history = PriceHistory::new();
        history.set_series(AssetId::Btc, zigzag(40, 0));
        history.set_series(AssetId::Eth, flat(40, dec!(3200)));
        history.set_series(AssetId::Bnb, vec![(5, dec!(680))]);
        assert_eq!(
            correlation(AssetId::Btc, AssetId::Eth, &history),
            Decimal::ZERO
        );
        assert_eq!(
            correlation(AssetId::Btc, AssetId::Bnb, &history),
            Decimal::ZERO
        );
    }

    #[test]
    fn volatility_falls_back_to_base_vol_with_fewer_than_two_closes() {
        let mut history = PriceHistory::new();
        history.set_series(AssetId::Eth, vec![(1, dec!(3200))]);
        let w = HramWeights::compute(&history, &HramPreset::Balanced.params());
        assert_eq!(w.factors(AssetId::Eth).volatility, dec!(0.55));
        // Two closes: one return, zero dispersion → σ = 0, which the floor of 0.01 handles.
        history.set_series(AssetId::Eth, vec![(1, dec!(3200)), (2, dec!(3300))]);
        let w = HramWeights::compute(&history, &HramPreset::Balanced.params());
        assert_eq!(w.factors(AssetId::Eth).volatility, Decimal::ZERO);
        assert_eq!(w.factors(AssetId::Eth).vol_adjustment, dec!(1.15));
    }

    #[test]
    fn volatility_is_the_population_deviation_of_the_last_thirty_returns_annualised() {
        let mut history = PriceHistory::new();
        // Returns alternate +10% and −(1/11): 100 → 110 → 100 → …; the first 20 closes are
        // outside the 31-close window and are wild, so they must not count.
        let mut closes: Vec<(i64, Decimal)> =
            (0..20).map(|d| (d, Decimal::from(1 + d * 50))).collect();
        closes.extend((20..51).map(|d| (d, if d % 2 == 0 { dec!(100) } else { dec!(110) })));
        history.set_series(AssetId::Btc, closes);
        let sigma = HramWeights::compute(&history, &HramPreset::Balanced.params())
            .factors(AssetId::Btc)
            .volatility;
        let up = dec!(0.1);
        let down = dec!(100) / dec!(110) - Decimal::ONE;
        let m = (up + down) / dec!(2);
        let variance = ((up - m) * (up - m) + (down - m) * (down - m)) / dec!(2);
        let expected = (variance * dec!(365)).sqrt().unwrap();
        assert!(
            (sigma - expected).abs() < dec!(0.000000000001),
            "{sigma} vs {expected}"
        );
    }

    #[test]
    fn a_later_close_of_the_same_day_replaces_the_earlier_one() {
        let mut history = PriceHistory::new();
        history.set_series(
            AssetId::Btc,
            vec![
                (3, dec!(30000)),
                (1, dec!(10000)),
                (3, dec!(40000)),
                (2, dec!(0)),
                // Outside BTC's bounds (×/÷ 1,000 of 97,500): dropped like a zero.
                (4, dec!(100000000000000)),
            ],
        );
        let closes: Vec<(i64, Decimal)> = history
            .closes(AssetId::Btc)
            .iter()
            .map(|c| (c.day, c.close_usd))
            .collect();
        assert_eq!(closes, vec![(1, dec!(10000)), (3, dec!(40000))]);
    }

    #[test]
    fn infeasible_bounds_still_sum_to_one() {
        // MAX_DIVERSIFICATION caps at 0.30, but Foundation has 3 assets: 3 × 0.30 < 1.
        let w = HramWeights::without_history(HramPreset::MaxDiversification);
        assert!((layer_sum(&w, Layer::Foundation) - Decimal::ONE).abs() < dec!(0.0000000001));
        for (_, weight) in w.layer(Layer::Foundation) {
            assert!((weight - Decimal::ONE / dec!(3)).abs() < dec!(0.0000000001));
        }
    }

    #[test]
    fn preset_names_round_trip() {
        for preset in HramPreset::ALL {
            assert_eq!(preset.as_str().parse::<HramPreset>(), Ok(preset));
        }
        assert_eq!(HramPreset::default(), HramPreset::Balanced);
    }

    fn arb_series() -> impl Strategy<Value = Vec<(i64, Decimal)>> {
        (0usize..80, prop::collection::vec(1u32..100_000, 80)).prop_map(|(len, prices)| {
            (0..len)
                .map(|d| (d as i64, Decimal::new(i64::from(prices[d]), 2)))
                .collect()
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn layer_weights_sum_to_one_and_respect_bounds_where_feasible(
            series in prop::collection::vec(arb_series(), 15),
            preset_index in 0usize..7,
        ) {
            let preset = HramPreset::ALL[preset_index];
            let params = preset.params();
            let mut history = PriceHistory::new();
            for (asset, s) in AssetId::ALL.into_iter().zip(series) {
                history.set_series(asset, s);
            }
            let w = HramWeights::compute(&history, &params);
            for layer in Layer::ALL {
                let n = Decimal::from(AssetId::in_layer(layer).count());
                let sum = layer_sum(&w, layer);
                prop_assert!((sum - Decimal::ONE).abs() < dec!(0.000000000001), "{sum}");
                let feasible = params.min_weight * n <= Decimal::ONE
                    && params.max_weight * n >= Decimal::ONE;
                for (asset, weight) in w.layer(layer) {
                    prop_assert!(weight >= Decimal::ZERO);
                    if feasible {
                        let tolerance = dec!(0.000001);
                        prop_assert!(weight >= params.min_weight - tolerance, "{asset} {weight}");
                        prop_assert!(weight <= params.max_weight + tolerance, "{asset} {weight}");
                    }
                }
            }
        }
    }
}
