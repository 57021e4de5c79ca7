//! Per-user price connection slots (business-rules §11: at most 5, across instances and both
//! transports). In Redis a slot is a member of the user's sorted set scored by its expiry, so
//! a crashed instance's slots expire on their own.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use blu_app::ports::{ConnectionSlots, SlotError};
use redis::Script;
use redis::aio::ConnectionManager;
use uuid::Uuid;

/// One process.
#[derive(Default)]
pub struct MemorySlots {
    open: Mutex<HashMap<Uuid, Vec<Uuid>>>,
}

impl MemorySlots {
    pub fn new() -> MemorySlots {
        MemorySlots::default()
    }
}

#[async_trait]
impl ConnectionSlots for MemorySlots {
    async fn acquire(
        &self,
        user_id: Uuid,
        connection: Uuid,
        max: u32,
        _ttl: Duration,
    ) -> Result<bool, SlotError> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let held = open.entry(user_id).or_default();
        if held.len() >= max as usize {
            return Ok(false);
        }
        held.push(connection);
        Ok(true)
    }

    async fn refresh(&self, _user_id: Uuid, _connection: Uuid, _ttl: Duration) {}

    async fn release(&self, user_id: Uuid, connection: Uuid) {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(held) = open.get_mut(&user_id) {
            held.retain(|c| *c != connection);
            if held.is_empty() {
                open.remove(&user_id);
            }
        }
    }
}

/// KEYS[1]: the user's set. ARGV: connection id, max, ttl in ms. Returns 1 when taken.
const ACQUIRE: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  return 0
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]))
return 1
"#;

/// KEYS[1]: the user's set. ARGV: connection id, ttl in ms. Extends a live slot only.
const REFRESH: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
end
return 1
"#;

/// Every instance.
pub struct RedisSlots {
    connection: ConnectionManager,
    prefix: String,
    acquire: Script,
    refresh: Script,
}

impl RedisSlots {
    pub fn new(connection: ConnectionManager, prefix: impl Into<String>) -> RedisSlots {
        RedisSlots {
            connection,
            prefix: prefix.into(),
            acquire: Script::new(ACQUIRE),
            refresh: Script::new(REFRESH),
        }
    }

    fn key(&self, user_id: Uuid) -> String {
        format!("{}ws:conn:{user_id}", self.prefix)
    }
}

#[async_trait]
impl ConnectionSlots for RedisSlots {
    async fn acquire(
        &self,
        user_id: Uuid,
        connection: Uuid,
        max: u32,
        ttl: Duration,
    ) -> Result<bool, SlotError> {
        let mut redis = self.connection.clone();
        let taken: i64 = self
            .acquire
            .key(self.key(user_id))
            .arg(connection.to_string())
            .arg(max)
            .arg(ttl.as_millis() as u64)
            .invoke_async(&mut redis)
            .await
            .map_err(|e| SlotError(e.to_string()))?;
        Ok(taken == 1)
    }

    async fn refresh(&self, user_id: Uuid, connection: Uuid, ttl: Duration) {
        let mut redis = self.connection.clone();
        let result: redis::RedisResult<i64> = self
            .refresh
            .key(self.key(user_id))
            .arg(connection.to_string())
            .arg(ttl.as_millis() as u64)
            .invoke_async(&mut redis)
            .await;
        if let Err(e) = result {
            tracing::warn!(error = %e, "connection slot not refreshed");
        }
    }

    async fn release(&self, user_id: Uuid, connection: Uuid) {
        let mut redis = self.connection.clone();
        let result: redis::RedisResult<i64> = redis::cmd("ZREM")
            .arg(self.key(user_id))
            .arg(connection.to_string())
            .query_async(&mut redis)
            .await;
        if let Err(e) = result {
            tracing::warn!(error = %e, "connection slot not released; it expires on its own");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn redis_slots() -> Option<RedisSlots> {
        let url = std::env::var("REDIS_URL").ok()?;
        let client = redis::Client::open(url).ok()?;
        let connection = ConnectionManager::new(client).await.ok()?;
        Some(RedisSlots::new(
            connection,
            format!("test:{}:", Uuid::new_v4().simple()),
        ))
    }

    async fn refuses_the_sixth_and_frees_a_released_slot(slots: &dyn ConnectionSlots) {
        let user = Uuid::new_v4();
        let ttl = Duration::from_secs(60);
        let connections: Vec<Uuid> = (0..5).map(|_| Uuid::new_v4()).collect();
        for c in &connections {
            assert!(slots.acquire(user, *c, 5, ttl).await.unwrap());
        }
        assert!(!slots.acquire(user, Uuid::new_v4(), 5, ttl).await.unwrap());
        assert!(
            slots
                .acquire(Uuid::new_v4(), Uuid::new_v4(), 5, ttl)
                .await
                .unwrap()
        );
        slots.release(user, connections[0]).await;
        assert!(slots.acquire(user, Uuid::new_v4(), 5, ttl).await.unwrap());
    }

    #[tokio::test]
    async fn memory_slots_refuse_the_sixth_connection_and_free_a_released_one() {
        refuses_the_sixth_and_frees_a_released_slot(&MemorySlots::new()).await;
    }

    #[tokio::test]
    async fn redis_slots_refuse_the_sixth_connection_and_free_a_released_one() {
        let Some(slots) = redis_slots().await else {
            return;
        };
        refuses_the_sixth_and_frees_a_released_slot(&slots).await;
    }

    #[tokio::test]
    async fn redis_slots_of_a_crashed_instance_expire_by_themselves() {
        let Some(slots) = redis_slots().await else {
            return;
        };
        let user = Uuid::new_v4();
        let short = Duration::from_millis(200);
        for _ in 0..5 {
            assert!(slots.acquire(user, Uuid::new_v4(), 5, short).await.unwrap());
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(
            slots
                .acquire(user, Uuid::new_v4(), 5, Duration::from_secs(60))
                .await
                .unwrap()
        );
    }
}
