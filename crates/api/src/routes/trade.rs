//! `/api/v1/trade` (api.md §7, business-rules §5).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use blu_app::portfolio::{ExecuteRequest, ExecuteResult, PreviewResult, TradeInput, TradeLimits};
use blu_domain::AssetId;
use blu_domain::trade::TradeAction;
use rust_decimal::Decimal;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ApiResult};
use crate::extract::{AuthUser, Body};
use crate::idempotency::{IdempotentRequest, respond};
use crate::openapi::ErrorBody;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(preview))
        .routes(routes!(execute))
        .routes(routes!(limits))
}

/// A trade request. `side` is accepted for `action` and `amountIRR` for `amountIrr`; enum
/// values are case-insensitive.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TradeIn {
    /// BUY or SELL.
    #[serde(alias = "side")]
    #[schema(value_type = TradeAction)]
    pub action: Option<String>,
    #[schema(value_type = AssetId)]
    pub asset_id: Option<String>,
    /// Gross IRR amount (whole rials; fractions are rounded half-up). Required unless
    /// `sellAll`.
    #[serde(alias = "amountIRR", default, with = "blu_domain::num::option")]
    #[schema(value_type = Option<f64>, minimum = 1000000, maximum = 50000000000.0)]
    pub amount_irr: Option<Decimal>,
    /// SELL only: the whole holding.
    #[serde(default)]
    pub sell_all: Option<bool>,
    /// Execute only: confirms a STRUCTURAL or STRESS warning.
    #[serde(default)]
    pub acknowledged_warning: Option<bool>,
    /// Execute only: fill at this preview's price.
    pub quote_id: Option<String>,
}

impl TradeIn {
    fn input(&self) -> ApiResult<TradeInput> {
        Ok(TradeInput {
            action: self
                .action
                .clone()
                .ok_or_else(|| ApiError::validation("action", "is required"))?,
            asset_id: self
                .asset_id
                .clone()
                .ok_or_else(|| ApiError::validation("assetId", "is required"))?,
            amount_irr: self.amount_irr,
            sell_all: self.sell_all.unwrap_or(false),
        })
    }
}

/// Previews a trade and returns a quote valid 30 s. Refusals are the errors execute would
/// return.
#[utoipa::path(post, path = "/trade/preview", tag = "trade", operation_id = "v1.trade.preview",
    request_body = TradeIn,
    responses((status = 200, description = "Plan, quote and boundary", body = PreviewResult),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
async fn preview(
    State(state): State<AppState>,
    user: AuthUser,
    Body(input): Body<TradeIn>,
) -> ApiResult<Json<PreviewResult>> {
    Ok(Json(
        state
            .portfolio
            .preview_trade(user.0.user_id, &input.input()?)
            .await?,
    ))
}

/// Executes a trade at the quoted price (with `quoteId`) or the current fresh price.
#[utoipa::path(post, path = "/trade/execute", tag = "trade", operation_id = "v1.trade.execute",
    request_body = TradeIn,
    responses((status = 200, description = "The executed trade and new balances", body = ExecuteResult),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 410, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn execute(
    State(state): State<AppState>,
    user: AuthUser,
    idempotency: IdempotentRequest,
    Body(input): Body<TradeIn>,
) -> ApiResult<Response> {
    let request = ExecuteRequest {
        trade: input.input()?,
        acknowledged_warning: input.acknowledged_warning.unwrap_or(false),
        quote_id: input.quote_id.clone(),
    };
    let replied = state
        .portfolio
        .execute_trade(user.0.user_id, &request, idempotency.reply(StatusCode::OK))
        .await?;
    Ok(respond(replied))
}

/// Trade limits, spreads and quote lifetime.
#[utoipa::path(get, path = "/trade/limits", tag = "trade", operation_id = "v1.trade.limits",
    responses((status = 200, description = "Limits", body = TradeLimits)))]
async fn limits(State(state): State<AppState>, _user: AuthUser) -> Json<TradeLimits> {
    Json(state.portfolio.trade_limits())
}
