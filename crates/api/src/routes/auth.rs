//! `/api/v1/auth`: phone login with one-time codes, device-key login, refresh rotation, logout
//! (api.md §4).

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::header::USER_AGENT;
use blu_app::auth::{ClientInfo, LoginOutcome};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::error::{ApiError, ApiResult};
use crate::extract::{AuthUser, Body, ClientIp};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(send_otp))
        .routes(routes!(verify_otp))
        .routes(routes!(biometric))
        .routes(routes!(refresh))
        .routes(routes!(logout))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct SendOtpIn {
    /// `+989` followed by nine digits.
    #[schema(example = "+989123456789", pattern = "^\\+989[0-9]{9}$")]
    pub phone: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SendOtpOut {
    pub success: bool,
    pub message: &'static str,
    /// Seconds the code stays valid.
    pub expires_in: u64,
}

/// Sends a login code by SMS. The code is never returned by any public endpoint.
#[utoipa::path(post, path = "/auth/send-otp", tag = "auth", operation_id = "v1.auth.send_otp",
    request_body = SendOtpIn,
    responses((status = 200, body = SendOtpOut), (status = 400, body = ErrorBody), (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn send_otp(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Body(input): Body<SendOtpIn>,
) -> ApiResult<Json<SendOtpOut>> {
    let expires_in = state.auth.send_otp(&input.phone, ip.as_deref()).await?;
    metrics::counter!("otp_sent_total", "result" => "sent").increment(1);
    Ok(Json(SendOtpOut {
        success: true,
        message: "OTP sent",
        expires_in,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct VerifyOtpIn {
    #[schema(example = "+989123456789", pattern = "^\\+989[0-9]{9}$")]
    pub phone: String,
    /// Six digits, as a string.
    #[schema(example = "123456", pattern = "^[0-9]{6}$")]
    pub code: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokensOut {
    pub access_token: String,
    pub refresh_token: String,
    /// Access token lifetime in seconds.
    pub expires_in: u64,
    /// Refresh token lifetime in seconds.
    pub refresh_expires_in: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserOut {
    pub id: Uuid,
    pub phone: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VerifyOtpOut {
    pub success: bool,
    /// Nested, as the mobile app expects.
    pub tokens: TokensOut,
    pub is_new_user: bool,
    /// Risk score, all three consents and a portfolio.
    pub onboarding_complete: bool,
    pub user: UserOut,
}

/// Checks a code; creates the account on first login and opens a session.
#[utoipa::path(post, path = "/auth/verify-otp", tag = "auth", operation_id = "v1.auth.verify_otp",
    request_body = VerifyOtpIn,
    responses((status = 200, body = VerifyOtpOut), (status = 400, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn verify_otp(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Body(input): Body<VerifyOtpIn>,
) -> ApiResult<Json<VerifyOtpOut>> {
    let client = ClientInfo {
        user_agent: user_agent(&headers),
        ip,
    };
    let outcome = state
        .auth
        .verify_otp(&input.phone, &input.code, client)
        .await?;
    Ok(Json(login_body(outcome)))
}

/// Step 1: `deviceId` alone. Step 2: `deviceId`, `challenge` and `signature`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BiometricLoginIn {
    /// 1–255 printable ASCII characters, no spaces.
    #[schema(pattern = "^[!-~]{1,255}$")]
    pub device_id: String,
    /// The challenge of step 1, as received.
    pub challenge: Option<String>,
    /// Base64url ECDSA P-256 / SHA-256 signature (DER) over the challenge bytes.
    pub signature: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChallengeOut {
    pub challenge: String,
    /// Seconds the challenge can be answered.
    pub expires_in: u64,
}

#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum BiometricOut {
    Challenge(ChallengeOut),
    Login(VerifyOtpOut),
}

/// Device-key login for a device enrolled with `PUT /profile/settings`: step 1 returns a
/// one-time challenge (60 s), step 2 verifies its signature and opens a session.
#[utoipa::path(post, path = "/auth/biometric", tag = "auth", operation_id = "v1.auth.biometric",
    request_body = BiometricLoginIn,
    responses((status = 200, description = "Step 1: ChallengeOut; step 2: the body of verify-otp"),
        (status = 400, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn biometric(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Body(input): Body<BiometricLoginIn>,
) -> ApiResult<Json<BiometricOut>> {
    match (input.challenge, input.signature) {
        (None, None) => {
            let (challenge, expires_in) = state
                .auth
                .biometric_challenge(&input.device_id, ip.as_deref())
                .await?;
            Ok(Json(BiometricOut::Challenge(ChallengeOut {
                challenge,
                expires_in,
            })))
        }
        (Some(challenge), Some(signature)) => {
            let client = ClientInfo {
                user_agent: user_agent(&headers),
                ip,
            };
            let outcome = state
                .auth
                .biometric_login(&input.device_id, &challenge, &signature, client)
                .await?;
            Ok(Json(BiometricOut::Login(login_body(outcome))))
        }
        (None, Some(_)) => Err(ApiError::validation(
            "challenge",
            "is required with a signature",
        )),
        (Some(_), None) => Err(ApiError::validation(
            "signature",
            "is required with a challenge",
        )),
    }
}

fn user_agent(headers: &HeaderMap) -> Option<String> {
    headers
        .get(USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The body of a successful login (verify-otp and device-key login).
fn login_body(outcome: LoginOutcome) -> VerifyOtpOut {
    VerifyOtpOut {
        success: true,
        tokens: TokensOut {
            access_token: outcome.tokens.access_token,
            refresh_token: outcome.tokens.refresh_token,
            expires_in: outcome.tokens.expires_in,
            refresh_expires_in: outcome.tokens.refresh_expires_in,
        },
        is_new_user: outcome.is_new_user,
        onboarding_complete: outcome.onboarding_complete,
        user: UserOut {
            id: outcome.user_id,
            phone: outcome.phone,
        },
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RefreshIn {
    pub refresh_token: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RefreshOut {
    pub access_token: String,
    pub refresh_token: String,
    pub expires_in: u64,
}

/// Rotates the refresh token (flat token body). Replaying a retired token more than 10 s after
/// its rotation ends every session of the user.
#[utoipa::path(post, path = "/auth/refresh", tag = "auth", operation_id = "v1.auth.refresh",
    request_body = RefreshIn,
    responses((status = 200, body = RefreshOut), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
async fn refresh(
    State(state): State<AppState>,
    Body(input): Body<RefreshIn>,
) -> ApiResult<Json<RefreshOut>> {
    let pair = state.auth.refresh(&input.refresh_token).await?;
    Ok(Json(RefreshOut {
        access_token: pair.access_token,
        refresh_token: pair.refresh_token,
        expires_in: pair.expires_in,
    }))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LogoutIn {
    /// End every session of the user, not just this one.
    #[serde(default)]
    pub all_devices: bool,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LogoutOut {
    pub success: bool,
    pub sessions_revoked: u64,
}

/// Ends the current session, or all sessions with `{"allDevices": true}`.
#[utoipa::path(post, path = "/auth/logout", tag = "auth", operation_id = "v1.auth.logout",
    request_body = LogoutIn, security(("bearer" = [])),
    responses((status = 200, body = LogoutOut), (status = 401, body = ErrorBody)))]
async fn logout(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Body(input): Body<LogoutIn>,
) -> ApiResult<Json<LogoutOut>> {
    let sessions_revoked = state.auth.logout(&user, input.all_devices).await?;
    Ok(Json(LogoutOut {
        success: true,
        sessions_revoked,
    }))
}

pub use crate::openapi::ErrorBody;
