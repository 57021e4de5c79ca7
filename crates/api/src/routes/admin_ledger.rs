//! `/admin/v1` ledger verification (api.md §13.3, D28).

use axum::Json;
use axum::extract::{Path, State};
use blu_app::portfolio::{VerifyAll, VerifyReport};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::error::{ApiError, ApiResult};
use crate::extract::Admin;
use crate::openapi::ErrorBody;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(verify_portfolio))
        .routes(routes!(verify_all))
}

/// Recomputes one portfolio's hash chain and replays it against its balances (always 200
/// when the portfolio exists: the report is the result).
#[utoipa::path(get, path = "/portfolios/{portfolioId}/ledger/verify", tag = "admin",
    operation_id = "admin.ledger.verify_portfolio", security(("admin" = [])),
    params(("portfolioId" = String, Path, description = "Portfolio id")),
    responses((status = 200, description = "Verification report", body = VerifyReport),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn verify_portfolio(
    admin: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<VerifyReport>> {
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::not_found("portfolio"))?;
    let report = state.portfolio.verify_portfolio(id).await?;
    admin
        .audit_read(&state, "ledger.verify", format!("portfolio:{id}"))
        .await?;
    Ok(Json(report))
}

/// Verifies every portfolio and lists the failures.
#[utoipa::path(get, path = "/ledger/verify", tag = "admin", operation_id = "admin.ledger.verify_all",
    security(("admin" = [])),
    responses((status = 200, description = "Summary", body = VerifyAll),
        (status = 401, body = ErrorBody)))]
async fn verify_all(_: Admin, State(state): State<AppState>) -> ApiResult<Json<VerifyAll>> {
    Ok(Json(state.portfolio.verify_all().await?))
}
