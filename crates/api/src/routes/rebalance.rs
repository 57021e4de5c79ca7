//! `/api/v1/rebalance` (api.md §8, business-rules §6).

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use blu_app::portfolio::{
    RebalanceExecuted, RebalancePreview, RebalanceRequest, RebalanceStatus, hram_weights,
};
use blu_domain::rebalance::RebalanceMode;
use rust_decimal::Decimal;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ApiResult};
use crate::extract::{AuthUser, Body};
use crate::idempotency::{IdempotentRequest, respond};
use crate::openapi::ErrorBody;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(status))
        .routes(routes!(preview))
        .routes(routes!(execute))
}

/// Query of the preview.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
pub struct PreviewQuery {
    /// HOLDINGS_ONLY (default), HOLDINGS_PLUS_CASH or SMART; case-insensitive.
    #[param(value_type = Option<RebalanceMode>)]
    pub mode: Option<String>,
    /// SMART only: IRR of cash the second pass may use (0 ≤ amount ≤ cash; default all cash).
    #[param(value_type = Option<i64>, minimum = 0, maximum = 1000000000000000.0)]
    pub use_cash_amount: Option<String>,
}

/// An execute request. No acknowledgement is ever required (D15); `acknowledgedWarning` is
/// accepted and ignored.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExecuteIn {
    /// HOLDINGS_ONLY (default), HOLDINGS_PLUS_CASH or SMART; case-insensitive.
    #[schema(value_type = Option<RebalanceMode>)]
    pub mode: Option<String>,
    /// SMART only: IRR of cash the second pass may use (0 ≤ amount ≤ cash; default all cash).
    #[serde(default, with = "blu_domain::num::option")]
    #[schema(value_type = Option<i64>, minimum = 0, maximum = 1000000000000000.0)]
    pub use_cash_amount: Option<Decimal>,
    /// Accepted and ignored.
    #[serde(default)]
    pub acknowledged_warning: Option<bool>,
}

fn cash_amount(text: Option<&str>) -> ApiResult<Option<Decimal>> {
    text.map(|t| {
        t.trim()
            .parse::<Decimal>()
            .map_err(|_| ApiError::validation("useCashAmount", "must be a number of rials"))
    })
    .transpose()
}

/// Current allocation, drift, status and the cooldown.
#[utoipa::path(get, path = "/rebalance/status", tag = "rebalance",
    operation_id = "v1.rebalance.status",
    responses((status = 200, description = "Drift and cooldown", body = RebalanceStatus),
        (status = 404, body = ErrorBody)))]
async fn status(State(state): State<AppState>, user: AuthUser) -> ApiResult<Json<RebalanceStatus>> {
    Ok(Json(
        state.portfolio.rebalance_status(user.0.user_id).await?,
    ))
}

/// The rebalance plan at the latest prices; the cooldown and stale prices are reported, never
/// raised.
#[utoipa::path(get, path = "/rebalance/preview", tag = "rebalance",
    operation_id = "v1.rebalance.preview", params(PreviewQuery),
    responses((status = 200, description = "The plan", body = RebalancePreview),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn preview(
    State(state): State<AppState>,
    user: AuthUser,
    Query(q): Query<PreviewQuery>,
) -> ApiResult<Json<RebalancePreview>> {
    let request = RebalanceRequest {
        mode: q.mode,
        use_cash_amount: cash_amount(q.use_cash_amount.as_deref())?,
    };
    let weights = hram_weights(&state.price_service, state.settings.hram_preset).await?;
    Ok(Json(
        state
            .portfolio
            .preview_rebalance(user.0.user_id, &request, &weights)
            .await?,
    ))
}

/// Executes the plan recomputed at fresh prices on the locked portfolio.
#[utoipa::path(post, path = "/rebalance/execute", tag = "rebalance",
    operation_id = "v1.rebalance.execute", request_body = ExecuteIn,
    responses((status = 200, description = "Legs executed and the new allocation", body = RebalanceExecuted),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn execute(
    State(state): State<AppState>,
    user: AuthUser,
    idempotency: IdempotentRequest,
    Body(input): Body<ExecuteIn>,
) -> ApiResult<Response> {
    let request = RebalanceRequest {
        mode: input.mode,
        use_cash_amount: input.use_cash_amount,
    };
    let weights = hram_weights(&state.price_service, state.settings.hram_preset).await?;
    let replied = state
        .portfolio
        .execute_rebalance(
            user.0.user_id,
            &request,
            &weights,
            idempotency.reply(StatusCode::OK),
        )
        .await?;
    Ok(respond(replied))
}
