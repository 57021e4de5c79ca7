//! `/admin/v1/overrides`: manual price and FX overrides (api.md §13.1). An override takes effect
//! at once on this instance (cache, history point, bus tick); other instances take it from the
//! bus tick, or at the latest on their next refresh slot (≤ 30 s).
//!
//! Also the per-asset volatility regime of protection pricing (business-rules §8.3, an ops
//! setting, default NORMAL). It lives in the database and is read by every quote, so it applies
//! to the next quote on every instance.

use axum::Json;
use axum::extract::{Path, State};
use blu_app::ports::{FxQuote, RegimeSetting};
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
        .routes(routes!(put_volatility_regime, delete_volatility_regime))
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

/// `{"regime": "ELEVATED", "reason"?: "…"}`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct VolatilityRegimeIn {
    /// LOW, NORMAL, ELEVATED, HIGH or EXTREME (the implied volatility × 0.85, 1, 1.15, 1.35,
    /// 1.60).
    #[schema(example = "ELEVATED")]
    pub regime: String,
    /// At most 500 characters.
    pub reason: Option<String>,
}

/// An asset's volatility regime as set by an operator.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VolatilityRegimeOut {
    pub asset_id: &'static str,
    /// LOW, NORMAL, ELEVATED, HIGH or EXTREME.
    pub regime: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub set_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OverridesOut {
    pub prices: Vec<PriceOverrideOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fx: Option<FxOverrideOut>,
    /// Assets whose volatility regime was set (every other asset is NORMAL).
    pub volatility: Vec<VolatilityRegimeOut>,
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

fn regime_out(s: RegimeSetting) -> VolatilityRegimeOut {
    VolatilityRegimeOut {
        asset_id: s.asset.as_str(),
        regime: s.regime.as_str(),
        reason: s.reason,
        set_at: s.set_at.to_rfc3339_millis(),
    }
}

fn asset_of(id: &str) -> ApiResult<AssetId> {
    id.parse().map_err(|_| ApiError::not_found("asset"))
}

/// Active overrides and volatility regimes.
#[utoipa::path(get, path = "/overrides", tag = "admin", operation_id = "admin.overrides.list",
    security(("admin" = [])),
    responses((status = 200, body = OverridesOut), (status = 401, body = ErrorBody)))]
async fn list_overrides(_: Admin, State(state): State<AppState>) -> ApiResult<Json<OverridesOut>> {
    let (prices, fx) = state.price_service.overrides();
    let volatility = state.protection.volatility_regimes().await?;
    Ok(Json(OverridesOut {
        prices: prices.into_iter().map(price_out).collect(),
        fx: fx.map(fx_out),
        volatility: volatility.into_iter().map(regime_out).collect(),
    }))
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
    Admin(actor): Admin,
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
            actor.audit("price_override.set"),
        )
        .await?;
    tracing::info!(%asset, operator = %actor.name, "price override set");
    Ok(Json(price_out(applied)))
}

/// Clears an asset's override; the feed's value applies again.
#[utoipa::path(delete, path = "/overrides/prices/{assetId}", tag = "admin",
    operation_id = "admin.overrides.price.delete", security(("admin" = [])),
    params(("assetId" = String, Path, description = "Registry symbol, e.g. BTC")),
    responses((status = 200, body = ClearedOut), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn delete_price_override(
    Admin(actor): Admin,
    State(state): State<AppState>,
    Path(asset_id): Path<String>,
) -> ApiResult<Json<ClearedOut>> {
    let asset = asset_of(&asset_id)?;
    state
        .price_service
        .clear_override(Some(asset), actor.audit("price_override.clear"))
        .await?;
    tracing::info!(%asset, operator = %actor.name, "price override cleared");
    Ok(Json(ClearedOut { cleared: true }))
}

/// Pins the USD→IRR rate; every `priceIrr` follows.
#[utoipa::path(put, path = "/overrides/fx", tag = "admin", operation_id = "admin.overrides.fx.put",
    security(("admin" = [])), request_body = FxOverrideIn,
    responses((status = 200, body = FxOverrideOut), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
async fn put_fx_override(
    Admin(actor): Admin,
    State(state): State<AppState>,
    Body(input): Body<FxOverrideIn>,
) -> ApiResult<Json<FxOverrideOut>> {
    let applied = state
        .price_service
        .set_fx_override(
            input.usd_irr,
            input.ttl_seconds,
            input.reason,
            actor.audit("fx_override.set"),
        )
        .await?;
    tracing::info!(operator = %actor.name, "FX override set");
    Ok(Json(fx_out(applied)))
}

/// Clears the FX override.
#[utoipa::path(delete, path = "/overrides/fx", tag = "admin",
    operation_id = "admin.overrides.fx.delete", security(("admin" = [])),
    responses((status = 200, body = ClearedOut), (status = 401, body = ErrorBody)))]
async fn delete_fx_override(
    Admin(actor): Admin,
    State(state): State<AppState>,
) -> ApiResult<Json<ClearedOut>> {
    state
        .price_service
        .clear_override(None, actor.audit("fx_override.clear"))
        .await?;
    tracing::info!(operator = %actor.name, "FX override cleared");
    Ok(Json(ClearedOut { cleared: true }))
}

/// Sets a protection-eligible asset's volatility regime: its implied volatility (and so the
/// BLACK_SCHOLES premium) is scaled from the next quote on, on every instance.
#[utoipa::path(put, path = "/overrides/volatility/{assetId}", tag = "admin",
    operation_id = "admin.overrides.volatility.put", security(("admin" = [])),
    params(("assetId" = String, Path, description = "Registry symbol of a protection-eligible asset, e.g. BTC")),
    request_body = VolatilityRegimeIn,
    responses((status = 200, body = VolatilityRegimeOut), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn put_volatility_regime(
    Admin(actor): Admin,
    State(state): State<AppState>,
    Path(asset_id): Path<String>,
    Body(input): Body<VolatilityRegimeIn>,
) -> ApiResult<Json<VolatilityRegimeOut>> {
    let asset = asset_of(&asset_id)?;
    let setting = state
        .protection
        .set_volatility_regime(
            asset,
            &input.regime,
            input.reason,
            actor.audit("volatility_regime.set"),
        )
        .await?;
    tracing::info!(%asset, regime = setting.regime.as_str(), "volatility regime set");
    Ok(Json(regime_out(setting)))
}

/// Clears an asset's volatility regime; it is priced NORMAL again.
#[utoipa::path(delete, path = "/overrides/volatility/{assetId}", tag = "admin",
    operation_id = "admin.overrides.volatility.delete", security(("admin" = [])),
    params(("assetId" = String, Path, description = "Registry symbol, e.g. BTC")),
    responses((status = 200, body = ClearedOut), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn delete_volatility_regime(
    Admin(actor): Admin,
    State(state): State<AppState>,
    Path(asset_id): Path<String>,
) -> ApiResult<Json<ClearedOut>> {
    let asset = asset_of(&asset_id)?;
    state
        .protection
        .clear_volatility_regime(asset, actor.audit("volatility_regime.clear"))
        .await?;
    tracing::info!(%asset, "volatility regime cleared");
    Ok(Json(ClearedOut { cleared: true }))
}
