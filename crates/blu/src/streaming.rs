//! Wiring of live streaming: the price bus, session revocations and connection slots (Redis
//! when configured, else in-process), the session cache the revocations invalidate (issue 12),
//! and the streaming hub serving both transports.

use std::sync::Arc;

use blu_api::stream::{StreamDeps, StreamHub, StreamSettings};
use blu_app::auth::{Announcer, AuthService, SessionCache};
use blu_app::ports::{ConnectionSlots, PriceBus, PriceCache, Revocations};
use blu_integrations::prices::{MemoryPriceBus, RedisPriceBus};
use blu_integrations::stream::{LocalRevocations, MemorySlots, RedisRevocations, RedisSlots};

use crate::config::Config;

/// The cross-instance adapters of streaming.
pub struct StreamAdapters {
    pub bus: Arc<dyn PriceBus>,
    /// The bus's revocations behind the session cache's `Announcer`: a revocation announced
    /// here is applied to this instance's cache before it is published.
    pub revocations: Arc<dyn Revocations>,
    pub slots: Arc<dyn ConnectionSlots>,
    /// Live sessions in memory, following every instance's revocations.
    pub sessions: Arc<SessionCache>,
}

impl StreamAdapters {
    pub fn new(
        config: &Config,
        redis: Option<(redis::Client, redis::aio::ConnectionManager)>,
    ) -> StreamAdapters {
        let prefix = config.redis_key_prefix.as_str();
        let (bus, revocations, slots): (
            Arc<dyn PriceBus>,
            Arc<dyn Revocations>,
            Arc<dyn ConnectionSlots>,
        ) = match redis {
            Some((client, connection)) => (
                Arc::new(RedisPriceBus::new(
                    client.clone(),
                    connection.clone(),
                    prefix,
                )),
                Arc::new(RedisRevocations::new(client, connection.clone(), prefix)),
                Arc::new(RedisSlots::new(connection, prefix)),
            ),
            None => (
                Arc::new(MemoryPriceBus::new()),
                Arc::new(LocalRevocations::new()),
                Arc::new(MemorySlots::new()),
            ),
        };
        let sessions = SessionCache::new(config.session_cache);
        sessions.follow(revocations.subscribe());
        StreamAdapters {
            bus,
            revocations: Arc::new(Announcer::new(sessions.clone(), revocations)),
            slots,
            sessions,
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
