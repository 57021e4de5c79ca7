//! Public price routes (api.md §12.1): current prices with freshness, one asset, and daily closes
//! for charts. Public: no authentication, a stale `Authorization` header is ignored.

use axum::Json;
use axum::extract::{Path, Query, State};
use blu_app::ports::{Clock, FxQuote, PriceQuote, PriceSnapshot};
use blu_domain::asset::FIXED_INCOME_UNIT_IRR;
use blu_domain::{AssetId, Timestamp};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ApiResult};
use crate::openapi::ErrorBody;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_prices))
        .routes(routes!(get_price))
        .routes(routes!(price_history))
}

/// One asset's price (api.md §2.6).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PriceItemOut {
    pub asset_id: &'static str,
    #[serde(with = "blu_domain::num")]
    #[schema(value_type = f64)]
    pub price_usd: Decimal,
    /// `priceUsd × usdIrr`; fixed income: the unit value (500,000 IRR).
    #[serde(with = "blu_domain::num")]
    #[schema(value_type = f64)]
    pub price_irr: Decimal,
    /// Percentage points over 24 h; omitted when the provider did not say.
    #[serde(
        with = "blu_domain::num::option",
        skip_serializing_if = "Option::is_none",
        default
    )]
    #[schema(value_type = Option<f64>)]
    pub change_24h_pct: Option<Decimal>,
    /// `coingecko`, `finnhub`, `internal` (fixed income), `manual` (admin override),
    /// `simulated` or `fixed` (development sources).
    pub source: String,
    /// RFC 3339 with milliseconds.
    pub fetched_at: String,
    /// Older than PRICE_MAX_AGE (120 s): money movement on this asset is refused.
    pub stale: bool,
}

/// The USD→IRR rate (api.md §2.6).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FxRateOut {
    /// Rials per US dollar.
    #[serde(with = "blu_domain::num")]
    #[schema(value_type = f64)]
    pub usd_irr: Decimal,
    /// `bonbast`, `manual`, `simulated` or `fixed`.
    pub source: String,
    pub fetched_at: String,
    pub stale: bool,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PricesOut {
    /// Every asset that has a price, in registry order (fixed income included).
    pub prices: Vec<PriceItemOut>,
    /// Omitted only before any FX rate was ever fetched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fx_rate: Option<FxRateOut>,
    /// `live` (all fresh), `stale` (something old, newest < 10 min) or `offline`.
    pub status: &'static str,
    pub as_of: String,
}

struct Freshness {
    now: Timestamp,
    max_age_micros: i64,
}

impl Freshness {
    fn of(state: &AppState) -> Freshness {
        Freshness {
            now: state.clock.now(),
            max_age_micros: i64::try_from(state.settings.price_max_age.as_micros())
                .unwrap_or(i64::MAX),
        }
    }

    fn stale(&self, at: Timestamp) -> bool {
        self.now.micros_since(at) > self.max_age_micros
    }

    fn item(&self, q: &PriceQuote) -> PriceItemOut {
        PriceItemOut {
            asset_id: q.asset.as_str(),
            price_usd: q.price_usd,
            price_irr: q.price_irr,
            change_24h_pct: q.change_24h_pct,
            source: q.source.clone(),
            fetched_at: q.fetched_at.to_rfc3339_millis(),
            stale: self.stale(q.fetched_at),
        }
    }

    /// Fixed income at the current unit value (D12), priced internally, never stale. Its USD
    /// price is the unit value at the current FX, rounded to 8 decimals (0 without FX).
    fn fixed_income(&self, fx: Option<&FxQuote>) -> PriceItemOut {
        let price_usd = fx
            .filter(|fx| fx.usd_irr > Decimal::ZERO)
            .map_or(Decimal::ZERO, |fx| {
                (FIXED_INCOME_UNIT_IRR / fx.usd_irr).round_dp(8)
            });
        PriceItemOut {
            asset_id: AssetId::IrrFixedIncome.as_str(),
            price_usd,
            price_irr: FIXED_INCOME_UNIT_IRR,
            change_24h_pct: None,
            source: "internal".to_owned(),
            fetched_at: self.now.to_rfc3339_millis(),
            stale: false,
        }
    }

    fn price(&self, snapshot: &PriceSnapshot, asset: AssetId) -> Option<PriceItemOut> {
        if asset.is_fixed_income() {
            return Some(self.fixed_income(snapshot.fx.as_ref()));
        }
        snapshot.price(asset).map(|q| self.item(q))
    }
}

/// All current prices, the FX rate and overall freshness. Polled by the app every 30 s.
#[utoipa::path(get, path = "/prices", tag = "prices", operation_id = "v1.prices.list",
    responses((status = 200, body = PricesOut)))]
async fn list_prices(State(state): State<AppState>) -> Json<PricesOut> {
    let snapshot = state.prices.snapshot();
    let f = Freshness::of(&state);
    let prices = AssetId::ALL
        .iter()
        .filter_map(|a| f.price(&snapshot, *a))
        .collect();
    let fx_rate = snapshot.fx.as_ref().map(|fx| FxRateOut {
        usd_irr: fx.usd_irr,
        source: fx.source.clone(),
        fetched_at: fx.fetched_at.to_rfc3339_millis(),
        stale: f.stale(fx.fetched_at),
    });
    Json(PricesOut {
        prices,
        fx_rate,
        status: snapshot
            .status(f.now, state.settings.price_max_age)
            .as_str(),
        as_of: f.now.to_rfc3339_millis(),
    })
}

fn asset_of(id: &str) -> ApiResult<AssetId> {
    id.parse().map_err(|_| ApiError::not_found("asset"))
}

/// One asset's price; 404 for an unknown asset or one without a price yet.
#[utoipa::path(get, path = "/prices/{assetId}", tag = "prices", operation_id = "v1.prices.get",
    params(("assetId" = String, Path, description = "Registry symbol, e.g. BTC")),
    responses((status = 200, body = PriceItemOut), (status = 404, body = ErrorBody)))]
async fn get_price(
    State(state): State<AppState>,
    Path(asset_id): Path<String>,
) -> ApiResult<Json<PriceItemOut>> {
    let asset = asset_of(&asset_id)?;
    let snapshot = state.prices.snapshot();
    Freshness::of(&state)
        .price(&snapshot, asset)
        .map(Json)
        .ok_or_else(|| ApiError::not_found("price"))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct HistoryQuery {
    /// UTC days back, today included: 1–400, default 30.
    #[param(minimum = 1, maximum = 400)]
    pub days: Option<u32>,
}

/// One daily close: the last price seen that UTC day.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DailyCloseOut {
    /// `YYYY-MM-DD` (UTC).
    pub date: String,
    #[serde(with = "blu_domain::num")]
    #[schema(value_type = f64)]
    pub price_usd: Decimal,
    /// At the FX of that moment; omitted when no FX was known.
    #[serde(
        with = "blu_domain::num::option",
        skip_serializing_if = "Option::is_none",
        default
    )]
    #[schema(value_type = Option<f64>)]
    pub price_irr: Option<Decimal>,
}

/// Daily closes for charts, oldest first. Days without a stored price are absent (no
/// interpolation); fixed income has no market history (empty list).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PriceHistoryOut {
    pub asset_id: &'static str,
    pub days: u32,
    pub closes: Vec<DailyCloseOut>,
}

/// Daily closes of one asset over the last `days` UTC days (chart data).
#[utoipa::path(get, path = "/prices/{assetId}/history", tag = "prices",
    operation_id = "v1.prices.history",
    params(("assetId" = String, Path, description = "Registry symbol, e.g. BTC"), HistoryQuery),
    responses((status = 200, body = PriceHistoryOut), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn price_history(
    State(state): State<AppState>,
    Path(asset_id): Path<String>,
    Query(query): Query<HistoryQuery>,
) -> ApiResult<Json<PriceHistoryOut>> {
    let asset = asset_of(&asset_id)?;
    let days = query.days.unwrap_or(30);
    let closes = state.price_service.history(asset, days).await?;
    Ok(Json(PriceHistoryOut {
        asset_id: asset.as_str(),
        days,
        closes: closes
            .into_iter()
            .map(|c| DailyCloseOut {
                date: c.day,
                price_usd: c.close_usd,
                price_irr: c.close_irr,
            })
            .collect(),
    }))
}
