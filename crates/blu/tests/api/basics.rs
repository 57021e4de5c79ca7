//! Probes, docs, and the error contract on malformed input (api.md §1, §14).

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{ADMIN_TOKEN, assert_error, spawn_app};

#[tokio::test]
async fn health_answers_without_any_setup() {
    let app = spawn_app().await;
    let response = app.get("/health").await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ok");
    assert!(body["uptimeSeconds"].is_u64());
}

#[tokio::test]
async fn ready_checks_the_database_and_redis() {
    let app = spawn_app().await;
    let response = app.get("/ready").await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ready");
    assert_eq!(body["checks"]["database"], "ok");
    if crate::helpers::redis_url().is_some() {
        assert_eq!(body["checks"]["redis"], "ok");
    }
}

#[tokio::test]
async fn metrics_are_exposed_in_prometheus_format_with_route_templates() {
    let app = spawn_app().await;
    app.get("/api/v1/no-such-route").await;
    app.post("/api/v1/auth/send-otp", json!({ "phone": "bad" }))
        .await;
    let response = app.get("/metrics").await;
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.unwrap();
    assert!(text.contains("http_requests_total"), "{text}");
    assert!(text.contains("route=\"/api/v1/auth/send-otp\""), "{text}");
    assert!(
        text.contains("http_request_duration_seconds_bucket"),
        "{text}"
    );
}

#[tokio::test]
async fn the_openapi_document_lists_every_route_with_schemas() {
    let app = spawn_app().await;
    let doc: Value = app.get("/openapi.json").await.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    let paths = doc["paths"].as_object().unwrap();
    for path in [
        "/api/v1/auth/send-otp",
        "/api/v1/auth/verify-otp",
        "/api/v1/auth/refresh",
        "/api/v1/auth/logout",
        "/admin/v1/sms-outbox",
        "/health",
        "/ready",
        "/metrics",
    ] {
        assert!(
            paths.contains_key(path),
            "{path} missing from the OpenAPI document"
        );
    }
    assert!(doc["components"]["schemas"]["VerifyOtpOut"].is_object());
    assert!(doc["components"]["schemas"]["ErrorBody"].is_object());
}

#[tokio::test]
async fn the_two_biometric_bodies_keep_their_own_schemas() {
    // utoipa names components by type name: two `BiometricIn`s silently became one.
    let app = spawn_app().await;
    let doc: Value = app.get("/openapi.json").await.json().await.unwrap();
    let schemas = &doc["components"]["schemas"];
    assert!(schemas["BiometricEnrolmentIn"]["properties"]["publicKey"].is_object());
    assert!(schemas["BiometricLoginIn"]["properties"]["signature"].is_object());
    let paths = doc["paths"].as_object().unwrap();
    for path in [
        "/api/v1/auth/biometric",
        "/admin/v1/overrides/volatility/{assetId}",
    ] {
        assert!(paths.contains_key(path), "{path} missing");
    }
}

#[tokio::test]
async fn swagger_ui_is_served_from_the_binary() {
    let app = spawn_app().await;
    let page = app.get("/docs/").await;
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("swagger"));
    let bundle = app.get("/docs/swagger-ui-bundle.js").await;
    assert_eq!(bundle.status(), StatusCode::OK);
}

#[tokio::test]
async fn unknown_routes_and_wrong_methods_get_the_error_body() {
    let app = spawn_app().await;
    assert_error(
        app.get("/api/v1/nowhere").await,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    )
    .await;
    let wrong_method = app.get("/api/v1/auth/send-otp").await;
    assert!(wrong_method.headers().contains_key("allow"));
    assert_error(
        wrong_method,
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
    )
    .await;
}

#[tokio::test]
async fn malformed_bodies_get_4xx_and_never_a_500() {
    let app = spawn_app().await;
    let url = app.url("/api/v1/auth/send-otp");
    let send = |body: &'static str, content_type: &'static str| {
        app.client
            .post(&url)
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    assert_error(
        send("{not json", "application/json").await.unwrap(),
        StatusCode::BAD_REQUEST,
        "VALIDATION_ERROR",
    )
    .await;
    assert_error(
        send("[1,2,3]", "application/json").await.unwrap(),
        StatusCode::BAD_REQUEST,
        "VALIDATION_ERROR",
    )
    .await;
    assert_error(
        send("\"text\"", "application/json").await.unwrap(),
        StatusCode::BAD_REQUEST,
        "VALIDATION_ERROR",
    )
    .await;
    assert_error(
        send("{\"phone\":1e999}", "application/json").await.unwrap(),
        StatusCode::BAD_REQUEST,
        "VALIDATION_ERROR",
    )
    .await;
    assert_error(
        send("{\"phone\":{\"a\":[]}}", "application/json")
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
        "VALIDATION_ERROR",
    )
    .await;
    assert_error(
        send("{\"phone\":\"+989123456789\"} trailing", "application/json")
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
        "VALIDATION_ERROR",
    )
    .await;
    assert_error(
        send("phone=+989123456789", "application/x-www-form-urlencoded")
            .await
            .unwrap(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "UNSUPPORTED_MEDIA_TYPE",
    )
    .await;
    let huge = format!("{{\"phone\":\"{}\"}}", "9".repeat(70 * 1024));
    let response = app
        .client
        .post(&url)
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_error(response, StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE").await;
    let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    let response = app
        .client
        .post(&url)
        .header("content-type", "application/json")
        .body(deep)
        .send()
        .await
        .unwrap();
    assert_error(response, StatusCode::BAD_REQUEST, "VALIDATION_ERROR").await;
    let refresh = app
        .post("/api/v1/auth/refresh", json!({ "refreshToken": 12 }))
        .await;
    assert_error(refresh, StatusCode::BAD_REQUEST, "VALIDATION_ERROR").await;
    let code_as_number = app
        .post(
            "/api/v1/auth/verify-otp",
            json!({ "phone": "+989123456789", "code": 123456 }),
        )
        .await;
    assert_error(code_as_number, StatusCode::BAD_REQUEST, "VALIDATION_ERROR").await;
    let bad_query = app
        .client
        .get(app.url("/admin/v1/sms-outbox?limit=-1"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_error(bad_query, StatusCode::BAD_REQUEST, "VALIDATION_ERROR").await;
}

#[tokio::test]
async fn a_trailing_slash_is_ignored() {
    let app = spawn_app().await;
    let response = app
        .post(
            "/api/v1/auth/send-otp/",
            json!({ "phone": crate::helpers::random_phone() }),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn request_ids_are_echoed_or_generated() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.url("/health"))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "abc-123");
    let response = app
        .client
        .get(app.url("/health"))
        .header("x-request-id", "bad id with spaces")
        .send()
        .await
        .unwrap();
    let generated = response.headers()["x-request-id"].to_str().unwrap();
    assert_ne!(generated, "bad id with spaces");
    assert_eq!(generated.len(), 36);
    let error = app.get("/api/v1/nowhere").await;
    assert!(error.headers().contains_key("x-request-id"));
}

#[tokio::test]
async fn api_responses_are_not_cached_and_are_not_sniffed() {
    let app = spawn_app().await;
    let response = app
        .post("/api/v1/auth/send-otp", json!({ "phone": "x" }))
        .await;
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
}

#[tokio::test]
async fn cors_preflight_allows_the_app_headers() {
    let app = spawn_app().await;
    let response = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/api/v1/auth/send-otp"))
        .header("origin", "http://localhost:8081")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "bypass-tunnel-reminder,content-type,idempotency-key",
        )
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());
    let allowed = response.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(
        allowed.contains("bypass-tunnel-reminder") && allowed.contains("idempotency-key"),
        "{allowed}"
    );
}

#[tokio::test]
async fn the_admin_api_needs_the_admin_token_and_never_a_user_token() {
    let app = spawn_app().await;
    let session = app.login(&crate::helpers::random_phone()).await;
    let url = app.url("/admin/v1/sms-outbox");
    let none = app.client.get(&url).send().await.unwrap();
    assert_error(none, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;
    let user = app
        .client
        .get(&url)
        .bearer_auth(&session.access)
        .send()
        .await
        .unwrap();
    assert_error(user, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;
}

#[tokio::test]
async fn the_general_limit_answers_429_with_retry_after() {
    let app = crate::helpers::spawn_with(&[("RATE_LIMIT_MAX_REQUESTS", "5")]).await;
    let mut last = None;
    for _ in 0..6 {
        last = Some(
            app.post("/api/v1/auth/send-otp", json!({ "phone": "bad" }))
                .await,
        );
    }
    let response = last.unwrap();
    assert!(response.headers().contains_key("retry-after"));
    let body = assert_error(response, StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED").await;
    assert_eq!(body["error"]["details"]["scope"], "global");
    assert_eq!(
        app.get("/health").await.status(),
        StatusCode::OK,
        "probes are not limited"
    );
}
