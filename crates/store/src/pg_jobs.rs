//! The job-run ledger on PostgreSQL (runs as the owner: jobs span tenants).

use std::time::Duration;

use async_trait::async_trait;
use blu_app::ports::{ClaimedRun, JobStore, RunStatus, RunSummary, StoreError, StoreResult};
use blu_domain::Timestamp;
use sqlx::Row;
use sqlx::postgres::PgRow;
use uuid::Uuid;

use crate::codec::{PgRowExt, to_datetime};
use crate::error::map_sqlx;
use crate::jobs_sql::{self, reclaim_sql};
use crate::pg::PgStore;

fn at(t: Timestamp) -> StoreResult<chrono::DateTime<chrono::Utc>> {
    to_datetime(t).map_err(StoreError::Other)
}

fn claimed(r: &PgRow) -> StoreResult<ClaimedRun> {
    let g = || -> anyhow::Result<ClaimedRun> {
        Ok(ClaimedRun {
            job_name: r.try_get("job_name")?,
            scheduled_at: r.ts("scheduled_at")?,
            run_id: r.try_get("run_id")?,
            attempt: r.try_get("attempts")?,
        })
    };
    g().map_err(StoreError::Other)
}

fn summary(r: &PgRow) -> StoreResult<RunSummary> {
    let g = || -> anyhow::Result<RunSummary> {
        let status: String = r.try_get("status")?;
        Ok(RunSummary {
            job_name: r.try_get("job_name")?,
            scheduled_at: r.ts("scheduled_at")?,
            run_id: r.try_get("run_id")?,
            status: RunStatus::parse(&status)
                .ok_or_else(|| anyhow::anyhow!("unknown run status {status}"))?,
            attempts: r.try_get("attempts")?,
            started_at: r.ts("started_at")?,
            finished_at: r.opt_ts("finished_at")?,
            result: r.try_get("result")?,
            error: r.try_get("error")?,
        })
    };
    g().map_err(StoreError::Other)
}

#[async_trait]
impl JobStore for PgStore {
    async fn claim_run(
        &self,
        job_name: &str,
        scheduled_at: Timestamp,
        owner: &str,
        now: Timestamp,
        lease: Duration,
        audit: Option<&blu_app::ports::AuditEntry>,
    ) -> StoreResult<Option<ClaimedRun>> {
        let run_id = Uuid::now_v7();
        let mut tx = self.pg_pool().begin().await.map_err(map_sqlx)?;
        let done = sqlx::query(jobs_sql::CLAIM)
            .bind(job_name)
            .bind(at(scheduled_at)?)
            .bind(run_id)
            .bind(owner)
            .bind(at(now.plus_duration(lease))?)
            .bind(at(now)?)
            .execute(&mut *tx)
            .await
            .map_err(map_sqlx)?;
        if done.rows_affected() == 1 {
            let mut tx = crate::driver::Tx::Postgres(tx);
            crate::operators::insert_audit_opt(&mut tx, audit).await?;
            tx.commit().await?;
        }
        Ok((done.rows_affected() == 1).then(|| ClaimedRun {
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
        let row = sqlx::query(reclaim_sql!("FOR UPDATE SKIP LOCKED"))
            .bind(job_name)
            .bind(owner)
            .bind(at(now.plus_duration(lease))?)
            .bind(at(now)?)
            .bind(max_attempts)
            .bind(at(not_before)?)
            .fetch_optional(self.pg_pool())
            .await
            .map_err(map_sqlx)?;
        row.as_ref().map(claimed).transpose()
    }

    async fn extend_lease(
        &self,
        run: &ClaimedRun,
        owner: &str,
        until: Timestamp,
    ) -> StoreResult<bool> {
        let done = sqlx::query(jobs_sql::EXTEND)
            .bind(&run.job_name)
            .bind(at(run.scheduled_at)?)
            .bind(owner)
            .bind(at(until)?)
            .execute(self.pg_pool())
            .await
            .map_err(map_sqlx)?;
        Ok(done.rows_affected() == 1)
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
        sqlx::query(jobs_sql::FINISH)
            .bind(&run.job_name)
            .bind(at(run.scheduled_at)?)
            .bind(owner)
            .bind(status.as_str())
            .bind(at(now)?)
            .bind(result.map(sqlx::types::Json))
            .bind(error)
            .bind(next_attempt_at.map(at).transpose()?)
            .execute(self.pg_pool())
            .await
            .map_err(map_sqlx)?;
        Ok(())
    }

    async fn is_running(&self, job_name: &str, now: Timestamp) -> StoreResult<bool> {
        let row = sqlx::query(jobs_sql::IS_RUNNING)
            .bind(job_name)
            .bind(at(now)?)
            .fetch_optional(self.pg_pool())
            .await
            .map_err(map_sqlx)?;
        Ok(row.is_some())
    }

    async fn purge_runs(&self, before: Timestamp) -> StoreResult<u64> {
        let done = sqlx::query(jobs_sql::PURGE)
            .bind(at(before)?)
            .execute(self.pg_pool())
            .await
            .map_err(map_sqlx)?;
        Ok(done.rows_affected())
    }

    async fn latest_runs(&self) -> StoreResult<Vec<RunSummary>> {
        let rows = sqlx::query(jobs_sql::LATEST)
            .fetch_all(self.pg_pool())
            .await
            .map_err(map_sqlx)?;
        rows.iter().map(summary).collect()
    }

    async fn run(&self, run_id: Uuid) -> StoreResult<Option<RunSummary>> {
        let row = sqlx::query(jobs_sql::BY_ID)
            .bind(run_id)
            .fetch_optional(self.pg_pool())
            .await
            .map_err(map_sqlx)?;
        row.as_ref().map(summary).transpose()
    }
}
