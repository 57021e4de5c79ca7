//! The job-run ledger (seed-architecture-plan §6, issue 9): exactly-once claims of scheduled
//! ticks, leases, retries and the operator's view of the last runs. Jobs span tenants: they run
//! as the owner.

use std::time::Duration;

use async_trait::async_trait;
use blu_app::ports::{AuditEntry, ClaimedRun, JobStore, RunStatus, RunSummary, StoreResult};
use blu_domain::Timestamp;
use uuid::Uuid;

use crate::Database;
use crate::driver::{FromRow, Row, Sql, query};
use crate::operators::insert_audit;

/// Claims a tick; the primary key (job_name, scheduled_at) makes the claim exactly-once.
const CLAIM: &str = "INSERT INTO job_runs (job_name, scheduled_at, run_id, status, attempts, \
     lease_owner, lease_expires_at, started_at) VALUES ($1, $2, $3, 'RUNNING', 1, $4, $5, $6) \
     ON CONFLICT DO NOTHING";

/// Picks the oldest tick needing another attempt. PostgreSQL skips a tick another worker is
/// reclaiming; SQLite's write lock already serialises claimers.
macro_rules! reclaim_sql {
    ($lock:literal) => {
        concat!(
            "UPDATE job_runs SET status = 'RUNNING', attempts = attempts + 1, lease_owner = $2, \
             lease_expires_at = $3, finished_at = NULL, error = NULL, next_attempt_at = NULL \
             WHERE (job_name, scheduled_at) IN (SELECT job_name, scheduled_at FROM job_runs \
             WHERE job_name = $1 AND scheduled_at > $6 AND attempts < $5 AND \
             ((status = 'RUNNING' AND lease_expires_at < $4) OR (status = 'FAILED' AND next_attempt_at <= $4)) \
             ORDER BY scheduled_at LIMIT 1 ",
            $lock,
            ") RETURNING job_name, scheduled_at, run_id, attempts"
        )
    };
}

const RECLAIM: Sql = Sql {
    postgres: reclaim_sql!("FOR UPDATE SKIP LOCKED"),
    sqlite: reclaim_sql!(""),
};

const EXTEND: &str = "UPDATE job_runs SET lease_expires_at = $4 WHERE job_name = $1 AND \
     scheduled_at = $2 AND status = 'RUNNING' AND lease_owner = $3";

const FINISH: &str = "UPDATE job_runs SET status = $4, finished_at = $5, result = $6, error = $7, \
     next_attempt_at = $8, lease_expires_at = NULL WHERE job_name = $1 AND scheduled_at = $2 AND lease_owner = $3 AND status = 'RUNNING'";

const PURGE: &str = "DELETE FROM job_runs WHERE status <> 'RUNNING' AND scheduled_at < $1 \
     AND scheduled_at < (SELECT max(m.scheduled_at) FROM job_runs m WHERE m.job_name = job_runs.job_name)";

const IS_RUNNING: &str = "SELECT 1 FROM job_runs WHERE job_name = $1 AND status = 'RUNNING' AND lease_expires_at > $2 LIMIT 1";

const LATEST: &str = "SELECT job_name, scheduled_at, run_id, status, attempts, started_at, finished_at, \
     result, error FROM job_runs r WHERE started_at = (SELECT max(started_at) FROM job_runs x \
     WHERE x.job_name = r.job_name) ORDER BY job_name";

const BY_ID: &str = "SELECT job_name, scheduled_at, run_id, status, attempts, started_at, finished_at, \
     result, error FROM job_runs WHERE run_id = $1";

impl FromRow for ClaimedRun {
    fn from_row(r: Row) -> anyhow::Result<ClaimedRun> {
        Ok(ClaimedRun {
            job_name: r.text("job_name")?,
            scheduled_at: r.ts("scheduled_at")?,
            run_id: r.uuid("run_id")?,
            attempt: r.int_as("attempts")?,
        })
    }
}

impl FromRow for RunSummary {
    fn from_row(r: Row) -> anyhow::Result<RunSummary> {
        let status = r.text("status")?;
        Ok(RunSummary {
            job_name: r.text("job_name")?,
            scheduled_at: r.ts("scheduled_at")?,
            run_id: r.uuid("run_id")?,
            status: RunStatus::parse(&status)
                .ok_or_else(|| anyhow::anyhow!("unknown run status {status}"))?,
            attempts: r.int_as("attempts")?,
            started_at: r.ts("started_at")?,
            finished_at: r.opt_ts("finished_at")?,
            result: r.opt_json("result")?,
            error: r.opt_text("error")?,
        })
    }
}

#[async_trait]
impl JobStore for Database {
    async fn claim_run(
        &self,
        job_name: &str,
        scheduled_at: Timestamp,
        owner: &str,
        now: Timestamp,
        lease: Duration,
        audit: Option<&AuditEntry>,
    ) -> StoreResult<Option<ClaimedRun>> {
        let run_id = Uuid::now_v7();
        let claim = query(CLAIM)
            .bind(job_name)
            .bind(scheduled_at)
            .bind(run_id)
            .bind(owner)
            .bind(now.plus_duration(lease))
            .bind(now);
        let claimed = match audit {
            None => claim.execute(self.pool()).await?,
            // An operator's "run now": the audit row goes with the claim, or not at all.
            Some(audit) => {
                let mut tx = self.pool().begin_write().await?;
                let claimed = claim.execute(&mut tx).await?;
                if claimed == 1 {
                    insert_audit(&mut tx, audit).await?;
                    tx.commit().await?;
                }
                claimed
            }
        };
        Ok((claimed == 1).then(|| ClaimedRun {
            job_name: job_name.to_owned(),
            scheduled_at,
            run_id,
            attempt: 1,
        }))
    }

    async fn reclaim_run(
        &self,
        job_name: &str,
        owner: &str,
        now: Timestamp,
        lease: Duration,
        max_attempts: i32,
        not_before: Timestamp,
    ) -> StoreResult<Option<ClaimedRun>> {
        query(self.dialect().pick(&RECLAIM))
            .bind(job_name)
            .bind(owner)
            .bind(now.plus_duration(lease))
            .bind(now)
            .bind(max_attempts)
            .bind(not_before)
            .fetch_optional(self.pool())
            .await
    }

    async fn extend_lease(
        &self,
        run: &ClaimedRun,
        owner: &str,
        until: Timestamp,
    ) -> StoreResult<bool> {
        let extended = query(EXTEND)
            .bind(&run.job_name)
            .bind(run.scheduled_at)
            .bind(owner)
            .bind(until)
            .execute(self.pool())
            .await?;
        Ok(extended == 1)
    }

    async fn finish_run(
        &self,
        run: &ClaimedRun,
        owner: &str,
        status: RunStatus,
        now: Timestamp,
        result: Option<&serde_json::Value>,
        error: Option<&str>,
        next_attempt_at: Option<Timestamp>,
    ) -> StoreResult<()> {
        query(FINISH)
            .bind(&run.job_name)
            .bind(run.scheduled_at)
            .bind(owner)
            .bind(status.as_str())
            .bind(now)
            .bind(result.cloned())
            .bind(error)
            .bind(next_attempt_at)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    async fn is_running(&self, job_name: &str, now: Timestamp) -> StoreResult<bool> {
        let running: Option<Row> = query(IS_RUNNING)
            .bind(job_name)
            .bind(now)
            .fetch_optional(self.pool())
            .await?;
        Ok(running.is_some())
    }

    async fn purge_runs(&self, before: Timestamp) -> StoreResult<u64> {
        query(PURGE).bind(before).execute(self.pool()).await
    }

    async fn latest_runs(&self) -> StoreResult<Vec<RunSummary>> {
        query(LATEST).fetch_all(self.pool()).await
    }

    async fn run(&self, run_id: Uuid) -> StoreResult<Option<RunSummary>> {
        query(BY_ID).bind(run_id).fetch_optional(self.pool()).await
    }
}
