//! Gauges the alerts need that no request or job emits (issue 14 §3), sampled from the database
//! every 15 seconds by each `blu serve` (docs/operations.md lists every metric):
//!
//! - `db_pool_connections{pool, state}` and `db_pool_max_connections{pool}`: pool usage
//!   (`pool` = `primary` or `replica`, `state` = `in_use` or `idle`);
//! - `price_age_seconds{asset}`, `fx_age_seconds`: re-set from the price cache on every sample,
//!   so the age keeps growing when refreshes stop;
//! - `db_replica_lag_seconds`: replay lag of `DATABASE_REPLICA_URL` (0 when caught up);
//! - `notifications_pending`, `notifications_oldest_pending_seconds`: the due, undelivered
//!   outbox;
//! - `job_last_success_timestamp_seconds{job}`, `job_failed_runs_last_hour{job}`: read from
//!   `job_runs`, so they cover ticks that `blu worker`s ran (workers serve no `/metrics`).
//!
//! Values are cluster-wide (every instance reports the same): alert on `max` of them.

use std::sync::Arc;
use std::time::Duration;

use blu_app::ports::real_now;
use blu_app::prices::PriceService;
use blu_domain::Timestamp;
use blu_store::Database;
use blu_store::driver::{Row, query};

/// How often the gauges are refreshed.
pub const INTERVAL: Duration = Duration::from_secs(15);

/// Stops the sampler when the server that started it stops.
pub struct Sampler(tokio::task::JoinHandle<()>);

impl Drop for Sampler {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// `has_replica`: `DATABASE_REPLICA_URL` is set (the read pool is a replica's).
/// `prices`: its freshness gauges are refreshed too, so a stalled feed shows as a growing age.
pub fn spawn(database: Database, has_replica: bool, prices: Arc<PriceService>) -> Sampler {
    Sampler(tokio::spawn(async move {
        let mut ticks = tokio::time::interval(INTERVAL);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            prices.record_metrics(real_now());
            if let Err(e) = sample(&database, has_replica).await {
                tracing::warn!(error = %e, "sampling operational metrics");
            }
        }
    }))
}

fn seconds(t: Timestamp) -> f64 {
    t.as_micros() as f64 / 1e6
}

fn pool_gauges<DB: sqlx::Database>(name: &'static str, pool: &sqlx::Pool<DB>) {
    let size = f64::from(pool.size());
    let idle = pool.num_idle() as f64;
    metrics::gauge!("db_pool_connections", "pool" => name, "state" => "in_use").set(size - idle);
    metrics::gauge!("db_pool_connections", "pool" => name, "state" => "idle").set(idle);
    metrics::gauge!("db_pool_max_connections", "pool" => name)
        .set(f64::from(pool.options().get_max_connections()));
}

fn job_gauges(job: String, last_success: Option<f64>, failed: i64) {
    if let Some(at) = last_success {
        metrics::gauge!("job_last_success_timestamp_seconds", "job" => job.clone()).set(at);
    }
    metrics::gauge!("job_failed_runs_last_hour", "job" => job).set(failed as f64);
}

/// One sample of every gauge. The outbox and job queries are written once for both databases
/// (`blu_store::driver`); only the pools and the replica lag are PostgreSQL's own.
pub async fn sample(database: &Database, has_replica: bool) -> anyhow::Result<()> {
    let now = real_now();
    match database {
        Database::Postgres(store) => {
            pool_gauges("primary", store.pg_pool());
            if has_replica {
                let read_pool = store.read_pool();
                pool_gauges("replica", read_pool);
                let lag: f64 = sqlx::query_scalar(
                    "SELECT CASE WHEN NOT pg_is_in_recovery() THEN 0 \
                     WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0 \
                     ELSE COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), 0) \
                     END::float8",
                )
                .fetch_one(read_pool)
                .await?;
                metrics::gauge!("db_replica_lag_seconds").set(lag);
            }
        }
        Database::Sqlite(store) => pool_gauges("primary", store.sqlite_pool()),
    }
    let outbox: Row = query(
        "SELECT count(*) AS pending, min(next_attempt_at) AS oldest FROM notifications \
         WHERE delivered_at IS NULL AND next_attempt_at <= $1",
    )
    .bind(now)
    .fetch_one(database.pool())
    .await?;
    let oldest = outbox
        .opt_ts("oldest")?
        .map_or(0.0, |t| seconds(now) - seconds(t));
    metrics::gauge!("notifications_pending").set(outbox.int("pending")? as f64);
    metrics::gauge!("notifications_oldest_pending_seconds").set(oldest);
    let jobs: Vec<Row> = query(
        "SELECT job_name, \
         max(CASE WHEN status = 'SUCCEEDED' THEN finished_at END) AS last_success, \
         sum(CASE WHEN status = 'FAILED' AND started_at > $1 THEN 1 ELSE 0 END) AS failed \
         FROM job_runs GROUP BY job_name",
    )
    .bind(now.plus_seconds(-3600))
    .fetch_all(database.pool())
    .await?;
    for job in jobs {
        job_gauges(
            job.text("job_name")?,
            job.opt_ts("last_success")?.map(seconds),
            job.int("failed")?,
        );
    }
    Ok(())
}
