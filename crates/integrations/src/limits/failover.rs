//! Rate limits that outlive their shared store (issue 10): while Redis is unreachable or slow,
//! each instance counts in memory instead of making every request wait for Redis and then
//! fail. The limits then hold per instance rather than across instances — a degradation an
//! operator sees in the log, `/ready` and `rate_limiter_fallback_total`, not an outage.

use std::time::Duration;

use async_trait::async_trait;
use blu_app::ports::{Limit, LimiterError, RateDecision, RateLimiter};

use super::MemoryRateLimiter;
use crate::circuit::Circuit;

pub struct FailoverRateLimiter {
    primary: Box<dyn RateLimiter>,
    fallback: MemoryRateLimiter,
    circuit: Circuit,
}

impl FailoverRateLimiter {
    /// A call to the primary taking longer than `timeout` counts as a failure.
    pub fn new(primary: impl RateLimiter + 'static, timeout: Duration) -> FailoverRateLimiter {
        FailoverRateLimiter {
            primary: Box::new(primary),
            fallback: MemoryRateLimiter::new(),
            circuit: Circuit::new(
                "shared rate limiter",
                "counting in memory on this instance",
                timeout,
            ),
        }
    }
}

#[async_trait]
impl RateLimiter for FailoverRateLimiter {
    async fn hit(&self, limits: &[Limit]) -> Result<RateDecision, LimiterError> {
        if let Some(decision) = self.circuit.call(self.primary.hit(limits)).await {
            return Ok(decision);
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
        tokio::time::advance(crate::circuit::RETRY_AFTER + Duration::from_millis(1)).await;
        limiter.hit(&limit(100)).await.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }
}
