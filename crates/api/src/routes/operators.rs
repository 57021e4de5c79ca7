//! `/admin/v1/session` and `/admin/v1/operators` (issue 15): operators log in with a password
//! or a one-time code, see who they are, change their password and log out; `admin` adds
//! operators, changes roles, disables accounts and issues new one-time codes. Every change is
//! audited in the same transaction as the change.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use blu_app::operators::{Actor, Credential, IssuedCode, LoggedIn};
use blu_app::ports::{OperatorRecord, Permission, Role};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ApiResult};
use crate::extract::{Admin, Body, ClientIp};
use crate::middleware::RequestId;
use crate::openapi::ErrorBody;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login, whoami, logout))
        .routes(routes!(set_password))
        .routes(routes!(list_operators, add_operator))
        .routes(routes!(update_operator))
        .routes(routes!(issue_code))
}

/// `{"name", "password"}` or `{"name", "code"}`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginIn {
    #[schema(min_length = 1, max_length = 64)]
    pub name: String,
    pub password: Option<String>,
    /// A one-time code (`ABCD-EFGH-JKMN`; case and dashes do not matter).
    pub code: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OperatorOut {
    pub name: String,
    /// viewer, support, risk or admin.
    pub role: &'static str,
    pub disabled: bool,
    #[serde(rename = "hasPassword")]
    pub has_password: bool,
    #[serde(rename = "createdAt")]
    pub created_at: String,
}

pub fn operator_out(o: &OperatorRecord) -> OperatorOut {
    OperatorOut {
        name: o.name.clone(),
        role: o.role.as_str(),
        disabled: o.disabled,
        has_password: o.password_hash.is_some(),
        created_at: o.created_at.to_rfc3339_millis(),
    }
}

/// A new API session.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionOut {
    /// Bearer token for `/admin/v1` (8 hours, ends after 30 idle minutes).
    pub token: String,
    pub operator: OperatorOut,
    pub expires_at: String,
}

/// The caller.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WhoamiOut {
    pub name: String,
    pub role: &'static str,
    /// operator, break_glass or cli.
    pub kind: &'static str,
    /// What the role allows (the console shows only these parts).
    pub permissions: Vec<&'static str>,
    /// With the console's cookie session: the token to send as `X-CSRF-Token`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub csrf_token: Option<String>,
}

const ALL_PERMISSIONS: [Permission; 12] = [
    Permission::ViewService,
    Permission::OwnAccount,
    Permission::ReadCustomer,
    Permission::RevealPhone,
    Permission::ManageOverrides,
    Permission::RunJobs,
    Permission::MoveClock,
    Permission::VerifyAllLedgers,
    Permission::ReadSmsOutbox,
    Permission::ManageOperators,
    Permission::ReadAudit,
    Permission::Diagnostics,
];

/// What `actor` may do, for the console.
pub fn whoami_out(actor: &Actor, csrf_token: Option<String>) -> WhoamiOut {
    WhoamiOut {
        name: actor.name.clone(),
        role: actor.role.as_str(),
        kind: actor.kind.as_str(),
        permissions: ALL_PERMISSIONS
            .into_iter()
            .filter(|p| actor.can(*p))
            .map(Permission::as_str)
            .collect(),
        csrf_token,
    }
}

/// Logs in with a password or a one-time code (shared by the console's cookie login).
pub async fn log_in(
    state: &AppState,
    input: &LoginIn,
    request_id: Option<String>,
    ip: Option<String>,
) -> ApiResult<LoggedIn> {
    let credential = match (input.password.as_deref(), input.code.as_deref()) {
        (Some(p), None) => Credential::Password(p),
        (None, Some(c)) => Credential::Code(c),
        _ => {
            return Err(ApiError::validation(
                "password",
                "send either password or code",
            ));
        }
    };
    Ok(state
        .operators
        .login(&input.name, credential, request_id, ip)
        .await?)
}

/// Opens an operator session for the API (bearer token). Wrong name, password or code: 401
/// `INVALID_CREDENTIALS`, audited; at most 10 attempts per name and 30 per IP in 15 minutes.
#[utoipa::path(post, path = "/session", tag = "admin", operation_id = "admin.session.create",
    request_body = LoginIn,
    responses((status = 200, body = SessionOut), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    request_id: Option<axum::Extension<RequestId>>,
    Body(input): Body<LoginIn>,
) -> ApiResult<Json<SessionOut>> {
    let request_id = request_id.map(|r| r.0.0);
    let session = log_in(&state, &input, request_id, ip).await?;
    Ok(Json(SessionOut {
        token: session.token,
        operator: operator_out(&session.operator),
        expires_at: session.expires_at.to_rfc3339_millis(),
    }))
}

/// Who is calling and what their role allows.
#[utoipa::path(get, path = "/session", tag = "admin", operation_id = "admin.session.get",
    security(("admin" = [])),
    responses((status = 200, body = WhoamiOut), (status = 401, body = ErrorBody)))]
async fn whoami(Admin(actor): Admin, headers: HeaderMap) -> Json<WhoamiOut> {
    let csrf = crate::console::cookie_csrf(&headers);
    Json(whoami_out(&actor, csrf))
}

/// Ends the caller's session (and clears the console cookie).
#[utoipa::path(delete, path = "/session", tag = "admin", operation_id = "admin.session.delete",
    security(("admin" = [])),
    responses((status = 204, description = "Logged out"), (status = 401, body = ErrorBody)))]
async fn logout(Admin(actor): Admin, State(state): State<AppState>) -> ApiResult<Response> {
    state.operators.logout(&actor).await?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    crate::console::clear_cookie(&mut response);
    Ok(response)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PasswordIn {
    /// Required once a password is set.
    pub current_password: Option<String>,
    /// 12–256 characters.
    #[schema(min_length = 12, max_length = 256)]
    pub new_password: String,
}

/// Sets the caller's own password (operators only; after a one-time code login, or to change
/// it).
#[utoipa::path(put, path = "/session/password", tag = "admin",
    operation_id = "admin.session.password", security(("admin" = [])), request_body = PasswordIn,
    responses((status = 204, description = "Password set"), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody)))]
async fn set_password(
    Admin(actor): Admin,
    State(state): State<AppState>,
    Body(input): Body<PasswordIn>,
) -> ApiResult<StatusCode> {
    if actor.operator_id.is_none() {
        return Err(ApiError::validation(
            "newPassword",
            "only named operators have passwords",
        ));
    }
    state
        .operators
        .set_password(&actor, input.current_password, input.new_password)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OperatorsOut {
    pub operators: Vec<OperatorOut>,
}

/// Every operator account.
#[utoipa::path(get, path = "/operators", tag = "admin", operation_id = "admin.operators.list",
    security(("admin" = [])),
    responses((status = 200, body = OperatorsOut), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
async fn list_operators(_: Admin, State(state): State<AppState>) -> ApiResult<Json<OperatorsOut>> {
    let operators = state.operators.list().await?;
    Ok(Json(OperatorsOut {
        operators: operators.iter().map(operator_out).collect(),
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewOperatorIn {
    /// 1–64 characters, any script.
    #[schema(min_length = 1, max_length = 64)]
    pub name: String,
    /// viewer, support, risk or admin.
    #[schema(example = "support")]
    pub role: String,
}

/// An operator with a one-time code to hand over (shown once).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IssuedCodeOut {
    pub operator: OperatorOut,
    pub one_time_code: String,
    pub code_expires_at: String,
}

fn issued_out(issued: IssuedCode) -> IssuedCodeOut {
    IssuedCodeOut {
        operator: operator_out(&issued.operator),
        one_time_code: issued.code,
        code_expires_at: issued.expires_at.to_rfc3339_millis(),
    }
}

fn role_of(text: &str) -> ApiResult<Role> {
    Role::parse(text.trim())
        .ok_or_else(|| ApiError::validation("role", "must be viewer, support, risk or admin"))
}

/// Adds an operator; the answer carries a one-time code for the first login (24 hours).
#[utoipa::path(post, path = "/operators", tag = "admin", operation_id = "admin.operators.add",
    security(("admin" = [])), request_body = NewOperatorIn,
    responses((status = 201, body = IssuedCodeOut), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
async fn add_operator(
    Admin(actor): Admin,
    State(state): State<AppState>,
    Body(input): Body<NewOperatorIn>,
) -> ApiResult<(StatusCode, Json<IssuedCodeOut>)> {
    let role = role_of(&input.role)?;
    let issued = state.operators.add(&actor, &input.name, role, None).await?;
    Ok((StatusCode::CREATED, Json(issued_out(issued))))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct OperatorUpdateIn {
    /// viewer, support, risk or admin.
    pub role: Option<String>,
    /// `true` disables the account and ends its sessions.
    pub disabled: Option<bool>,
}

/// Changes an operator's role, or disables / enables the account.
#[utoipa::path(patch, path = "/operators/{name}", tag = "admin",
    operation_id = "admin.operators.update", security(("admin" = [])),
    params(("name" = String, Path, description = "Operator name")), request_body = OperatorUpdateIn,
    responses((status = 200, body = OperatorOut), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
async fn update_operator(
    Admin(actor): Admin,
    State(state): State<AppState>,
    Path(name): Path<String>,
    Body(input): Body<OperatorUpdateIn>,
) -> ApiResult<Json<OperatorOut>> {
    let role = input.role.as_deref().map(role_of).transpose()?;
    let updated = state
        .operators
        .update(&actor, &name, role, input.disabled)
        .await?;
    Ok(Json(operator_out(&updated)))
}

/// Issues a new one-time code for an operator (older unused codes stop working).
#[utoipa::path(post, path = "/operators/{name}/code", tag = "admin",
    operation_id = "admin.operators.code", security(("admin" = [])),
    params(("name" = String, Path, description = "Operator name")),
    responses((status = 200, body = IssuedCodeOut), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn issue_code(
    Admin(actor): Admin,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<Json<IssuedCodeOut>> {
    Ok(Json(issued_out(
        state.operators.issue_code(&actor, &name).await?,
    )))
}
