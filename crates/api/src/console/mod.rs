//! The operator console (issue 15): one HTML page, one small script and one style sheet,
//! embedded in the binary and served at `/console` (works offline, nothing to build), plus the
//! cookie login `POST /console/session`. Everything the page shows comes from `/admin/v1`,
//! where the operator gate checks the role of every request.
//!
//! The page's headers: a strict Content-Security-Policy (same-origin script, style and fetch
//! only; no inline script, no framing), `Cache-Control: no-store`, no referrer. The session
//! cookie is HttpOnly, SameSite=Strict, and Secure in production.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use blu_app::operators::Actor;
use blu_app::operators::credentials::csrf_token;
use blu_app::ports::ActorKind;

use crate::error::ApiResult;
use crate::extract::{Body, ClientIp};
use crate::middleware::RequestId;
use crate::operator_gate::SESSION_COOKIE;
use crate::routes::operators::{LoginIn, log_in, whoami_out};
use crate::state::AppState;

const INDEX_HTML: &str = include_str!("index.html");
const APP_JS: &str = include_str!("app.js");
const APP_CSS: &str = include_str!("app.css");

/// Same-origin only, nothing inline, never framed.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console", get(page))
        .route("/console/app.js", get(script))
        .route("/console/app.css", get(styles))
        .route("/console/session", post(login))
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

async fn page() -> Response {
    asset("text/html; charset=utf-8", INDEX_HTML)
}

async fn script() -> Response {
    asset("text/javascript; charset=utf-8", APP_JS)
}

async fn styles() -> Response {
    asset("text/css; charset=utf-8", APP_CSS)
}

fn cookie_value(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.trim())
        .filter(|v| !v.is_empty())
}

/// The CSRF token of the request's console session cookie, if it has one.
pub fn cookie_csrf(headers: &HeaderMap) -> Option<String> {
    cookie_value(headers).map(csrf_token)
}

/// The session cookie of a request, if any (`operator_gate`).
pub fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    cookie_value(headers)
}

fn set_cookie(response: &mut Response, value: &str, max_age: u64, secure: bool) {
    let secure = if secure { "; Secure" } else { "" };
    let cookie = format!(
        "{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
    );
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

/// Expires the console cookie (logout).
pub fn clear_cookie(response: &mut Response) {
    set_cookie(response, "", 0, false);
}

/// Console login: sets the session cookie and answers who logged in, with the CSRF token the
/// page sends on every change. The token itself never reaches the page's script.
async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    request_id: Option<axum::Extension<RequestId>>,
    Body(input): Body<LoginIn>,
) -> ApiResult<Response> {
    let session = log_in(&state, &input, request_id.map(|r| r.0.0), ip).await?;
    let actor = Actor {
        name: session.operator.name.clone(),
        kind: ActorKind::Operator,
        role: session.operator.role,
        operator_id: Some(session.operator.id),
        session_id: None,
        request_id: None,
        ip: None,
    };
    let body = whoami_out(&actor, Some(session.csrf_token));
    let mut response = (StatusCode::OK, axum::Json(body)).into_response();
    let lifetime = blu_app::operators::SESSION_LIFETIME.as_secs();
    set_cookie(
        &mut response,
        &session.token,
        lifetime,
        state.settings.production,
    );
    Ok(response)
}
