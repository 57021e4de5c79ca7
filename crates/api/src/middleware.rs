//! Cross-cutting HTTP behaviour: request ids, the error-body guarantee, units of work that
//! outlive their client, security headers, the general rate limit and request metrics.

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::header::{
    CACHE_CONTROL, CONTENT_TYPE, STRICT_TRANSPORT_SECURITY, X_CONTENT_TYPE_OPTIONS,
};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use blu_app::ports::Limit;
use tracing::Instrument;

use crate::auth::Credentials;
use crate::error::{ApiError, ErrorMarker};
use crate::extract::client_ip;
use crate::state::AppState;

pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The id of the current request, available to handlers and logs.
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

fn is_valid_request_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Accepts a well-formed `X-Request-Id` or generates one, echoes it on the response and
/// attaches it to every log line of the request.
pub async fn request_id(mut req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get(&X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| is_valid_request_id(v))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    req.extensions_mut().insert(RequestId(id.clone()));
    let span = tracing::info_span!("request", request_id = %id, method = %req.method(), path = %req.uri().path());
    let mut response = next.run(req).instrument(span).await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(X_REQUEST_ID.clone(), value);
    }
    response
}

/// Guarantees the documented error body on every failure, including those the framework
/// produces itself (unknown route, wrong method, rejected path or query).
pub async fn error_bodies(req: Request, next: Next) -> Response {
    let response = next.run(req).await;
    let status = response.status();
    let already_shaped = response.extensions().get::<ErrorMarker>().is_some();
    let is_error = status.is_client_error() || status.is_server_error();
    if !is_error || already_shaped || status == StatusCode::SWITCHING_PROTOCOLS {
        return response;
    }
    let is_json = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return response;
    }
    let (mut parts, _) = response.into_parts();
    let replacement = ApiError::from_status(status).into_response();
    let (new_parts, body) = replacement.into_parts();
    parts
        .headers
        .insert(CONTENT_TYPE, new_parts.headers[CONTENT_TYPE].clone());
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    Response::from_parts(parts, body)
}

/// A request that may change something runs to its end even when its client hangs up
/// (issue 10). hyper drops a request's future when the connection closes; dropped between two
/// awaits, a money movement would stop wherever it was. So the work of every mutating request
/// runs in a task of its own that the connection merely awaits: the answer may be lost, the
/// effect is all or nothing, and an `Idempotency-Key` replays it. Shutdown waits for these
/// tasks (`AppState::in_flight`).
///
/// Every request is also bounded by `request_timeout`: past it the client gets 503
/// `REQUEST_TIMEOUT` and the work is dropped, which rolls its transaction back — a hung
/// database cannot hold a request forever.
pub async fn run_to_completion(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    let timeout = state.settings.request_timeout;
    if !is_unit_of_work(&req) {
        // A read loses nothing when cancelled (its transaction, if any, is rolled back).
        return bounded(timeout, next.run(req)).await;
    }
    let panic = UnitPanic::default();
    let work = UNIT_PANIC.scope(
        panic.clone(),
        bounded(timeout, next.run(req)).in_current_span(),
    );
    match state.in_flight.spawn(work).await {
        Ok(response) => response,
        // The panic goes on to the catch-panic layer, as if the handler had run inline — with
        // the panic hook's fuller message (its location) when a hook recorded one.
        Err(e) if e.is_panic() => match panic.take() {
            Some(message) => std::panic::resume_unwind(Box::new(message)),
            None => std::panic::resume_unwind(e.into_panic()),
        },
        Err(_) => ApiError::service_unavailable("server").into_response(),
    }
}

/// Where a process panic hook leaves the message of a panic inside a unit of work's task (it
/// runs outside the request's own task, so task-locals of outer layers do not reach it).
#[derive(Clone, Default)]
struct UnitPanic(std::sync::Arc<std::sync::Mutex<Option<String>>>);

impl UnitPanic {
    fn take(&self) -> Option<String> {
        self.0.lock().ok().and_then(|mut m| m.take())
    }
}

tokio::task_local! {
    static UNIT_PANIC: UnitPanic;
}

/// For a process panic hook: if this panic happens inside a unit of work
/// (`run_to_completion`), keeps `message` for the 500 it becomes and returns `true` — the
/// panic is then reported with its request (`PanicMessage` on the response).
pub fn record_unit_of_work_panic(message: &str) -> bool {
    UNIT_PANIC
        .try_with(|slot| {
            if let Ok(mut m) = slot.0.lock() {
                *m = Some(message.to_owned());
            }
        })
        .is_ok()
}

/// The message of the panic a 500 was made from (a response extension set by
/// `panic_response`), for error reporting outside the API.
#[derive(Clone, Debug)]
pub struct PanicMessage(pub String);

/// Mutating requests of the APIs. Socket.IO's long-polling POSTs carry no business effect.
fn is_unit_of_work(req: &Request) -> bool {
    let method = req.method();
    let mutating = method == Method::POST
        || method == Method::PUT
        || method == Method::PATCH
        || method == Method::DELETE;
    mutating && !req.uri().path().starts_with("/socket.io")
}

async fn bounded(timeout: Duration, work: impl Future<Output = Response>) -> Response {
    match tokio::time::timeout(timeout, work).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(
                timeout_ms = timeout.as_millis() as u64,
                "request timed out; its work was dropped"
            );
            metrics::counter!("http_request_timeouts_total").increment(1);
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "REQUEST_TIMEOUT",
                "The request took too long; nothing was changed, please try again",
            )
            .retry_after(1)
            .into_response()
        }
    }
}

/// Security and caching headers (api.md §1.13).
pub async fn security_headers(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    let mut response = next.run(req).await;
    let headers = response.headers_mut();
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // Customer data and operator answers are never kept by a browser or a proxy (issue 15).
    let private = ["/api/v1", "/admin/", "/console"]
        .iter()
        .any(|p| path.starts_with(p));
    if private && !headers.contains_key(CACHE_CONTROL) {
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if state.settings.production {
        headers.insert(
            STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
    response
}

/// The general limit (api.md §1.12): per user when a validly signed token is present (mobile
/// carriers put many users behind one IP), otherwise per client IP. The token was verified once
/// by `auth::credentials`.
pub async fn rate_limit(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    if !(path.starts_with("/api/") || path.starts_with("/admin/")) {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    let claimed = parts
        .extensions
        .get::<Credentials>()
        .and_then(Credentials::claimed_user);
    let key = match claimed {
        Some(user) => format!("global:user:{user}"),
        None => format!(
            "global:ip:{}",
            client_ip(&parts, state.settings.trusted_proxy_header.as_deref()).unwrap_or_default()
        ),
    };
    let (max, window) = state.settings.rate_limit;
    let decision = match state.limiter.hit(&[Limit { key, max, window }]).await {
        Ok(d) => d,
        Err(e) => return ApiError::from(e).into_response(),
    };
    if !decision.allowed {
        return ApiError::rate_limited("global", decision.retry_after_secs.max(1)).into_response();
    }
    let mut response = next.run(Request::from_parts(parts, body)).await;
    let headers = response.headers_mut();
    headers.insert("ratelimit-limit", HeaderValue::from(max));
    headers.insert("ratelimit-remaining", HeaderValue::from(decision.remaining));
    headers.insert("ratelimit-reset", HeaderValue::from(window.as_secs()));
    response
}

/// Request count and latency per route template (never raw paths: ids would explode labels).
pub async fn metrics(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = req.method().to_string();
    let started = Instant::now();
    let response = next.run(req).await;
    let status = response.status().as_u16().to_string();
    let elapsed = started.elapsed().as_secs_f64();
    metrics::counter!("http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("http_request_duration_seconds", "method" => method, "route" => route)
        .record(elapsed);
    response
}

/// Turns a panic inside a handler into the standard 500 body: the last net (D41), counted in
/// `/metrics` as `http_panics_total` so that any panic still reachable shows up, and logged with
/// its message.
pub fn panic_response(err: Box<dyn std::any::Any + Send + 'static>) -> Response<Body> {
    let message = err
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| err.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    metrics::counter!("http_panics_total").increment(1);
    tracing::error!(panic = %message, "handler panicked");
    let mut response = ApiError::from_status(StatusCode::INTERNAL_SERVER_ERROR).into_response();
    response.extensions_mut().insert(PanicMessage(message));
    response
}

#[cfg(test)]
mod panic_tests {
    use super::*;

    #[test]
    fn a_panic_answers_the_500_body_and_is_counted_in_metrics() {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        let response = metrics::with_local_recorder(&recorder, || {
            panic_response(Box::new("Division by zero"))
        });
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(
            handle.render().contains("http_panics_total 1"),
            "{}",
            handle.render()
        );
    }
}
