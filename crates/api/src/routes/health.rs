//! Root probes (api.md §14): liveness, readiness, Prometheus metrics.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::extract::bearer_token;
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HealthOut {
    pub status: &'static str,
    pub version: &'static str,
    pub uptime_seconds: u64,
}

/// Liveness: no dependency checks.
#[utoipa::path(get, path = "/health", tag = "operations", operation_id = "health",
    responses((status = 200, body = HealthOut)))]
pub async fn health(State(state): State<AppState>) -> Json<HealthOut> {
    Json(HealthOut {
        status: "ok",
        version: state.settings.version,
        uptime_seconds: state.started_at.elapsed().as_secs(),
    })
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReadyChecks {
    pub database: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redis: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReadyOut {
    pub status: &'static str,
    pub checks: ReadyChecks,
    /// Price freshness (`live`, `stale`, `offline`); never affects readiness.
    pub prices: &'static str,
}

/// `"ok"`, or `"error"` when the dependency failed or did not answer within `CHECK_TIMEOUT`.
async fn probe<T, E: std::fmt::Display>(
    dependency: &str,
    check: impl Future<Output = Result<T, E>>,
) -> String {
    match tokio::time::timeout(CHECK_TIMEOUT, check).await {
        Ok(Ok(_)) => "ok".to_owned(),
        Ok(Err(e)) => {
            tracing::warn!(dependency, error = %e, "readiness check failed");
            "error".to_owned()
        }
        Err(_) => {
            tracing::warn!(dependency, "readiness check did not answer in time");
            "error".to_owned()
        }
    }
}

/// How long `/ready` waits for each dependency.
const CHECK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

/// Readiness: the database answers and, when configured, Redis answers; `checks` names the
/// dependency that does not (`error`, also when it did not answer in time; api.md §14).
#[utoipa::path(get, path = "/ready", tag = "operations", operation_id = "ready",
    responses((status = 200, body = ReadyOut), (status = 503, body = ReadyOut)))]
pub async fn ready(State(state): State<AppState>) -> Response {
    let (healthy, body) = readiness(&state).await;
    let status = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

/// Whether every dependency answers, and the `/ready` body (also shown by the console).
pub async fn readiness(state: &AppState) -> (bool, ReadyOut) {
    // Each dependency is checked at the same time and for at most a second, so a hanging
    // database or Redis answers "error" promptly instead of holding the probe (issue 10).
    let database = probe("database", state.store.ping());
    let redis = async {
        let mut connection = state.redis.clone()?;
        let command = redis::cmd("PING");
        Some(probe("redis", command.query_async::<String>(&mut connection)).await)
    };
    let (database, redis) = tokio::join!(database, redis);
    let healthy = database == "ok" && redis.as_deref().is_none_or(|r| r == "ok");
    let body = ReadyOut {
        status: if healthy { "ready" } else { "not_ready" },
        checks: ReadyChecks { database, redis },
        prices: state
            .prices
            .snapshot()
            .status(
                blu_app::ports::Clock::now(&*state.clock),
                state.settings.price_max_age,
            )
            .as_str(),
    };
    (healthy, body)
}

/// Prometheus text format; needs `METRICS_TOKEN` as a bearer token when one is configured.
#[utoipa::path(get, path = "/metrics", tag = "operations", operation_id = "metrics",
    responses((status = 200, description = "Prometheus text format 0.0.4", content_type = "text/plain")))]
pub async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    use subtle::ConstantTimeEq;
    if let Some(expected) = &state.settings.metrics_token {
        let presented = bearer_token(&headers).unwrap_or("");
        if !bool::from(presented.as_bytes().ct_eq(expected.expose().as_bytes())) {
            return ApiError::unauthorized("UNAUTHORIZED", "Metrics authentication required")
                .into_response();
        }
    }
    let Some(handle) = &state.metrics else {
        return ApiError::from_status(StatusCode::NOT_FOUND).into_response();
    };
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        handle.render(),
    )
        .into_response()
}
