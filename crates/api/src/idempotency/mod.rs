//! Idempotency keys (D29, api.md §1.11). The layer ([`idempotency_layer`]) claims a request's
//! `Idempotency-Key` before its handler runs; a money-moving handler hands the claimed key to its
//! use case ([`IdempotentRequest::reply`]), which stores the answer under it in the movement's
//! own transaction, and sends exactly the stored bytes ([`respond`]). Every other route's answer
//! is stored by the layer after the handler.

mod middleware;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use blu_app::portfolio::{ClaimedKey, Replied, Reply};

pub use middleware::{fingerprint, idempotency_layer};

use crate::error::ApiError;
use crate::state::AppState;

/// The `Idempotency-Key` this request holds, if it sent one: claimed by the layer before the
/// handler runs.
#[derive(Clone, Debug)]
pub struct IdempotentRequest(pub Option<ClaimedKey>);

impl FromRequestParts<AppState> for IdempotentRequest {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, ApiError> {
        Ok(IdempotentRequest(
            parts.extensions.get::<ClaimedKey>().cloned(),
        ))
    }
}

impl IdempotentRequest {
    /// How the use case answers: `status` on success, stored under the held key (if any).
    pub fn reply(self, status: StatusCode) -> Reply {
        Reply {
            status: status.as_u16(),
            key: self.0,
        }
    }
}

/// The answer of a committed money movement: exactly the bytes its use case stored.
pub fn respond(replied: Replied) -> Response {
    let status = StatusCode::from_u16(replied.status).unwrap_or(StatusCode::OK);
    let mut response = json_bytes(status, replied.body);
    if replied.stored {
        response.extensions_mut().insert(IdempotencyStored);
    }
    response
}

/// Marks a response whose idempotency record was written in the business transaction, so the
/// layer does not store it a second time.
#[derive(Clone, Copy, Debug)]
struct IdempotencyStored;

/// A JSON response from already-serialized bytes.
fn json_bytes(status: StatusCode, body: Vec<u8>) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}
