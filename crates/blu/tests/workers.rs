//! Two real `blu worker` processes on one PostgreSQL database (and Redis): every tick of a job
//! runs exactly once, and a tick whose worker is killed (SIGKILL) mid-run is completed by the
//! other worker after the lease runs out. Skipped without a PostgreSQL `DATABASE_URL`.
//!
//! The diagnostic `probe` job ticks every 3 s and works 1.2 s per run; leases are 3 s. A job
//! never overlaps itself, so while the killed worker's tick waits for its lease to run out the
//! next slot may be skipped (the engine's documented policy): only that gap is allowed.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use sqlx::{PgPool, Row};
use tokio::process::{Child, Command};

#[path = "api/helpers.rs"]
#[allow(dead_code)]
mod helpers;

const INTERVAL_MS: i64 = 3000;

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

/// A probe tick as recorded in `job_runs`.
#[derive(Debug)]
struct Tick {
    scheduled_ms: i64,
    status: String,
    attempts: i32,
    owner_pid: Option<u32>,
    result_pid: Option<u32>,
}

async fn ticks(pool: &PgPool) -> Vec<Tick> {
    let rows = sqlx::query(
        "SELECT (EXTRACT(EPOCH FROM scheduled_at) * 1000)::BIGINT AS ms, status, attempts, \
         lease_owner, (result ->> 'pid')::BIGINT AS pid \
         FROM job_runs WHERE job_name = 'probe' ORDER BY scheduled_at",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    rows.iter()
        .map(|r| Tick {
            scheduled_ms: r.get("ms"),
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

/// Consecutive ticks, each finished once by one worker; a slot may be missing only right
/// after `takeover` (the tick taken over from a killed worker).
fn assert_every_tick_ran_once(done: &[&Tick], takeover: Option<i64>) {
    for pair in done.windows(2) {
        let gap = pair[1].scheduled_ms - pair[0].scheduled_ms;
        let after_takeover = takeover.is_some_and(|t| pair[0].scheduled_ms == t);
        assert!(
            gap == INTERVAL_MS || (after_takeover && gap == 2 * INTERVAL_MS),
            "no tick lost or doubled: {done:?}"
        );
    }
    for tick in done {
        assert_eq!(tick.status, "SUCCEEDED", "{tick:?}");
        assert!(tick.result_pid.is_some(), "{tick:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_run_every_tick_once_and_finish_the_tick_of_a_killed_worker() {
    if helpers::postgres_url().is_none() {
        eprintln!("DATABASE_URL is not PostgreSQL: skipping the two-worker test");
        return;
    }
    let vars = helpers::test_vars(&[
        ("JOB_PROBE_SECONDS", "3"),
        ("JOB_PROBE_WORK_MS", "1200"),
        ("JOB_LEASE_SECONDS", "3"),
        ("JOB_POLL_MS", "100"),
        ("PRICE_SOURCE", "simulated"),
    ])
    .await;
    let url = vars["DATABASE_URL"].clone();
    // Migrate once before the workers start.
    blu_store::connect(Some(&url), &PathBuf::from(&vars["DATA_DIR"]), 2)
        .await
        .unwrap();
    let pool = PgPool::connect(&url).await.unwrap();
    let mut a = worker(&vars);
    let mut b = worker(&vars);
    let pids = [a.id().unwrap(), b.id().unwrap()];

    // Phase 1: a few ticks with both workers alive.
    wait_for(
        "four finished probe ticks",
        Duration::from_secs(90),
        async || {
            let all = ticks(&pool).await;
            (all.iter().filter(|t| t.status == "SUCCEEDED").count() >= 3).then_some(())
        },
    )
    .await;
    let all = ticks(&pool).await;
    let done: Vec<&Tick> = all.iter().filter(|t| t.status != "RUNNING").collect();
    assert_every_tick_ran_once(&done, None);
    assert!(done.iter().all(|t| t.attempts == 1), "{done:?}");
    assert!(
        done.iter().all(|t| pids.contains(&t.result_pid.unwrap())),
        "{done:?}"
    );

    // Phase 2: kill whichever worker is in the middle of a run.
    let (victim_tick, victim_pid) = wait_for(
        "a running probe tick",
        Duration::from_secs(60),
        async || {
            ticks(&pool).await.into_iter().find_map(|t| {
                (t.status == "RUNNING" && t.attempts == 1)
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
    let taken_over = wait_for(
        "the killed worker's tick to be finished by the other",
        Duration::from_secs(90),
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

    // Later ticks keep running on the survivor, still once each and without gaps.
    wait_for(
        "two more ticks after the takeover",
        Duration::from_secs(90),
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
    drop((a, b));
}
