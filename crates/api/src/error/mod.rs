//! The one error type of the API and its wire form (api.md §1.8–1.10):
//! `{"error":{"code","message","details"?},"message"}`. 5xx details are logged, never returned.
//! How every error of the layers below becomes an `ApiError` is in [`conversions`], and only
//! there.

mod conversions;

pub(crate) use conversions::redis_unavailable;
pub use conversions::status_of;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

/// An error response: status, stable code, one human sentence, optional details.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub details: Map<String, Value>,
    pub retry_after_secs: Option<u64>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            details: Map::new(),
            retry_after_secs: None,
        }
    }

    pub fn with(mut self, key: &str, value: impl serde::Serialize) -> ApiError {
        self.details.insert(
            key.to_owned(),
            serde_json::to_value(value).unwrap_or(Value::Null),
        );
        self
    }

    pub fn retry_after(mut self, seconds: u64) -> ApiError {
        self.retry_after_secs = Some(seconds);
        self
    }

    /// 400 `VALIDATION_ERROR` naming one field.
    pub fn validation(field: &str, message: impl Into<String>) -> ApiError {
        let message = message.into();
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
            format!("{field} {message}"),
        )
        .with("fields", json!([{ "field": field, "message": message }]))
    }

    pub fn not_found(resource: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            format!("{} not found", capitalize(resource)),
        )
        .with("resource", resource)
    }

    pub fn unauthorized(code: &'static str, message: &str) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, code, message)
    }

    pub fn rate_limited(scope: &str, retry_after_secs: u64) -> ApiError {
        ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "RATE_LIMITED",
            "Too many requests, please wait and try again",
        )
        .with("scope", scope)
        .with("retryAfterSeconds", retry_after_secs)
        .retry_after(retry_after_secs)
    }

    pub fn service_unavailable(dependency: &str) -> ApiError {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "SERVICE_UNAVAILABLE",
            "Service temporarily unavailable, please try again shortly",
        )
        .with("dependency", dependency)
        .retry_after(5)
    }

    /// A generic 500; the cause goes to the log with the request id, never to the client.
    pub fn internal(cause: &dyn std::fmt::Display) -> ApiError {
        tracing::error!(error = %cause, "internal error");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL_ERROR",
            "Something went wrong on our side",
        )
    }

    /// The default body for a bare status produced by the framework (unknown route, wrong
    /// method, rejected extractor), so every failure has the documented shape.
    pub fn from_status(status: StatusCode) -> ApiError {
        let (code, message) = match status {
            StatusCode::NOT_FOUND => ("NOT_FOUND", "Not found"),
            StatusCode::METHOD_NOT_ALLOWED => {
                ("METHOD_NOT_ALLOWED", "Method not allowed for this path")
            }
            StatusCode::PAYLOAD_TOO_LARGE => {
                ("PAYLOAD_TOO_LARGE", "Request body is larger than 64 KiB")
            }
            StatusCode::UNSUPPORTED_MEDIA_TYPE => {
                ("UNSUPPORTED_MEDIA_TYPE", "Request body must be JSON")
            }
            StatusCode::UNAUTHORIZED => ("UNAUTHORIZED", "Authentication required"),
            StatusCode::TOO_MANY_REQUESTS => (
                "RATE_LIMITED",
                "Too many requests, please wait and try again",
            ),
            StatusCode::SERVICE_UNAVAILABLE => {
                ("SERVICE_UNAVAILABLE", "Service temporarily unavailable")
            }
            StatusCode::UPGRADE_REQUIRED => {
                ("UPGRADE_REQUIRED", "This path needs a WebSocket upgrade")
            }
            s if s.is_server_error() => ("INTERNAL_ERROR", "Something went wrong on our side"),
            _ => ("VALIDATION_ERROR", "The request is not valid"),
        };
        ApiError::new(status, code, message)
    }

    pub fn body(&self) -> Value {
        let mut error = Map::new();
        error.insert("code".into(), Value::String(self.code.to_owned()));
        error.insert("message".into(), Value::String(self.message.clone()));
        if !self.details.is_empty() {
            error.insert("details".into(), Value::Object(self.details.clone()));
        }
        json!({ "error": error, "message": self.message })
    }
}

fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(self.body())).into_response();
        if let Some(seconds) = self.retry_after_secs {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response.extensions_mut().insert(ErrorMarker);
        response
    }
}

/// Marks responses whose body already has the error shape.
#[derive(Clone, Copy, Debug)]
pub struct ErrorMarker;

/// 409: another request holds (or took over) this `Idempotency-Key`; retrying shortly
/// replays its answer.
pub fn idempotency_key_in_progress() -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "IDEMPOTENCY_KEY_IN_PROGRESS",
        "A request with this Idempotency-Key is still being processed",
    )
    .retry_after(1)
}
