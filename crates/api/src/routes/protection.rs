//! `/api/v1/protection` (api.md §10, business-rules §8): eligible holdings, quotes, purchase,
//! reads and cancellation.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use blu_app::protection::{
    CancelResult, EligibleView, ProtectionList, ProtectionView, PurchaseInput, PurchaseResult,
    QuoteInput, QuoteResult, StatusFilter,
};
use blu_domain::{AssetId, Irr};
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
        .routes(routes!(holdings))
        .routes(routes!(eligible))
        .routes(routes!(quote))
        .routes(routes!(purchase))
        .routes(routes!(active))
        .routes(routes!(list, create))
        .routes(routes!(get_one, cancel))
}

/// Query of `GET /protection/quote`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
pub struct QuoteQuery {
    /// The holding to protect. Documented as required: the server also takes `assetId`
    /// instead, which the document leaves out (one of the two must be sent).
    #[param(value_type = String, format = Uuid)]
    pub holding_id: Option<String>,
    /// The caller's holding of this asset (instead of `holdingId`).
    #[param(value_type = Option<AssetId>)]
    pub asset_id: Option<String>,
    /// 0.1–1, default 1.
    #[param(value_type = Option<f64>, minimum = 0.1, maximum = 1)]
    pub coverage_pct: Option<String>,
    /// 30, 60, 90, 120, 150 or 180. Documented as required: the server also takes
    /// `durationMonths` instead (one of the two must be sent).
    #[param(value_type = i64, minimum = 30, maximum = 180, multiple_of = 30)]
    pub duration_days: Option<String>,
    /// 1–6 (instead of `durationDays`).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 6)]
    pub duration_months: Option<String>,
}

fn decimal(field: &str, text: Option<&str>) -> ApiResult<Option<Decimal>> {
    text.map(|t| {
        t.trim()
            .parse::<Decimal>()
            .map_err(|_| ApiError::validation(field, "must be a number"))
    })
    .transpose()
}

fn integer(field: &str, text: Option<&str>) -> ApiResult<Option<i64>> {
    text.map(|t| {
        t.trim()
            .parse::<i64>()
            .map_err(|_| ApiError::validation(field, "must be an integer"))
    })
    .transpose()
}

impl QuoteQuery {
    fn input(&self) -> ApiResult<QuoteInput> {
        Ok(QuoteInput {
            holding_id: self.holding_id.clone(),
            asset_id: self.asset_id.clone(),
            coverage_pct: decimal("coveragePct", self.coverage_pct.as_deref())?,
            duration_days: integer("durationDays", self.duration_days.as_deref())?,
            duration_months: integer("durationMonths", self.duration_months.as_deref())?,
        })
    }
}

/// A purchase: `quoteId` and `acknowledgedPremium: true` are required by
/// `/protection/purchase`; `POST /protection` also accepts the quote terms instead of a quote.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PurchaseIn {
    pub quote_id: Option<String>,
    #[schema(format = Uuid)]
    pub holding_id: Option<String>,
    /// `POST /protection` only, instead of `holdingId`.
    #[schema(value_type = Option<AssetId>)]
    pub asset_id: Option<String>,
    /// 0.1–1, default 1.
    #[serde(default, with = "blu_domain::num::option")]
    #[schema(value_type = Option<f64>, minimum = 0.1, maximum = 1)]
    pub coverage_pct: Option<Decimal>,
    /// 30, 60, 90, 120, 150 or 180.
    #[serde(default, deserialize_with = "crate::extract::whole::deserialize")]
    #[schema(minimum = 30, maximum = 180, multiple_of = 30)]
    pub duration_days: Option<i64>,
    /// `POST /protection` only, instead of `durationDays`: 1–6.
    #[serde(default, deserialize_with = "crate::extract::whole::deserialize")]
    #[schema(minimum = 1, maximum = 6)]
    pub duration_months: Option<i64>,
    /// Must equal the quoted premium when sent (whole rials).
    #[serde(default, with = "blu_domain::num::option")]
    #[schema(value_type = Option<i64>, minimum = 0)]
    pub premium_irr: Option<Decimal>,
    /// Must be `true`.
    pub acknowledged_premium: Option<bool>,
}

impl PurchaseIn {
    fn purchase(&self, quote_id: String) -> ApiResult<PurchaseInput> {
        let premium_irr = self
            .premium_irr
            .map(|p| {
                Irr::exact(p)
                    .ok_or_else(|| ApiError::validation("premiumIrr", "must be whole rials"))
            })
            .transpose()?;
        Ok(PurchaseInput {
            quote_id,
            holding_id: self.holding_id.clone(),
            coverage_pct: self.coverage_pct,
            // Saturating: a huge month count is refused by the duration check, not an overflow.
            duration_days: self
                .duration_days
                .or(self.duration_months.map(|m| m.saturating_mul(30))),
            premium_irr,
            acknowledged_premium: self.acknowledged_premium == Some(true),
        })
    }
}

/// Eligible holdings with an indicative 30-day premium (alias `/protection/eligible`).
#[utoipa::path(get, path = "/protection/holdings", tag = "protection",
    operation_id = "v1.protection.holdings",
    responses((status = 200, description = "Eligible holdings", body = EligibleView),
        (status = 404, body = ErrorBody)))]
async fn holdings(State(state): State<AppState>, user: AuthUser) -> ApiResult<Json<EligibleView>> {
    Ok(Json(state.protection.eligible(user.0.user_id).await?))
}

/// Alias of `GET /protection/holdings`.
#[utoipa::path(get, path = "/protection/eligible", tag = "protection",
    operation_id = "v1.protection.eligible",
    responses((status = 200, description = "Eligible holdings", body = EligibleView),
        (status = 404, body = ErrorBody)))]
async fn eligible(State(state): State<AppState>, user: AuthUser) -> ApiResult<Json<EligibleView>> {
    holdings(State(state), user).await
}

/// A 5-minute, single-use quote for protecting a holding.
#[utoipa::path(get, path = "/protection/quote", tag = "protection",
    operation_id = "v1.protection.quote", params(QuoteQuery),
    responses((status = 200, description = "The quote", body = QuoteResult),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
async fn quote(
    State(state): State<AppState>,
    user: AuthUser,
    Query(q): Query<QuoteQuery>,
) -> ApiResult<Json<QuoteResult>> {
    Ok(Json(
        state.protection.quote(user.0.user_id, &q.input()?).await?,
    ))
}

/// Buys the protection of a quote: premium from cash, PROTECTION_PURCHASE.
#[utoipa::path(post, path = "/protection/purchase", tag = "protection",
    operation_id = "v1.protection.purchase", request_body = PurchaseIn,
    responses((status = 201, description = "The protection, new cash, ledger entry", body = PurchaseResult),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 410, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn purchase(
    State(state): State<AppState>,
    user: AuthUser,
    idempotency: IdempotentRequest,
    Body(input): Body<PurchaseIn>,
) -> ApiResult<Response> {
    let quote_id = input
        .quote_id
        .clone()
        .ok_or_else(|| ApiError::validation("quoteId", "is required"))?;
    let replied = state
        .protection
        .purchase(
            user.0.user_id,
            &input.purchase(quote_id)?,
            idempotency.reply(StatusCode::CREATED),
        )
        .await?;
    Ok(respond(replied))
}

/// One-step purchase: with `quoteId` as `/protection/purchase`, else quoted and bought now.
#[utoipa::path(post, path = "/protection", tag = "protection",
    operation_id = "v1.protection.create", request_body = PurchaseIn,
    responses((status = 201, description = "The protection, new cash, ledger entry", body = PurchaseResult),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 410, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn create(
    State(state): State<AppState>,
    user: AuthUser,
    idempotency: IdempotentRequest,
    Body(input): Body<PurchaseIn>,
) -> ApiResult<Response> {
    let reply = idempotency.reply(StatusCode::CREATED);
    let replied = match input.quote_id.clone() {
        Some(quote_id) => {
            state
                .protection
                .purchase(user.0.user_id, &input.purchase(quote_id)?, reply)
                .await?
        }
        None => {
            let terms = QuoteInput {
                holding_id: input.holding_id.clone(),
                asset_id: input.asset_id.clone(),
                coverage_pct: input.coverage_pct,
                duration_days: input.duration_days,
                duration_months: input.duration_months,
            };
            state
                .protection
                .purchase_now(
                    user.0.user_id,
                    &terms,
                    input.acknowledged_premium == Some(true),
                    reply,
                )
                .await?
        }
    };
    Ok(respond(replied))
}

/// ACTIVE protections, newest first.
#[utoipa::path(get, path = "/protection/active", tag = "protection",
    operation_id = "v1.protection.active",
    responses((status = 200, description = "Protections", body = ProtectionList)))]
async fn active(State(state): State<AppState>, user: AuthUser) -> ApiResult<Json<ProtectionList>> {
    Ok(Json(
        state
            .protection
            .list(
                user.0.user_id,
                StatusFilter::Only(blu_domain::protection::ProtectionStatus::Active),
            )
            .await?,
    ))
}

/// Query of `GET /protection`.
#[derive(Debug, Deserialize, IntoParams)]
pub struct ListQuery {
    /// ACTIVE (default), EXPIRED, EXERCISED, CANCELLED or ALL.
    #[param(pattern = "^(ACTIVE|EXPIRED|EXERCISED|CANCELLED|ALL)$")]
    pub status: Option<String>,
}

/// Protections by status, newest first.
#[utoipa::path(get, path = "/protection", tag = "protection",
    operation_id = "v1.protection.list", params(ListQuery),
    responses((status = 200, description = "Protections", body = ProtectionList),
        (status = 400, body = ErrorBody)))]
async fn list(
    State(state): State<AppState>,
    user: AuthUser,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<ProtectionList>> {
    let filter = StatusFilter::parse(q.status.as_deref().map(str::trim))?;
    Ok(Json(state.protection.list(user.0.user_id, filter).await?))
}

/// One protection of the caller.
#[utoipa::path(get, path = "/protection/{id}", tag = "protection",
    operation_id = "v1.protection.get",
    params(("id" = String, Path, description = "Protection id")),
    responses((status = 200, description = "The protection", body = ProtectionView),
        (status = 404, body = ErrorBody)))]
async fn get_one(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<ProtectionView>> {
    Ok(Json(state.protection.get(user.0.user_id, &id).await?))
}

/// Cancels an ACTIVE protection (no refund), PROTECTION_CANCEL.
#[utoipa::path(delete, path = "/protection/{id}", tag = "protection",
    operation_id = "v1.protection.cancel",
    params(("id" = String, Path, description = "Protection id")),
    responses((status = 200, description = "The cancelled protection", body = CancelResult),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn cancel(
    State(state): State<AppState>,
    user: AuthUser,
    idempotency: IdempotentRequest,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let replied = state
        .protection
        .cancel(user.0.user_id, &id, idempotency.reply(StatusCode::OK))
        .await?;
    Ok(respond(replied))
}
