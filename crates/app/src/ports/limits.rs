//! The rate-limit port. In memory for one process; Redis-backed when several instances must
//! share counters.

use std::time::Duration;

use async_trait::async_trait;

/// One sliding-window limit: at most `max` hits per `window` for `key`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limit {
    pub key: String,
    pub max: u32,
    pub window: Duration,
}

/// The verdict for a set of limits checked together.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateDecision {
    pub allowed: bool,
    /// Index (in the request) of the first limit that refused.
    pub refused_by: Option<usize>,
    /// Hits left in the tightest window after this one (0 when refused).
    pub remaining: u32,
    /// Seconds until the refusing window admits another hit (0 when allowed).
    pub retry_after_secs: u64,
}

#[derive(Debug, thiserror::Error)]
#[error("rate limiter unavailable: {0}")]
pub struct LimiterError(pub String);

#[async_trait]
pub trait RateLimiter: Send + Sync {
    /// Checks every limit; only when all admit the hit is it recorded in each window
    /// (all or nothing, so a refused request does not consume another window's budget).
    async fn hit(&self, limits: &[Limit]) -> Result<RateDecision, LimiterError>;
}
