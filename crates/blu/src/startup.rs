//! Wiring: builds every adapter from the configuration, then serves until shutdown.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use anyhow::Context;
use axum::ServiceExt;
use axum::extract::Request;
use blu_api::{ApiSettings, AppState};
use blu_app::auth::{AuthService, AuthSettings};
use blu_app::portfolio::PortfolioService;
use blu_app::ports::{BusinessClock, PriceCache, PriceSnapshot, RateLimiter, SmsGateway, Store};
use blu_integrations::limits::{MemoryRateLimiter, RedisRateLimiter};
use blu_integrations::sms::{KavenegarConfig, KavenegarGateway, LogSmsGateway};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;

use blu_integrations::prices::FixedPrices;

use crate::config::{Config, PriceSourceSetting, SmsProvider};

/// A built server, bound to its port, not yet serving.
pub struct Application {
    listener: TcpListener,
    state: AppState,
}

/// The metrics recorder is process-global; several servers in one test process share it.
fn metrics_handle() -> Option<PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let buckets = [
                0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ];
            PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("duration_seconds".into()), &buckets)
                .ok()?
                .install_recorder()
                .ok()
        })
        .clone()
}

/// Opens the database (running migrations) as configured.
pub async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    Ok(open_database(config).await?.into_store())
}

/// Opens the database (running migrations) as configured, with its concrete backend.
pub async fn open_database(config: &Config) -> anyhow::Result<blu_store::Database> {
    blu_store::connect(
        config.database_url.as_deref(),
        &config.data_dir,
        config.database_max_connections,
    )
    .await
    .context("opening the database")
}

impl Application {
    pub async fn build(config: Config) -> anyhow::Result<Application> {
        let database = open_database(&config).await?;
        let portfolio_store = database.portfolio_store();
        let store = database.into_store();
        let redis = match &config.redis_url {
            Some(url) => {
                let client = redis::Client::open(url.as_str())
                    .context("REDIS_URL is not a valid Redis URL")?;
                Some(
                    redis::aio::ConnectionManager::new(client)
                        .await
                        .context("connecting to Redis")?,
                )
            }
            None => None,
        };
        let limiter: Arc<dyn RateLimiter> = match &redis {
            Some(connection) => Arc::new(RedisRateLimiter::new(
                connection.clone(),
                config.redis_key_prefix.clone(),
            )),
            None => Arc::new(MemoryRateLimiter::new()),
        };
        let sms: Arc<dyn SmsGateway> = match &config.sms {
            SmsProvider::Log => Arc::new(LogSmsGateway::new()),
            SmsProvider::Kavenegar { api_key, base_url } => {
                let mut kavenegar = KavenegarConfig::new(api_key.clone());
                kavenegar.base_url = base_url.clone();
                Arc::new(KavenegarGateway::new(kavenegar))
            }
        };
        let clock = BusinessClock::new();
        let mut auth_settings = AuthSettings::with_secrets(
            config.jwt_access_secret.clone(),
            config.jwt_refresh_secret.clone(),
            config.otp_key.clone(),
        );
        auth_settings.refresh_grace = config.refresh_grace;
        let auth = AuthService::new(
            store.clone(),
            sms.clone(),
            limiter.clone(),
            clock.clone(),
            auth_settings,
        );
        let prices: Arc<dyn PriceCache> = match &config.price_source {
            PriceSourceSetting::Fixed(path) => Arc::new(FixedPrices::load(path, clock.clone())?),
            // The live and simulated feeds arrive with the price service; until then the
            // server reports prices offline and refuses money movement (never a guessed price).
            PriceSourceSetting::Simulated | PriceSourceSetting::Live => Arc::new(NoPrices),
        };
        let portfolio = PortfolioService::new(
            portfolio_store,
            prices.clone(),
            clock.clone(),
            config.price_max_age,
        );
        let settings = ApiSettings {
            version: env!("CARGO_PKG_VERSION"),
            production: config.is_production(),
            admin_token: config.admin_token.clone(),
            metrics_token: config.metrics_token.clone(),
            cors_origins: config.cors_origins.clone(),
            trusted_proxy_header: config.trusted_proxy_header.clone(),
            rate_limit: (config.rate_limit_max_requests, config.rate_limit_window),
            docs_enabled: config.docs_enabled,
            test_clock: config.test_clock,
            price_max_age: config.price_max_age,
        };
        let state = AppState {
            settings: Arc::new(settings),
            auth: Arc::new(auth),
            portfolio: Arc::new(portfolio),
            store,
            sms,
            limiter,
            clock,
            prices,
            redis,
            metrics: metrics_handle(),
            started_at: Instant::now(),
        };
        let address = SocketAddr::from(([0, 0, 0, 0], config.port));
        let listener = TcpListener::bind(address)
            .await
            .with_context(|| format!("binding port {}", config.port))?;
        tracing::info!(
            port = listener.local_addr()?.port(),
            database = state.store.backend(),
            redis = config.redis_url.is_some(),
            environment = ?config.environment,
            "server ready"
        );
        if config.generated_secrets {
            tracing::info!(path = %config.data_dir.join("admin-token").display(), "development secrets in use; admin token stored at path");
        }
        Ok(Application { listener, state })
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    /// Serves until `shutdown` resolves, then stops accepting and finishes in-flight requests.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let app = blu_api::app(self.state);
        let service = ServiceExt::<Request>::into_make_service_with_connect_info::<SocketAddr>(app);
        axum::serve(self.listener, service)
            .with_graceful_shutdown(shutdown)
            .await?;
        Ok(())
    }
}

/// A cache with no prices: everything reads as offline.
struct NoPrices;

impl PriceCache for NoPrices {
    fn snapshot(&self) -> Arc<PriceSnapshot> {
        Arc::new(PriceSnapshot::default())
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown requested; finishing in-flight requests");
}
