//! Test-only diagnostics (issue 14, error reporting): `POST /admin/v1/test/panic` panics inside
//! a handler so the panic → 500 → Sentry path can be exercised end to end. Served only with
//! the test configuration (`TEST_CLOCK`, refused in production) and the admin token; not in the
//! OpenAPI document.

use axum::extract::State;
use axum::routing::post;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;

use crate::error::{ApiError, ApiResult};
use crate::extract::{Admin, Body};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().route("/test/panic", post(panic_now))
}

#[derive(Debug, Deserialize)]
struct PanicIn {
    /// Text of the panic (tests put secrets and phone numbers in it to check the scrubbing).
    message: String,
}

async fn panic_now(
    _: Admin,
    State(state): State<AppState>,
    Body(input): Body<PanicIn>,
) -> ApiResult<()> {
    if !state.settings.test_clock {
        return Err(ApiError::not_found("route"));
    }
    panic!("diagnostic panic: {}", input.message);
}
