//! The job engine against a real store: exactly once per tick across workers, retries with
//! backoff, takeover of a dead worker's tick, no overlap. SQLite always; PostgreSQL too when
//! `DATABASE_URL` is set (a fresh database per test).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use blu_app::ports::{RunStatus, Store, real_now};
use blu_jobs::{EngineSettings, Job, JobEngine, JobError, Schedule};
use tokio::sync::watch;

async fn store() -> Arc<dyn Store> {
    let dir = std::env::temp_dir().join(format!("blu-jobs-{}", uuid::Uuid::new_v4().simple()));
    let url = match std::env::var("DATABASE_URL")
        .ok()
        .filter(|u| u.starts_with("postgres"))
    {
        Some(base) => Some(fresh_postgres(&base).await),
        None => None,
    };
    blu_store::connect(url.as_deref(), &dir, 5)
        .await
        .unwrap()
        .into_store()
}

async fn fresh_postgres(base: &str) -> String {
    use sqlx::Connection;
    let name = format!("blu_test_{}", uuid::Uuid::new_v4().simple());
    let mut c = sqlx::PgConnection::connect(base).await.unwrap();
    // The name is a generated UUID, never input.
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut c)
        .await
        .unwrap();
    let (prefix, _) = base.rsplit_once('/').unwrap();
    format!("{prefix}/{name}")
}

struct Counting {
    name: &'static str,
    schedule: Schedule,
    runs: AtomicUsize,
    fail_first: usize,
    work: Duration,
}

impl Counting {
    fn new(name: &'static str, schedule: Schedule) -> Arc<Counting> {
        Arc::new(Counting {
            name,
            schedule,
            runs: AtomicUsize::new(0),
            fail_first: 0,
            work: Duration::ZERO,
        })
    }
}

#[async_trait]
impl Job for Counting {
    fn name(&self) -> &'static str {
        self.name
    }
    fn schedule(&self) -> Schedule {
        self.schedule
    }
    async fn run(&self) -> anyhow::Result<serde_json::Value> {
        let n = self.runs.fetch_add(1, Ordering::SeqCst) + 1;
        tokio::time::sleep(self.work).await;
        if n <= self.fail_first {
            anyhow::bail!("attempt {n} fails on purpose");
        }
        Ok(serde_json::json!({ "run": n }))
    }
}

fn fast(worker: &str) -> EngineSettings {
    EngineSettings {
        worker_id: worker.to_owned(),
        lease: Duration::from_millis(600),
        heartbeat: Duration::from_millis(150),
        poll: Duration::from_millis(50),
        max_attempts: 3,
        retry_base: Duration::from_millis(100),
        retry_horizon: Duration::from_secs(3600),
    }
}

fn start(engine: Arc<JobEngine>) -> (watch::Sender<bool>, tokio::task::JoinHandle<()>) {
    let (stop, stopped) = watch::channel(false);
    (stop, tokio::spawn(engine.run_until_stopped(stopped)))
}

#[tokio::test]
async fn every_tick_runs_exactly_once_across_two_workers() {
    let store = store().await;
    let job = Counting::new("hourly", Schedule::Every(Duration::from_secs(3600)));
    let a = Arc::new(JobEngine::new(store.clone(), vec![job.clone()], fast("a")));
    let b = Arc::new(JobEngine::new(store.clone(), vec![job.clone()], fast("b")));
    let (stop_a, ha) = start(a);
    let (stop_b, hb) = start(b);
    tokio::time::sleep(Duration::from_millis(800)).await;
    stop_a.send(true).unwrap();
    stop_b.send(true).unwrap();
    ha.await.unwrap();
    hb.await.unwrap();
    assert_eq!(
        job.runs.load(Ordering::SeqCst),
        1,
        "one hourly tick, two workers, one run"
    );
    let latest = store.latest_runs().await.unwrap();
    assert_eq!(latest[0].status, RunStatus::Succeeded);
    assert_eq!(latest[0].result, Some(serde_json::json!({ "run": 1 })));
}

#[tokio::test]
async fn a_failing_tick_is_retried_with_backoff_up_to_three_attempts() {
    let store = store().await;
    let job = Arc::new(Counting {
        fail_first: 5,
        ..Arc::try_unwrap(Counting::new(
            "flaky",
            Schedule::Every(Duration::from_secs(3600)),
        ))
        .ok()
        .unwrap()
    });
    let engine = Arc::new(JobEngine::new(store.clone(), vec![job.clone()], fast("a")));
    let (stop, handle) = start(engine);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    stop.send(true).unwrap();
    handle.await.unwrap();
    assert_eq!(
        job.runs.load(Ordering::SeqCst),
        3,
        "three attempts, then the tick stays failed"
    );
    let latest = store.latest_runs().await.unwrap();
    assert_eq!(
        (latest[0].status, latest[0].attempts),
        (RunStatus::Failed, 3)
    );
}

#[tokio::test]
async fn a_dead_workers_tick_is_taken_over_after_its_lease() {
    let store = store().await;
    let schedule = Schedule::Every(Duration::from_secs(3600));
    let slot = schedule
        .slot(real_now())
        .expect("an interval schedule has ticks");
    // A worker claimed the tick and died without finishing or extending its lease.
    let claimed = store
        .claim_run(
            "orphan",
            slot,
            "dead-worker",
            real_now(),
            Duration::from_millis(200),
            None,
        )
        .await
        .unwrap();
    assert!(claimed.is_some());
    let job = Counting::new("orphan", schedule);
    let engine = Arc::new(JobEngine::new(
        store.clone(),
        vec![job.clone()],
        fast("survivor"),
    ));
    let (stop, handle) = start(engine);
    tokio::time::sleep(Duration::from_millis(900)).await;
    stop.send(true).unwrap();
    handle.await.unwrap();
    assert_eq!(
        job.runs.load(Ordering::SeqCst),
        1,
        "the orphaned tick ran once, on the survivor"
    );
    let latest = store.latest_runs().await.unwrap();
    assert_eq!(
        (latest[0].status, latest[0].attempts),
        (RunStatus::Succeeded, 2)
    );
}

#[tokio::test]
async fn run_now_refuses_while_the_job_is_running_and_reports_the_outcome() {
    let store = store().await;
    let slow = Arc::new(Counting {
        work: Duration::from_millis(400),
        ..Arc::try_unwrap(Counting::new(
            "slow",
            Schedule::Every(Duration::from_secs(3600)),
        ))
        .ok()
        .unwrap()
    });
    let engine = Arc::new(JobEngine::new(store.clone(), vec![slow.clone()], fast("a")));
    let first = tokio::spawn({
        let engine = engine.clone();
        async move { engine.run_now("slow").await }
    });
    while slow.runs.load(Ordering::SeqCst) == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(matches!(
        engine.run_now("slow").await,
        Err(JobError::AlreadyRunning(_))
    ));
    let report = first.await.unwrap().unwrap();
    assert_eq!(report.status, RunStatus::Succeeded);
    assert!(matches!(
        engine.run_now("nope").await,
        Err(JobError::Unknown(_))
    ));
}

#[tokio::test]
async fn the_current_tick_runs_once_whether_claimed_by_a_starting_instance_or_the_scheduler() {
    let store = store().await;
    let job = Counting::new("daily", Schedule::Every(Duration::from_secs(86_400)));
    let a = Arc::new(JobEngine::new(store.clone(), vec![job.clone()], fast("a")));
    let b = Arc::new(JobEngine::new(store.clone(), vec![job.clone()], fast("b")));
    let warmed = a.run_current_tick("daily").await.unwrap();
    assert_eq!(warmed.unwrap().status, RunStatus::Succeeded);
    assert!(b.run_current_tick("daily").await.unwrap().is_none());
    let (stop, handle) = start(b);
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.send(true).unwrap();
    handle.await.unwrap();
    assert_eq!(
        job.runs.load(Ordering::SeqCst),
        1,
        "the scheduler found the tick taken"
    );
    assert!(matches!(
        a.run_current_tick("nope").await,
        Err(JobError::Unknown(_))
    ));
}

#[tokio::test]
async fn purging_old_runs_keeps_each_jobs_newest_run_and_running_ones() {
    let store = store().await;
    let now = real_now();
    let lease = Duration::from_secs(60);
    let old = |days: i64| now.plus_days(-days);
    for (job, days) in [("a", 10), ("a", 9), ("b", 12)] {
        let run = store
            .claim_run(job, old(days), "w", now, lease, None)
            .await
            .unwrap()
            .unwrap();
        store
            .finish_run(&run, "w", RunStatus::Succeeded, now, None, None, None)
            .await
            .unwrap();
    }
    // A run still in flight is never purged, however old its tick.
    store
        .claim_run("c", old(20), "w", now, lease, None)
        .await
        .unwrap()
        .unwrap();
    let deleted = store.purge_runs(old(7)).await.unwrap();
    assert_eq!(deleted, 1, "only job a's older run goes");
    let latest = store.latest_runs().await.unwrap();
    let kept: Vec<(&str, i64)> = latest
        .iter()
        .map(|r| (r.job_name.as_str(), r.scheduled_at.as_micros()))
        .collect();
    assert_eq!(
        kept,
        [
            ("a", old(9).as_micros()),
            ("b", old(12).as_micros()),
            ("c", old(20).as_micros())
        ]
    );
    assert_eq!(store.purge_runs(old(7)).await.unwrap(), 0);
}
