//! `/admin/v1/audit` (issue 15): the append-only audit trail, newest first, and its CSV export.
//! `admin` only; an export is itself audited.

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use blu_app::ports::{AuditQuery, AuditRecord};
use blu_domain::csv;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ApiResult};
use crate::extract::Admin;
use crate::openapi::ErrorBody;
use crate::state::AppState;

/// The export holds at most this many rows (newest first); narrow the filters for more.
pub const MAX_EXPORT_ROWS: u32 = 100_000;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(export))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct AuditFilter {
    /// Only this actor (operator name, `ADMIN_TOKEN`, `cli:<user>`).
    pub actor: Option<String>,
    /// Only this action (`price_override.set`, `customer.read`, …).
    pub action: Option<String>,
    /// Only this target.
    pub target: Option<String>,
    /// Rows older than this position (`nextCursor` of the previous page).
    #[param(minimum = 1)]
    pub before: Option<i64>,
    /// 1–500, default 50.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntryOut {
    pub seq: i64,
    pub at: String,
    pub actor: String,
    /// operator, break_glass or cli.
    pub actor_kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<&'static str>,
    pub action: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// `false`: refused.
    pub allowed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub before: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub after: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditPageOut {
    pub entries: Vec<AuditEntryOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<i64>,
}

fn entry_out(r: AuditRecord) -> AuditEntryOut {
    let e = r.entry;
    AuditEntryOut {
        seq: r.seq,
        at: e.at.to_rfc3339_millis(),
        actor: e.actor,
        actor_kind: e.actor_kind.as_str(),
        role: e.role.map(|r| r.as_str()),
        action: e.action,
        target: e.target,
        allowed: e.allowed,
        before: e.before,
        after: e.after,
        request_id: e.request_id,
        ip: e.ip,
    }
}

/// The store's query for `filter`, its text filters checked first: the list and the export
/// take the same filters and refuse the same values.
fn query_of(filter: &AuditFilter, limit: u32) -> ApiResult<AuditQuery> {
    for (field, value) in [
        ("actor", &filter.actor),
        ("action", &filter.action),
        ("target", &filter.target),
    ] {
        if value
            .as_deref()
            .is_some_and(|v| v.chars().any(char::is_control) || v.chars().count() > 500)
        {
            return Err(ApiError::validation(
                field,
                "must be at most 500 characters, without control characters",
            ));
        }
    }
    if filter.before.is_some_and(|b| b < 1) {
        return Err(ApiError::validation("before", "must be a positive cursor"));
    }
    let text = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    Ok(AuditQuery {
        before_seq: filter.before,
        actor: text(&filter.actor),
        action: text(&filter.action),
        target: text(&filter.target),
        limit,
    })
}

/// The trail, newest first, with optional filters.
#[utoipa::path(get, path = "/audit", tag = "admin", operation_id = "admin.audit.list",
    security(("admin" = [])), params(AuditFilter),
    responses((status = 200, body = AuditPageOut), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn list(
    _: Admin,
    State(state): State<AppState>,
    Query(filter): Query<AuditFilter>,
) -> ApiResult<Json<AuditPageOut>> {
    let limit = filter.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::validation("limit", "must be between 1 and 500"));
    }
    let query = query_of(&filter, limit + 1)?;
    let mut rows = state.operators.store().audit_page(&query).await?;
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next_cursor = more.then(|| rows.last().map(|r| r.seq)).flatten();
    Ok(Json(AuditPageOut {
        entries: rows.into_iter().map(entry_out).collect(),
        next_cursor,
    }))
}

const CSV_HEADER: [&str; 12] = [
    "seq",
    "at",
    "actor",
    "actorKind",
    "role",
    "action",
    "target",
    "allowed",
    "before",
    "after",
    "requestId",
    "ip",
];

fn csv_row(r: &AuditRecord) -> String {
    let e = &r.entry;
    let json = |v: &Option<Value>| v.as_ref().map(Value::to_string).unwrap_or_default();
    csv::text_record(&[
        r.seq.to_string(),
        e.at.to_rfc3339_millis(),
        e.actor.clone(),
        e.actor_kind.as_str().to_owned(),
        e.role.map(|r| r.as_str()).unwrap_or_default().to_owned(),
        e.action.clone(),
        e.target.clone().unwrap_or_default(),
        e.allowed.to_string(),
        json(&e.before),
        json(&e.after),
        e.request_id.clone().unwrap_or_default(),
        e.ip.clone().unwrap_or_default(),
    ])
}

/// The trail as CSV (UTF-8 with BOM), newest first, same filters; at most 100,000 rows.
#[utoipa::path(get, path = "/audit/export", tag = "admin", operation_id = "admin.audit.export",
    security(("admin" = [])), params(AuditFilter),
    responses((status = 200, description = "text/csv", content_type = "text/csv"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
async fn export(
    Admin(actor): Admin,
    State(state): State<AppState>,
    Query(filter): Query<AuditFilter>,
) -> ApiResult<Response> {
    let query = query_of(&filter, MAX_EXPORT_ROWS)?;
    let store = state.operators.store();
    store
        .append_audit(
            &actor
                .audit("audit.export")
                .with_after(Some(serde_json::json!({
                    "actor": filter.actor, "action": filter.action, "target": filter.target,
                }))),
        )
        .await?;
    let rows = store.audit_page(&query).await?;
    let mut body = format!("{}{}", csv::BOM, csv::text_record(&CSV_HEADER));
    for r in &rows {
        body.push_str(&csv_row(r));
    }
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(csv::CONTENT_TYPE),
    );
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"blu-audit.csv\""),
    );
    Ok(response)
}
