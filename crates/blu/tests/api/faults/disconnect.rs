//! Clients that hang up at random points of money movements and token refreshes (issue 10,
//! item 2): the work of a request runs to commit or rollback whatever its client does.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{
    Outcome, add_funds, assert_ledger_whole, random_below, random_millis,
    sessions_left_in_a_transaction, settle_add_funds,
};
use crate::helpers::{TestApp, spawn_from};

const USERS: usize = 3;
const MOVEMENTS_PER_USER: usize = 60;
const REFRESHES_PER_USER: usize = 25;
/// How long a client that does not hang up waits.
const PATIENT: Duration = Duration::from_secs(30);

/// One user's run of keyed add-funds, most of them abandoned by the client at a random point
/// before `patience_limit`.
async fn hang_up_on_movements(
    app: &TestApp,
    token: &str,
    user: usize,
    patience_limit: Duration,
) -> Vec<Outcome> {
    let mut outcomes = Vec::new();
    for i in 0..MOVEMENTS_PER_USER {
        let key = format!("storm-{user}-{i}");
        let patience = random_below(patience_limit).max(Duration::from_micros(200));
        let outcome = add_funds(app, token, &key, amount(i), patience).await;
        if let Outcome::Answered(status) = &outcome {
            assert!(!status.is_server_error(), "{key}: {status}");
        }
        outcomes.push(outcome);
    }
    outcomes
}

/// Every amount differs, so a movement done twice would show in the balance too.
fn amount(i: usize) -> u64 {
    10_000_000 + i as u64
}

/// Refreshes that the client abandons at random points. A rotation whose answer was lost is
/// asked again with the same token at once: within the grace window it answers the rotation
/// that happened (D32) instead of taking it for reuse. The chain must never be revoked.
async fn hang_up_on_refreshes(app: &TestApp, mut refresh: String) -> String {
    for attempt in 0..=REFRESHES_PER_USER {
        // The last attempt waits for its answer, as a client that retries a lost one does.
        let patience = if attempt == REFRESHES_PER_USER {
            PATIENT
        } else {
            random_millis(1, 30)
        };
        let sent = app
            .client
            .post(app.url("/api/v1/auth/refresh"))
            .json(&json!({ "refreshToken": refresh }))
            .timeout(patience)
            .send()
            .await;
        let Ok(response) = sent else {
            continue;
        };
        let status = response.status();
        assert_ne!(status, StatusCode::UNAUTHORIZED, "the session was revoked");
        assert!(!status.is_server_error(), "{status}");
        if let Ok(pair) = response.json::<Value>().await {
            refresh = pair["refreshToken"].as_str().unwrap().to_owned();
        }
    }
    refresh
}

async fn cash(app: &TestApp, token: &str) -> u64 {
    let portfolio: Value = app
        .get_auth("/api/v1/portfolio", token)
        .await
        .json()
        .await
        .unwrap();
    portfolio["cashIrr"].to_string().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_hang_up_mid_request_lose_nothing_and_leave_no_transaction_open() {
    let vars = super::fault_vars().await;
    let app = spawn_from(vars.clone()).await;
    // Hang-ups land anywhere in a request, however fast this machine answers one: the
    // clients give up within twice the slowest of a few unhurried movements (under the
    // storm's concurrency requests take longer still, so most are abandoned mid-way).
    let (pacer, _) = app.funded(100_000_000).await;
    let mut slowest = Duration::ZERO;
    for i in 0..5 {
        let started = std::time::Instant::now();
        let outcome = add_funds(
            &app,
            &pacer.access,
            &format!("pace-{i}"),
            amount(i),
            PATIENT,
        )
        .await;
        assert_eq!(outcome, Outcome::Answered(StatusCode::OK));
        slowest = slowest.max(started.elapsed());
    }
    let mut users = Vec::new();
    let mut cash_before = Vec::new();
    for _ in 0..USERS {
        let (session, portfolio_id) = app.funded(100_000_000).await;
        cash_before.push(cash(&app, &session.access).await);
        users.push((session, portfolio_id));
    }
    let storms = users.iter().enumerate().map(|(user, (session, _))| {
        let app = &app;
        async move {
            let (outcomes, refresh) = tokio::join!(
                hang_up_on_movements(app, &session.access, user, slowest * 2),
                hang_up_on_refreshes(app, session.refresh.clone())
            );
            (outcomes, refresh)
        }
    });
    let results = futures::future::join_all(storms).await;
    let abandoned = results
        .iter()
        .flat_map(|(outcomes, _)| outcomes)
        .filter(|o| **o == Outcome::NoAnswer)
        .count();
    assert!(
        abandoned > USERS * MOVEMENTS_PER_USER / 3,
        "only {abandoned} hang-ups"
    );

    // Every key is retried until decided: an answered key replays, and each key's movement
    // is in the ledger exactly once.
    for (user, ((session, portfolio_id), (outcomes, refresh))) in
        users.iter().zip(&results).enumerate()
    {
        for (i, outcome) in outcomes.iter().enumerate() {
            let key = format!("storm-{user}-{i}");
            let replayed = settle_add_funds(&app, &session.access, &key, amount(i)).await;
            if matches!(outcome, Outcome::Answered(s) if s.is_success()) {
                assert!(replayed, "{key} was acknowledged, then done again");
            }
        }
        assert_ledger_whole(&app, portfolio_id, 1 + MOVEMENTS_PER_USER).await;
        let added: u64 = (0..MOVEMENTS_PER_USER).map(amount).sum();
        assert_eq!(cash(&app, &session.access).await, cash_before[user] + added);
        // The refresh chain is intact: one more rotation works.
        let last = app
            .post("/api/v1/auth/refresh", json!({ "refreshToken": refresh }))
            .await;
        assert_eq!(last.status(), StatusCode::OK);
    }
    if let Some(url) = vars.get("DATABASE_URL") {
        assert_eq!(sessions_left_in_a_transaction(url).await, 0);
    }
}

/// A request that outlives `REQUEST_TIMEOUT_SECONDS` is answered 503 and its key released, so
/// the retry runs (and nothing was half-written).
#[tokio::test]
async fn a_request_past_its_deadline_answers_503_and_its_key_can_be_retried() {
    let mut vars = super::fault_vars().await;
    vars.insert("REQUEST_TIMEOUT_SECONDS".into(), "1".into());
    let Some(url) = vars.get("DATABASE_URL").cloned() else {
        // A statement that outlives the deadline is easy to make only on PostgreSQL.
        return;
    };
    let app = spawn_from(vars).await;
    let (session, portfolio_id) = app.funded(100_000_000).await;
    // Hold the portfolio's row lock from outside so the movement waits past its deadline.
    let mut blocker = {
        use sqlx::Connection;
        sqlx::PgConnection::connect(&url).await.unwrap()
    };
    let mut tx = sqlx::Connection::begin(&mut blocker).await.unwrap();
    sqlx::query("SELECT 1 FROM portfolios FOR UPDATE")
        .execute(&mut *tx)
        .await
        .unwrap();
    let blocked = add_funds(
        &app,
        &session.access,
        "deadline",
        amount(0),
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(blocked, Outcome::Answered(StatusCode::SERVICE_UNAVAILABLE));
    tx.rollback().await.unwrap();
    assert!(!settle_add_funds(&app, &session.access, "deadline", amount(0)).await);
    assert_ledger_whole(&app, &portfolio_id, 2).await;
    assert_eq!(sessions_left_in_a_transaction(&url).await, 0);
}
