//! The OpenAPI document, generated from the handlers' annotations and the DTO types.

use serde::Serialize;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

#[derive(OpenApi)]
#[openapi(
    info(title = "Blu Markets API", description = "HTTP contract of the Blu Markets backend (api.md)."),
    modifiers(&SecuritySchemes),
    components(schemas(ErrorBody, ErrorDetail)),
    tags(
        (name = "auth", description = "Phone login, sessions"),
        (name = "prices", description = "Prices, FX and daily closes (public)"),
        (name = "admin", description = "Operator API (ADMIN_TOKEN)"),
        (name = "operations", description = "Probes, metrics, docs"),
    )
)]
pub struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let bearer = || {
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            )
        };
        components.add_security_scheme("bearer", bearer());
        components.add_security_scheme(
            "admin",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// Every non-2xx response: `{"error":{code,message,details?},"message"}`.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
    /// Repeats `error.message` (the app shows this one).
    pub message: String,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable code from the catalogue, e.g. `VALIDATION_ERROR`.
    pub code: String,
    pub message: String,
    #[schema(value_type = Option<Object>)]
    pub details: Option<serde_json::Value>,
}
