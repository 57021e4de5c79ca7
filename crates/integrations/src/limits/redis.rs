//! Redis sliding-log limiter: one Lua script checks every window and records the hit in all of
//! them atomically, using the Redis server's clock so instances with skewed clocks agree.

use async_trait::async_trait;
use blu_app::ports::{Limit, LimiterError, RateDecision, RateLimiter};
use redis::Script;
use redis::aio::ConnectionManager;

/// KEYS: one sorted set per limit. ARGV: max, window_ms pairs, then a unique member suffix.
/// Returns {allowed(0|1), refused_index(-1 when allowed), remaining, retry_after_ms}.
const SCRIPT: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local n = #KEYS
local remaining = -1
for i = 1, n do
  local max = tonumber(ARGV[2 * i - 1])
  local window = tonumber(ARGV[2 * i])
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - window)
  local used = redis.call('ZCARD', KEYS[i])
  if used >= max then
    local oldest = redis.call('ZRANGE', KEYS[i], 0, 0, 'WITHSCORES')
    local retry = window
    if oldest[2] then retry = tonumber(oldest[2]) + window - now end
    return {0, i - 1, 0, retry}
  end
  local left = max - used - 1
  if remaining < 0 or left < remaining then remaining = left end
end
local member = tostring(now) .. ':' .. ARGV[2 * n + 1]
for i = 1, n do
  redis.call('ZADD', KEYS[i], now, member)
  redis.call('PEXPIRE', KEYS[i], tonumber(ARGV[2 * i]))
end
return {1, -1, remaining, 0}
"#;

pub struct RedisRateLimiter {
    connection: ConnectionManager,
    prefix: String,
    script: Script,
}

impl RedisRateLimiter {
    /// `prefix` namespaces the keys (several deployments or tests can share one Redis).
    pub fn new(connection: ConnectionManager, prefix: impl Into<String>) -> RedisRateLimiter {
        RedisRateLimiter {
            connection,
            prefix: prefix.into(),
            script: Script::new(SCRIPT),
        }
    }
}

#[async_trait]
impl RateLimiter for RedisRateLimiter {
    async fn hit(&self, limits: &[Limit]) -> Result<RateDecision, LimiterError> {
        if limits.is_empty() {
            return Ok(RateDecision {
                allowed: true,
                refused_by: None,
                remaining: u32::MAX,
                retry_after_secs: 0,
            });
        }
        let mut invocation = self.script.prepare_invoke();
        for limit in limits {
            invocation.key(format!("{}rl:{}", self.prefix, limit.key));
        }
        for limit in limits {
            invocation
                .arg(limit.max)
                .arg(limit.window.as_millis() as u64);
        }
        invocation.arg(rand::random::<u64>());
        let mut connection = self.connection.clone();
        let (allowed, refused, remaining, retry_ms): (i64, i64, i64, i64) = invocation
            .invoke_async(&mut connection)
            .await
            .map_err(|e| LimiterError(e.to_string()))?;
        Ok(RateDecision {
            allowed: allowed == 1,
            refused_by: usize::try_from(refused).ok(),
            remaining: u32::try_from(remaining.max(0)).unwrap_or(u32::MAX),
            retry_after_secs: (retry_ms.max(0) as u64).div_ceil(1000),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// Runs only where a Redis URL is configured (CI sets REDIS_URL).
    async fn limiter() -> Option<RedisRateLimiter> {
        let url = std::env::var("REDIS_URL").ok()?;
        let client = redis::Client::open(url).ok()?;
        let connection = ConnectionManager::new(client).await.ok()?;
        Some(RedisRateLimiter::new(
            connection,
            format!("test:{}:", rand::random::<u64>()),
        ))
    }

    #[tokio::test]
    async fn redis_refuses_the_fourth_hit_and_reports_when_to_retry() {
        let Some(limiter) = limiter().await else {
            return;
        };
        let limit = [Limit {
            key: "phone".into(),
            max: 3,
            window: Duration::from_secs(300),
        }];
        for _ in 0..3 {
            assert!(limiter.hit(&limit).await.unwrap().allowed);
        }
        let refused = limiter.hit(&limit).await.unwrap();
        assert!(!refused.allowed);
        assert!(
            (299..=300).contains(&refused.retry_after_secs),
            "{refused:?}"
        );
    }

    #[tokio::test]
    async fn redis_records_nothing_when_one_window_refuses() {
        let Some(limiter) = limiter().await else {
            return;
        };
        let tight = Limit {
            key: "tight".into(),
            max: 1,
            window: Duration::from_secs(60),
        };
        let loose = Limit {
            key: "loose".into(),
            max: 2,
            window: Duration::from_secs(60),
        };
        assert!(
            limiter
                .hit(std::slice::from_ref(&tight))
                .await
                .unwrap()
                .allowed
        );
        assert!(!limiter.hit(&[loose.clone(), tight]).await.unwrap().allowed);
        assert!(
            limiter
                .hit(std::slice::from_ref(&loose))
                .await
                .unwrap()
                .allowed
        );
        assert!(
            limiter
                .hit(std::slice::from_ref(&loose))
                .await
                .unwrap()
                .allowed
        );
    }
}
