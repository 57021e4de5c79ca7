//! The job-run ledger behind the job engine: each tick of each job is one row keyed by
//! (job name, scheduled time), claimed once across every worker process (D30).

use std::time::Duration;

use async_trait::async_trait;
use blu_domain::Timestamp;
use uuid::Uuid;

use super::StoreResult;
use super::operators::AuditEntry;

/// States of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunStatus {
    Running,
    Succeeded,
    Failed,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "RUNNING",
            RunStatus::Succeeded => "SUCCEEDED",
            RunStatus::Failed => "FAILED",
        }
    }

    pub fn parse(text: &str) -> Option<RunStatus> {
        match text {
            "RUNNING" => Some(RunStatus::Running),
            "SUCCEEDED" => Some(RunStatus::Succeeded),
            "FAILED" => Some(RunStatus::Failed),
            _ => None,
        }
    }
}

/// One claimed run, owned by this worker until `lease_expires_at`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimedRun {
    pub job_name: String,
    pub scheduled_at: Timestamp,
    pub run_id: Uuid,
    pub attempt: i32,
}

/// The latest run of a job (admin listing).
#[derive(Clone, Debug, PartialEq)]
pub struct RunSummary {
    pub job_name: String,
    pub scheduled_at: Timestamp,
    pub run_id: Uuid,
    pub status: RunStatus,
    pub attempts: i32,
    pub started_at: Timestamp,
    pub finished_at: Option<Timestamp>,
    pub result: Option<serde_json::Value>,
    pub error: Option<String>,
}

#[async_trait]
pub trait JobStore: Send + Sync {
    /// Claims the tick `(job, scheduled_at)` for `owner` with a lease; `None` when another
    /// worker (or an earlier attempt) already holds that tick. An operator's "run now" passes
    /// its audit row, written in the same transaction as the claim (none without a claim).
    async fn claim_run(
        &self,
        job_name: &str,
        scheduled_at: Timestamp,
        owner: &str,
        now: Timestamp,
        lease: Duration,
        audit: Option<&AuditEntry>,
    ) -> StoreResult<Option<ClaimedRun>>;

    /// Claims one earlier tick of the job that needs another attempt: a RUNNING run whose lease
    /// expired (its worker died) or a FAILED run whose `next_attempt_at` has come, in both cases
    /// with fewer than `max_attempts` so far. Only ticks scheduled after `not_before` count.
    async fn reclaim_run(
        &self,
        job_name: &str,
        owner: &str,
        now: Timestamp,
        lease: Duration,
        max_attempts: i32,
        not_before: Timestamp,
    ) -> StoreResult<Option<ClaimedRun>>;

    /// Extends the lease of a run this worker still owns; false when it lost the run.
    async fn extend_lease(
        &self,
        run: &ClaimedRun,
        owner: &str,
        until: Timestamp,
    ) -> StoreResult<bool>;

    /// Records the outcome of a run this worker owns; a failure that may be retried carries
    /// `next_attempt_at`.
    #[allow(clippy::too_many_arguments)] // one column each; a struct would only rename them
    async fn finish_run(
        &self,
        run: &ClaimedRun,
        owner: &str,
        status: RunStatus,
        now: Timestamp,
        result: Option<&serde_json::Value>,
        error: Option<&str>,
        next_attempt_at: Option<Timestamp>,
    ) -> StoreResult<()>;

    /// Whether the job has a RUNNING run with an unexpired lease (a job never overlaps itself).
    async fn is_running(&self, job_name: &str, now: Timestamp) -> StoreResult<bool>;

    /// The newest run of every job.
    async fn latest_runs(&self) -> StoreResult<Vec<RunSummary>>;

    /// One run, by id.
    async fn run(&self, run_id: Uuid) -> StoreResult<Option<RunSummary>>;

    /// Deletes finished runs scheduled before `before`, keeping each job's newest run (the
    /// admin listing shows it); returns how many were deleted.
    async fn purge_runs(&self, before: Timestamp) -> StoreResult<u64>;
}

/// A job as the operator API lists it.
#[derive(Clone, Debug, PartialEq)]
pub struct JobInfo {
    pub name: String,
    /// `every 30s`, `daily 05:30 UTC`, `on demand`.
    pub schedule: String,
    /// When the schedule next ticks (`None` on demand).
    pub next_run_at: Option<Timestamp>,
    pub last_run: Option<RunSummary>,
}

#[derive(Debug, thiserror::Error)]
pub enum RunNowError {
    #[error("unknown job {0}")]
    Unknown(String),
    #[error("job {0} is already running")]
    AlreadyRunning(String),
    #[error(transparent)]
    Store(#[from] super::StoreError),
}

/// The operator's handle on the job engine (`/admin/v1/jobs`).
#[async_trait]
pub trait JobRunner: Send + Sync {
    async fn list(&self) -> StoreResult<Vec<JobInfo>>;
    /// Runs a job now through the engine's exactly-once claim and waits for its outcome; the
    /// operator's audit row is written with the claim.
    async fn run_now(&self, name: &str, audit: AuditEntry) -> Result<RunSummary, RunNowError>;
}
