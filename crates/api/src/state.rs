//! Shared state of every handler.

use std::sync::Arc;
use std::time::{Duration, Instant};

use blu_app::Secret;
use blu_app::auth::AuthService;
use blu_app::portfolio::PortfolioService;
use blu_app::ports::{BusinessClock, PriceCache, RateLimiter, SmsGateway, Store};
use blu_app::prices::PriceService;
use metrics_exporter_prometheus::PrometheusHandle;

/// API-level settings (the rest of the configuration is in the services).
#[derive(Clone, Debug)]
pub struct ApiSettings {
    pub version: &'static str,
    pub production: bool,
    /// Enables `/admin/v1` when set.
    pub admin_token: Option<Secret>,
    /// Required on `/metrics` when set.
    pub metrics_token: Option<Secret>,
    /// Allowed CORS origins; empty means any origin (development only).
    pub cors_origins: Vec<String>,
    /// Header holding the client IP when behind a trusted proxy (e.g. `x-forwarded-for`).
    pub trusted_proxy_header: Option<String>,
    /// General limit per user (or IP without a valid token): (max, window).
    pub rate_limit: (u32, Duration),
    pub docs_enabled: bool,
    /// Serves the admin test clock (refused in production).
    pub test_clock: bool,
    /// Prices or FX older than this block money movement (D17: 120 s).
    pub price_max_age: Duration,
    /// Namespace of Redis keys (shared with the other Redis users).
    pub redis_key_prefix: String,
    /// HRAM preset of the rebalance intra-layer weights (business-rules §6.3.2).
    pub hram_preset: blu_domain::hram::HramPreset,
    /// A request unanswered after this long gets 503 (issue 10); its unit of work is dropped,
    /// which rolls its transaction back.
    pub request_timeout: Duration,
}

/// Shared state of every handler. One allocation: the copy that each middleware and extractor
/// takes is one reference count, where a struct of services cost one per service on every
/// layer of every request (issue 12: 3 % of the host's CPU under load, in `perf`).
#[derive(Clone)]
pub struct AppState(Arc<Services>);

impl AppState {
    pub fn new(services: Services) -> AppState {
        AppState(Arc::new(services))
    }
}

impl std::ops::Deref for AppState {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.0
    }
}

/// What the handlers share: the services and settings of this process.
pub struct Services {
    pub settings: Arc<ApiSettings>,
    pub auth: Arc<AuthService>,
    pub portfolio: Arc<PortfolioService>,
    pub protection: Arc<blu_app::portfolio::ProtectionService>,
    /// Operator accounts, sessions and the audit trail (issue 15).
    pub operators: Arc<blu_app::operators::OperatorService>,
    pub store: Arc<dyn Store>,
    pub sms: Arc<dyn SmsGateway>,
    pub limiter: Arc<dyn RateLimiter>,
    pub clock: Arc<BusinessClock>,
    pub prices: Arc<dyn PriceCache>,
    /// The price service behind `prices` (overrides, history).
    pub price_service: Arc<PriceService>,
    pub redis: Option<redis::aio::ConnectionManager>,
    pub metrics: Option<PrometheusHandle>,
    /// Live price streams; `None` when `ENABLE_PRICE_WEBSOCKET=false` (both transports 404).
    pub stream: Option<Arc<crate::stream::StreamHub>>,
    pub started_at: Instant,
    /// The job engine of this process, for `/admin/v1/jobs` (absent when jobs run elsewhere).
    pub jobs: Option<Arc<dyn blu_app::ports::JobRunner>>,
    /// Units of work that run to their end even when their client hangs up
    /// (`middleware::run_to_completion`); shutdown waits for them.
    pub in_flight: tokio_util::task::TaskTracker,
}

impl Services {
    /// Business time (the test clock can move it forward).
    pub fn clock_now(&self) -> blu_domain::Timestamp {
        blu_app::ports::Clock::now(self.clock.as_ref())
    }
}
