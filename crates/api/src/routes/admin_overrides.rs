//! `/admin/v1/overrides`: manual price and FX overrides (api.md §13.1). An override takes effect
//! at once on this instance (cache, history point, bus tick); other instances take it from the
//! bus tick, or at the latest on their next refresh slot (≤ 30 s).

use axum::Json;
use axum::extract::{Path, State};
use blu_app::ports::FxQuote;
use blu_app::prices::AppliedOverride;
use blu_domain::{AssetId, Timestamp};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ApiResult};
use crate::extract::{Admin, Body};
use crate::openapi::ErrorBody;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_overrides))
        .routes(routes!(put_price_override, delete_price_override))
        .routes(routes!(put_fx_override, delete_fx_override))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PriceOverrideIn {
    /// > 0.
    #[serde(with = "blu_domain::num")]
    #[schema(value_type = f64, example = 97000)]
    pub price_usd: Decimal,
    #[serde(default, with = "blu_domain::num::option")]
    #[schema(value_type = Option<f64>)]
    pub change_24h_pct: Option<Decimal>,
    /// 1–31,536,000; without it the override lasts until cleared.
    pub ttl_seconds: Option<u64>,
    pub reason: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FxOverrideIn {
    /// Rials per US dollar, > 0.
    #[serde(with = "blu_domain::num")]
    #[schema(value_type = f64, example = 1456000)]
    pub usd_irr: Decimal,
    pub ttl_seconds: Option<u64>,
    pub reason: Option<String>,
}

/// An active price override as it applies now.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PriceOverrideOut {
    pub asset_id: &'static str,
    #[serde(with = "blu_domain::num")]
    #[schema(value_type = f64)]
    pub price_usd: Decimal,
    /// `priceUsd` × the effective FX.
    #[serde(with = "blu_domain::num")]
    #[schema(value_type = f64)]
    pub price_irr: Decimal,
    /// Always `manual`.
    pub source: String,
    pub fetched_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FxOverrideOut {
    #[serde(with = "blu_domain::num")]
    #[schema(value_type = f64)]
    pub usd_irr: Decimal,
    pub source: String,
    pub fetched_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OverridesOut {
    pub prices: Vec<PriceOverrideOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fx: Option<FxOverrideOut>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ClearedOut {
    pub cleared: bool,
}

fn millis(t: Option<Timestamp>) -> Option<String> {
    t.map(Timestamp::to_rfc3339_millis)
}

fn price_out(o: AppliedOverride) -> PriceOverrideOut {
    PriceOverrideOut {
        asset_id: o.quote.asset.as_str(),
        price_usd: o.quote.price_usd,
        price_irr: o.quote.price_irr,
        source: o.quote.source,
        fetched_at: o.quote.fetched_at.to_rfc3339_millis(),
        expires_at: millis(o.expires_at),
    }
}

fn fx_out((fx, expires_at): (FxQuote, Option<Timestamp>)) -> FxOverrideOut {
    FxOverrideOut {
        usd_irr: fx.usd_irr,
        source: fx.source,
        fetched_at: fx.fetched_at.to_rfc3339_millis(),
        expires_at: millis(expires_at),
    }
}

fn asset_of(id: &str) -> ApiResult<AssetId> {
    id.parse().map_err(|_| ApiError::not_found("asset"))
}

/// Active overrides.
#[utoipa::path(get, path = "/overrides", tag = "admin", operation_id = "admin.overrides.list",
    security(("admin" = [])),
    responses((status = 200, body = OverridesOut), (status = 401, body = ErrorBody)))]
async fn list_overrides(_: Admin, State(state): State<AppState>) -> Json<OverridesOut> {
    let (prices, fx) = state.price_service.overrides();
    Json(OverridesOut {
        prices: prices.into_iter().map(price_out).collect(),
        fx: fx.map(fx_out),
    })
}

/// Pins one asset's USD price (not IRR_FIXED_INCOME). While active it masks the feed and
/// counts as fresh.
#[utoipa::path(put, path = "/overrides/prices/{assetId}", tag = "admin",
    operation_id = "admin.overrides.price.put", security(("admin" = [])),
    params(("assetId" = String, Path, description = "Registry symbol, e.g. BTC")),
    request_body = PriceOverrideIn,
    responses((status = 200, body = PriceOverrideOut), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn put_price_override(
    _: Admin,
    State(state): State<AppState>,
    Path(asset_id): Path<String>,
    Body(input): Body<PriceOverrideIn>,
) -> ApiResult<Json<PriceOverrideOut>> {
    let asset = asset_of(&asset_id)?;
    let applied = state
        .price_service
        .set_price_override(
            asset,
            input.price_usd,
            input.change_24h_pct,
            input.ttl_seconds,
            input.reason,
        )
        .await?;
    tracing::info!(%asset, "price override set");
    Ok(Json(price_out(applied)))
}

/// Clears an asset's override; the feed's value applies again.
#[utoipa::path(delete, path = "/overrides/prices/{assetId}", tag = "admin",
    operation_id = "admin.overrides.price.delete", security(("admin" = [])),
    params(("assetId" = String, Path, description = "Registry symbol, e.g. BTC")),
    responses((status = 200, body = ClearedOut), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn delete_price_override(
    _: Admin,
    State(state): State<AppState>,
    Path(asset_id): Path<String>,
) -> ApiResult<Json<ClearedOut>> {
    let asset = asset_of(&asset_id)?;
    state.price_service.clear_override(Some(asset)).await?;
    tracing::info!(%asset, "price override cleared");
    Ok(Json(ClearedOut { cleared: true }))
}

/// Pins the USD→IRR rate; every `priceIrr` follows.
#[utoipa::path(put, path = "/overrides/fx", tag = "admin", operation_id = "admin.overrides.fx.put",
    security(("admin" = [])), request_body = FxOverrideIn,
    responses((status = 200, body = FxOverrideOut), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
async fn put_fx_override(
    _: Admin,
    State(state): State<AppState>,
    Body(input): Body<FxOverrideIn>,
) -> ApiResult<Json<FxOverrideOut>> {
    let applied = state
        .price_service
        .set_fx_override(input.usd_irr, input.ttl_seconds, input.reason)
        .await?;
    tracing::info!("FX override set");
    Ok(Json(fx_out(applied)))
}

/// Clears the FX override.
#[utoipa::path(delete, path = "/overrides/fx", tag = "admin",
    operation_id = "admin.overrides.fx.delete", security(("admin" = [])),
    responses((status = 200, body = ClearedOut), (status = 401, body = ErrorBody)))]
async fn delete_fx_override(
    _: Admin,
    State(state): State<AppState>,
) -> ApiResult<Json<ClearedOut>> {
    state.price_service.clear_override(None).await?;
    tracing::info!("FX override cleared");
    Ok(Json(ClearedOut { cleared: true }))
}
