//! The HTTP API of Blu Markets: routes, extractors, the error contract, OpenAPI and Swagger UI.
//! Handlers are thin: parse, call one use case, map the result.
#![forbid(unsafe_code)]

pub mod auth;
pub mod console;
pub mod error;
pub mod extract;
pub mod idempotency;
pub mod middleware;
pub mod openapi;
pub mod operator_gate;
pub mod routes;
pub mod state;
pub mod stream;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::{from_fn, from_fn_with_state};
use tower::util::MapRequest;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use utoipa_swagger_ui::SwaggerUi;

pub use crate::error::{ApiError, ApiResult};
pub use crate::openapi::ApiDoc;
pub use crate::state::{ApiSettings, AppState, Services};

/// The user API, the operator API and the root probes, with the OpenAPI document they form.
fn api_routes() -> OpenApiRouter<AppState> {
    let user_api = OpenApiRouter::new()
        .merge(routes::auth::router())
        .routes(routes!(stream::ws::stream))
        .merge(routes::prices::router())
        .merge(routes::onboarding::router())
        .merge(routes::portfolio::router())
        .merge(routes::trade::router())
        .merge(routes::rebalance::router())
        .merge(routes::history::router())
        .merge(routes::profile::router())
        .merge(routes::loans::router())
        .merge(routes::protection::router());
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .nest("/api/v1", user_api)
        .nest(
            "/admin/v1",
            routes::admin::router()
                .merge(routes::clock::router())
                .merge(routes::admin_ledger::router())
                .merge(routes::admin_jobs::router())
                .merge(routes::operators::router())
                .merge(routes::audit::router())
                .merge(routes::console_api::router())
                .merge(routes::diagnostics::router()),
        )
        .routes(routes!(routes::health::health))
        .routes(routes!(routes::health::ready))
        .routes(routes!(routes::health::metrics))
}

/// The OpenAPI document (also served at `/openapi.json` and printed by `blu openapi`).
pub fn openapi() -> utoipa::openapi::OpenApi {
    openapi::finish(api_routes().split_for_parts().1)
}

/// The complete service: routes, middleware and trailing-slash normalisation.
pub fn app(state: AppState) -> MapRequest<Router, fn(Request) -> Request> {
    let (router, document) = api_routes().split_for_parts();
    let document = openapi::finish(document);
    let docs_enabled = state.settings.docs_enabled;
    let mut router = router;
    if docs_enabled {
        router = router.merge(SwaggerUi::new("/docs").url("/openapi.json", document));
    }
    let mut router = router
        .merge(console::router())
        .fallback(|| async { ApiError::from_status(StatusCode::NOT_FOUND) });
    if let Some(hub) = &state.stream {
        router = router.layer(hub.socketio_layer());
    }
    let router = router
        .route_layer(from_fn_with_state(state.clone(), operator_gate::gate))
        .route_layer(from_fn(middleware::metrics))
        .layer(from_fn_with_state(
            state.clone(),
            idempotency::idempotency_layer,
        ))
        .layer(from_fn_with_state(
            state.clone(),
            routes::clock::sync_middleware,
        ))
        .layer(from_fn_with_state(state.clone(), middleware::rate_limit))
        .layer(from_fn_with_state(state.clone(), auth::credentials))
        .layer(from_fn_with_state(
            state.clone(),
            middleware::security_headers,
        ))
        .layer(cors(&state.settings))
        .layer(from_fn(middleware::error_bodies))
        .layer(from_fn_with_state(
            state.clone(),
            middleware::run_to_completion,
        ))
        .layer(CatchPanicLayer::custom(middleware::panic_response))
        .layer(from_fn(middleware::request_id))
        .with_state(state);
    MapRequest::new(router, trim_trailing_slash as fn(Request) -> Request)
}

/// `/api/v1/loans/` = `/api/v1/loans` (api.md §1.1). Swagger UI keeps its own `/docs/` paths.
fn trim_trailing_slash(mut req: Request) -> Request {
    let path = req.uri().path();
    if path.len() > 1 && path.ends_with('/') && !path.starts_with("/docs") {
        let trimmed = path.trim_end_matches('/');
        let trimmed = if trimmed.is_empty() { "/" } else { trimmed };
        let rebuilt = match req.uri().query() {
            Some(q) => format!("{trimmed}?{q}"),
            None => trimmed.to_owned(),
        };
        if let Ok(uri) = rebuilt.parse() {
            *req.uri_mut() = uri;
        }
    }
    req
}

fn cors(settings: &ApiSettings) -> CorsLayer {
    let allow_origin = if settings.cors_origins.is_empty() && !settings.production {
        AllowOrigin::any()
    } else {
        let origins: Vec<HeaderValue> = settings
            .cors_origins
            .iter()
            .filter_map(|o| HeaderValue::from_str(o).ok())
            .collect();
        AllowOrigin::list(origins)
    };
    let header = |name: &'static str| HeaderName::from_static(name);
    CorsLayer::new()
        .allow_origin(allow_origin)
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
            Method::OPTIONS,
        ])
        .allow_headers([
            header("authorization"),
            header("content-type"),
            header("idempotency-key"),
            header("x-request-id"),
            header("bypass-tunnel-reminder"),
            header("x-csrf-token"),
        ])
        .expose_headers([
            header("x-request-id"),
            header("retry-after"),
            header("idempotent-replayed"),
        ])
}
