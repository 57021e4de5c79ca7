//! A one-process price bus (a tokio broadcast channel). Stand-in used by the streaming work
//! until the price service's `MemoryPriceBus` lands; behaves the same.

use std::sync::Arc;

use async_trait::async_trait;
use blu_app::ports::{BusError, PriceBus, PriceTick};
use tokio::sync::broadcast;

/// Ticks kept for a lagging subscriber before it skips ahead.
pub const BUS_CAPACITY: usize = 256;

pub struct LocalPriceBus {
    sender: broadcast::Sender<Arc<PriceTick>>,
}

impl LocalPriceBus {
    pub fn new() -> LocalPriceBus {
        LocalPriceBus {
            sender: broadcast::channel(BUS_CAPACITY).0,
        }
    }
}

impl Default for LocalPriceBus {
    fn default() -> Self {
        LocalPriceBus::new()
    }
}

#[async_trait]
impl PriceBus for LocalPriceBus {
    async fn publish(&self, tick: &PriceTick) -> Result<(), BusError> {
        // No subscriber is not an error: nobody is watching.
        let _ = self.sender.send(Arc::new(tick.clone()));
        Ok(())
    }

    fn subscribe(&self) -> broadcast::Receiver<Arc<PriceTick>> {
        self.sender.subscribe()
    }
}
