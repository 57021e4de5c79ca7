//! Wiring: builds every adapter from the configuration, then serves until shutdown.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use axum::ServiceExt;
use axum::extract::Request;
use blu_api::{ApiSettings, AppState, Services};
use blu_app::auth::{AuthService, AuthSettings};
use blu_app::notifications::{NotificationService, StatusRefresh};
use blu_app::portfolio::PortfolioService;
use blu_app::ports::{BusinessClock, PriceBus, PriceCache, RateLimiter, SmsGateway, Store};
use blu_integrations::limits::{FailoverRateLimiter, MemoryRateLimiter, RedisRateLimiter};
use blu_integrations::quotes::RedisQuoteBook;
use blu_integrations::sms::{KavenegarConfig, KavenegarGateway, LogSmsGateway};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;

use blu_jobs::JobEngine;

use crate::config::{Config, SmsProvider};
use crate::streaming::StreamAdapters;

/// A built server, bound to its port, not yet serving.
pub struct Application {
    /// Absent for `blu worker`, which serves no HTTP.
    listener: Option<TcpListener>,
    state: AppState,
    price_bus: Arc<dyn PriceBus>,
    /// The prices job; stopped when the server stops.
    price_follower: blu_app::prices::PriceFollower,
    /// The job engine (scheduled unless `RUN_JOBS=false`; admin "run now" either way).
    jobs: Arc<JobEngine>,
    run_jobs: bool,
    /// After the shutdown signal, how long in-flight work may take before the process exits.
    shutdown_grace: Duration,
    /// Error reporting (`SENTRY_DSN`), wrapped around the whole service.
    reporter: Option<Arc<crate::sentry::Reporter>>,
    /// Database gauges for `/metrics` (pool, outbox, jobs, replica lag); stops with the server.
    _sampler: Option<crate::ops_metrics::Sampler>,
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

/// The longest a Redis command (or a connection attempt) may take before it counts as failed.
const REDIS_COMMAND_TIMEOUT: Duration = Duration::from_millis(500);

/// One quick reconnection attempt per command instead of six with backoff.
fn redis_manager_config() -> redis::aio::ConnectionManagerConfig {
    redis::aio::ConnectionManagerConfig::new()
        .set_connection_timeout(Some(REDIS_COMMAND_TIMEOUT))
        .set_response_timeout(Some(REDIS_COMMAND_TIMEOUT))
        .set_number_of_retries(1)
        .set_min_delay(Duration::from_millis(50))
        .set_max_delay(Duration::from_millis(200))
}

/// Opens the database (running migrations) as configured.
pub async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    Ok(open_database(config).await?.into_store())
}

/// Opens the database (running migrations) as configured, with its concrete backend.
pub async fn open_database(config: &Config) -> anyhow::Result<blu_store::Database> {
    blu_store::connect_with_replica(
        config.database_url.as_deref(),
        config.database_replica_url.as_deref(),
        &config.data_dir,
        config.database,
    )
    .await
    .context("opening the database")
}

impl Application {
    pub async fn build(config: Config) -> anyhow::Result<Application> {
        Application::build_as(config, true).await
    }

    /// `blu worker`: everything but the HTTP listener.
    pub async fn build_worker(config: Config) -> anyhow::Result<Application> {
        Application::build_as(config, false).await
    }

    async fn build_as(config: Config, serve_http: bool) -> anyhow::Result<Application> {
        // A worker is always a second process beside `blu serve`; one SQLite file is for one
        // instance (architecture.md), and `blu serve` runs the jobs itself there.
        let on_postgres = config
            .database_url
            .as_deref()
            .is_some_and(|u| u.starts_with("postgres://") || u.starts_with("postgresql://"));
        if !serve_http && !on_postgres {
            bail!(
                "blu worker needs a PostgreSQL DATABASE_URL: on SQLite, blu serve runs the jobs \
                 itself (RUN_JOBS=true)"
            );
        }
        let reporter = crate::sentry::Reporter::from_config(&config);
        crate::sentry::install(reporter.clone());
        let database = open_database(&config).await?;
        // Installed before anything records (the price warm-up sets gauges).
        let metrics = metrics_handle();
        let sampled = serve_http.then(|| database.clone());
        let portfolio_store = database.portfolio_store();
        if serve_http {
            // Claims left IN_PROGRESS by a process that died (SQLite: the previous `blu serve`
            // of this file) are released, so their keys can be retried at once.
            let released = portfolio_store
                .release_abandoned_idempotency()
                .await
                .context("releasing abandoned idempotency claims")?;
            if released > 0 {
                tracing::info!(released, "idempotency claims of a stopped process released");
            }
        }
        let notification_store = database.notification_store();
        let status_store = database.status_store();
        let protection_store = database.protection_store();
        let operator_store: Arc<dyn blu_app::ports::OperatorStore> = Arc::new(database.clone());
        let store = database.into_store();
        let redis_client = match &config.redis_url {
            Some(url) => Some(
                redis::Client::open(url.as_str()).context("REDIS_URL is not a valid Redis URL")?,
            ),
            None => None,
        };
        // Lazy: the server starts (and serves, with per-instance limits) while Redis is down,
        // and connects when it returns. Bounded: a dead or hanging Redis costs each command at
        // most about a second, never the default 6 retries with backoff (issue 10).
        let redis = match &redis_client {
            Some(client) => Some(
                redis::aio::ConnectionManager::new_lazy_with_config(
                    client.clone(),
                    redis_manager_config(),
                )
                .context("configuring Redis")?,
            ),
            None => None,
        };
        let streaming = StreamAdapters::new(&config, redis_client.zip(redis.clone()));
        let limiter: Arc<dyn RateLimiter> = match &redis {
            Some(connection) => Arc::new(FailoverRateLimiter::new(
                RedisRateLimiter::new(connection.clone(), config.redis_key_prefix.clone()),
                REDIS_COMMAND_TIMEOUT,
            )),
            None => Arc::new(MemoryRateLimiter::new()),
        };
        let operators = Arc::new(blu_app::operators::OperatorService::new(
            operator_store,
            limiter.clone(),
        ));
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
        )
        .with_session_cache(streaming.sessions.clone())
        .with_revocations(streaming.revocations.clone());
        let auth = Arc::new(auth);
        let (price_service, price_follower) =
            crate::prices::start(&config, store.clone(), clock.clone(), streaming.bus.clone())
                .await?;
        let prices: Arc<dyn PriceCache> = price_service.clone();
        let mut portfolio = PortfolioService::new(
            portfolio_store,
            prices.clone(),
            clock.clone(),
            config.price_max_age,
        )
        .with_liquidation_ltv(config.liquidation_ltv)
        .with_revocations(streaming.revocations.clone());
        if let Some(connection) = &redis {
            // Binding quotes in Redis, shared by every instance (api.md §1.15).
            portfolio = portfolio.with_quote_book(|database| {
                Arc::new(RedisQuoteBook::new(
                    connection.clone(),
                    config.redis_key_prefix.clone(),
                    database,
                    REDIS_COMMAND_TIMEOUT,
                ))
            });
        }
        let portfolio = Arc::new(portfolio);
        let protection = Arc::new(blu_app::portfolio::ProtectionService::new(
            portfolio.clone(),
            protection_store,
            config.protection_pricing_model,
        ));
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
            redis_key_prefix: config.redis_key_prefix.clone(),
            hram_preset: config.hram_preset,
            request_timeout: config.request_timeout,
        };
        let outbox = crate::jobs::Outbox {
            service: Arc::new(NotificationService::new(
                notification_store.clone(),
                crate::push::sender(&config)?,
                clock.clone(),
            )),
            status_refresh: Arc::new(StatusRefresh::new(
                portfolio.clone(),
                status_store,
                notification_store.clone(),
                prices.clone(),
                clock.clone(),
            )),
            store: notification_store,
            clock: clock.clone(),
        };
        let shared_clock = redis.clone().filter(|_| config.test_clock).map(|redis| {
            crate::job_overrides::SharedClock {
                redis,
                key_prefix: config.redis_key_prefix.clone(),
                clock: clock.clone(),
            }
        });
        let catalog = crate::jobs::catalog(
            &config,
            store.clone(),
            price_service.clone(),
            portfolio.clone(),
            protection.clone(),
            outbox,
        );
        let jobs = Arc::new(JobEngine::new(
            store.clone(),
            crate::job_overrides::apply(catalog, &config.job_intervals, shared_clock),
            crate::jobs::engine_settings(&config),
        ));
        crate::prices::warm_up(&config, &price_service, jobs.clone()).await;
        let sampler = sampled.map(|database| {
            crate::ops_metrics::spawn(
                database,
                config.database_replica_url.is_some(),
                price_service.clone(),
            )
        });
        let state = AppState::new(Services {
            settings: Arc::new(settings),
            auth: auth.clone(),
            portfolio,
            protection,
            operators,
            store,
            sms,
            limiter,
            clock,
            prices: prices.clone(),
            price_service,
            redis,
            metrics,
            started_at: Instant::now(),
            jobs: Some(jobs.clone()),
            stream: streaming.hub(&config, auth, prices.clone()),
            in_flight: tokio_util::task::TaskTracker::new(),
        });
        let listener = if serve_http {
            let address = SocketAddr::from(([0, 0, 0, 0], config.port));
            Some(
                TcpListener::bind(address)
                    .await
                    .with_context(|| format!("binding port {}", config.port))?,
            )
        } else {
            None
        };
        tracing::info!(
            port = listener.as_ref().and_then(|l| l.local_addr().ok()).map(|a| a.port()),
            role = if serve_http { "serve" } else { "worker" },
            database = state.store.backend(),
            redis = config.redis_url.is_some(),
            environment = ?config.environment,
            "server ready"
        );
        if config.generated_secrets {
            tracing::info!(path = %config.data_dir.join("admin-token").display(), "development secrets in use; admin token stored at path");
        }
        Ok(Application {
            listener,
            state,
            price_bus: streaming.bus,
            price_follower,
            run_jobs: config.run_jobs,
            jobs,
            shutdown_grace: config.shutdown_grace,
            reporter,
            _sampler: sampler,
        })
    }

    /// The price bus of this instance (the price service publishes here; tests may too).
    pub fn price_bus(&self) -> Arc<dyn PriceBus> {
        self.price_bus.clone()
    }

    /// The authentication service of this instance (tests read its `stats()`).
    pub fn auth(&self) -> Arc<blu_app::auth::AuthService> {
        self.state.auth.clone()
    }

    pub fn port(&self) -> u16 {
        self.listener
            .as_ref()
            .and_then(|l| l.local_addr().ok())
            .map(|a| a.port())
            .unwrap_or(0)
    }

    /// Serves until `shutdown` resolves, then stops gracefully within `SHUTDOWN_GRACE_SECONDS`
    /// (issue 10): stops accepting, closes WebSocket and Socket.IO connections (1012), lets
    /// in-flight requests and units of work whose client hung up finish, lets in-flight job
    /// runs finish, and returns. Whatever is still running at the deadline is abandoned: its
    /// transaction rolls back, its job lease runs out and another worker retries it.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let (stop_jobs, jobs) = self.start_jobs();
        let hub = self.state.stream.clone();
        let in_flight = self.state.in_flight.clone();
        let app = tower::Layer::layer(
            &axum::middleware::from_fn_with_state(self.reporter.clone(), crate::sentry::report),
            blu_api::app(self.state),
        );
        let service = ServiceExt::<Request>::into_make_service_with_connect_info::<SocketAddr>(app);
        let (stopping, mut stop_requested) = tokio::sync::watch::channel(false);
        let shutdown = async move {
            shutdown.await;
            let _ = stopping.send(true);
            // Open sockets close with 1012 so clients reconnect elsewhere (api.md §12.3).
            if let Some(hub) = hub {
                hub.shutdown().await;
            }
        };
        let listener = self.listener.context("a worker serves no HTTP")?;
        let server = axum::serve(listener, service)
            .with_graceful_shutdown(shutdown)
            .into_future();
        tokio::pin!(server);
        let drained = tokio::select! {
            served = &mut server => {
                served?;
                true
            }
            _ = stop_requested.wait_for(|stopping| *stopping) => false,
        };
        let deadline = tokio::time::Instant::now() + self.shutdown_grace;
        if !drained
            && tokio::time::timeout_at(deadline, &mut server)
                .await
                .is_err()
        {
            tracing::warn!("connections still open at the end of the shutdown grace; closing them");
        }
        in_flight.close();
        if tokio::time::timeout_at(deadline, in_flight.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                still_running = in_flight.len(),
                "units of work still running at the end of the shutdown grace; they roll back"
            );
        }
        // In-flight job runs finish before the process exits (their leases would otherwise
        // make another worker wait a full lease before retrying).
        let _ = stop_jobs.send(true);
        if let Some(jobs) = jobs
            && tokio::time::timeout_at(deadline, jobs).await.is_err()
        {
            tracing::warn!("a job run was still running at the end of the shutdown grace");
        }
        self.price_follower.stop();
        tracing::info!("stopped");
        Ok(())
    }

    fn start_jobs(
        &self,
    ) -> (
        tokio::sync::watch::Sender<bool>,
        Option<tokio::task::JoinHandle<()>>,
    ) {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let handle = self
            .run_jobs
            .then(|| tokio::spawn(self.jobs.clone().run_until_stopped(stopped)));
        (stop, handle)
    }

    /// `blu worker`: the job engine (and the price loop) without serving HTTP.
    pub async fn run_worker(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let engine = tokio::spawn(self.jobs.clone().run_until_stopped(stopped));
        shutdown.await;
        let _ = stop.send(true);
        // A run still going at the deadline is abandoned: its lease runs out and another
        // worker takes the tick over.
        if tokio::time::timeout(self.shutdown_grace, engine)
            .await
            .is_err()
        {
            tracing::warn!("a job run was still running at the end of the shutdown grace");
        }
        self.price_follower.stop();
        tracing::info!("stopped");
        Ok(())
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
