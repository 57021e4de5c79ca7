//! Session revocations: announced locally at once, and through Redis pub/sub to the other
//! instances when Redis is configured (they close sockets and invalidate cached sessions,
//! issue 12).

use std::sync::Arc;

use async_trait::async_trait;
use blu_app::ports::{Revocation, Revocations};
use tokio::sync::broadcast;
use tokio::task::AbortHandle;

use super::pubsub::Listening;
use super::spawn_subscriber;

const CAPACITY: usize = 1024;

/// One process: a broadcast channel.
pub struct LocalRevocations {
    sender: broadcast::Sender<Revocation>,
}

impl LocalRevocations {
    pub fn new() -> LocalRevocations {
        LocalRevocations {
            sender: broadcast::channel(CAPACITY).0,
        }
    }
}

impl Default for LocalRevocations {
    fn default() -> Self {
        LocalRevocations::new()
    }
}

#[async_trait]
impl Revocations for LocalRevocations {
    async fn notify(&self, revocation: Revocation) {
        let _ = self.sender.send(revocation);
    }

    fn subscribe(&self) -> broadcast::Receiver<Revocation> {
        self.sender.subscribe()
    }
}

/// Every instance: PUBLISH on `<prefix>sessions:revoked`; each instance's subscriber task
/// re-broadcasts locally. The local delivery also happens directly, so a Redis outage never
/// delays this instance's sockets (a duplicate notice closes nothing twice).
pub struct RedisRevocations {
    connection: redis::aio::ConnectionManager,
    channel: String,
    sender: broadcast::Sender<Revocation>,
    subscriber: AbortHandle,
    listening: Arc<Listening>,
}

impl RedisRevocations {
    pub fn new(
        client: redis::Client,
        connection: redis::aio::ConnectionManager,
        prefix: &str,
    ) -> RedisRevocations {
        let channel = format!("{prefix}sessions:revoked");
        let sender = broadcast::channel(CAPACITY).0;
        let (subscriber, listening) =
            spawn_subscriber(client, channel.clone(), sender.clone(), |payload| {
                serde_json::from_slice(payload).ok()
            });
        RedisRevocations {
            connection,
            channel,
            sender,
            subscriber,
            listening,
        }
    }
}

impl Drop for RedisRevocations {
    fn drop(&mut self) {
        self.subscriber.abort();
    }
}

#[async_trait]
impl Revocations for RedisRevocations {
    async fn notify(&self, revocation: Revocation) {
        let _ = self.sender.send(revocation);
        let payload = serde_json::to_string(&revocation).unwrap_or_default();
        let mut connection = self.connection.clone();
        let published: redis::RedisResult<i64> = redis::cmd("PUBLISH")
            .arg(&self.channel)
            .arg(payload)
            .query_async(&mut connection)
            .await;
        if let Err(e) = published {
            // Other instances catch it on their periodic session check (sockets) and when
            // their cached entry ages out (requests).
            tracing::warn!(error = %e, "revocation not published");
        }
    }

    fn subscribe(&self) -> broadcast::Receiver<Revocation> {
        self.sender.subscribe()
    }

    fn listening(&self) -> Option<u64> {
        self.listening.get()
    }
}
