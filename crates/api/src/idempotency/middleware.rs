//! The idempotency layer (D29, api.md §1.11): claims the `Idempotency-Key` of every mutating
//! request under `/api/v1` before its handler runs, replays a completed answer, refuses a key
//! reused for another request or still in progress, and releases the claim when the request
//! fails in a way that may be retried (or is dropped before it decides).

use axum::body::{Body as AxumBody, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use blu_app::portfolio::ClaimedKey;
use blu_app::ports::{
    Clock, IdempotencyClaim, IdempotencyCompletion, IdempotencyRequest, PortfolioStore,
};
use blu_domain::ledger::CanonicalValue;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{IdempotencyStored, json_bytes};
use crate::auth::Credentials;
use crate::error::{ApiError, idempotency_key_in_progress};
use crate::extract::MAX_BODY_BYTES;
use crate::state::AppState;

const REPLAYED: &str = "idempotent-replayed";

/// 1–255 printable ASCII characters.
fn valid_key(key: &str) -> bool {
    (1..=255).contains(&key.len()) && key.bytes().all(|b| (0x20..=0x7e).contains(&b))
}

/// SHA-256 over method, path and the SHA-256 of the canonical JSON body (keys sorted,
/// numbers normalised); a body that is not JSON is hashed as sent.
pub fn fingerprint(method: &Method, path: &str, body: &[u8]) -> String {
    let blank = body.iter().all(u8::is_ascii_whitespace);
    let canonical: Vec<u8> = if blank {
        b"{}".to_vec()
    } else {
        match serde_json::from_slice::<serde_json::Value>(body) {
            Ok(value) => CanonicalValue::from_json(&value)
                .to_canonical_string()
                .into_bytes(),
            Err(_) => body.to_vec(),
        }
    };
    let body_hash = hex::encode(Sha256::digest(&canonical));
    hex::encode(Sha256::digest(
        format!("{method}\n{path}\n{body_hash}").as_bytes(),
    ))
}

/// Idempotency for every mutating route under `/api/v1` (D29). `/auth/*` accepts the header
/// but never stores; requests without a valid session run unchanged (and fail with 401). A
/// claimed key reaches the handler as [`super::IdempotentRequest`].
pub async fn idempotency_layer(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    let mutating = matches!(
        *req.method(),
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    );
    let path = req.uri().path().to_owned();
    if !mutating || !path.starts_with("/api/v1/") {
        return next.run(req).await;
    }
    let Some(raw) = req.headers().get("idempotency-key") else {
        return next.run(req).await;
    };
    let key = match raw.to_str() {
        Ok(k) if valid_key(k) => k.to_owned(),
        _ => {
            return ApiError::validation(
                "Idempotency-Key",
                "must be 1 to 255 printable ASCII characters",
            )
            .into_response();
        }
    };
    if path.starts_with("/api/v1/auth/") {
        return next.run(req).await;
    }
    // The request's credentials (verified once by `auth::credentials`); the session check
    // done here is kept for the handler's `AuthUser`.
    let Some(credentials) = req.extensions().get::<Credentials>().cloned() else {
        return next.run(req).await;
    };
    let Ok(context) = credentials.context(&state.auth).await else {
        return next.run(req).await;
    };
    let user_id = context.user_id;
    let (parts, body) = req.into_parts();
    let Ok(bytes) = to_bytes(body, MAX_BODY_BYTES).await else {
        return ApiError::from_status(StatusCode::PAYLOAD_TOO_LARGE).into_response();
    };
    let now = state.clock.now();
    let claim_id = Uuid::new_v4();
    let request = IdempotencyRequest {
        user_id,
        key: key.clone(),
        claim: claim_id,
        method: parts.method.to_string(),
        path: path.clone(),
        fingerprint: fingerprint(&parts.method, &path, &bytes),
        now,
        expired_before: now.plus_seconds(-24 * 3600),
        abandoned_before: now.plus_seconds(-120),
    };
    let store = state.portfolio.store().clone();
    let claim = match store.claim_idempotency(&request).await {
        Ok(claim) => claim,
        Err(e) => return ApiError::from(e).into_response(),
    };
    match claim {
        IdempotencyClaim::Replay { status, body } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
            let mut response = json_bytes(status, body);
            response
                .headers_mut()
                .insert(REPLAYED, HeaderValue::from_static("true"));
            response
        }
        IdempotencyClaim::Mismatch => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "IDEMPOTENCY_KEY_REUSED",
            "This Idempotency-Key was already used for a different request",
        )
        .into_response(),
        IdempotencyClaim::InProgress => idempotency_key_in_progress().into_response(),
        IdempotencyClaim::Started => {
            let held = HeldClaim {
                store: Some(store.clone()),
                user_id,
                key: key.clone(),
                claim: claim_id,
            };
            let mut req = Request::from_parts(parts, AxumBody::from(bytes));
            req.extensions_mut().insert(ClaimedKey {
                user_id,
                key: key.clone(),
                claim: claim_id,
            });
            let response = next.run(req).await;
            let status = response.status();
            if status.is_server_error()
                || status == StatusCode::UNAUTHORIZED
                || status == StatusCode::TOO_MANY_REQUESTS
            {
                held.release().await;
                return response;
            }
            held.keep();
            if response.extensions().get::<IdempotencyStored>().is_some() {
                return response;
            }
            let (parts, body) = response.into_parts();
            let Ok(bytes) = to_bytes(body, usize::MAX).await else {
                return ApiError::internal(&"response body unreadable").into_response();
            };
            let completion = IdempotencyCompletion {
                user_id,
                key,
                claim: claim_id,
                status: status.as_u16(),
                body: bytes.to_vec(),
            };
            if let Err(e) = store.complete_idempotency(&completion, now).await {
                tracing::error!(error = %e, "storing an idempotent response failed");
            }
            Response::from_parts(parts, AxumBody::from(bytes))
        }
    }
}

/// A claimed key whose request has not decided yet. Released when the request fails in a way
/// that may be retried — and also when its future is dropped before deciding (a timeout,
/// shutdown), so a retry is never told "in progress" by a request that no longer runs.
struct HeldClaim {
    store: Option<std::sync::Arc<dyn PortfolioStore>>,
    user_id: Uuid,
    key: String,
    claim: Uuid,
}

impl HeldClaim {
    /// The request failed (5xx, 401, 429): the key may be retried.
    async fn release(mut self) {
        if let Some(store) = self.store.take() {
            release(
                store,
                self.user_id,
                std::mem::take(&mut self.key),
                self.claim,
            )
            .await;
        }
    }

    /// The request decided (its answer is, or will be, stored under the key).
    fn keep(mut self) {
        self.store = None;
    }
}

impl Drop for HeldClaim {
    fn drop(&mut self) {
        let Some(store) = self.store.take() else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        runtime.spawn(release(
            store,
            self.user_id,
            std::mem::take(&mut self.key),
            self.claim,
        ));
    }
}

/// Gives the key back. A release that fails (the database is away or the pool is exhausted —
/// often the very reason the request failed) is retried in the background with growing
/// pauses, so the client's retry is told "in progress" for seconds, not until the backstop
/// timer. Retrying is safe: the release only deletes this claim, and only while it is still
/// IN_PROGRESS.
async fn release(
    store: std::sync::Arc<dyn PortfolioStore>,
    user_id: Uuid,
    key: String,
    claim: Uuid,
) {
    let Err(e) = store.release_idempotency(user_id, &key, claim).await else {
        return;
    };
    tracing::warn!(error = %e, "releasing an idempotency key failed; retrying in the background");
    tokio::spawn(async move {
        for pause_ms in RELEASE_RETRY_PAUSES_MS {
            tokio::time::sleep(std::time::Duration::from_millis(pause_ms)).await;
            match store.release_idempotency(user_id, &key, claim).await {
                Ok(()) => return,
                Err(e) => tracing::warn!(error = %e, "releasing an idempotency key failed again"),
            }
        }
        tracing::error!("an idempotency key stays claimed until the backstop timer frees it");
    });
}

/// About a minute of retries in all, well inside the claim backstop (D29).
const RELEASE_RETRY_PAUSES_MS: [u64; 8] = [250, 500, 1_000, 2_000, 4_000, 8_000, 16_000, 30_000];
