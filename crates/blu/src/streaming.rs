//! Wiring of live streaming: the price bus, session revocations and connection slots (Redis
//! when configured, else in-process), and the streaming hub serving both transports.

use std::sync::Arc;

use blu_api::stream::{StreamDeps, StreamHub, StreamSettings};
use blu_app::auth::AuthService;
use blu_app::ports::{ConnectionSlots, PriceBus, PriceCache, Revocations};
use blu_integrations::prices::{MemoryPriceBus, RedisPriceBus};
use blu_integrations::stream::{LocalRevocations, MemorySlots, RedisRevocations, RedisSlots};

use crate::config::Config;

/// The cross-instance adapters of streaming.
pub struct StreamAdapters {
    pub bus: Arc<dyn PriceBus>,
    pub revocations: Arc<dyn Revocations>,
    pub slots: Arc<dyn ConnectionSlots>,
}

impl StreamAdapters {
    pub fn new(
        config: &Config,
        redis: Option<(redis::Client, redis::aio::ConnectionManager)>,
    ) -> StreamAdapters {
        let prefix = config.redis_key_prefix.as_str();
        match redis {
            Some((client, connection)) => StreamAdapters {
                bus: Arc::new(RedisPriceBus::new(
                    client.clone(),
                    connection.clone(),
                    prefix,
                )),
                revocations: Arc::new(RedisRevocations::new(client, connection.clone(), prefix)),
                slots: Arc::new(RedisSlots::new(connection, prefix)),
            },
            None => StreamAdapters {
                bus: Arc::new(MemoryPriceBus::new()),
                revocations: Arc::new(LocalRevocations::new()),
                slots: Arc::new(MemorySlots::new()),
            },
        }
    }

    /// Starts the hub unless `ENABLE_PRICE_WEBSOCKET=false`.
    pub fn hub(
        &self,
        config: &Config,
        auth: Arc<AuthService>,
        prices: Arc<dyn PriceCache>,
    ) -> Option<Arc<StreamHub>> {
        config.enable_price_websocket.then(|| {
            StreamHub::start(StreamDeps {
                auth,
                prices,
                bus: self.bus.clone(),
                slots: self.slots.clone(),
                revocations: self.revocations.clone(),
                settings: StreamSettings {
                    allowed_origins: config.cors_origins.clone(),
                    production: config.is_production(),
                    ..StreamSettings::default()
                },
            })
        })
    }
}
