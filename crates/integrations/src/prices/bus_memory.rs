//! The in-process price bus (one instance, or tests): a tokio broadcast channel. With several
//! instances the Redis bus carries ticks between them instead.

use std::sync::Arc;

use async_trait::async_trait;
use blu_app::ports::{BusError, PriceBus, PriceTick};
use tokio::sync::broadcast;

/// Ticks a slow subscriber may fall behind before it starts missing them (it then reloads).
pub const BUS_CAPACITY: usize = 256;

pub struct MemoryPriceBus {
    sender: broadcast::Sender<Arc<PriceTick>>,
}

impl Default for MemoryPriceBus {
    fn default() -> MemoryPriceBus {
        MemoryPriceBus::new()
    }
}

impl MemoryPriceBus {
    pub fn new() -> MemoryPriceBus {
        MemoryPriceBus {
            sender: broadcast::channel(BUS_CAPACITY).0,
        }
    }
}

#[async_trait]
impl PriceBus for MemoryPriceBus {
    async fn publish(&self, tick: &PriceTick) -> Result<(), BusError> {
        // No subscriber is not an error: nobody is listening yet.
        let _ = self.sender.send(Arc::new(tick.clone()));
        Ok(())
    }

    fn subscribe(&self) -> broadcast::Receiver<Arc<PriceTick>> {
        self.sender.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use blu_domain::Timestamp;

    use super::*;

    #[tokio::test]
    async fn every_subscriber_receives_each_published_tick() {
        let bus = MemoryPriceBus::new();
        bus.publish(&PriceTick {
            prices: vec![],
            fx: None,
            at: Timestamp::from_seconds(1),
        })
        .await
        .unwrap();
        let (mut a, mut b) = (bus.subscribe(), bus.subscribe());
        let tick = PriceTick {
            prices: vec![],
            fx: None,
            at: Timestamp::from_seconds(2),
        };
        bus.publish(&tick).await.unwrap();
        assert_eq!(*a.recv().await.unwrap(), tick);
        assert_eq!(*b.recv().await.unwrap(), tick);
    }
}
