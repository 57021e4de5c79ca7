//! `/api/v1/loans` (api.md §9, business-rules §7).

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use blu_app::portfolio::{
    CapacityView, HealthView, LoanCreated, LoanInput, LoanList, LoanPreviewView, LoanView,
    RepayResult,
};
use blu_domain::AssetId;
use blu_domain::loan::LoanStatus;
use rust_decimal::Decimal;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::error::{ApiError, ApiResult};
use crate::extract::{AuthUser, Body};
use crate::idempotency::{IdempotentRequest, respond};
use crate::openapi::ErrorBody;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(capacity))
        .routes(routes!(health))
        .routes(routes!(preview))
        .routes(routes!(get_one))
        .routes(routes!(repay))
}

/// A loan request. `amountIRR` is accepted for `amountIrr`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LoanIn {
    /// The collateral's asset id (not a holding id).
    #[schema(value_type = AssetId)]
    pub collateral_asset_id: Option<String>,
    /// Principal in IRR (fractions are rounded half-up).
    #[serde(alias = "amountIRR", default, with = "blu_domain::num::option")]
    #[schema(value_type = f64, required = true, minimum = 1000000, maximum = 100000000000000.0)]
    pub amount_irr: Option<Decimal>,
    /// 3 or 6.
    #[serde(default, deserialize_with = "crate::extract::whole::deserialize")]
    #[schema(value_type = i64, required = true, minimum = 3, maximum = 6, multiple_of = 3)]
    pub duration_months: Option<i64>,
}

impl LoanIn {
    fn input(&self) -> ApiResult<LoanInput> {
        Ok(LoanInput {
            collateral_asset_id: self
                .collateral_asset_id
                .clone()
                .ok_or_else(|| ApiError::validation("collateralAssetId", "is required"))?,
            amount_irr: self
                .amount_irr
                .ok_or_else(|| ApiError::validation("amountIrr", "is required"))?,
            duration_months: self
                .duration_months
                .ok_or_else(|| ApiError::validation("durationMonths", "is required"))?,
        })
    }
}

/// A repayment.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RepayIn {
    /// IRR to pay; capped to what is owed.
    #[serde(alias = "amountIRR", default, with = "blu_domain::num::option")]
    #[schema(value_type = f64, required = true, minimum = 1, maximum = 1000000000000000.0)]
    pub amount_irr: Option<Decimal>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ListQuery {
    /// ACTIVE, REPAID or LIQUIDATED.
    #[param(value_type = Option<LoanStatus>)]
    pub status: Option<String>,
}

fn loan_id(text: &str) -> ApiResult<Uuid> {
    Uuid::parse_str(text).map_err(|_| ApiError::not_found("loan"))
}

/// The caller's loans, newest first.
#[utoipa::path(get, path = "/loans", tag = "loans", operation_id = "v1.loans.list",
    params(ListQuery),
    responses((status = 200, description = "{loans: [Loan]}", body = LoanList),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn list(
    State(state): State<AppState>,
    user: AuthUser,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<LoanList>> {
    let status = match q.status.as_deref().map(str::to_ascii_uppercase).as_deref() {
        None | Some("") => None,
        Some("ACTIVE") => Some(LoanStatus::Active),
        Some("REPAID") => Some(LoanStatus::Repaid),
        Some("LIQUIDATED") => Some(LoanStatus::Liquidated),
        Some(_) => {
            return Err(ApiError::validation(
                "status",
                "must be ACTIVE, REPAID or LIQUIDATED",
            ));
        }
    };
    Ok(Json(
        state.portfolio.list_loans(user.0.user_id, status).await?,
    ))
}

/// One loan; 404 if unknown or another user's.
#[utoipa::path(get, path = "/loans/{id}", tag = "loans", operation_id = "v1.loans.get",
    params(("id" = String, Path, description = "Loan id")),
    responses((status = 200, description = "The loan", body = LoanView),
        (status = 404, body = ErrorBody)))]
async fn get_one(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<LoanView>> {
    Ok(Json(
        state
            .portfolio
            .get_loan(user.0.user_id, loan_id(&id)?)
            .await?,
    ))
}

/// Borrowing capacity at fresh prices (25 % of net value, per-asset caps).
#[utoipa::path(get, path = "/loans/capacity", tag = "loans", operation_id = "v1.loans.capacity",
    responses((status = 200, description = "Capacity", body = CapacityView),
        (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn capacity(State(state): State<AppState>, user: AuthUser) -> ApiResult<Json<CapacityView>> {
    Ok(Json(state.portfolio.loan_capacity(user.0.user_id).await?))
}

/// Health of the ACTIVE loans.
#[utoipa::path(get, path = "/loans/health", tag = "loans", operation_id = "v1.loans.health",
    responses((status = 200, description = "Health per ACTIVE loan", body = HealthView),
        (status = 404, body = ErrorBody)))]
async fn health(State(state): State<AppState>, user: AuthUser) -> ApiResult<Json<HealthView>> {
    Ok(Json(state.portfolio.loans_health(user.0.user_id).await?))
}

/// Previews a loan; business refusals answer 200 with `valid: false`.
#[utoipa::path(post, path = "/loans/preview", tag = "loans", operation_id = "v1.loans.preview",
    request_body = LoanIn,
    responses((status = 200, description = "Terms, schedule and maxLoanIrr", body = LoanPreviewView),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn preview(
    State(state): State<AppState>,
    user: AuthUser,
    Body(input): Body<LoanIn>,
) -> ApiResult<Json<LoanPreviewView>> {
    Ok(Json(
        state
            .portfolio
            .preview_loan(user.0.user_id, &input.input()?)
            .await?,
    ))
}

/// Takes a loan: freezes the collateral holding, adds the principal to cash, LOAN_CREATE.
#[utoipa::path(post, path = "/loans", tag = "loans", operation_id = "v1.loans.create",
    request_body = LoanIn,
    responses((status = 201, description = "The loan and new cash", body = LoanCreated),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
async fn create(
    State(state): State<AppState>,
    user: AuthUser,
    idempotency: IdempotentRequest,
    Body(input): Body<LoanIn>,
) -> ApiResult<Response> {
    let replied = state
        .portfolio
        .create_loan(
            user.0.user_id,
            &input.input()?,
            idempotency.reply(StatusCode::CREATED),
        )
        .await?;
    Ok(respond(replied))
}

/// Repays a loan (capped to the debt; paying the payoff amount settles it).
#[utoipa::path(post, path = "/loans/{id}/repay", tag = "loans", operation_id = "v1.loans.repay",
    params(("id" = String, Path, description = "Loan id")),
    request_body = RepayIn,
    responses((status = 200, description = "The repayment and the loan", body = RepayResult),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn repay(
    State(state): State<AppState>,
    user: AuthUser,
    idempotency: IdempotentRequest,
    Path(id): Path<String>,
    Body(input): Body<RepayIn>,
) -> ApiResult<Response> {
    let id = loan_id(&id)?;
    let amount = input
        .amount_irr
        .ok_or_else(|| ApiError::validation("amountIrr", "is required"))?;
    let replied = state
        .portfolio
        .repay_loan(
            user.0.user_id,
            id,
            amount,
            idempotency.reply(StatusCode::OK),
        )
        .await?;
    Ok(respond(replied))
}
