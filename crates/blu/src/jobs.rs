//! The jobs this server runs (business-rules §10), wired to their use cases.

use std::sync::Arc;

use blu_app::portfolio::ProtectionService;
use blu_app::ports::Store;
use blu_app::prices::PriceService;
use blu_jobs::Job;
use blu_jobs::catalog::{CleanupJob, PricesJob, ProtectionExpiryJob};

pub fn catalog(
    store: Arc<dyn Store>,
    prices: Arc<PriceService>,
    protection: Arc<ProtectionService>,
) -> Vec<Arc<dyn Job>> {
    vec![
        Arc::new(CleanupJob::new(store)),
        Arc::new(PricesJob::new(prices)),
        Arc::new(ProtectionExpiryJob::new(protection)),
    ]
}
