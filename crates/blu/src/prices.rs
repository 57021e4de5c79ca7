//! Wiring of the price service: sources chosen by `PRICE_SOURCE`, the bus, the follower and the
//! warm-up tick at startup.

use std::sync::Arc;
use std::time::Duration;

use blu_app::ports::real_now;
use blu_app::ports::{Clock, FxSource, PriceBus, PriceSource, PriceStore};
use blu_app::prices::{PRICES_JOB, PriceFollower, PriceService, PriceSettings};
use blu_integrations::prices::{
    Bonbast, BonbastConfig, CoinGecko, CoinGeckoConfig, Finnhub, FinnhubConfig, FixedPrices,
    SimulatedPrices,
};
use blu_jobs::JobEngine;

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
/// with their real age) and starts following the `prices` job's ticks.
pub async fn start(
    config: &Config,
    store: Arc<dyn PriceStore>,
    clock: Arc<dyn Clock>,
    bus: Arc<dyn PriceBus>,
) -> anyhow::Result<(Arc<PriceService>, PriceFollower)> {
    let (fx, sources) = sources(config, clock.clone())?;
    let settings = PriceSettings {
        max_age: config.price_max_age,
        ..PriceSettings::default()
    };
    let service = Arc::new(PriceService::new(store, fx, sources, bus, clock, settings));
    service.reload().await?;
    let follower = service.clone().follow(config.price_refresh_interval);
    Ok((service, follower))
}

/// Serves fresh prices from the first request: runs the current `prices` tick through the job
/// engine unless another process has it, then waits for that process's result. Gives up waiting
/// after [`FIRST_TICK_TIMEOUT`] (a claimed run goes on in the background).
pub async fn warm_up(config: &Config, service: &PriceService, jobs: Arc<JobEngine>) {
    let tick = real_now().floor_to(config.price_refresh_interval);
    let run = tokio::spawn(async move { jobs.run_current_tick(PRICES_JOB).await });
    match tokio::time::timeout(FIRST_TICK_TIMEOUT, run).await {
        Ok(Ok(Ok(Some(_)))) => {}
        Ok(Ok(Ok(None))) => {
            let wait = FIRST_TICK_TIMEOUT.min(config.price_refresh_interval / 2);
            if let Err(error) = service.reload_after_tick(tick, wait).await {
                tracing::warn!(%error, "loading the prices of another instance's tick failed");
            }
        }
        Ok(Ok(Err(error))) => tracing::warn!(%error, "the first prices tick failed"),
        Ok(Err(error)) => tracing::warn!(%error, "the first prices tick panicked"),
        Err(_) => tracing::warn!("the first prices tick is slow; serving the stored prices"),
    }
}
