//! `/admin/v1/jobs` (api.md §13.2): list the jobs and run one now through the engine's
//! exactly-once claim.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use blu_app::ports::{RunStatus, RunSummary};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::error::{ApiError, ApiResult};
use crate::extract::Admin;
use crate::openapi::ErrorBody;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_jobs))
        .routes(routes!(run_job))
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobOut {
    pub name: String,
    pub schedule: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_run_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_status: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct JobsOut {
    pub jobs: Vec<JobOut>,
}

fn status_text(status: RunStatus) -> String {
    status.as_str().to_ascii_lowercase()
}

fn runner(state: &AppState) -> ApiResult<&std::sync::Arc<dyn blu_app::ports::JobRunner>> {
    state
        .jobs
        .as_ref()
        .ok_or_else(|| ApiError::not_found("jobs"))
}

/// Every job with its schedule and last run.
#[utoipa::path(get, path = "/jobs", tag = "admin", operation_id = "admin.jobs.list", security(("admin" = [])),
    responses((status = 200, body = JobsOut), (status = 401, body = ErrorBody)))]
async fn list_jobs(_: Admin, State(state): State<AppState>) -> ApiResult<Json<JobsOut>> {
    let jobs = runner(&state)?.list().await?;
    Ok(Json(JobsOut {
        jobs: jobs
            .into_iter()
            .map(|j| JobOut {
                name: j.name,
                schedule: j.schedule,
                last_run_at: j
                    .last_run
                    .as_ref()
                    .map(|r| r.started_at.to_rfc3339_millis()),
                last_status: j.last_run.as_ref().map(|r| status_text(r.status)),
            })
            .collect(),
    }))
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunOut {
    pub job: String,
    pub run_id: Uuid,
    pub status: String,
    pub started_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// Job-specific counts.
    #[schema(value_type = Object)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
}

fn run_out(run: RunSummary) -> RunOut {
    RunOut {
        job: run.job_name,
        run_id: run.run_id,
        status: status_text(run.status),
        started_at: run.started_at.to_rfc3339_millis(),
        finished_at: run.finished_at.map(|t| t.to_rfc3339_millis()),
        result: run.result,
    }
}

/// Runs a job now and waits for it (the run goes on if the request times out). Unknown name → 404; already running → 409; failed → 500
/// `JOB_FAILED` with the run id and reason.
#[utoipa::path(post, path = "/jobs/{name}/run", tag = "admin", operation_id = "admin.jobs.run", security(("admin" = [])),
    params(("name" = String, Path, description = "prices, loan-health, protection-expiry, reminders, cleanup, status-refresh, notifications")),
    responses((status = 200, body = RunOut), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 500, body = ErrorBody)))]
async fn run_job(
    Admin(actor): Admin,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<Json<RunOut>> {
    // The run is a task of its own: a request that hits its deadline stops waiting, but a
    // job run is never cut off halfway by its HTTP request (issue 10).
    let jobs = runner(&state)?.clone();
    let audit = actor.audit("job.run");
    let run = tokio::spawn(async move { jobs.run_now(&name, audit).await })
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let run = run?;
    if run.status == RunStatus::Failed {
        tracing::error!(job = %run.job_name, run_id = %run.run_id, "admin-triggered job failed");
        return Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "JOB_FAILED",
            "The job ran and failed",
        )
        .with("runId", run.run_id)
        .with("reason", run.error.unwrap_or_default()));
    }
    Ok(Json(run_out(run)))
}
