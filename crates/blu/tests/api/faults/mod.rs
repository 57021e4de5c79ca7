//! Fault injection (issue 10): clients that hang up, a database cut or partitioned, Redis
//! stopped, a server stopped with SIGTERM or killed, a hanging price provider. Each test
//! checks afterwards that nothing acknowledged was lost or done twice, that every ledger
//! verifies, that no PostgreSQL session sits inside a transaction and that the service
//! recovered by itself. Traffic goes to 127.0.0.1 only; every loop is bounded.

mod dependencies;
mod disconnect;
mod driver;
mod process;
mod proxy;

use std::time::{Duration, Instant};

use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::{Value, json};

use crate::helpers::TestApp;

/// A priced server's environment whose general rate limit is out of the way: these tests send
/// far more than 100 requests a minute as one user on purpose.
pub async fn fault_vars() -> std::collections::HashMap<String, String> {
    let mut vars = crate::fixtures::priced_vars().await;
    vars.insert("RATE_LIMIT_MAX_REQUESTS".into(), "1000000".into());
    // Production's bound, so a refusing database answers 503 as promptly as it would in service.
    let acquire = blu_store::PgSettings::DEFAULT_ACQUIRE_TIMEOUT
        .as_millis()
        .to_string();
    vars.insert("DATABASE_ACQUIRE_TIMEOUT_MS".into(), acquire);
    vars
}

/// How a keyed request ended for its client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// An answer arrived: the status.
    Answered(StatusCode),
    /// The client hung up (or the connection failed) before an answer.
    NoAnswer,
}

/// A keyed `POST /portfolio/add-funds` of `amount`.
fn add_funds_request(app: &TestApp, token: &str, key: &str, amount: u64) -> RequestBuilder {
    app.client
        .request(Method::POST, app.url("/api/v1/portfolio/add-funds"))
        .bearer_auth(token)
        .header("Idempotency-Key", key)
        .json(&json!({ "amountIrr": amount }))
}

/// `POST /portfolio/add-funds` of `amount` under `key`, the client giving up after `patience`.
pub async fn add_funds(
    app: &TestApp,
    token: &str,
    key: &str,
    amount: u64,
    patience: Duration,
) -> Outcome {
    match add_funds_request(app, token, key, amount)
        .timeout(patience)
        .send()
        .await
    {
        Ok(response) => Outcome::Answered(response.status()),
        Err(_) => Outcome::NoAnswer,
    }
}

/// Sends a keyed add-funds until it is decided (a 2xx, fresh or replayed), as a client that
/// retries after a lost answer or a 503 would. Panics on a 500 or if no decision comes.
pub async fn settle_add_funds(app: &TestApp, token: &str, key: &str, amount: u64) -> bool {
    let started = Instant::now();
    loop {
        if let Ok(response) = add_funds_request(app, token, key, amount).send().await {
            let status = response.status();
            assert_ne!(status, StatusCode::INTERNAL_SERVER_ERROR, "key {key}");
            if status.is_success() {
                return response.headers().contains_key("idempotent-replayed");
            }
            assert!(
                status == StatusCode::CONFLICT || status == StatusCode::SERVICE_UNAVAILABLE,
                "key {key}: {status}"
            );
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "key {key} was never decided"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The ledger of a portfolio has exactly `entries` entries, its chain verifies and replaying
/// it gives the stored balances.
pub async fn assert_ledger_whole(app: &TestApp, portfolio_id: &str, entries: usize) {
    let report = app.verify_ledger(portfolio_id).await;
    assert_eq!(report["entryCount"], json!(entries), "{report}");
    assert_eq!(report["chain"]["valid"], true, "{report}");
    assert_eq!(report["replay"]["matches"], true, "{report}");
}

/// Sessions of the test database that sit inside a transaction (PostgreSQL), after giving
/// rollbacks already on their way a moment to land.
pub async fn sessions_left_in_a_transaction(database_url: &str) -> i64 {
    use sqlx::Connection;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut connection = sqlx::PgConnection::connect(database_url).await.unwrap();
    sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity \
         WHERE datname = current_database() AND state LIKE 'idle in transaction%'",
    )
    .fetch_one(&mut connection)
    .await
    .unwrap()
}

/// Waits until `/ready` answers with `status` and returns its body.
pub async fn ready_becomes(app: &TestApp, status: StatusCode, within: Duration) -> Value {
    let started = Instant::now();
    loop {
        if let Ok(response) = app
            .client
            .get(app.url("/ready"))
            .timeout(Duration::from_secs(5))
            .send()
            .await
            && response.status() == status
        {
            return response.json().await.unwrap();
        }
        assert!(started.elapsed() < within, "/ready did not become {status}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A random duration in `[from, to)` milliseconds.
pub fn random_millis(from: u64, to: u64) -> Duration {
    let bytes = uuid::Uuid::new_v4().into_bytes();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap());
    Duration::from_millis(from + n % (to - from))
}

/// A random duration in `[0, limit)`, to the microsecond.
pub fn random_below(limit: Duration) -> Duration {
    let bytes = uuid::Uuid::new_v4().into_bytes();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap());
    let micros = u64::try_from(limit.as_micros()).unwrap_or(u64::MAX).max(1);
    Duration::from_micros(n % micros)
}

/// A port of 127.0.0.1 free at the time of asking.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
