//! Who may call `/admin/v1` (issue 15): every route names the permission it needs
//! (`permission_of`, deny by default), and one middleware authenticates the caller and checks
//! it before any handler runs. A refusal is answered 403 `FORBIDDEN` and written to the audit
//! trail.
//!
//! Credentials, in order:
//! - `Authorization: Bearer <ADMIN_TOKEN>`: break-glass, every right, audited as such;
//! - `Authorization: Bearer bluop_…`: an operator session from `POST /admin/v1/session`;
//! - the console's session cookie (HttpOnly, SameSite=Strict), with the session's CSRF token in
//!   `X-CSRF-Token` on every request that is not a GET.
//!
//! User JWTs are never accepted.

use axum::extract::{FromRequestParts, MatchedPath, Request, State};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use blu_app::operators::credentials::{TOKEN_PREFIX, csrf_matches};
use blu_app::operators::{Actor, Authenticated};
use blu_app::ports::{ActorKind, Permission};
use serde_json::json;
use subtle::ConstantTimeEq;

use crate::error::{ApiError, ApiResult};
use crate::extract::{bearer_token, client_ip};
use crate::middleware::RequestId;
use crate::state::AppState;

/// The console's session cookie.
pub const SESSION_COOKIE: &str = "blu_console";
/// Header carrying the CSRF token of a cookie session.
pub const CSRF_HEADER: &str = "x-csrf-token";
const ADMIN_PREFIX: &str = "/admin/v1";

/// What a route needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Login: no credential yet.
    Public,
    Needs(Permission),
}

/// The permission of each operator route (paths relative to `/admin/v1`). A route missing here
/// is refused to everyone but `admin` (`tests/api/operators.rs` checks every documented route
/// is listed).
pub fn permission_of(method: &Method, route: &str) -> Option<Access> {
    use Permission as P;
    let read = method == Method::GET;
    let need = match route {
        "/session" if method == Method::POST => return Some(Access::Public),
        "/session" | "/session/password" => P::OwnAccount,
        "/sms-outbox" => P::ReadSmsOutbox,
        "/overrides" | "/jobs" | "/clock" | "/console/overview" if read => P::ViewService,
        "/overrides/prices/{assetId}" | "/overrides/fx" | "/overrides/volatility/{assetId}" => {
            P::ManageOverrides
        }
        "/clock/advance" => P::MoveClock,
        "/jobs/{name}/run" => P::RunJobs,
        "/portfolios/{portfolioId}/ledger/verify" | "/customers/lookup" => P::ReadCustomer,
        "/ledger/verify" => P::VerifyAllLedgers,
        "/operators" | "/operators/{name}" | "/operators/{name}/code" => P::ManageOperators,
        "/audit" | "/audit/export" => P::ReadAudit,
        "/test/panic" => P::Diagnostics,
        _ => return None,
    };
    Some(Access::Needs(need))
}

fn operator_actor(auth: Authenticated, request_id: Option<String>, ip: Option<String>) -> Actor {
    Actor {
        name: auth.operator.name,
        kind: ActorKind::Operator,
        role: auth.operator.role,
        operator_id: Some(auth.operator.id),
        session_id: Some(auth.session.id),
        request_id,
        ip,
    }
}

/// The caller of an operator request, or 401 (403 for a cookie request without its CSRF
/// token). Also used by the console's session route.
pub async fn authenticate(state: &AppState, parts: &Parts) -> ApiResult<Actor> {
    let request_id = parts.extensions.get::<RequestId>().map(|r| r.0.clone());
    let ip = client_ip(parts, state.settings.trusted_proxy_header.as_deref());
    let unauthorized =
        || ApiError::unauthorized("UNAUTHORIZED", "Operator authentication required");
    if let Some(token) = bearer_token(&parts.headers) {
        if let Some(expected) = state.settings.admin_token.as_ref()
            && bool::from(token.as_bytes().ct_eq(expected.expose().as_bytes()))
        {
            return Ok(Actor::break_glass(request_id, ip));
        }
        if !token.starts_with(TOKEN_PREFIX) {
            return Err(unauthorized());
        }
        let auth = state.operators.authenticate(token).await?;
        return auth
            .map(|a| operator_actor(a, request_id, ip))
            .ok_or_else(unauthorized);
    }
    let token = crate::console::session_cookie(&parts.headers).ok_or_else(unauthorized)?;
    let auth = state
        .operators
        .authenticate(token)
        .await?
        .ok_or_else(unauthorized)?;
    let safe = parts.method == Method::GET || parts.method == Method::HEAD;
    let cross_site = parts
        .headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == "cross-site");
    let csrf_ok = parts
        .headers
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|presented| csrf_matches(token, presented));
    let actor = operator_actor(auth, request_id, ip);
    if cross_site || (!safe && !csrf_ok) {
        let refusal = actor.refusal("csrf").with_after(Some(
            json!({ "method": parts.method.as_str(), "path": parts.uri.path() }),
        ));
        state.operators.store().append_audit(&refusal).await?;
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "CSRF_REFUSED",
            "The console's request token is missing or does not match; reload the page",
        ));
    }
    Ok(actor)
}

/// 403 for an operator whose role lacks the right.
pub fn forbidden(permission: Permission) -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "FORBIDDEN",
        "Your role does not allow this action",
    )
    .with("permission", permission.as_str())
}

/// Middleware on every routed request: `/admin/v1` routes need their permission.
pub async fn gate(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let Some(route) = req
        .extensions()
        .get::<MatchedPath>()
        .and_then(|p| p.as_str().strip_prefix(ADMIN_PREFIX))
        .map(str::to_owned)
    else {
        return next.run(req).await;
    };
    let access = permission_of(req.method(), &route).unwrap_or(Access::Needs(
        // Deny by default: an unlisted route is for admins only.
        Permission::ManageOperators,
    ));
    let Access::Needs(permission) = access else {
        return next.run(req).await;
    };
    let (mut parts, body) = req.into_parts();
    let actor = match authenticate(&state, &parts).await {
        Ok(actor) => actor,
        Err(e) => return e.into_response(),
    };
    if !actor.can(permission) {
        let refusal = actor
            .refusal(&format!("{} {route}", parts.method))
            .with_target(parts.uri.path())
            .with_after(Some(json!({ "permission": permission.as_str() })));
        if let Err(e) = state.operators.store().append_audit(&refusal).await {
            return ApiError::from(e).into_response();
        }
        return forbidden(permission).into_response();
    }
    parts.extensions.insert(actor);
    next.run(Request::from_parts(parts, body)).await
}

/// The caller of an operator route, as the gate authenticated it.
pub struct Admin(pub Actor);

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<Actor>()
            .cloned()
            .map(Admin)
            .ok_or_else(|| {
                ApiError::unauthorized("UNAUTHORIZED", "Operator authentication required")
            })
    }
}

impl Admin {
    /// Writes the audit row of a read of customer data before the data is returned: no row,
    /// no data (a failed write answers 503).
    pub async fn audit_read(
        &self,
        state: &AppState,
        action: &str,
        target: impl Into<String>,
    ) -> ApiResult<()> {
        let entry = self.0.audit(action).with_target(target);
        Ok(state.operators.store().append_audit(&entry).await?)
    }
}
