//! Claiming, running, heart-beating and retrying job ticks.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use blu_app::ports::{
    AuditEntry, ClaimedRun, JobInfo, JobRunner, JobStore, RunNowError, RunStatus, RunSummary,
    StoreError, real_now,
};
use blu_domain::Timestamp;
use futures::FutureExt;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::schedule::Schedule;

/// One kind of scheduled work. `run` returns job-specific counts for the run record.
#[async_trait]
pub trait Job: Send + Sync {
    fn name(&self) -> &'static str;
    fn schedule(&self) -> Schedule;
    async fn run(&self) -> anyhow::Result<serde_json::Value>;
}

#[derive(Clone, Debug)]
pub struct EngineSettings {
    /// Identifies this worker in `job_runs.lease_owner`.
    pub worker_id: String,
    /// A run's lease; a worker silent this long is presumed dead.
    pub lease: Duration,
    /// How often a running job extends its lease.
    pub heartbeat: Duration,
    /// How often the scheduler looks for due ticks.
    pub poll: Duration,
    /// Attempts per tick before it is left FAILED (D30: 3).
    pub max_attempts: i32,
    /// Backoff before attempt 2; doubles for each further attempt.
    pub retry_base: Duration,
    /// Ticks older than this are not retried (the next tick does the work).
    pub retry_horizon: Duration,
}

impl Default for EngineSettings {
    fn default() -> EngineSettings {
        EngineSettings {
            worker_id: format!("worker-{}", uuid::Uuid::new_v4().simple()),
            lease: Duration::from_secs(60),
            heartbeat: Duration::from_secs(20),
            poll: Duration::from_secs(1),
            max_attempts: 3,
            retry_base: Duration::from_secs(5),
            retry_horizon: Duration::from_secs(3600),
        }
    }
}

/// What a run did (admin API and tests).
#[derive(Clone, Debug, PartialEq)]
pub struct RunReport {
    pub job: String,
    pub run_id: uuid::Uuid,
    pub status: RunStatus,
    pub started_at: Timestamp,
    pub finished_at: Timestamp,
    pub result: Option<serde_json::Value>,
    pub error: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("unknown job {0}")]
    Unknown(String),
    #[error("job {0} is already running")]
    AlreadyRunning(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub struct JobEngine {
    store: Arc<dyn JobStore>,
    jobs: Vec<Arc<dyn Job>>,
    settings: EngineSettings,
    /// Jobs this process is running now (a cheap local guard before asking the database).
    in_flight: Arc<Mutex<HashMap<&'static str, Instant>>>,
}

impl JobEngine {
    pub fn new(
        store: Arc<dyn JobStore>,
        jobs: Vec<Arc<dyn Job>>,
        settings: EngineSettings,
    ) -> JobEngine {
        JobEngine {
            store,
            jobs,
            settings,
            in_flight: Arc::default(),
        }
    }

    pub fn jobs(&self) -> impl Iterator<Item = &Arc<dyn Job>> {
        self.jobs.iter()
    }

    pub async fn latest_runs(&self) -> Result<Vec<RunSummary>, StoreError> {
        self.store.latest_runs().await
    }

    fn job(&self, name: &str) -> Option<Arc<dyn Job>> {
        self.jobs.iter().find(|j| j.name() == name).cloned()
    }

    /// Runs a job now through the same claim as the schedule and waits for the outcome.
    pub async fn run_now(&self, name: &str) -> Result<RunReport, JobError> {
        self.run_now_audited(name, None).await
    }

    /// `run_now` for an operator: the audit row is written with the claim (issue 15), so a
    /// run that was refused (already running) leaves none.
    pub async fn run_now_audited(
        &self,
        name: &str,
        audit: Option<AuditEntry>,
    ) -> Result<RunReport, JobError> {
        let job = self
            .job(name)
            .ok_or_else(|| JobError::Unknown(name.to_owned()))?;
        self.claim_and_execute(job, real_now(), audit.as_ref())
            .await?
            .ok_or_else(|| JobError::AlreadyRunning(name.to_owned()))
    }

    /// Claims and runs the current tick of a scheduled job now, unless it is running or another
    /// process has claimed that tick (`None`): how a starting instance warms its price cache
    /// without a second run of the tick.
    pub async fn run_current_tick(&self, name: &str) -> Result<Option<RunReport>, JobError> {
        let job = self
            .job(name)
            .ok_or_else(|| JobError::Unknown(name.to_owned()))?;
        let now = real_now();
        let tick = job.schedule().slot(now).unwrap_or(now);
        self.claim_and_execute(job, tick, None).await
    }

    /// Claims the tick `scheduled_at` of an idle job and runs it; `None` when the job is
    /// running here or elsewhere, or the tick is taken.
    async fn claim_and_execute(
        &self,
        job: Arc<dyn Job>,
        scheduled_at: Timestamp,
        audit: Option<&AuditEntry>,
    ) -> Result<Option<RunReport>, JobError> {
        let now = real_now();
        if self.is_local(job.name()) || self.store.is_running(job.name(), now).await? {
            return Ok(None);
        }
        let Some(claim) = self
            .store
            .claim_run(
                job.name(),
                scheduled_at,
                &self.settings.worker_id,
                now,
                self.settings.lease,
                audit,
            )
            .await?
        else {
            return Ok(None);
        };
        Ok(Some(self.execute(job, claim).await))
    }

    fn is_local(&self, name: &str) -> bool {
        self.in_flight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(name)
    }

    /// One scheduler pass: for each idle job, retry an earlier tick that needs it, else claim
    /// the current tick if nobody has. Returns the claimed runs (the caller executes them).
    async fn due_runs(
        &self,
        last_slot: &mut HashMap<&'static str, Timestamp>,
    ) -> Vec<(Arc<dyn Job>, ClaimedRun)> {
        let now = real_now();
        let owner = &self.settings.worker_id;
        let mut due = Vec::new();
        for job in &self.jobs {
            let name = job.name();
            if self.is_local(name) {
                continue;
            }
            let retry = self
                .store
                .reclaim_run(
                    name,
                    owner,
                    now,
                    self.settings.lease,
                    self.settings.max_attempts,
                    now.minus_duration(self.settings.retry_horizon),
                )
                .await;
            match retry {
                Ok(Some(run)) => {
                    tracing::warn!(job = name, attempt = run.attempt, "retrying a job tick");
                    due.push((job.clone(), run));
                    continue;
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::error!(job = name, error = %e, "job store unavailable");
                    continue;
                }
            }
            let Some(slot) = job.schedule().slot(now) else {
                continue; // on demand only
            };
            if last_slot.get(name) == Some(&slot) {
                continue;
            }
            match self.store.is_running(name, now).await {
                Ok(true) => continue, // never overlap: this tick is skipped, the next one runs
                Ok(false) => {}
                Err(e) => {
                    tracing::error!(job = name, error = %e, "job store unavailable");
                    continue;
                }
            }
            match self
                .store
                .claim_run(name, slot, owner, now, self.settings.lease, None)
                .await
            {
                Ok(Some(run)) => {
                    last_slot.insert(name, slot);
                    due.push((job.clone(), run));
                }
                Ok(None) => {
                    last_slot.insert(name, slot);
                }
                Err(e) => tracing::error!(job = name, error = %e, "job store unavailable"),
            }
        }
        due
    }

    /// Runs one claimed tick with a heartbeat, records its outcome and metrics.
    async fn execute(&self, job: Arc<dyn Job>, run: ClaimedRun) -> RunReport {
        let name = job.name();
        self.in_flight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name, Instant::now());
        let started_at = real_now();
        let started = Instant::now();
        let (stop_heartbeat, mut stopped) = watch::channel(false);
        let heartbeat = {
            let store = self.store.clone();
            let run = run.clone();
            let owner = self.settings.worker_id.clone();
            let (every, lease) = (self.settings.heartbeat, self.settings.lease);
            tokio::spawn(async move {
                loop {
                    tokio::select! {
                        _ = tokio::time::sleep(every) => {}
                        _ = stopped.changed() => return,
                    }
                    if let Err(e) = store
                        .extend_lease(&run, &owner, real_now().plus_duration(lease))
                        .await
                    {
                        tracing::warn!(job = %run.job_name, error = %e, "lease heartbeat failed");
                    }
                }
            })
        };
        // A panicking job is a failed attempt, not a dead worker.
        let outcome = std::panic::AssertUnwindSafe(job.run()).catch_unwind().await;
        let _ = stop_heartbeat.send(true);
        let _ = heartbeat.await;
        let (status, result, error) = match outcome {
            Ok(Ok(result)) => (RunStatus::Succeeded, Some(result), None),
            Ok(Err(e)) => (RunStatus::Failed, None, Some(format!("{e:#}"))),
            Err(_) => (RunStatus::Failed, None, Some("the job panicked".to_owned())),
        };
        let finished_at = real_now();
        let next_attempt_at =
            (status == RunStatus::Failed && run.attempt < self.settings.max_attempts).then(|| {
                let factor = 1u32 << (run.attempt - 1).clamp(0, 16);
                finished_at.plus_duration(self.settings.retry_base * factor)
            });
        if let Some(error) = &error {
            tracing::error!(job = name, attempt = run.attempt, error = %error, "job run failed");
        }
        if let Err(e) = self
            .store
            .finish_run(
                &run,
                &self.settings.worker_id,
                status,
                finished_at,
                result.as_ref(),
                error.as_deref(),
                next_attempt_at,
            )
            .await
        {
            // The lease will run out and another worker retries the tick.
            tracing::error!(job = name, error = %e, "recording a job outcome failed");
        }
        let label = if status == RunStatus::Succeeded {
            "succeeded"
        } else {
            "failed"
        };
        metrics::counter!("job_runs_total", "job" => name, "status" => label).increment(1);
        metrics::histogram!("job_duration_seconds", "job" => name)
            .record(started.elapsed().as_secs_f64());
        self.in_flight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(name);
        RunReport {
            job: name.to_owned(),
            run_id: run.run_id,
            status,
            started_at,
            finished_at,
            result,
            error,
        }
    }

    /// Runs the scheduler until `shutdown` turns true, then waits for in-flight runs.
    pub async fn run_until_stopped(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let mut last_slot = HashMap::new();
        let mut running = JoinSet::new();
        tracing::info!(worker = %self.settings.worker_id, jobs = self.jobs.len(), "job engine started");
        loop {
            for (job, run) in self.due_runs(&mut last_slot).await {
                let engine = self.clone();
                running.spawn(async move {
                    engine.execute(job, run).await;
                });
            }
            while running.try_join_next().is_some() {}
            tokio::select! {
                _ = tokio::time::sleep(self.settings.poll) => {}
                _ = shutdown.changed() => break,
            }
            if *shutdown.borrow() {
                break;
            }
        }
        tracing::info!("job engine stopping; finishing in-flight runs");
        while running.join_next().await.is_some() {}
    }
}

#[async_trait]
impl JobRunner for JobEngine {
    async fn list(&self) -> Result<Vec<JobInfo>, StoreError> {
        let latest = self.store.latest_runs().await?;
        Ok(self
            .jobs
            .iter()
            .map(|job| JobInfo {
                name: job.name().to_owned(),
                schedule: job.schedule().describe(),
                next_run_at: job.schedule().next(real_now()),
                last_run: latest.iter().find(|r| r.job_name == job.name()).cloned(),
            })
            .collect())
    }

    async fn run_now(&self, name: &str, audit: AuditEntry) -> Result<RunSummary, RunNowError> {
        let audit = audit.with_target(name);
        let report = self
            .run_now_audited(name, Some(audit))
            .await
            .map_err(|e| match e {
                JobError::Unknown(n) => RunNowError::Unknown(n),
                JobError::AlreadyRunning(n) => RunNowError::AlreadyRunning(n),
                JobError::Store(e) => RunNowError::Store(e),
            })?;
        Ok(RunSummary {
            job_name: report.job,
            scheduled_at: report.started_at,
            run_id: report.run_id,
            status: report.status,
            attempts: 1,
            started_at: report.started_at,
            finished_at: Some(report.finished_at),
            result: report.result,
            error: report.error,
        })
    }
}
