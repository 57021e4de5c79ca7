//! Wiring of the price service: sources chosen by `PRICE_SOURCE`, the bus, and the refresh loop.

use std::sync::Arc;
use std::time::Duration;

use blu_app::ports::{Clock, FxSource, PriceBus, PriceSource, PriceStore};
use blu_app::prices::{PriceService, PriceSettings, RefreshLoop};
use blu_integrations::prices::{
    Bonbast, BonbastConfig, CoinGecko, CoinGeckoConfig, Finnhub, FinnhubConfig, FixedPrices,
    SimulatedPrices,
};

use crate::config::{Config, PriceSourceSetting};

/// How long startup waits for the first refresh before serving anyway (the loop goes on).
const FIRST_TICK_TIMEOUT: Duration = Duration::from_secs(10);

type Sources = (Arc<dyn FxSource>, Vec<Arc<dyn PriceSource>>);

/// The FX source and the price sources of the configured `PRICE_SOURCE`.
pub fn sources(config: &Config, clock: Arc<dyn Clock>) -> anyhow::Result<Sources> {
    Ok(match &config.price_source {
        PriceSourceSetting::Simulated => {
            let sim = Arc::new(SimulatedPrices::new());
            (sim.clone(), vec![sim])
        }
        PriceSourceSetting::Fixed(path) => {
            let fixed = Arc::new(FixedPrices::load(path, clock)?);
            (fixed.clone(), vec![fixed])
        }
        PriceSourceSetting::Live => {
            let p = &config.price_providers;
            let mut gecko = CoinGeckoConfig::new(config.coingecko_api_key.clone());
            gecko.base_url = p.coingecko_base_url.clone();
            gecko.matic_id = p.matic_coingecko_id.clone();
            let mut finnhub = FinnhubConfig::new(config.finnhub_api_key.clone());
            finnhub.base_url = p.finnhub_base_url.clone();
            let bonbast = BonbastConfig {
                url: p.bonbast_url.clone(),
                ..BonbastConfig::default()
            };
            (
                Arc::new(Bonbast::new(bonbast)),
                vec![
                    Arc::new(CoinGecko::new(gecko)),
                    Arc::new(Finnhub::new(finnhub)),
                ],
            )
        }
    })
}

/// Builds the service, loads the last known prices from the database (a restart serves them
/// with their real age), and starts the refresh loop (returns after its first tick).
pub async fn start(
    config: &Config,
    store: Arc<dyn PriceStore>,
    clock: Arc<dyn Clock>,
    bus: Arc<dyn PriceBus>,
) -> anyhow::Result<(Arc<PriceService>, RefreshLoop)> {
    let (fx, sources) = sources(config, clock.clone())?;
    let settings = PriceSettings {
        max_age: config.price_max_age,
        ..PriceSettings::default()
    };
    let service = Arc::new(PriceService::new(store, fx, sources, bus, clock, settings));
    service.reload().await?;
    let refresh = service
        .clone()
        .start(config.price_refresh_interval, FIRST_TICK_TIMEOUT)
        .await;
    Ok((service, refresh))
}
