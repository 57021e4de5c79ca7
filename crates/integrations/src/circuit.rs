//! A shared dependency (Redis) that may be away (issue 10): each call gets a deadline, and after
//! a failure the dependency is left alone for a moment, so a dead Redis costs one bounded wait
//! per second and instance, not one per request. The caller decides what to do instead.

use std::fmt::Display;
use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// How long a failed dependency is left alone before it is tried again.
pub const RETRY_AFTER: Duration = Duration::from_secs(1);

pub struct Circuit {
    /// What is called, for the log ("shared rate limiter").
    what: &'static str,
    /// What is done while it is away, for the log ("counting in memory on this instance").
    instead: &'static str,
    /// A call taking longer than this counts as a failure.
    timeout: Duration,
    /// Set while the dependency is failing: it is not called again before this instant.
    retry_at: Mutex<Option<Instant>>,
}

impl Circuit {
    pub fn new(what: &'static str, instead: &'static str, timeout: Duration) -> Circuit {
        Circuit {
            what,
            instead,
            timeout,
            retry_at: Mutex::new(None),
        }
    }

    /// The call's answer; `None` when it failed, took too long, or was not made because the
    /// dependency failed less than [`RETRY_AFTER`] ago.
    pub async fn call<T, E: Display>(&self, call: impl Future<Output = Result<T, E>>) -> Option<T> {
        if self.retry_at().is_some_and(|at| Instant::now() < at) {
            return None;
        }
        let failure = match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok(answer)) => {
                if self.retry_at().take().is_some() {
                    tracing::info!("{} reachable again", self.what);
                }
                return Some(answer);
            }
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no answer within {} ms", self.timeout.as_millis()),
        };
        let was_up = self
            .retry_at()
            .replace(Instant::now() + RETRY_AFTER)
            .is_none();
        if was_up {
            tracing::warn!(error = %failure, "{} unavailable; {}", self.what, self.instead);
        }
        None
    }

    fn retry_at(&self) -> std::sync::MutexGuard<'_, Option<Instant>> {
        self.retry_at.lock().unwrap_or_else(|p| p.into_inner())
    }
}
