//! The jobs this server runs (business-rules §10), wired to their use cases.

use std::sync::Arc;

use blu_app::notifications::{NotificationService, StatusRefresh};
use blu_app::portfolio::PortfolioService;
use blu_app::ports::{Clock, NotificationStore, Store};
use blu_app::prices::PriceService;
use blu_app::protection::ProtectionService;
use blu_jobs::catalog::{
    CleanupJob, LoanHealthJob, NotificationsJob, PricesJob, ProbeJob, ProtectionExpiryJob,
    RemindersJob, StatusRefreshJob,
};
use blu_jobs::{EngineSettings, Job};

use crate::config::Config;

/// What the notification jobs and the cleanup need besides the store.
pub struct Outbox {
    pub store: Arc<dyn NotificationStore>,
    pub service: Arc<NotificationService>,
    pub clock: Arc<dyn Clock>,
    pub status_refresh: Arc<StatusRefresh>,
}

pub fn catalog(
    config: &Config,
    store: Arc<dyn Store>,
    prices: Arc<PriceService>,
    portfolio: Arc<PortfolioService>,
    protection: Arc<ProtectionService>,
    outbox: Outbox,
) -> Vec<Arc<dyn Job>> {
    let mut jobs: Vec<Arc<dyn Job>> = vec![
        Arc::new(CleanupJob::new(store, outbox.store, outbox.clock)),
        Arc::new(PricesJob::new(prices, config.price_refresh_interval)),
        Arc::new(NotificationsJob::new(outbox.service.clone())),
        Arc::new(RemindersJob::new(outbox.service)),
        Arc::new(StatusRefreshJob::new(outbox.status_refresh)),
        Arc::new(LoanHealthJob::new(portfolio)),
        Arc::new(ProtectionExpiryJob::new(protection)),
    ];
    if let Some((interval, work)) = config.job_probe {
        jobs.push(Arc::new(ProbeJob::new(interval, work)));
    }
    jobs
}

/// Engine settings from the configuration; the worker id names the process.
pub fn engine_settings(config: &Config) -> EngineSettings {
    EngineSettings {
        worker_id: format!(
            "worker-{}-{}",
            std::process::id(),
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        ),
        lease: config.job_lease,
        heartbeat: config.job_lease / 3,
        poll: config.job_poll,
        ..EngineSettings::default()
    }
}
