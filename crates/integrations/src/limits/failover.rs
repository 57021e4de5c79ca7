//! Rate limits that outlive their shared store (issue 10): while Redis is unreachable or slow,
//! each instance counts in memory instead of making every request wait for Redis and then
//! fail. The limits then hold per instance rather than across instances — a degradation an
//! operator sees in the log, `/ready` and `rate_limiter_fallback_total`, not an outage.

use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use blu_app::ports::{Limit, LimiterError, RateDecision, RateLimiter};
use tokio::time::Instant;

use super::MemoryRateLimiter;

/// How long the shared limiter is left alone after a failure before it is tried again, so a
/// dead Redis costs one bounded wait per second and instance, not one per request.
const RETRY_PRIMARY_AFTER: Duration = Duration::from_secs(1);

pub struct FailoverRateLimiter {
    primary: Box<dyn RateLimiter>,
    fallback: MemoryRateLimiter,
    /// A call to the primary taking longer than this counts as a failure.
    timeout: Duration,
    /// Set while the primary is failing: it is not asked again before this instant.
    retry_primary_at: Mutex<Option<Instant>>,
}

impl FailoverRateLimiter {
    pub fn new(primary: impl RateLimiter + 'static, timeout: Duration) -> FailoverRateLimiter {
        FailoverRateLimiter {
            primary: Box::new(primary),
            fallback: MemoryRateLimiter::new(),
            timeout,
            retry_primary_at: Mutex::new(None),
        }
    }

    fn down_since(&self) -> std::sync::MutexGuard<'_, Option<Instant>> {
        self.retry_primary_at
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl RateLimiter for FailoverRateLimiter {
    async fn hit(&self, limits: &[Limit]) -> Result<RateDecision, LimiterError> {
        let skip = self.down_since().is_some_and(|at| Instant::now() < at);
        if !skip {
            let failure = match tokio::time::timeout(self.timeout, self.primary.hit(limits)).await {
                Ok(Ok(decision)) => {
                    if self.down_since().take().is_some() {
                        tracing::info!("shared rate limiter reachable again");
                    }
                    return Ok(decision);
                }
                Ok(Err(e)) => e.0,
                Err(_) => format!("no answer within {} ms", self.timeout.as_millis()),
            };
            let was_up = self
                .down_since()
                .replace(Instant::now() + RETRY_PRIMARY_AFTER)
                .is_none();
            if was_up {
                tracing::warn!(error = %failure, "shared rate limiter unavailable; counting in memory on this instance");
            }
        }
        metrics::counter!("rate_limiter_fallback_total").increment(1);
        self.fallback.hit(limits).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    /// A shared limiter that always fails, or never answers.
    struct Broken {
        calls: Arc<AtomicU32>,
        hang: bool,
    }

    #[async_trait]
    impl RateLimiter for Broken {
        async fn hit(&self, _: &[Limit]) -> Result<RateDecision, LimiterError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            if self.hang {
                std::future::pending::<()>().await;
            }
            Err(LimiterError("connection refused".into()))
        }
    }

    fn broken(hang: bool) -> (FailoverRateLimiter, Arc<AtomicU32>) {
        let calls = Arc::new(AtomicU32::new(0));
        let primary = Broken {
            calls: calls.clone(),
            hang,
        };
        (
            FailoverRateLimiter::new(primary, Duration::from_millis(50)),
            calls,
        )
    }

    fn limit(max: u32) -> [Limit; 1] {
        [Limit {
            key: "k".into(),
            max,
            window: Duration::from_secs(60),
        }]
    }

    #[tokio::test]
    async fn a_failing_shared_limiter_is_replaced_by_memory_limits_that_still_refuse() {
        let (limiter, _) = broken(false);
        assert!(limiter.hit(&limit(2)).await.unwrap().allowed);
        assert!(limiter.hit(&limit(2)).await.unwrap().allowed);
        assert!(!limiter.hit(&limit(2)).await.unwrap().allowed);
    }

    #[tokio::test]
    async fn a_hanging_shared_limiter_is_asked_once_then_left_alone_for_a_while() {
        let (limiter, calls) = broken(true);
        for _ in 0..20 {
            assert!(limiter.hit(&limit(100)).await.unwrap().allowed);
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn the_shared_limiter_is_tried_again_after_a_second() {
        let (limiter, calls) = broken(false);
        limiter.hit(&limit(100)).await.unwrap();
        tokio::time::advance(RETRY_PRIMARY_AFTER + Duration::from_millis(1)).await;
        limiter.hit(&limit(100)).await.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }
}
