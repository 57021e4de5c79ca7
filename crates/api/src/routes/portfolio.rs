//! `/api/v1/portfolio` (api.md §6).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use blu_app::portfolio::{FundsAdded, HoldingView, PortfolioView};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::onboarding::AmountIn;
use crate::error::ApiResult;
use crate::extract::{AuthUser, Body};
use crate::idempotency::{IdempotentRequest, respond};
use crate::openapi::ErrorBody;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(portfolio))
        .routes(routes!(holdings))
        .routes(routes!(snapshot))
        .routes(routes!(add_funds_route))
}

/// The portfolio summary (no `holdings`); 404 until funded.
#[utoipa::path(get, path = "/portfolio", tag = "portfolio", operation_id = "v1.portfolio.get",
    responses((status = 200, description = "Portfolio summary", body = PortfolioView),
        (status = 404, body = ErrorBody)))]
async fn portfolio(
    State(state): State<AppState>,
    user: AuthUser,
) -> ApiResult<Json<PortfolioView>> {
    Ok(Json(state.portfolio.portfolio(user.0.user_id).await?.0))
}

/// The holdings as a bare array (zero quantities omitted).
#[utoipa::path(get, path = "/portfolio/holdings", tag = "portfolio",
    operation_id = "v1.portfolio.holdings",
    responses((status = 200, description = "Holding array", body = Vec<HoldingView>),
        (status = 404, body = ErrorBody)))]
async fn holdings(
    State(state): State<AppState>,
    user: AuthUser,
) -> ApiResult<Json<Vec<HoldingView>>> {
    Ok(Json(state.portfolio.portfolio(user.0.user_id).await?.1))
}

/// The summary plus `holdings`.
#[derive(Serialize, ToSchema)]
struct SnapshotOut {
    #[serde(flatten)]
    portfolio: PortfolioView,
    holdings: Vec<HoldingView>,
}

/// The portfolio summary with its holdings.
#[utoipa::path(get, path = "/portfolio/snapshot", tag = "portfolio",
    operation_id = "v1.portfolio.snapshot",
    responses((status = 200, description = "Summary with holdings", body = SnapshotOut),
        (status = 404, body = ErrorBody)))]
async fn snapshot(
    State(state): State<AppState>,
    user: AuthUser,
) -> ApiResult<Json<impl Serialize>> {
    let (portfolio, holdings) = state.portfolio.portfolio(user.0.user_id).await?;
    Ok(Json(SnapshotOut {
        portfolio,
        holdings,
    }))
}

/// Adds cash (D9: 100,000 to 100,000,000,000 IRR); nothing is invested.
#[utoipa::path(post, path = "/portfolio/add-funds", tag = "portfolio",
    operation_id = "v1.portfolio.add_funds", request_body = AmountIn,
    responses((status = 200, description = "New and previous cash", body = FundsAdded),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn add_funds_route(
    State(state): State<AppState>,
    user: AuthUser,
    idempotency: IdempotentRequest,
    Body(input): Body<AmountIn>,
) -> ApiResult<Response> {
    let amount = input.amount()?;
    let replied = state
        .portfolio
        .add_funds(user.0.user_id, amount, idempotency.reply(StatusCode::OK))
        .await?;
    Ok(respond(replied))
}
