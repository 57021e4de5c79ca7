//! Idempotency keys (D29, api.md §1.11). The layer ([`idempotency_layer`]) claims a request's
//! `Idempotency-Key` before its handler runs; a money-moving handler commits its movement with
//! the answer stored under the claimed key ([`commit_json`]). Every other route's answer is
//! stored by the layer after the handler.

mod middleware;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use blu_app::portfolio::Prepared;
use blu_app::ports::IdempotencyCompletion;
use serde::Serialize;
use uuid::Uuid;

pub use middleware::{fingerprint, idempotency_layer};

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// The idempotency key of the current request, set by the layer once claimed.
#[derive(Clone, Debug)]
pub struct IdempotencyKey {
    pub user_id: Uuid,
    pub key: String,
    /// The claim this request holds; its completion is refused if the claim was taken over.
    pub claim: Uuid,
}

/// The `Idempotency-Key` this request holds, if it sent one: claimed by the layer before the
/// handler runs.
#[derive(Clone, Debug)]
pub struct IdempotentRequest(pub Option<IdempotencyKey>);

impl FromRequestParts<AppState> for IdempotentRequest {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, ApiError> {
        Ok(IdempotentRequest(
            parts.extensions.get::<IdempotencyKey>().cloned(),
        ))
    }
}

/// Commits a money movement with its response stored under the request's idempotency key in
/// the same transaction, and answers with exactly the stored bytes.
pub async fn commit_json<T: Serialize>(
    prepared: Prepared<T>,
    idempotency: IdempotentRequest,
    status: StatusCode,
) -> ApiResult<Response> {
    let body = serde_json::to_vec(&prepared.outcome).map_err(|e| ApiError::internal(&e))?;
    let completion = idempotency.0.map(|k| IdempotencyCompletion {
        user_id: k.user_id,
        key: k.key,
        claim: k.claim,
        status: status.as_u16(),
        body: body.clone(),
    });
    let stored = completion.is_some();
    prepared.commit(completion).await?;
    let mut response = json_bytes(status, body);
    if stored {
        response.extensions_mut().insert(IdempotencyStored);
    }
    Ok(response)
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
