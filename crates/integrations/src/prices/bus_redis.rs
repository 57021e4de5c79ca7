//! The price bus across instances (api.md §12.2): a tick is PUBLISHed as compact JSON on
//! `<prefix>prices:ticks`; every instance's subscriber task re-broadcasts it into a local
//! channel, so each instance fans it out to its own sockets. The latest full state (every
//! price and the FX rate ever published) is also kept in the hash `<prefix>prices:state`, one
//! field per asset plus `FX`, for connection snapshots and instances that start later.
//!
//! Decimals travel as canonical strings and instants as microseconds, so a round trip is exact.

use std::sync::Arc;

use async_trait::async_trait;
use blu_app::ports::{BusError, FxQuote, PriceBus, PriceQuote, PriceSnapshot, PriceTick};
use blu_domain::{AssetId, Timestamp};
use redis::aio::ConnectionManager;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use tokio::task::AbortHandle;

use super::bus_memory::BUS_CAPACITY;
use crate::stream::spawn_subscriber;

#[derive(Serialize, Deserialize)]
struct WirePrice {
    a: String,
    usd: Decimal,
    irr: Decimal,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    chg: Option<Decimal>,
    src: String,
    at: i64,
}

#[derive(Serialize, Deserialize)]
struct WireFx {
    irr: Decimal,
    src: String,
    at: i64,
}

#[derive(Serialize, Deserialize)]
struct WireTick {
    at: i64,
    #[serde(default)]
    p: Vec<WirePrice>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    fx: Option<WireFx>,
}

impl From<&PriceQuote> for WirePrice {
    fn from(q: &PriceQuote) -> Self {
        WirePrice {
            a: q.asset.as_str().to_owned(),
            usd: q.price_usd,
            irr: q.price_irr,
            chg: q.change_24h_pct,
            src: q.source.clone(),
            at: q.fetched_at.as_micros(),
        }
    }
}

impl WirePrice {
    fn quote(self) -> Option<PriceQuote> {
        Some(PriceQuote {
            asset: self.a.parse::<AssetId>().ok()?,
            price_usd: self.usd,
            price_irr: self.irr,
            change_24h_pct: self.chg,
            source: self.src,
            fetched_at: Timestamp::from_micros(self.at),
        })
    }
}

impl From<&FxQuote> for WireFx {
    fn from(fx: &FxQuote) -> Self {
        WireFx {
            irr: fx.usd_irr,
            src: fx.source.clone(),
            at: fx.fetched_at.as_micros(),
        }
    }
}

impl WireFx {
    fn quote(self) -> FxQuote {
        FxQuote {
            usd_irr: self.irr,
            source: self.src,
            fetched_at: Timestamp::from_micros(self.at),
        }
    }
}

fn encode(tick: &PriceTick) -> String {
    let wire = WireTick {
        at: tick.at.as_micros(),
        p: tick.prices.iter().map(WirePrice::from).collect(),
        fx: tick.fx.as_ref().map(WireFx::from),
    };
    serde_json::to_string(&wire).unwrap_or_default()
}

fn decode(payload: &[u8]) -> Option<Arc<PriceTick>> {
    let wire: WireTick = serde_json::from_slice(payload).ok()?;
    Some(Arc::new(PriceTick {
        prices: wire.p.into_iter().filter_map(WirePrice::quote).collect(),
        fx: wire.fx.map(WireFx::quote),
        at: Timestamp::from_micros(wire.at),
    }))
}

pub struct RedisPriceBus {
    connection: ConnectionManager,
    channel: String,
    state_key: String,
    sender: broadcast::Sender<Arc<PriceTick>>,
    subscriber: AbortHandle,
}

impl RedisPriceBus {
    /// Starts the subscriber task (a dedicated pub/sub connection from `client`).
    pub fn new(
        client: redis::Client,
        connection: ConnectionManager,
        prefix: &str,
    ) -> RedisPriceBus {
        let channel = format!("{prefix}prices:ticks");
        let sender = broadcast::channel(BUS_CAPACITY).0;
        let (subscriber, _) = spawn_subscriber(client, channel.clone(), sender.clone(), decode);
        RedisPriceBus {
            connection,
            channel,
            state_key: format!("{prefix}prices:state"),
            sender,
            subscriber,
        }
    }

    /// The latest full state published by any instance.
    pub async fn latest(&self) -> Result<PriceSnapshot, BusError> {
        let mut redis = self.connection.clone();
        let fields: Vec<(String, String)> = redis::cmd("HGETALL")
            .arg(&self.state_key)
            .query_async(&mut redis)
            .await
            .map_err(|e| BusError(e.to_string()))?;
        let mut snapshot = PriceSnapshot::default();
        for (field, json) in fields {
            if field == "FX" {
                snapshot.fx = serde_json::from_str::<WireFx>(&json)
                    .ok()
                    .map(WireFx::quote);
            } else if let Some(quote) = serde_json::from_str::<WirePrice>(&json)
                .ok()
                .and_then(WirePrice::quote)
            {
                let index = quote.asset.index();
                snapshot.prices[index] = Some(quote);
            }
        }
        Ok(snapshot)
    }
}

impl Drop for RedisPriceBus {
    fn drop(&mut self) {
        self.subscriber.abort();
    }
}

#[async_trait]
impl PriceBus for RedisPriceBus {
    async fn publish(&self, tick: &PriceTick) -> Result<(), BusError> {
        let mut pipe = redis::pipe();
        pipe.atomic();
        for quote in &tick.prices {
            let json = serde_json::to_string(&WirePrice::from(quote)).unwrap_or_default();
            pipe.hset(&self.state_key, quote.asset.as_str(), json)
                .ignore();
        }
        if let Some(fx) = &tick.fx {
            let json = serde_json::to_string(&WireFx::from(fx)).unwrap_or_default();
            pipe.hset(&self.state_key, "FX", json).ignore();
        }
        pipe.publish(&self.channel, encode(tick)).ignore();
        let mut redis = self.connection.clone();
        pipe.query_async::<()>(&mut redis)
            .await
            .map_err(|e| BusError(e.to_string()))
    }

    fn subscribe(&self) -> broadcast::Receiver<Arc<PriceTick>> {
        self.sender.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use rust_decimal_macros::dec;

    use super::*;

    fn tick() -> PriceTick {
        PriceTick {
            prices: vec![PriceQuote {
                asset: AssetId::Btc,
                price_usd: dec!(97500.12345678),
                price_irr: dec!(141960179750.0),
                change_24h_pct: Some(dec!(-2.5)),
                source: "coingecko".into(),
                fetched_at: Timestamp::from_micros(1_768_910_400_123_456),
            }],
            fx: Some(FxQuote {
                usd_irr: dec!(1456000),
                source: "bonbast".into(),
                fetched_at: Timestamp::from_micros(1_768_910_380_000_000),
            }),
            at: Timestamp::from_micros(1_768_910_405_000_000),
        }
    }

    #[test]
    fn a_tick_survives_the_wire_format_exactly() {
        let original = tick();
        let decoded = decode(encode(&original).as_bytes()).expect("decodes");
        assert_eq!(*decoded, original);
    }

    #[test]
    fn a_malformed_payload_is_skipped() {
        assert!(decode(b"not json").is_none());
    }

    async fn bus(prefix: &str) -> Option<RedisPriceBus> {
        let url = std::env::var("REDIS_URL").ok()?;
        let client = redis::Client::open(url).ok()?;
        let connection = ConnectionManager::new(client.clone()).await.ok()?;
        Some(RedisPriceBus::new(client, connection, prefix))
    }

    #[tokio::test]
    async fn a_tick_published_by_one_instance_reaches_another_and_the_state_is_kept() {
        let prefix = format!("test:{}:", uuid::Uuid::new_v4().simple());
        let (Some(a), Some(b)) = (bus(&prefix).await, bus(&prefix).await) else {
            return;
        };
        let mut received = b.subscribe();
        // The subscriber task connects in the background; publish until it is listening.
        let arrived = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                a.publish(&tick()).await.unwrap();
                if let Ok(Ok(t)) =
                    tokio::time::timeout(Duration::from_millis(100), received.recv()).await
                {
                    return t;
                }
            }
        })
        .await
        .expect("tick delivered across instances");
        assert_eq!(*arrived, tick());
        let latest = b.latest().await.unwrap();
        assert_eq!(latest.price(AssetId::Btc), Some(&tick().prices[0]));
        assert_eq!(latest.fx, tick().fx);
    }
}
