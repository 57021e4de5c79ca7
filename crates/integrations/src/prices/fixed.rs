//! The fixed price source (`PRICE_SOURCE=fixed:<path>`): prices and FX from a JSON file, for
//! development and tests that need pinned prices. Fixed prices are current by definition, so
//! every read is stamped with the business clock's `now` and never goes stale.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};
use blu_app::ports::{
    Clock, FetchedPrice, FxQuote, FxSource, PriceCache, PriceQuote, PriceSnapshot, PriceSource,
    SourceError,
};
use blu_domain::AssetId;
use blu_domain::asset::DEFAULT_FX_IRR_PER_USD;
use blu_domain::num::Num;
use serde::Deserialize;

/// The file format: `{"fxRate": 1456000, "prices": {"BTC": 97500, …}}`. Assets left out take
/// the registry's default price; `fxRate` defaults to 1,456,000. Optional `change24hPct` map.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FixedPricesFile {
    #[serde(default)]
    pub fx_rate: Option<Num>,
    #[serde(default)]
    pub prices: BTreeMap<String, Num>,
    #[serde(default)]
    pub change24h_pct: BTreeMap<String, Num>,
}

pub struct FixedPrices {
    base: PriceSnapshot,
    clock: Arc<dyn Clock>,
}

impl FixedPrices {
    pub fn load(path: &Path, clock: Arc<dyn Clock>) -> anyhow::Result<FixedPrices> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let file: FixedPricesFile =
            serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        FixedPrices::from_file(file, clock)
    }

    pub fn from_file(file: FixedPricesFile, clock: Arc<dyn Clock>) -> anyhow::Result<FixedPrices> {
        let fx = file.fx_rate.map(|n| n.0).unwrap_or(DEFAULT_FX_IRR_PER_USD);
        if fx <= rust_decimal::Decimal::ZERO {
            bail!("fxRate must be positive");
        }
        let mut usd: BTreeMap<AssetId, rust_decimal::Decimal> = AssetId::ALL
            .iter()
            .filter_map(|a| a.asset().default_price_usd.map(|p| (*a, p)))
            .collect();
        for (symbol, price) in &file.prices {
            let asset: AssetId = symbol
                .parse()
                .map_err(|_| anyhow::anyhow!("unknown asset {symbol:?}"))?;
            if asset.is_fixed_income() {
                bail!("IRR_FIXED_INCOME is priced internally and cannot be fixed");
            }
            if price.0 <= rust_decimal::Decimal::ZERO {
                bail!("price of {symbol} must be positive");
            }
            usd.insert(asset, price.0);
        }
        let now = clock.now();
        let mut base = PriceSnapshot {
            fx: Some(FxQuote {
                usd_irr: fx,
                source: "fixed".to_owned(),
                fetched_at: now,
            }),
            prices: Default::default(),
        };
        for (asset, price_usd) in usd {
            let change = file.change24h_pct.get(asset.as_str()).map(|n| n.0);
            base.prices[asset.index()] = Some(PriceQuote {
                asset,
                price_usd,
                price_irr: price_usd * fx,
                change_24h_pct: change,
                source: "fixed".to_owned(),
                fetched_at: now,
            });
        }
        Ok(FixedPrices { base, clock })
    }
}

impl PriceCache for FixedPrices {
    fn snapshot(&self) -> Arc<PriceSnapshot> {
        let now = self.clock.now();
        let mut snapshot = self.base.clone();
        if let Some(fx) = snapshot.fx.as_mut() {
            fx.fetched_at = now;
        }
        for quote in snapshot.prices.iter_mut().flatten() {
            quote.fetched_at = now;
        }
        Arc::new(snapshot)
    }
}

/// As a source of the price service: the file's values on every tick (source `fixed`, which
/// the service re-stamps on every read, so they never go stale).
#[async_trait::async_trait]
impl PriceSource for FixedPrices {
    fn name(&self) -> &'static str {
        "fixed"
    }

    async fn fetch_prices(&self) -> Result<Vec<FetchedPrice>, SourceError> {
        Ok(self
            .base
            .prices
            .iter()
            .flatten()
            .map(|q| FetchedPrice {
                asset: q.asset,
                price_usd: q.price_usd,
                change_24h_pct: q.change_24h_pct,
            })
            .collect())
    }
}

#[async_trait::async_trait]
impl FxSource for FixedPrices {
    fn name(&self) -> &'static str {
        "fixed"
    }

    async fn fetch_usd_irr(&self) -> Result<rust_decimal::Decimal, SourceError> {
        self.base
            .fx
            .as_ref()
            .map(|fx| fx.usd_irr)
            .ok_or_else(|| SourceError::Invalid("no FX in the fixed file".to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use blu_app::ports::{BusinessClock, PricesStatus};
    use rust_decimal_macros::dec;

    use super::*;

    #[test]
    fn fixed_prices_default_to_the_registry_and_are_always_fresh() {
        let clock = BusinessClock::new();
        let prices = FixedPrices::from_file(FixedPricesFile::default(), clock.clone()).unwrap();
        let snapshot = prices.snapshot();
        assert_eq!(
            snapshot.price(AssetId::Btc).unwrap().price_irr,
            dec!(141960000000)
        );
        clock.advance_to_offset(86_400_000_000);
        let later = prices.snapshot();
        assert_eq!(
            later.status(clock.now(), Duration::from_secs(120)),
            PricesStatus::Live
        );
        assert!(
            later
                .fresh_book(clock.now(), Duration::from_secs(120), &AssetId::ALL)
                .is_ok()
        );
    }

    #[test]
    fn a_fixed_file_overrides_prices_and_fx() {
        let file: FixedPricesFile =
            serde_json::from_str(r#"{"fxRate":1500000,"prices":{"BTC":87750}}"#).unwrap();
        let prices = FixedPrices::from_file(file, BusinessClock::new()).unwrap();
        let btc = prices.snapshot().price(AssetId::Btc).cloned().unwrap();
        assert_eq!(btc.price_irr, dec!(131625000000));
        let bad: FixedPricesFile = serde_json::from_str(r#"{"prices":{"DOGE":1}}"#).unwrap();
        assert!(FixedPrices::from_file(bad, BusinessClock::new()).is_err());
    }
}
