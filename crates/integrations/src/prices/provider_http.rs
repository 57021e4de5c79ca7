//! What every price provider call shares (business-rules §2.4): a 5 s timeout, 3 attempts with
//! backoff 1 s then 2 s (configurable so tests are fast), and the provider's own rate limit as a
//! token bucket. Timeouts, connection failures, 5xx and 429 are retried; other 4xx are not.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use blu_app::ports::SourceError;

/// Timeout and retry settings of one provider.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    pub timeout: Duration,
    /// Total attempts (≥ 1).
    pub attempts: u32,
    /// Wait before attempt 2, 3, …; the last value repeats.
    pub backoff: Vec<Duration>,
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy {
            timeout: Duration::from_secs(5),
            attempts: 3,
            backoff: vec![Duration::from_secs(1), Duration::from_secs(2)],
        }
    }
}

impl RetryPolicy {
    fn wait_before(&self, attempt: u32) -> Duration {
        let index = attempt.saturating_sub(2) as usize;
        self.backoff
            .get(index)
            .or(self.backoff.last())
            .copied()
            .unwrap_or_default()
    }
}

/// A token bucket: `capacity` calls, refilled continuously at `capacity` per `period`.
#[derive(Debug)]
pub struct TokenBucket {
    capacity: f64,
    per_second: f64,
    state: Mutex<(f64, Instant)>,
}

impl TokenBucket {
    pub fn new(capacity: u32, period: Duration) -> TokenBucket {
        let capacity = f64::from(capacity.max(1));
        TokenBucket {
            capacity,
            per_second: capacity / period.as_secs_f64().max(0.001),
            state: Mutex::new((capacity, Instant::now())),
        }
    }

    pub fn per_minute(calls: u32) -> TokenBucket {
        TokenBucket::new(calls, Duration::from_secs(60))
    }

    /// Takes one token if there is one.
    pub fn try_take(&self) -> bool {
        let mut state = self.state.lock().expect("token bucket lock");
        let now = Instant::now();
        let (tokens, last) = *state;
        let tokens =
            (tokens + now.duration_since(last).as_secs_f64() * self.per_second).min(self.capacity);
        if tokens >= 1.0 {
            *state = (tokens - 1.0, now);
            true
        } else {
            *state = (tokens, now);
            false
        }
    }
}

/// The HTTP side of one provider.
pub struct ProviderHttp {
    name: &'static str,
    client: reqwest::Client,
    policy: RetryPolicy,
    bucket: TokenBucket,
}

enum Failure {
    Retry(SourceError),
    Final(SourceError),
}

impl ProviderHttp {
    pub fn new(name: &'static str, policy: RetryPolicy, bucket: TokenBucket) -> ProviderHttp {
        ProviderHttp {
            name,
            client: crate::http::client(policy.timeout),
            policy,
            bucket,
        }
    }

    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Sends the request built by `build` until it succeeds or the attempts run out; returns the
    /// body of a 2xx answer. Each attempt takes a token; none left → `RateLimited` at once.
    pub async fn fetch(
        &self,
        build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> Result<String, SourceError> {
        let mut last = SourceError::Unreachable("no attempt made".to_owned());
        for attempt in 1..=self.policy.attempts.max(1) {
            if attempt > 1 {
                tokio::time::sleep(self.policy.wait_before(attempt)).await;
            }
            if !self.bucket.try_take() {
                tracing::warn!(provider = self.name, "local rate limit reached");
                return Err(SourceError::RateLimited);
            }
            match self.attempt(&build).await {
                Ok(body) => return Ok(body),
                Err(Failure::Final(error)) => return Err(error),
                Err(Failure::Retry(error)) => {
                    tracing::info!(provider = self.name, attempt, %error, "provider call failed");
                    last = error;
                }
            }
        }
        Err(last)
    }

    async fn attempt(
        &self,
        build: &impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> Result<String, Failure> {
        // `without_url`: provider URLs can carry keys in their query; never log them.
        let unreachable = |e: reqwest::Error| {
            Failure::Retry(SourceError::Unreachable(e.without_url().to_string()))
        };
        let response = build(&self.client).send().await.map_err(unreachable)?;
        let status = response.status();
        let body = response.text().await.map_err(unreachable)?;
        if status.is_success() {
            Ok(body)
        } else if status.as_u16() == 429 {
            Err(Failure::Retry(SourceError::RateLimited))
        } else if status.is_server_error() {
            Err(Failure::Retry(SourceError::Unreachable(format!(
                "http {status}"
            ))))
        } else {
            Err(Failure::Final(SourceError::Invalid(format!(
                "http {status}"
            ))))
        }
    }
}

/// Parses a provider body, refusing anything that does not have the documented shape.
pub fn parse_body<T: serde::de::DeserializeOwned>(body: &str) -> Result<T, SourceError> {
    serde_json::from_str(body).map_err(|e| SourceError::Invalid(format!("malformed body: {e}")))
}

#[cfg(test)]
pub(crate) mod mock {
    //! A local stand-in for a provider: answers each request with the next scripted response
    //! (the last one repeats) and records the request's path, query and headers.

    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use axum::http::{HeaderMap, StatusCode, Uri};

    use super::RetryPolicy;

    #[derive(Clone)]
    pub struct Reply {
        pub status: u16,
        pub body: &'static str,
        pub delay: Duration,
    }

    pub fn ok(body: &'static str) -> Reply {
        Reply {
            status: 200,
            body,
            delay: Duration::ZERO,
        }
    }

    pub fn status(status: u16, body: &'static str) -> Reply {
        Reply {
            status,
            body,
            delay: Duration::ZERO,
        }
    }

    pub fn slow(body: &'static str) -> Reply {
        Reply {
            status: 200,
            body,
            delay: Duration::from_secs(3),
        }
    }

    #[derive(Clone, Debug)]
    pub struct Seen {
        pub uri: String,
        pub headers: HeaderMap,
    }

    pub type Log = Arc<Mutex<Vec<Seen>>>;

    pub async fn serve(replies: Vec<Reply>) -> (String, Log) {
        let log: Log = Arc::default();
        let state = (Arc::new(replies), log.clone());
        let app = axum::Router::new()
            .fallback(
                |axum::extract::State((replies, log)): axum::extract::State<(
                    Arc<Vec<Reply>>,
                    Log,
                )>,
                 uri: Uri,
                 headers: HeaderMap| async move {
                    let n = {
                        let mut log = log.lock().unwrap();
                        log.push(Seen {
                            uri: uri.to_string(),
                            headers,
                        });
                        log.len()
                    };
                    let reply = replies[(n - 1).min(replies.len() - 1)].clone();
                    tokio::time::sleep(reply.delay).await;
                    (
                        StatusCode::from_u16(reply.status).unwrap(),
                        [("content-type", "application/json")],
                        reply.body,
                    )
                },
            )
            .with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (format!("http://{addr}"), log)
    }

    /// Fast retries for tests: 3 attempts, 10 ms backoff, 500 ms timeout.
    pub fn fast() -> RetryPolicy {
        RetryPolicy {
            timeout: Duration::from_millis(500),
            attempts: 3,
            backoff: vec![Duration::from_millis(10), Duration::from_millis(20)],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_policy_is_five_seconds_three_attempts_one_then_two_seconds() {
        let p = RetryPolicy::default();
        assert_eq!(p.timeout, Duration::from_secs(5));
        assert_eq!(p.attempts, 3);
        assert_eq!(p.wait_before(2), Duration::from_secs(1));
        assert_eq!(p.wait_before(3), Duration::from_secs(2));
    }

    #[test]
    fn a_token_bucket_allows_its_capacity_then_refuses() {
        let bucket = TokenBucket::per_minute(3);
        assert!((0..3).all(|_| bucket.try_take()));
        assert!(!bucket.try_take());
    }

    #[test]
    fn a_token_bucket_refills_over_its_period() {
        let bucket = TokenBucket::new(2, Duration::from_millis(100));
        assert!(bucket.try_take() && bucket.try_take());
        assert!(!bucket.try_take());
        std::thread::sleep(Duration::from_millis(60));
        assert!(bucket.try_take());
    }
}
