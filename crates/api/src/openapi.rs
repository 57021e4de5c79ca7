//! The OpenAPI document, generated from the handlers' annotations and the DTO types.

use serde::Serialize;
use utoipa::openapi::schema::ObjectBuilder;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{RefOr, Schema};
use utoipa::{Modify, OpenApi, ToSchema};

#[derive(OpenApi)]
#[openapi(
    info(title = "Blu Markets API", description = "HTTP contract of the Blu Markets backend (api.md)."),
    modifiers(&SecuritySchemes),
    components(schemas(ErrorBody, ErrorDetail)),
    tags(
        (name = "auth", description = "Phone login, sessions"),
        (name = "prices", description = "Prices, FX and daily closes (public)"),
        (name = "admin", description = "Operator API: an operator session (`POST /admin/v1/session`, or the console's cookie) or the break-glass ADMIN_TOKEN"),
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

/// Operations under `/api/v1` that take no session; every other one needs a bearer token
/// (the `AuthUser` extractor). A test calls every operation without a token against this list.
pub const PUBLIC_OPERATIONS: [&str; 10] = [
    "v1.auth.send_otp",
    "v1.auth.verify_otp",
    "v1.auth.biometric",
    "v1.auth.refresh",
    "v1.onboarding.questions",
    "v1.prices.list",
    "v1.prices.get",
    "v1.prices.history",
    // The WebSocket authenticates inside the upgraded connection (close 4001), not with 401.
    "v1.prices.stream",
    // Operator login (issue 15): the credential is in the body.
    "admin.session.create",
];

/// Completes the generated document (served and printed alike): the cross-field request rules,
/// the security scheme of each protected operation, and the responses every operation of a tree
/// can give whatever its handler does: 401 from the authentication extractors, 404 from a
/// disabled operator API, 429 from the general rate limit and 503 from the request deadline or
/// an unavailable database (`/api` and `/admin`), and 409/422 from the idempotency middleware
/// (mutating user operations).
pub fn finish(mut document: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    use utoipa::openapi::security::SecurityRequirement;
    cross_field_rules(&mut document);
    for (path, item) in document.paths.paths.iter_mut() {
        let admin = path.starts_with("/admin/v1/");
        let user = path.starts_with("/api/v1/");
        let operations = [
            (false, &mut item.get),
            (true, &mut item.put),
            (true, &mut item.post),
            (true, &mut item.delete),
            (true, &mut item.patch),
        ];
        for (mutating, operation) in operations {
            let Some(operation) = operation else {
                continue;
            };
            let public = operation
                .operation_id
                .as_deref()
                .is_some_and(|id| PUBLIC_OPERATIONS.contains(&id));
            let scheme = match (admin && !public, user && !public) {
                (true, _) => Some("admin"),
                (false, true) => Some("bearer"),
                (false, false) => None,
            };
            if let Some(scheme) = scheme {
                operation.security = Some(vec![SecurityRequirement::new(scheme, [""; 0])]);
                add_error(operation, "401", "Missing, invalid or expired credentials");
            }
            if admin {
                add_error(
                    operation,
                    "404",
                    "Not found, or the operator API is disabled",
                );
            }
            if admin || user {
                add_error(operation, "429", "Rate limited (`Retry-After`)");
                // Every request is bounded (`REQUEST_TIMEOUT`) and needs its database.
                add_error(
                    operation,
                    "503",
                    "A dependency is unavailable, or the request timed out (`REQUEST_TIMEOUT`); \
                     nothing was changed unless a replay says so (`Retry-After`)",
                );
            }
            // The idempotency middleware answers for a key in use or reused (api.md §1.11).
            if user && mutating && !path.starts_with("/api/v1/auth/") {
                add_error(
                    operation,
                    "409",
                    "`IDEMPOTENCY_KEY_IN_PROGRESS`: a request with this `Idempotency-Key` is running",
                );
                add_error(
                    operation,
                    "422",
                    "`IDEMPOTENCY_KEY_REUSED`: the key was used for another request",
                );
            }
        }
    }
    document
}

/// Rules between fields that the handlers check and a derive cannot say, so the document is as
/// strict as the server (a body it allows is not refused with 400).
fn cross_field_rules(document: &mut utoipa::openapi::OpenApi) {
    use serde_json::Value;
    use utoipa::openapi::schema::{AllOfBuilder, AnyOfBuilder, SchemaType, Type};
    let trade = AnyOfBuilder::new()
        // An amount, unless a whole-holding sell.
        .item(
            present(&[("amountIrr", Type::Number)]).property(
                "sellAll",
                ObjectBuilder::new()
                    .schema_type(SchemaType::from_iter([Type::Boolean, Type::Null]))
                    .enum_values(Some([Value::Bool(false), Value::Null])),
            ),
        )
        .item(
            ObjectBuilder::new()
                .property("action", only(Type::String, "SELL"))
                .property("sellAll", only(Type::Boolean, true))
                .required("action")
                .required("sellAll"),
        );
    let terms = AllOfBuilder::new()
        .item(
            AnyOfBuilder::new()
                .item(present(&[("holdingId", Type::String)]))
                .item(present(&[("assetId", Type::String)])),
        )
        .item(
            AnyOfBuilder::new()
                .item(present(&[("durationDays", Type::Integer)]))
                .item(present(&[("durationMonths", Type::Integer)])),
        );
    // A quote, or the terms to quote now (`POST /protection`).
    let purchase = AnyOfBuilder::new()
        .item(present(&[("quoteId", Type::String)]))
        .item(terms);
    // Step 1 sends neither, step 2 both.
    let biometric = AnyOfBuilder::new()
        .item(
            ObjectBuilder::new()
                .property("challenge", ObjectBuilder::new().schema_type(Type::Null))
                .property("signature", ObjectBuilder::new().schema_type(Type::Null)),
        )
        .item(present(&[
            ("challenge", Type::String),
            ("signature", Type::String),
        ]));
    // A device is enrolled with `biometricEnabled` absent or true.
    let settings = AnyOfBuilder::new()
        .item(
            ObjectBuilder::new()
                .property("biometric", ObjectBuilder::new().schema_type(Type::Null)),
        )
        .item(
            ObjectBuilder::new().property(
                "biometricEnabled",
                ObjectBuilder::new()
                    .schema_type(SchemaType::from_iter([Type::Boolean, Type::Null]))
                    .enum_values(Some([Value::Bool(true), Value::Null])),
            ),
        );
    let rules: [(&str, Option<&str>, RefOr<Schema>); 5] = [
        ("TradeIn", None, trade.into()),
        ("SettingsIn", None, settings.into()),
        ("PurchaseIn", None, purchase.into()),
        // `/protection/purchase` takes only a quote.
        (
            "PurchaseIn",
            Some("v1.protection.purchase"),
            present(&[("quoteId", Type::String)]).into(),
        ),
        ("BiometricLoginIn", None, biometric.into()),
    ];
    // On the request bodies, not the components: a component keeps its plain `properties`.
    for item in document.paths.paths.values_mut() {
        let operations = [
            &mut item.post,
            &mut item.put,
            &mut item.patch,
            &mut item.delete,
        ];
        for operation in operations.into_iter().flatten() {
            let id = operation.operation_id.clone();
            let Some(RefOr::T(body)) = operation.request_body.as_mut() else {
                continue;
            };
            for content in body.content.values_mut() {
                let RefOr::T(content) = content else {
                    continue;
                };
                let Some(schema) = content.schema.take() else {
                    continue;
                };
                let name = match &schema {
                    RefOr::Ref(r) => r.ref_location.rsplit('/').next().unwrap_or(""),
                    RefOr::T(_) => "",
                };
                let applying: Vec<RefOr<Schema>> = rules
                    .iter()
                    .filter(|(component, only_for, _)| {
                        *component == name && only_for.is_none_or(|o| id.as_deref() == Some(o))
                    })
                    .map(|(_, _, rule)| rule.clone())
                    .collect();
                content.schema = Some(if applying.is_empty() {
                    schema
                } else {
                    let all = applying
                        .into_iter()
                        .fold(AllOfBuilder::new().item(schema), AllOfBuilder::item);
                    Schema::AllOf(all.build()).into()
                });
            }
        }
    }
}

/// `{"type": kind, "enum": [value]}`.
fn only(kind: utoipa::openapi::schema::Type, value: impl Into<serde_json::Value>) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(kind)
        .enum_values(Some([value.into()]))
}

/// An object in which each named property is present and of the given type (not null).
fn present(fields: &[(&str, utoipa::openapi::schema::Type)]) -> ObjectBuilder {
    fields
        .iter()
        .fold(ObjectBuilder::new(), |object, (name, kind)| {
            object
                .property(*name, ObjectBuilder::new().schema_type(kind.clone()))
                .required(*name)
        })
}

fn add_error(operation: &mut utoipa::openapi::path::Operation, status: &str, description: &str) {
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
    let responses = &mut operation.responses.responses;
    if !responses.contains_key(status) {
        let content = ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("ErrorBody")))
            .build();
        let response = ResponseBuilder::new()
            .description(description)
            .content("application/json", content)
            .build();
        responses.insert(status.to_owned(), response.into());
    }
}

/// `true`, literally: consents and confirmations (schema only; the field is `Option<bool>`
/// so a missing or false value gets a `VALIDATION_ERROR` naming it).
pub struct MustBeTrue;

impl utoipa::PartialSchema for MustBeTrue {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::Boolean)
            .enum_values(Some([true]))
            .build()
            .into()
    }
}
impl ToSchema for MustBeTrue {}

/// A history or activity cursor (schema only): base64url without padding of a decimal key of
/// at most 18 digits. Exact: every cursor the server issues matches, and every match decodes.
pub struct Cursor;

impl utoipa::PartialSchema for Cursor {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        let group = "(?:[MN][DTjz]|O[DT])[AEIMQUYcgk][w-z0-5]";
        let tail = "(?:[MN][AQgw]|O[AQ])";
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some(
                "Opaque page cursor (`nextCursor` of the previous page).",
            ))
            .pattern(Some(format!(
                "^(?:{group})*(?:{tail}|(?:[MN][DTjz]|O[DT])[AEIMQUYcgk])?$"
            )))
            .min_length(Some(2))
            .max_length(Some(24))
            .build()
            .into()
    }
}
impl ToSchema for Cursor {}
