//! `/api/v1/profile` (api.md §11).

use axum::Json;
use axum::extract::State;
use blu_app::portfolio::{Deleted, ProfileView, SettingsView};
use blu_app::ports::{BiometricEnrolment, SettingsUpdate};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ApiResult};
use crate::extract::{AuthUser, Body};
use crate::openapi::{ErrorBody, MustBeTrue};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(profile, delete_profile))
        .routes(routes!(settings))
}

/// The user's profile, risk result, consents and settings.
#[utoipa::path(get, path = "/profile", tag = "profile", operation_id = "v1.profile.get",
    responses((status = 200, description = "Profile", body = ProfileView)))]
async fn profile(State(state): State<AppState>, user: AuthUser) -> ApiResult<Json<ProfileView>> {
    Ok(Json(state.portfolio.profile(user.0.user_id).await?))
}

/// Settings to change (all optional).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SettingsIn {
    /// `fa` or `en` (any letter case).
    #[schema(pattern = "^([fF][aA]|[eE][nN])$")]
    pub language: Option<String>,
    pub notifications_enabled: Option<bool>,
    /// FCM/APNs token, at most 512 characters.
    #[schema(max_length = 512)]
    pub notification_token: Option<String>,
    /// Enrols a device key for `POST /auth/biometric`.
    pub biometric: Option<BiometricEnrolmentIn>,
    /// `false` removes every enrolled device (`true` alone changes nothing: the app's biometric
    /// unlock is local).
    pub biometric_enabled: Option<bool>,
}

/// A device key to enrol.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BiometricEnrolmentIn {
    /// 1–255 printable ASCII characters, no spaces.
    #[schema(pattern = "^[!-~]{1,255}$")]
    pub device_id: String,
    /// Base64 SPKI (DER) of a P-256 public key.
    pub public_key: String,
}

/// Updates language, notifications, the push token and enrolled device keys.
#[utoipa::path(put, path = "/profile/settings", tag = "profile",
    operation_id = "v1.profile.settings", request_body = SettingsIn,
    responses((status = 200, description = "The settings", body = SettingsView),
        (status = 400, body = ErrorBody)))]
async fn settings(
    State(state): State<AppState>,
    user: AuthUser,
    Body(input): Body<SettingsIn>,
) -> ApiResult<Json<SettingsView>> {
    let update = SettingsUpdate {
        language: input.language.map(|l| l.to_ascii_lowercase()),
        notifications_enabled: input.notifications_enabled,
        notification_token: input.notification_token,
        biometric: input.biometric.map(|b| BiometricEnrolment {
            device_id: b.device_id,
            public_key: b.public_key,
        }),
        remove_biometrics: input.biometric_enabled == Some(false),
    };
    Ok(Json(
        state
            .portfolio
            .update_settings(user.0.user_id, &update)
            .await?,
    ))
}

/// `{"confirm": true}`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct DeleteIn {
    #[schema(value_type = MustBeTrue)]
    pub confirm: Option<bool>,
}

/// Closes the account: refused while a loan is active; ledger kept.
#[utoipa::path(delete, path = "/profile", tag = "profile", operation_id = "v1.profile.delete",
    request_body = DeleteIn,
    responses((status = 200, description = "Deleted", body = Deleted),
        (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn delete_profile(
    State(state): State<AppState>,
    user: AuthUser,
    Body(input): Body<DeleteIn>,
) -> ApiResult<Json<Deleted>> {
    if input.confirm != Some(true) {
        return Err(ApiError::validation("confirm", "must be true"));
    }
    Ok(Json(state.portfolio.delete_account(user.0.user_id).await?))
}
