//! The simulated source (the development default): a bounded random walk around the registry's
//! default prices, ±0.5% per tick and kept within ±20% of the default, with change24hPct measured
//! against the default. FX stays at 1,456,000 IRR/USD. Never used in production unless allowed.

use std::sync::Mutex;

use async_trait::async_trait;
use blu_app::ports::{FetchedPrice, FxSource, PriceSource, SourceError};
use blu_domain::AssetId;
use blu_domain::asset::DEFAULT_FX_IRR_PER_USD;
use rand::Rng;
use rust_decimal::Decimal;

/// Largest move per tick, as a fraction.
const STEP: Decimal = Decimal::from_parts(5, 0, 0, false, 3);
/// Farthest distance from the default price, as a fraction.
const BAND: Decimal = Decimal::from_parts(20, 0, 0, false, 2);

pub struct SimulatedPrices {
    current: Mutex<Vec<(AssetId, Decimal, Decimal)>>,
}

impl Default for SimulatedPrices {
    fn default() -> SimulatedPrices {
        SimulatedPrices::new()
    }
}

impl SimulatedPrices {
    pub fn new() -> SimulatedPrices {
        let current = AssetId::ALL
            .iter()
            .filter_map(|a| a.asset().default_price_usd.map(|p| (*a, p, p)))
            .collect();
        SimulatedPrices {
            current: Mutex::new(current),
        }
    }

    /// One step of the walk from `price` given a move in [-1, 1] (× STEP), clamped to the band.
    fn step(default: Decimal, price: Decimal, unit_move: Decimal) -> Decimal {
        let next = (price * (Decimal::ONE + unit_move * STEP)).round_dp(8);
        next.clamp(
            default * (Decimal::ONE - BAND),
            default * (Decimal::ONE + BAND),
        )
    }
}

#[async_trait]
impl PriceSource for SimulatedPrices {
    fn name(&self) -> &'static str {
        "simulated"
    }

    async fn fetch_prices(&self) -> Result<Vec<FetchedPrice>, SourceError> {
        let mut rng = rand::rng();
        let mut current = self.current.lock().expect("simulated prices lock");
        Ok(current
            .iter_mut()
            .map(|(asset, default, price)| {
                let unit_move = Decimal::new(rng.random_range(-1_000_000..=1_000_000), 6);
                *price = SimulatedPrices::step(*default, *price, unit_move);
                FetchedPrice {
                    asset: *asset,
                    price_usd: *price,
                    change_24h_pct: Some(
                        ((*price - *default) / *default * Decimal::ONE_HUNDRED).round_dp(4),
                    ),
                }
            })
            .collect())
    }
}

#[async_trait]
impl FxSource for SimulatedPrices {
    fn name(&self) -> &'static str {
        "simulated"
    }

    async fn fetch_usd_irr(&self) -> Result<Decimal, SourceError> {
        Ok(DEFAULT_FX_IRR_PER_USD)
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;

    #[test]
    fn a_step_moves_at_most_half_a_percent_and_stays_within_twenty_percent() {
        let d = dec!(100);
        assert_eq!(SimulatedPrices::step(d, d, Decimal::ONE), dec!(100.5));
        assert_eq!(SimulatedPrices::step(d, d, -Decimal::ONE), dec!(99.5));
        assert_eq!(
            SimulatedPrices::step(d, dec!(119.9), Decimal::ONE),
            dec!(120)
        );
        assert_eq!(
            SimulatedPrices::step(d, dec!(80.1), -Decimal::ONE),
            dec!(80)
        );
    }

    #[tokio::test]
    async fn a_thousand_ticks_stay_in_the_band_with_change_against_the_default() {
        let sim = SimulatedPrices::new();
        for _ in 0..1000 {
            for p in sim.fetch_prices().await.unwrap() {
                let default = p.asset.asset().default_price_usd.unwrap();
                assert!(p.price_usd >= default * dec!(0.8) && p.price_usd <= default * dec!(1.2));
                let change = p.change_24h_pct.unwrap();
                assert!(change.abs() <= dec!(20), "{change}");
            }
        }
        let prices = sim.fetch_prices().await.unwrap();
        assert_eq!(prices.len(), 14);
        assert_eq!(sim.fetch_usd_irr().await.unwrap(), dec!(1456000));
    }
}
