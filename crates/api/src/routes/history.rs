//! `/api/v1/history` and `/api/v1/activity` (api.md §11, business-rules §9).

use axum::Json;
use axum::body::Body as AxumBody;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use blu_app::portfolio::{ActivityPage, HistoryFilter, HistoryPage, decode_cursor};
use blu_domain::{EntryType, LedgerEntry, Timestamp, csv};
use serde::Deserialize;
use serde_json::Value;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::error::{ApiError, ApiResult};
use crate::extract::AuthUser;
use crate::openapi::{Cursor, ErrorBody};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(history))
        .routes(routes!(export))
        .routes(routes!(history_activity))
        .routes(routes!(history_all))
        .routes(routes!(activity))
        .routes(routes!(entry))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct HistoryQuery {
    /// 1–100, default 20.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
    #[param(value_type = Option<Cursor>)]
    pub cursor: Option<String>,
    /// A ledger entry type (any letter case).
    #[serde(rename = "type")]
    #[param(value_type = Option<EntryType>)]
    pub entry_type: Option<String>,
    /// RFC 3339 lower bound.
    #[param(format = DateTime)]
    pub from: Option<String>,
    /// RFC 3339 upper bound.
    #[param(format = DateTime)]
    pub to: Option<String>,
    /// `true` adds before/after snapshots.
    #[param(value_type = Option<bool>)]
    pub snapshots: Option<String>,
}

fn limit(text: Option<&str>, default: u32) -> ApiResult<u32> {
    match text {
        None => Ok(default),
        Some(t) => t
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=100).contains(n))
            .ok_or_else(|| ApiError::validation("limit", "must be an integer from 1 to 100")),
    }
}

fn cursor(text: Option<&str>) -> ApiResult<Option<i64>> {
    text.map(|c| decode_cursor(c).ok_or_else(|| ApiError::validation("cursor", "is not valid")))
        .transpose()
}

fn instant(field: &str, text: Option<&str>) -> ApiResult<Option<Timestamp>> {
    text.map(|t| {
        Timestamp::parse_rfc3339(t)
            .ok_or_else(|| ApiError::validation(field, "must be an RFC 3339 timestamp"))
    })
    .transpose()
}

/// Ledger entries, newest first, cursor-paged.
#[utoipa::path(get, path = "/history", tag = "history", operation_id = "v1.history.list",
    params(HistoryQuery),
    responses((status = 200, description = "A page of ledger entries", body = HistoryPage),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn history(
    State(state): State<AppState>,
    user: AuthUser,
    Query(q): Query<HistoryQuery>,
) -> ApiResult<Json<HistoryPage>> {
    let entry_type = q
        .entry_type
        .as_deref()
        .map(|t| {
            t.parse::<EntryType>()
                .map_err(|_| ApiError::validation("type", "is not a ledger entry type"))
        })
        .transpose()?;
    let filter = HistoryFilter {
        entry_type,
        from: instant("from", q.from.as_deref())?,
        to: instant("to", q.to.as_deref())?,
        cursor: cursor(q.cursor.as_deref())?,
        limit: limit(q.limit.as_deref(), 20)?,
        snapshots: q.snapshots.as_deref() == Some("true"),
    };
    Ok(Json(
        state.portfolio.history(user.0.user_id, &filter).await?,
    ))
}

/// One full ledger entry; 404 if unknown or another user's.
#[utoipa::path(get, path = "/history/{id}", tag = "history", operation_id = "v1.history.get",
    params(("id" = String, Path, description = "Ledger entry id")),
    responses((status = 200, description = "The full entry", body = LedgerEntry),
        (status = 404, body = ErrorBody)))]
async fn entry(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::not_found("ledger entry"))?;
    Ok(Json(
        state.portfolio.history_entry(user.0.user_id, id).await?,
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ExportQuery {
    /// RFC 3339 lower bound.
    #[param(format = DateTime)]
    pub from: Option<String>,
    /// RFC 3339 upper bound.
    #[param(format = DateTime)]
    pub to: Option<String>,
}

/// The ledger as CSV (UTF-8 with BOM), streamed one row per entry.
#[utoipa::path(get, path = "/history/export", tag = "history", operation_id = "v1.history.export",
    params(ExportQuery),
    responses((status = 200, description = "text/csv", content_type = "text/csv"),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn export(
    State(state): State<AppState>,
    user: AuthUser,
    Query(q): Query<ExportQuery>,
) -> ApiResult<Response> {
    let entries = state
        .portfolio
        .export_entries(
            user.0.user_id,
            instant("from", q.from.as_deref())?,
            instant("to", q.to.as_deref())?,
        )
        .await?;
    let head = format!("{}{}", csv::BOM, csv::header_line());
    let rows = std::iter::once(head).chain(entries.iter().map(csv::row).collect::<Vec<_>>());
    let stream = futures::stream::iter(rows.map(Ok::<_, std::convert::Infallible>));
    let mut response = AxumBody::from_stream(stream).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    let disposition = format!(
        "attachment; filename=\"{}\"",
        csv::export_file_name(state.portfolio.now())
    );
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ActivityQuery {
    /// 1–100.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
    #[param(value_type = Option<Cursor>)]
    pub cursor: Option<String>,
}

async fn activity_page(
    state: &AppState,
    user: &AuthUser,
    q: &ActivityQuery,
    default_limit: u32,
) -> ApiResult<Json<ActivityPage>> {
    Ok(Json(
        state
            .portfolio
            .activity(
                user.0.user_id,
                cursor(q.cursor.as_deref())?,
                limit(q.limit.as_deref(), default_limit)?,
            )
            .await?,
    ))
}

/// The activity feed's first page (default 20).
#[utoipa::path(get, path = "/history/activity", tag = "history",
    operation_id = "v1.history.activity", params(ActivityQuery),
    responses((status = 200, description = "Activity page", body = ActivityPage),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn history_activity(
    State(state): State<AppState>,
    user: AuthUser,
    Query(q): Query<ActivityQuery>,
) -> ApiResult<Json<ActivityPage>> {
    activity_page(&state, &user, &q, 20).await
}

/// The following activity pages (URL-safe cursor).
#[utoipa::path(get, path = "/history/all", tag = "history", operation_id = "v1.history.all",
    params(ActivityQuery),
    responses((status = 200, description = "Activity page", body = ActivityPage),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn history_all(
    State(state): State<AppState>,
    user: AuthUser,
    Query(q): Query<ActivityQuery>,
) -> ApiResult<Json<ActivityPage>> {
    activity_page(&state, &user, &q, 20).await
}

/// Alias of `/history/activity` with a default limit of 50.
#[utoipa::path(get, path = "/activity", tag = "history", operation_id = "v1.activity.list",
    params(ActivityQuery),
    responses((status = 200, description = "Activity page", body = ActivityPage),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn activity(
    State(state): State<AppState>,
    user: AuthUser,
    Query(q): Query<ActivityQuery>,
) -> ApiResult<Json<ActivityPage>> {
    activity_page(&state, &user, &q, 50).await
}
