//! The OpenAPI document as a contract (api.md §1, issue 11): every JSON response has a typed
//! schema, every protected operation documents and answers 401, and requests the
//! document allows are not refused over details the schema fuzzer (`scripts/fuzz`) found.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::fixtures::spawn_priced;
use crate::helpers::{assert_error, spawn_app};

/// The document's component a `$ref` names, or the schema itself.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(reference) => {
            let name = reference.trim_start_matches("#/components/schemas/");
            &doc["components"]["schemas"][name]
        }
        None => schema,
    }
}

/// A schema that says nothing about the body: absent, `{}`, or a bare `{"type":"object"}`.
fn untyped(doc: &Value, schema: &Value) -> bool {
    let schema = resolve(doc, schema);
    let Some(fields) = schema.as_object() else {
        return true;
    };
    let describes = [
        "properties",
        "allOf",
        "anyOf",
        "oneOf",
        "items",
        "prefixItems",
        "enum",
    ];
    if schema["type"] == "array" {
        return untyped(doc, &schema["items"]);
    }
    !describes.iter().any(|k| fields.contains_key(*k)) && schema["type"] != "string"
}

/// Every (method, path, operation) of the document.
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            out.push((method.to_ascii_uppercase(), path.clone(), operation.clone()));
        }
    }
    out
}

#[tokio::test]
async fn every_json_response_in_the_document_has_a_typed_schema() {
    // 40 responses said `Object`, so clients and the fuzzer could check nothing about them.
    let doc: Value = spawn_app()
        .await
        .get("/openapi.json")
        .await
        .json()
        .await
        .unwrap();
    let mut untyped_responses = Vec::new();
    let mut checked = 0;
    for (method, path, operation) in operations(&doc) {
        for (status, response) in operation["responses"].as_object().unwrap() {
            if let Some(content) = response["content"]["application/json"].as_object() {
                checked += 1;
                if untyped(&doc, &content["schema"]) {
                    untyped_responses.push(format!("{method} {path} {status}"));
                }
            }
        }
    }
    assert!(checked > 150, "only {checked} JSON responses found");
    assert!(
        untyped_responses.is_empty(),
        "untyped: {untyped_responses:?}"
    );
}

#[tokio::test]
async fn every_protected_operation_documents_401_and_answers_it_without_a_token() {
    // The document's list of public operations is checked against the server itself: a
    // protected route must refuse an anonymous call with 401, a public one must not.
    let app = spawn_app().await;
    let doc: Value = app.get("/openapi.json").await.json().await.unwrap();
    let mut protected = 0;
    for (method, path, operation) in operations(&doc) {
        if !path.starts_with("/api/v1/") {
            continue;
        }
        // `/auth/refresh` documents 401 for a dead refresh token, but takes no session.
        let secured = operation["security"].is_array();
        assert!(
            !secured || operation["responses"]["401"].is_object(),
            "{method} {path}: a secured operation documents 401"
        );
        let concrete = path
            .replace("{assetId}", "BTC")
            .replace("{id}", "00000000-0000-0000-0000-000000000000");
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = app.client.request(method.clone(), app.url(&concrete));
        if method != Method::GET {
            request = request.json(&json!({}));
        }
        let status = request.send().await.unwrap().status();
        assert_eq!(
            status == StatusCode::UNAUTHORIZED,
            secured,
            "{method} {path} answered {status} without a token"
        );
        protected += usize::from(secured);
    }
    assert!(protected >= 40, "only {protected} protected operations");
}

#[tokio::test]
async fn whole_numbers_written_with_a_decimal_point_are_accepted_where_the_schema_says_integer() {
    // JSON Schema counts 6.0 as an integer; serde's i64 refused it with 400.
    let app = spawn_priced().await;
    let (session, _) = app.funded(10_000_000_000).await;
    let r = app
        .post_auth(
            "/api/v1/loans/preview",
            &session.access,
            json!({"collateralAssetId": "BTC", "amountIrr": 10_000_000, "durationMonths": 3.0}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["durationMonths"], 3);
    let r = app
        .post_auth(
            "/api/v1/loans/preview",
            &session.access,
            json!({"collateralAssetId": "BTC", "amountIrr": 10_000_000, "durationMonths": 3.5}),
        )
        .await;
    let body = assert_error(r, StatusCode::BAD_REQUEST, "VALIDATION_ERROR").await;
    assert_eq!(
        body["error"]["details"]["fields"][0]["field"],
        "durationMonths"
    );
}

#[tokio::test]
async fn a_huge_month_count_on_a_protection_purchase_is_a_validation_error_not_a_panic() {
    // Found by the fuzzer: months × 30 overflowed i64 (500 in debug builds).
    let app = spawn_priced().await;
    let (session, _) = app.funded(10_000_000_000).await;
    let r = app
        .post_auth(
            "/api/v1/protection",
            &session.access,
            json!({"assetId": "BTC", "durationMonths": 9_223_372_036_854_775_806_i64}),
        )
        .await;
    assert_error(r, StatusCode::BAD_REQUEST, "VALIDATION_ERROR").await;
}

#[tokio::test]
async fn every_cursor_the_documented_pattern_allows_reads_a_page() {
    // `MA` is base64url of "0": before every entry, so an empty page rather than a 400.
    let app = spawn_priced().await;
    let (session, _) = app.funded(10_000_000_000).await;
    for path in ["/api/v1/history?cursor=MA", "/api/v1/activity?cursor=MA"] {
        let r = app.get_auth(path, &session.access).await;
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["hasMore"], false, "{path}");
    }
}
