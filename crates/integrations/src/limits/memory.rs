//! In-memory sliding-log limiter for the embedded default (one process).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use blu_app::ports::{Limit, LimiterError, RateDecision, RateLimiter};

/// Keys idle longer than this are dropped during sweeps, so memory stays bounded.
const SWEEP_EVERY: u64 = 4_096;

#[derive(Default)]
pub struct MemoryRateLimiter {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    logs: HashMap<String, (Duration, VecDeque<Instant>)>,
    hits: u64,
}

impl MemoryRateLimiter {
    pub fn new() -> MemoryRateLimiter {
        MemoryRateLimiter::default()
    }

    fn decide(&self, limits: &[Limit], now: Instant) -> RateDecision {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.hits += 1;
        if state.hits.is_multiple_of(SWEEP_EVERY) {
            state.logs.retain(|_, (window, log)| {
                log.back()
                    .is_some_and(|last| now.duration_since(*last) < *window)
            });
        }
        let mut remaining = u32::MAX;
        for (index, limit) in limits.iter().enumerate() {
            let (window, log) = state
                .logs
                .entry(limit.key.clone())
                .or_insert_with(|| (limit.window, VecDeque::new()));
            *window = limit.window;
            while log
                .front()
                .is_some_and(|t| now.duration_since(*t) >= limit.window)
            {
                log.pop_front();
            }
            let used = log.len() as u32;
            if used >= limit.max {
                let oldest = log.front().copied().unwrap_or(now);
                let retry = limit.window.saturating_sub(now.duration_since(oldest));
                return RateDecision {
                    allowed: false,
                    refused_by: Some(index),
                    remaining: 0,
                    retry_after_secs: retry.as_secs() + u64::from(retry.subsec_nanos() > 0),
                };
            }
            remaining = remaining.min(limit.max - used - 1);
        }
        for limit in limits {
            if let Some((_, log)) = state.logs.get_mut(&limit.key) {
                log.push_back(now);
            }
        }
        RateDecision {
            allowed: true,
            refused_by: None,
            remaining,
            retry_after_secs: 0,
        }
    }
}

#[async_trait]
impl RateLimiter for MemoryRateLimiter {
    async fn hit(&self, limits: &[Limit]) -> Result<RateDecision, LimiterError> {
        Ok(self.decide(limits, Instant::now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(key: &str, max: u32, secs: u64) -> Limit {
        Limit {
            key: key.into(),
            max,
            window: Duration::from_secs(secs),
        }
    }

    #[test]
    fn the_fourth_hit_in_a_window_of_three_is_refused_with_a_retry_time() {
        let limiter = MemoryRateLimiter::new();
        let start = Instant::now();
        for _ in 0..3 {
            assert!(limiter.decide(&[limit("k", 3, 300)], start).allowed);
        }
        let refused = limiter.decide(&[limit("k", 3, 300)], start + Duration::from_secs(10));
        assert!(!refused.allowed);
        assert_eq!(refused.retry_after_secs, 290);
        assert!(
            limiter
                .decide(&[limit("k", 3, 300)], start + Duration::from_secs(300))
                .allowed
        );
    }

    #[test]
    fn a_refusal_by_one_window_consumes_no_other_window() {
        let limiter = MemoryRateLimiter::new();
        let now = Instant::now();
        assert!(limiter.decide(&[limit("tight", 1, 60)], now).allowed);
        let both = [limit("loose", 5, 60), limit("tight", 1, 60)];
        let refused = limiter.decide(&both, now);
        assert_eq!(refused.refused_by, Some(1));
        for _ in 0..5 {
            assert!(limiter.decide(&[limit("loose", 5, 60)], now).allowed);
        }
    }
}
