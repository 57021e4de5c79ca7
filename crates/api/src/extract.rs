//! Extractors. Authentication and body parsing live here so a handler cannot forget them:
//! `AuthUser` checks the session on every request (through the request's `Credentials`, so the
//! token is verified and the session checked once per request, issue 12); `Body<T>` enforces
//! the JSON rules of api.md §1.1 (empty body = `{}`, 64 KiB, 415 for non-JSON, 400 naming the
//! bad field).

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use blu_app::auth::AuthContext;
use serde::de::DeserializeOwned;

use crate::auth::Credentials;
use crate::error::ApiError;
use crate::state::AppState;

/// Request bodies are limited to 64 KiB (api.md §1.1).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// A JSON request body.
pub struct Body<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &AppState) -> Result<Self, ApiError> {
        let content_type = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.to_ascii_lowercase());
        let bytes = axum::body::to_bytes(req.into_body(), MAX_BODY_BYTES)
            .await
            .map_err(|_| ApiError::from_status(StatusCode::PAYLOAD_TOO_LARGE))?;
        let is_blank = bytes.iter().all(u8::is_ascii_whitespace);
        if !is_blank && content_type.as_deref().is_some_and(|ct| !is_json(ct)) {
            return Err(ApiError::from_status(StatusCode::UNSUPPORTED_MEDIA_TYPE));
        }
        let text: &[u8] = if is_blank { b"{}" } else { &bytes };
        parse_json(text).map(Body)
    }
}

fn is_json(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or("").trim();
    essence == "application/json" || essence.ends_with("+json")
}

/// Whether a JSON text holds a NUL character in a string (`\u0000`; JSON cannot carry a raw
/// one). No field of the API accepts one, and PostgreSQL refuses NUL in text outright (it
/// would answer a 500 where SQLite stored it), so every body with one is refused here, once,
/// for every route.
fn holds_nul(text: &[u8]) -> bool {
    let mut i = 0;
    while i < text.len() {
        if text[i] == b'\\' {
            if text[i + 1..].starts_with(b"u0000") {
                return true;
            }
            i += 2; // an escape is at least two bytes: `\\` cannot start another one
        } else {
            i += 1;
        }
    }
    false
}

/// Parses JSON, reporting the failing field path in `details.fields`.
pub fn parse_json<T: DeserializeOwned>(text: &[u8]) -> Result<T, ApiError> {
    if holds_nul(text) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
            "Text fields cannot contain NUL characters",
        ));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(text);
    match serde_path_to_error::deserialize::<_, T>(&mut deserializer) {
        Ok(value) => {
            deserializer.end().map_err(|_| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "VALIDATION_ERROR",
                    "Request body is not valid JSON",
                )
            })?;
            Ok(value)
        }
        Err(err) => {
            let path = err.path().to_string();
            let inner = err.into_inner();
            let message = clean_serde_message(&inner);
            if inner.is_syntax() || inner.is_eof() {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "VALIDATION_ERROR",
                    "Request body is not valid JSON",
                ));
            }
            let field = if path == "." {
                missing_field(&message).unwrap_or_else(|| "body".to_owned())
            } else {
                path
            };
            Err(ApiError::validation(&field, message))
        }
    }
}

/// serde's messages end with " at line 1 column 12"; the location adds nothing for clients.
fn clean_serde_message(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.find(" at line ") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}

fn missing_field(message: &str) -> Option<String> {
    let rest = message.strip_prefix("missing field `")?;
    Some(rest.split('`').next()?.to_owned())
}

/// The authenticated caller. Missing, malformed, forged, expired tokens and dead sessions are
/// 401 (the only place 401 comes from, api.md §1.7).
#[derive(Clone, Debug)]
pub struct AuthUser(pub AuthContext);

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let credentials = Credentials::of(parts, &state.auth)
            .ok_or_else(|| ApiError::unauthorized("UNAUTHORIZED", "Authentication required"))?;
        Ok(AuthUser(credentials.context(&state.auth).await?))
    }
}

/// The token of an `Authorization: Bearer …` header, if well formed.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The caller of the operator API (`/admin/v1`), as `operator_gate` authenticated it.
pub use crate::operator_gate::Admin;

/// The client's IP: the configured trusted proxy header's first value, else the peer address.
#[derive(Clone, Debug)]
pub struct ClientIp(pub Option<String>);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        Ok(ClientIp(client_ip(
            parts,
            state.settings.trusted_proxy_header.as_deref(),
        )))
    }
}

pub fn client_ip(parts: &Parts, trusted_header: Option<&str>) -> Option<String> {
    if let Some(name) = trusted_header
        && let Some(value) = parts.headers.get(name).and_then(|v| v.to_str().ok())
        && let Some(first) = value
            .split(',')
            .next()
            .map(str::trim)
            .filter(|s| !s.is_empty())
    {
        return Some(first.chars().take(64).collect());
    }
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip().to_string())
}

/// `Option<i64>` from any JSON number without a fractional part: `6` and `6.0` alike, as JSON
/// Schema's `integer` allows, so a body the OpenAPI document allows is not refused over the
/// spelling of a number. `6.5` is a `VALIDATION_ERROR` naming the field.
pub mod whole {
    use rust_decimal::Decimal;
    use rust_decimal::prelude::ToPrimitive;
    use serde::Deserializer;
    use serde::de::Error;

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<i64>, D::Error> {
        let value: Option<Decimal> = blu_domain::num::option::deserialize(deserializer)?;
        value
            .map(|v| {
                if v.fract().is_zero() {
                    v.to_i64()
                        .ok_or_else(|| D::Error::custom("is out of range"))
                } else {
                    Err(D::Error::custom("must be a whole number"))
                }
            })
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::holds_nul;

    #[test]
    fn a_nul_escape_in_any_string_is_found_and_an_escaped_backslash_is_not_one() {
        assert!(holds_nul(br#"{"reason":"pinned\u0000"}"#));
        assert!(holds_nul(br#"["a","\\\u0000"]"#));
        assert!(!holds_nul(br#"{"reason":"C:\\u0000 is a path"}"#));
        assert!(!holds_nul(br#"{"reason":"\u00e9 \n \\"}"#));
        assert!(!holds_nul(br#"{"trailing":"\"#));
    }
}
