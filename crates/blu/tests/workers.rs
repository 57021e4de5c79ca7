//! Two real `blu worker` processes on one PostgreSQL database and one Redis run the real jobs
//! (issue 6): every tick of every job runs exactly once, every item is acted on once (one
//! liquidation entry per loan, one settlement entry per protection, each notification delivered
//! once to a local FCM mock), and killing one worker (SIGKILL) in the middle of a run loses
//! nothing: the survivor finishes the killed tick after its lease runs out and does all later
//! work, once. Skipped without PostgreSQL and Redis (the workers adopt the test clock through
//! Redis).
//!
//! The API server runs in this process with `RUN_JOBS=false`, so only the workers run jobs.
//! The real jobs tick every 2 s (`JOB_INTERVALS`) and leases last 3 s. The diagnostic `probe`
//! job ticks every 3 s and works 1.2 s per run, which makes a moment when a run is in flight
//! easy to find. A job never overlaps itself, so a slot is skipped while the job's previous run
//! is still in flight (a killed worker's run until its lease runs out): only such gaps are
//! allowed.

use std::collections::{BTreeMap, HashMap};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::routing::post;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::{PgPool, Row};
use tokio::process::{Child, Command};

#[path = "api/fixtures.rs"]
#[allow(dead_code)]
mod fixtures;
#[path = "api/helpers.rs"]
#[allow(dead_code)]
mod helpers;

use helpers::{ADMIN_TOKEN, Session, TestApp};

const PROBE_MS: i64 = 3000;
const JOB_MS: i64 = 2000;
/// The jobs `JOB_INTERVALS` puts on a 2-s schedule.
const SHORT_JOBS: [&str; 5] = [
    "loan-health",
    "protection-expiry",
    "notifications",
    "reminders",
    "status-refresh",
];
/// A slot skipped while the previous run was in flight is claimed by the next poll (100 ms)
/// after that run finished; this is the margin for the poll and the database round trips.
const CLAIM_SLACK_MS: i64 = 700;
const DAY: i64 = 86_400;

fn worker(vars: &HashMap<String, String>) -> Child {
    Command::new(env!("CARGO_BIN_EXE_blu"))
        .arg("worker")
        .env_clear()
        .envs(vars)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("blu worker starts")
}

async fn wait_for<T>(
    what: &str,
    timeout: Duration,
    mut check: impl AsyncFnMut() -> Option<T>,
) -> T {
    let start = Instant::now();
    loop {
        if let Some(found) = check().await {
            return found;
        }
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn now_ms() -> i64 {
    blu_app::ports::real_now().as_micros() / 1000
}

// ---------------------------------------------------------------------------------------------
// job_runs
// ---------------------------------------------------------------------------------------------

/// A tick as recorded in `job_runs`.
#[derive(Debug)]
struct Tick {
    job: String,
    scheduled_ms: i64,
    finished_ms: Option<i64>,
    status: String,
    attempts: i32,
    owner_pid: Option<u32>,
    result_pid: Option<u32>,
}

/// Every engine tick (`prices` still runs its own claim loop and is not an engine job here).
async fn all_ticks(pool: &PgPool) -> Vec<Tick> {
    let rows = sqlx::query(
        "SELECT job_name, (EXTRACT(EPOCH FROM scheduled_at) * 1000)::BIGINT AS ms, \
         (EXTRACT(EPOCH FROM finished_at) * 1000)::BIGINT AS finished_ms, status, attempts, \
         lease_owner, (result ->> 'pid')::BIGINT AS pid \
         FROM job_runs WHERE job_name <> 'prices' ORDER BY job_name, scheduled_at",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    rows.iter()
        .map(|r| Tick {
            job: r.get("job_name"),
            scheduled_ms: r.get("ms"),
            finished_ms: r.get("finished_ms"),
            status: r.get("status"),
            attempts: r.get("attempts"),
            // lease_owner is `worker-<pid>-<random>`.
            owner_pid: r
                .get::<Option<String>, _>("lease_owner")
                .and_then(|o| o.split('-').nth(1).and_then(|p| p.parse().ok())),
            result_pid: r
                .get::<Option<i64>, _>("pid")
                .and_then(|p| u32::try_from(p).ok()),
        })
        .collect()
}

async fn ticks(pool: &PgPool) -> Vec<Tick> {
    let mut all = all_ticks(pool).await;
    all.retain(|t| t.job == "probe");
    all
}

/// Consecutive probe ticks, each finished once by one worker; a slot may be missing only right
/// after `takeover` (the tick taken over from a killed worker).
fn assert_every_tick_ran_once(done: &[&Tick], takeover: Option<i64>) {
    for pair in done.windows(2) {
        let gap = pair[1].scheduled_ms - pair[0].scheduled_ms;
        let after_takeover = takeover.is_some_and(|t| pair[0].scheduled_ms == t);
        assert!(
            gap == PROBE_MS || (after_takeover && gap == 2 * PROBE_MS),
            "no tick lost or doubled: {done:?}"
        );
    }
    for tick in done {
        assert_eq!(tick.status, "SUCCEEDED", "{tick:?}");
        assert!(tick.result_pid.is_some(), "{tick:?}");
    }
}

/// Every tick of the real jobs SUCCEEDED (one row per tick is the claim's primary key); the
/// short-interval jobs ran in consecutive slots except where the previous run was still in
/// flight. Only a tick in flight at `killed_at` (ms) was taken over (attempt 2), and nothing is
/// left RUNNING but each job's current tick.
fn assert_real_ticks_ran_once(all: &[Tick], killed_at: Option<i64>) {
    let real: Vec<&Tick> = all.iter().filter(|t| t.job != "probe").collect();
    for job in SHORT_JOBS {
        let ticks: Vec<&Tick> = real.iter().copied().filter(|t| t.job == job).collect();
        let done: Vec<&Tick> = ticks
            .iter()
            .copied()
            .filter(|t| t.status != "RUNNING")
            .collect();
        assert!(done.len() >= 3, "{job} ticked: {ticks:?}");
        if let Some(running) = ticks.iter().position(|t| t.status == "RUNNING") {
            assert_eq!(
                running,
                ticks.len() - 1,
                "only the current tick runs: {ticks:?}"
            );
        }
        for pair in done.windows(2) {
            let (previous, next) = (pair[0], pair[1]);
            let gap = next.scheduled_ms - previous.scheduled_ms;
            let finished = previous.finished_ms.unwrap_or(i64::MAX);
            assert!(
                gap == JOB_MS
                    || (gap > JOB_MS && next.scheduled_ms - JOB_MS < finished + CLAIM_SLACK_MS),
                "{job}: a slot was skipped although no run was in flight: {previous:?} → {next:?}"
            );
        }
    }
    for tick in real.iter().filter(|t| t.status != "RUNNING") {
        assert_eq!(tick.status, "SUCCEEDED", "{tick:?}");
        let taken_over = killed_at.is_some_and(|k| tick.scheduled_ms <= k);
        assert!(
            tick.attempts == 1 || (tick.attempts == 2 && taken_over),
            "one attempt, two only for a tick in flight at the kill: {tick:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The ledger and the outbox
// ---------------------------------------------------------------------------------------------

/// LOAN_LIQUIDATE entries per loan id.
async fn liquidations(pool: &PgPool) -> BTreeMap<String, i64> {
    let rows = sqlx::query(
        "SELECT loan_id::text AS id, count(*) AS n FROM ledger \
         WHERE entry_type = 'LOAN_LIQUIDATE' GROUP BY loan_id",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    rows.iter().map(|r| (r.get("id"), r.get("n"))).collect()
}

/// Settlement entries (PROTECTION_PAYOUT or PROTECTION_EXPIRE) per protection id.
async fn settlements(pool: &PgPool) -> BTreeMap<String, i64> {
    let rows = sqlx::query(
        "SELECT protection_id::text AS id, count(*) AS n FROM ledger \
         WHERE entry_type IN ('PROTECTION_PAYOUT', 'PROTECTION_EXPIRE') GROUP BY protection_id",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    rows.iter().map(|r| (r.get("id"), r.get("n"))).collect()
}

/// An outbox row with its recipient's device token.
#[derive(Debug)]
struct Notice {
    user: String,
    kind: String,
    entity: String,
    title: String,
    body: String,
    token: Option<String>,
    delivered: bool,
    last_error: Option<String>,
    attempts: i32,
}

async fn notices(pool: &PgPool) -> Vec<Notice> {
    let rows = sqlx::query(
        "SELECT n.user_id::text AS user_id, n.kind, n.entity_id, n.title, n.body, \
         u.notification_token, n.delivered_at IS NOT NULL AS delivered, n.last_error, n.attempts \
         FROM notifications n JOIN users u ON u.id = n.user_id ORDER BY n.created_at, n.id",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    rows.iter()
        .map(|r| Notice {
            user: r.get("user_id"),
            kind: r.get("kind"),
            entity: r.get("entity_id"),
            title: r.get("title"),
            body: r.get("body"),
            token: r.get("notification_token"),
            delivered: r.get("delivered"),
            last_error: r.get("last_error"),
            attempts: r.get("attempts"),
        })
        .collect()
}

type Sends = Arc<Mutex<Vec<Value>>>;

/// Google's token endpoint and the FCM HTTP v1 send endpoint, recording every send.
async fn fcm_mock() -> (String, Sends) {
    let sends: Sends = Arc::default();
    let app = axum::Router::new()
        .route(
            "/token",
            post(|| async { axum::Json(json!({"access_token": "ya29.test", "expires_in": 3599})) }),
        )
        .route(
            "/v1/projects/blu-test/messages:send",
            post(
                |State(sends): State<Sends>, axum::Json(body): axum::Json<Value>| async move {
                    sends.lock().unwrap().push(body);
                    axum::Json(json!({"name": "projects/blu-test/messages/1"}))
                },
            ),
        )
        .with_state(sends.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{address}"), sends)
}

/// (token, title, body) of each message, sorted: the multiset the outbox must match.
fn sent_messages(sends: &Sends) -> Vec<(String, String, String)> {
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let mut sent: Vec<_> = sends
        .lock()
        .unwrap()
        .iter()
        .map(|s| {
            let m = &s["message"];
            (
                text(&m["token"]),
                text(&m["notification"]["title"]),
                text(&m["notification"]["body"]),
            )
        })
        .collect();
    sent.sort();
    sent
}

/// Waits until every outbox row is closed and the mock has received as many messages.
async fn wait_for_delivery(pool: &PgPool, sends: &Sends) -> Vec<Notice> {
    let start = Instant::now();
    loop {
        let rows = notices(pool).await;
        let open = rows.iter().any(|n| !n.delivered);
        let sent = sent_messages(sends);
        if !open && sent.len() >= rows.len() {
            return rows;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "timed out waiting for every notification to be delivered: {rows:#?}\nsent: {sent:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Each outbox row was delivered on its first attempt, and the provider received exactly one
/// message per row: no duplicate, none lost.
fn assert_each_notice_delivered_once(rows: &[Notice], sends: &Sends) {
    for n in rows {
        assert!(n.delivered && n.last_error.is_none(), "delivered: {n:?}");
        assert_eq!(n.attempts, 1, "one delivery attempt: {n:?}");
    }
    let mut expected: Vec<(String, String, String)> = rows
        .iter()
        .map(|n| {
            let token = n.token.clone().expect("every recipient has a device token");
            (token, n.title.clone(), n.body.clone())
        })
        .collect();
    expected.sort();
    assert_eq!(sent_messages(sends), expected, "one push per outbox row");
}

fn count(rows: &[Notice], user: &str, kind: &str, entity: Option<&str>) -> usize {
    rows.iter()
        .filter(|n| n.user == user && n.kind == kind && entity.is_none_or(|e| n.entity == e))
        .count()
}

// ---------------------------------------------------------------------------------------------
// The API steps
// ---------------------------------------------------------------------------------------------

/// A user of the test with a funded portfolio and a device token.
struct Customer {
    session: Session,
    id: String,
    portfolio_id: String,
}

impl TestApp {
    async fn admin_send(&self, method: Method, path: &str, body: Value) -> Value {
        let r = self
            .client
            .request(method, self.url(path))
            .bearer_auth(ADMIN_TOKEN)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        r.json().await.unwrap()
    }

    /// A permanent BTC price: the workers take it from the database on the next bus tick.
    async fn btc_at(&self, price_usd: u64) {
        let body = json!({"priceUsd": price_usd, "reason": "two-worker test"});
        self.admin_send(Method::PUT, "/admin/v1/overrides/prices/BTC", body)
            .await;
    }

    /// Moves business time (shared with the workers through Redis).
    async fn advance(&self, seconds: i64) {
        self.admin_send(
            Method::POST,
            "/admin/v1/clock/advance",
            json!({"seconds": seconds}),
        )
        .await;
    }

    async fn customer(&self, device: &str) -> Customer {
        let (session, portfolio_id) = self.funded(1_000_000_000).await;
        let settings = json!({"notificationsEnabled": true, "notificationToken": device});
        let r = self.put_settings(&session.access, settings).await;
        assert_eq!(r.status(), StatusCode::OK);
        let id = session.body["user"]["id"].as_str().unwrap().to_owned();
        Customer {
            session,
            id,
            portfolio_id,
        }
    }

    /// A 3-month loan on the customer's BTC; returns its id.
    async fn borrow(&self, c: &Customer, amount: u64) -> String {
        let body = json!({"collateralAssetId": "BTC", "amountIrr": amount, "durationMonths": 3});
        let r = self
            .post_auth("/api/v1/loans", &c.session.access, body)
            .await;
        assert_eq!(r.status(), StatusCode::CREATED);
        let body: Value = r.json().await.unwrap();
        body["loan"]["id"].as_str().unwrap().to_owned()
    }

    /// A 30-day protection of the customer's whole BTC holding; returns its id.
    async fn protect(&self, c: &Customer) -> String {
        let token = c.session.access.as_str();
        let r = self
            .post_auth(
                "/api/v1/portfolio/add-funds",
                token,
                json!({"amountIrr": 20_000_000}),
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        let r = self
            .get_auth(
                "/api/v1/protection/quote?assetId=BTC&durationDays=30",
                token,
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        let quote: Value = r.json().await.unwrap();
        let body = json!({"quoteId": quote["quote"]["quoteId"], "acknowledgedPremium": true});
        let r = self
            .post_auth("/api/v1/protection/purchase", token, body)
            .await;
        let body: Value = r.json().await.unwrap();
        body["protection"]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("a protection was bought: {body}"))
            .to_owned()
    }

    async fn assert_ledger_verified(&self, c: &Customer) {
        let report = self.verify_ledger(&c.portfolio_id).await;
        assert_eq!(report["chain"]["valid"], true, "{report}");
        assert_eq!(report["replay"]["matches"], true, "{report}");
    }
}

/// Waits until each of `ids` has an entry in what `read` counts.
async fn wait_for_entries<F>(what: &str, pool: &PgPool, ids: &[&String], read: F)
where
    F: AsyncFn(&PgPool) -> BTreeMap<String, i64>,
{
    wait_for(what, Duration::from_secs(30), async || {
        let per_id = read(pool).await;
        ids.iter().all(|id| per_id.contains_key(*id)).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_run_the_real_jobs_exactly_once_and_a_killed_workers_work_is_not_lost() {
    if helpers::postgres_url().is_none() || helpers::redis_url().is_none() {
        eprintln!(
            "DATABASE_URL (PostgreSQL) or REDIS_URL is not set: skipping the two-worker test"
        );
        return;
    }
    let (fcm, sends) = fcm_mock().await;
    let account = json!({
        "type": "service_account",
        "project_id": "blu-test",
        "client_email": "push@blu-test.iam.gserviceaccount.com",
        "private_key": include_str!("../../integrations/src/push/test_rsa_key.pem"),
        "token_uri": format!("{fcm}/token"),
    });
    let account_file = std::env::temp_dir().join(format!("blu-fcm-{}.json", uuid::Uuid::new_v4()));
    std::fs::write(&account_file, account.to_string()).unwrap();
    let account_path = account_file.to_string_lossy().into_owned();
    let prices = fixtures::price_file();
    let vars = helpers::test_vars(&[
        ("PRICE_SOURCE", prices.as_str()),
        ("TEST_CLOCK", "1"),
        ("RUN_JOBS", "false"),
        ("ENABLE_PUSH_NOTIFICATIONS", "true"),
        ("FCM_SERVICE_ACCOUNT_FILE", account_path.as_str()),
        ("FCM_BASE_URL", fcm.as_str()),
        (
            "JOB_INTERVALS",
            "loan-health=2,protection-expiry=2,notifications=2,reminders=2,status-refresh=2",
        ),
        ("JOB_PROBE_SECONDS", "3"),
        ("JOB_PROBE_WORK_MS", "1200"),
        ("JOB_LEASE_SECONDS", "3"),
        ("JOB_POLL_MS", "100"),
        // Every instance reloads prices (and overrides) at least this often, bus or not.
        ("PRICE_REFRESH_SECONDS", "2"),
    ])
    .await;
    // The API server (migrations included); it runs no job itself.
    let app = helpers::spawn_from(vars.clone()).await;
    let pool = PgPool::connect(&vars["DATABASE_URL"]).await.unwrap();
    let mut a = worker(&vars);
    let mut b = worker(&vars);
    let pids = [a.id().unwrap(), b.id().unwrap()];

    // Customers the jobs must act on: two loans that a price drop liquidates, a small loan
    // that stays healthy and is reminded of its installments, two protections that expire.
    let doomed = [
        app.customer("device-a").await,
        app.customer("device-b").await,
    ];
    let mut loans = Vec::new();
    for c in &doomed {
        loans.push(app.borrow(c, 30_000_000).await);
    }
    let payer = app.customer("device-c").await;
    let small_loan = app.borrow(&payer, 2_000_000).await;
    let insured = [
        app.customer("device-d").await,
        app.customer("device-e").await,
    ];
    let mut protections = Vec::new();
    for c in &insured {
        protections.push(app.protect(c).await);
    }

    // Phase 1, both workers alive.
    // BTC from 97,500 to 30,000 USD: both 30M loans (LTV ≈ 0.42) pass 1.00 and are liquidated;
    // the 2M loan stays HEALTHY.
    app.btc_at(30_000).await;
    let doomed_loans: Vec<&String> = loans.iter().collect();
    wait_for_entries("both liquidations", &pool, &doomed_loans, liquidations).await;
    // Day 13: installment 1 of the small loan (day 15) is due within 3 days.
    app.advance(13 * DAY).await;
    wait_for(
        "the installment reminder",
        Duration::from_secs(30),
        async || {
            let rows = notices(&pool).await;
            (count(&rows, &payer.id, "INSTALLMENT_DUE", None) >= 1).then_some(())
        },
    )
    .await;
    // Day 28: both protections (day 30) expire within 7 days.
    app.advance(15 * DAY).await;
    wait_for(
        "both expiry reminders",
        Duration::from_secs(30),
        async || {
            let rows = notices(&pool).await;
            insured
                .iter()
                .all(|c| count(&rows, &c.id, "PROTECTION_EXPIRING", None) == 1)
                .then_some(())
        },
    )
    .await;
    // Day 30 + 1 min: both protections expired in the money (strike 97,500, spot 30,000).
    app.advance(2 * DAY + 60).await;
    let insured_protections: Vec<&String> = protections.iter().collect();
    wait_for_entries("both settlements", &pool, &insured_protections, settlements).await;
    let rows = wait_for_delivery(&pool, &sends).await;

    let liquidated = liquidations(&pool).await;
    for loan in &loans {
        assert_eq!(liquidated.get(loan), Some(&1), "one liquidation per loan");
    }
    assert_eq!(liquidated.get(&small_loan), None, "the healthy loan stays");
    let settled = settlements(&pool).await;
    for protection in &protections {
        assert_eq!(
            settled.get(protection),
            Some(&1),
            "one settlement per protection"
        );
    }
    for (c, loan) in doomed.iter().zip(&loans) {
        assert_eq!(
            count(&rows, &c.id, "LOAN_LIQUIDATED", Some(loan.as_str())),
            1
        );
    }
    for (c, protection) in insured.iter().zip(&protections) {
        let id = Some(protection.as_str());
        assert_eq!(count(&rows, &c.id, "PROTECTION_EXPIRING", id), 1);
        assert_eq!(count(&rows, &c.id, "PROTECTION_PAYOUT", id), 1);
    }
    assert!(count(&rows, &payer.id, "INSTALLMENT_DUE", None) >= 1);
    assert_each_notice_delivered_once(&rows, &sends);
    let phase_one = all_ticks(&pool).await;
    assert_real_ticks_ran_once(&phase_one, None);
    for pid in pids {
        assert!(
            phase_one
                .iter()
                .any(|t| t.job != "probe" && t.owner_pid == Some(pid)),
            "both workers share the real jobs: {phase_one:?}"
        );
    }
    let all = ticks(&pool).await;
    let done: Vec<&Tick> = all.iter().filter(|t| t.status != "RUNNING").collect();
    assert!(done.len() >= 2, "the probe ticked: {done:?}");
    assert_every_tick_ran_once(&done, None);
    assert!(done.iter().all(|t| t.attempts == 1), "{done:?}");
    assert!(
        done.iter().all(|t| pids.contains(&t.result_pid.unwrap())),
        "{done:?}"
    );

    // Phase 2: kill whichever worker is in the middle of a probe run (any other run of it dies
    // too). The outbox is delivered at most once per row (business-rules §10): a row a dying
    // worker had claimed but not sent is never sent, so the kill avoids a moment when an
    // undelivered row exists or a delivery run is in flight.
    let (victim_tick, victim_pid) = wait_for(
        "a running probe tick while no delivery is pending",
        Duration::from_secs(60),
        async || {
            let all = all_ticks(&pool).await;
            let delivering = all
                .iter()
                .any(|t| t.job == "notifications" && t.status == "RUNNING");
            if delivering || notices(&pool).await.iter().any(|n| !n.delivered) {
                return None;
            }
            all.into_iter().find_map(|t| {
                (t.job == "probe" && t.status == "RUNNING" && t.attempts == 1)
                    .then_some(t.owner_pid.map(|pid| (t.scheduled_ms, pid)))
                    .flatten()
            })
        },
    )
    .await;
    let survivor_pid = if victim_pid == pids[0] {
        a.start_kill().unwrap();
        a.wait().await.unwrap();
        pids[1]
    } else {
        assert_eq!(victim_pid, pids[1]);
        b.start_kill().unwrap();
        b.wait().await.unwrap();
        pids[0]
    };
    let killed_at = now_ms();
    let taken_over = wait_for(
        "the killed worker's tick to be finished by the other",
        Duration::from_secs(60),
        async || {
            ticks(&pool)
                .await
                .into_iter()
                .find(|t| t.scheduled_ms == victim_tick && t.status == "SUCCEEDED")
        },
    )
    .await;
    assert_eq!(taken_over.attempts, 2, "{taken_over:?}");
    assert_eq!(taken_over.result_pid, Some(survivor_pid), "{taken_over:?}");

    // Phase 3, the survivor alone: new work is done once.
    // A new 30M loan at 30,000 USD (LTV ≈ 0.42) and a new protection struck at 30,000; BTC
    // then falls to 10,000: the loan is liquidated (the small loan stays below 0.75) and, 30
    // days later, the protection pays out.
    let late = app.customer("device-f").await;
    let late_loan = app.borrow(&late, 30_000_000).await;
    let late_insured = app.customer("device-g").await;
    let late_protection = app.protect(&late_insured).await;
    app.btc_at(10_000).await;
    wait_for_entries("the new liquidation", &pool, &[&late_loan], liquidations).await;
    app.advance(30 * DAY + 60).await;
    wait_for_entries(
        "the new settlement",
        &pool,
        &[&late_protection],
        settlements,
    )
    .await;
    let rows = wait_for_delivery(&pool, &sends).await;

    // Later probe ticks keep running on the survivor, still once each and without gaps.
    wait_for(
        "two more probe ticks after the takeover",
        Duration::from_secs(30),
        async || {
            let all = ticks(&pool).await;
            (all.iter()
                .filter(|t| t.scheduled_ms > victim_tick && t.status == "SUCCEEDED")
                .count()
                >= 2)
                .then_some(())
        },
    )
    .await;
    let all = ticks(&pool).await;
    let done: Vec<&Tick> = all.iter().filter(|t| t.status != "RUNNING").collect();
    assert_every_tick_ran_once(&done, Some(victim_tick));
    assert!(
        done.iter()
            .filter(|t| t.scheduled_ms > victim_tick)
            .all(|t| t.result_pid == Some(survivor_pid)),
        "{done:?}"
    );

    let liquidated = liquidations(&pool).await;
    for loan in loans.iter().chain([&late_loan]) {
        assert_eq!(liquidated.get(loan), Some(&1), "one liquidation per loan");
    }
    assert_eq!(liquidated.get(&small_loan), None, "the healthy loan stays");
    let settled = settlements(&pool).await;
    for protection in protections.iter().chain([&late_protection]) {
        assert_eq!(
            settled.get(protection),
            Some(&1),
            "one settlement per protection"
        );
    }
    assert_eq!(
        count(&rows, &late.id, "LOAN_LIQUIDATED", Some(late_loan.as_str())),
        1
    );
    assert_eq!(
        count(
            &rows,
            &late_insured.id,
            "PROTECTION_PAYOUT",
            Some(late_protection.as_str())
        ),
        1
    );
    assert_each_notice_delivered_once(&rows, &sends);
    let every_tick = all_ticks(&pool).await;
    assert_real_ticks_ran_once(&every_tick, Some(killed_at));
    let after_kill: Vec<&Tick> = every_tick
        .iter()
        .filter(|t| t.job != "probe" && t.scheduled_ms > killed_at)
        .collect();
    assert!(!after_kill.is_empty());
    assert!(
        after_kill.iter().all(|t| t.owner_pid == Some(survivor_pid)),
        "the survivor runs every later tick: {after_kill:?}"
    );
    for c in doomed
        .iter()
        .chain(&insured)
        .chain([&payer, &late, &late_insured])
    {
        app.assert_ledger_verified(c).await;
    }
    drop((a, b));
    std::fs::remove_file(account_file).ok();
}
