//! `/admin/v1`: the operator API (api.md §13). Every route takes the `Admin` extractor.

use axum::Json;
use axum::extract::{Query, State};
use blu_app::ports::OutboxMessage;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ApiResult};
use crate::extract::Admin;
use crate::openapi::ErrorBody;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(sms_outbox))
        .merge(super::admin_overrides::router())
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct OutboxQuery {
    /// Only messages to this phone.
    pub phone: Option<String>,
    /// 1–1000, default 20.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<usize>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OutboxOut {
    #[schema(value_type = Vec<Object>)]
    pub messages: Vec<OutboxMessage>,
}

/// Development SMS outbox: the login codes the log gateway "sent", newest first. Served only
/// while the development gateway is active.
#[utoipa::path(get, path = "/sms-outbox", tag = "admin", operation_id = "admin.sms_outbox.list",
    params(OutboxQuery), security(("admin" = [])),
    responses((status = 200, body = OutboxOut), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn sms_outbox(
    admin: Admin,
    State(state): State<AppState>,
    Query(query): Query<OutboxQuery>,
) -> ApiResult<Json<OutboxOut>> {
    let limit = query.limit.unwrap_or(20);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::validation("limit", "must be between 1 and 1000"));
    }
    let messages = state
        .sms
        .outbox(query.phone.as_deref(), limit)
        .ok_or_else(|| ApiError::not_found("outbox"))?;
    // Customers' phones and login codes: a read of customer data.
    let target = query
        .phone
        .as_deref()
        .map_or_else(|| "all".to_owned(), blu_app::mask_phone);
    admin.audit_read(&state, "sms_outbox.read", target).await?;
    Ok(Json(OutboxOut { messages }))
}
