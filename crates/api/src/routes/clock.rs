//! The admin test clock (api.md §13.4): business time moves forward on demand, for tests of
//! accrual, expiry and due dates. Served only when `TEST_CLOCK` is enabled (refused in
//! production). With Redis the offset is shared, so every instance sees the same time.

use axum::Json;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use blu_domain::Timestamp;
use blu_domain::time::MICROS_PER_SECOND;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ApiResult, redis_unavailable};
use crate::extract::{Admin, Body};
use crate::openapi::ErrorBody;
use crate::state::AppState;

/// The clock never moves more than this in one call.
const MAX_ADVANCE_SECONDS: i64 = 400 * 86_400;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_clock))
        .routes(routes!(advance_clock))
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClockOut {
    /// Business time now (RFC 3339, ms).
    pub now: String,
    pub test_clock: bool,
    pub offset_seconds: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AdvanceIn {
    /// Seconds to move forward: > 0 and ≤ 400 days.
    #[serde(default, deserialize_with = "crate::extract::whole::deserialize")]
    #[schema(minimum = 1, maximum = 34560000)]
    pub seconds: Option<i64>,
    /// Or an instant to move to (not in the past).
    pub to: Option<String>,
}

fn enabled(state: &AppState) -> ApiResult<()> {
    if state.settings.test_clock {
        Ok(())
    } else {
        Err(ApiError::not_found("clock"))
    }
}

fn clock_body(state: &AppState) -> ClockOut {
    ClockOut {
        now: state.clock_now().to_rfc3339_millis(),
        test_clock: true,
        offset_seconds: state.clock.offset_micros() / MICROS_PER_SECOND,
    }
}

fn offset_key(key_prefix: &str) -> String {
    format!("{key_prefix}clock:offset_micros")
}

/// Moves `clock` forward to the offset shared in Redis, if one was set. Instances serving HTTP
/// call it before each request; `blu worker` before each job run.
pub async fn adopt_shared_offset(
    redis: &mut redis::aio::ConnectionManager,
    key_prefix: &str,
    clock: &blu_app::ports::BusinessClock,
) -> redis::RedisResult<()> {
    let stored: Option<i64> = redis::cmd("GET")
        .arg(offset_key(key_prefix))
        .query_async(redis)
        .await?;
    if let Some(offset) = stored {
        clock.advance_to_offset(offset);
    }
    Ok(())
}

/// Reads the shared offset into this instance's clock (test-clock mode with Redis only).
pub async fn sync_offset(state: &AppState) -> ApiResult<()> {
    let Some(mut redis) = state.redis.clone() else {
        return Ok(());
    };
    adopt_shared_offset(&mut redis, &state.settings.redis_key_prefix, &state.clock)
        .await
        .map_err(redis_unavailable("reading the shared test clock"))
}

/// Middleware: before each request in test-clock mode, adopt the offset another instance set.
pub async fn sync_middleware(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if state.settings.test_clock
        && let Err(e) = sync_offset(&state).await
    {
        return axum::response::IntoResponse::into_response(e);
    }
    next.run(req).await
}

/// The business clock now.
#[utoipa::path(get, path = "/clock", tag = "admin", operation_id = "admin.clock.get", security(("admin" = [])),
    responses((status = 200, body = ClockOut), (status = 404, body = ErrorBody)))]
async fn get_clock(_: Admin, State(state): State<AppState>) -> ApiResult<Json<ClockOut>> {
    enabled(&state)?;
    Ok(Json(clock_body(&state)))
}

/// Moves business time forward (never backward). Jobs do not run by themselves: call
/// `POST /admin/v1/jobs/{name}/run`. The audit row is held in an open transaction while the
/// offset is shared and applied, and committed after: a move that fails leaves no row.
#[utoipa::path(post, path = "/clock/advance", tag = "admin", operation_id = "admin.clock.advance",
    request_body = AdvanceIn, security(("admin" = [])),
    responses((status = 200, body = ClockOut), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn advance_clock(
    Admin(actor): Admin,
    State(state): State<AppState>,
    Body(input): Body<AdvanceIn>,
) -> ApiResult<Json<ClockOut>> {
    enabled(&state)?;
    let now = state.clock_now();
    let target = match (input.seconds, input.to.as_deref()) {
        (Some(seconds), None) => {
            if !(1..=MAX_ADVANCE_SECONDS).contains(&seconds) {
                return Err(ApiError::validation(
                    "seconds",
                    "must be between 1 and 34560000 (400 days)",
                ));
            }
            now.plus_seconds(seconds)
        }
        (None, Some(to)) => {
            let target = Timestamp::parse_rfc3339(to)
                .ok_or_else(|| ApiError::validation("to", "must be an RFC 3339 instant"))?;
            if target < now {
                return Err(ApiError::validation("to", "must not be in the past"));
            }
            if target.micros_since(now) > MAX_ADVANCE_SECONDS * MICROS_PER_SECOND {
                return Err(ApiError::validation("to", "must be within 400 days"));
            }
            target
        }
        _ => return Err(ApiError::validation("seconds", "send either seconds or to")),
    };
    let before = state.clock.offset_micros();
    let offset = before + target.micros_since(now);
    let seconds = |micros: i64| serde_json::json!({ "offsetSeconds": micros / MICROS_PER_SECOND });
    let audit = actor
        .audit("clock.advance")
        .with_target("clock")
        .with_before(Some(seconds(before)))
        .with_after(Some(seconds(offset)));
    let held = state.operators.store().begin_audit(&audit).await?;
    if let Some(mut redis) = state.redis.clone() {
        // Forward only, also when two operators advance at once.
        let script = redis::Script::new(
            "local c = tonumber(redis.call('GET', KEYS[1]) or '0') if tonumber(ARGV[1]) > c then redis.call('SET', KEYS[1], ARGV[1]) end return 1",
        );
        let _: i64 = script
            .key(offset_key(&state.settings.redis_key_prefix))
            .arg(offset)
            .invoke_async(&mut redis)
            .await
            .map_err(redis_unavailable("writing the shared test clock"))?;
    }
    state.clock.advance_to_offset(offset);
    held.commit().await?;
    tracing::info!(
        offset_seconds = offset / MICROS_PER_SECOND,
        "test clock advanced"
    );
    Ok(Json(clock_body(&state)))
}
