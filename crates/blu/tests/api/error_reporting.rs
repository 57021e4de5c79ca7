//! Error reporting (issue 14 §4): a panic in a handler reaches a local mock of Sentry's envelope
//! endpoint with no phone number, token or secret in it; without `SENTRY_DSN` nothing is sent.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{
    ACCESS_SECRET, ADMIN_TOKEN, REFRESH_SECRET, TestApp, random_phone, spawn_with,
};

type Received = Arc<Mutex<Vec<(HeaderMap, String)>>>;

/// A Sentry stand-in on 127.0.0.1 that records every envelope of project 42.
async fn sentry_mock() -> (String, Received) {
    let received = Received::default();
    let app = Router::new()
        .route(
            "/api/42/envelope/",
            post(
                |State(received): State<Received>, headers: HeaderMap, body: String| async move {
                    received.lock().unwrap().push((headers, body));
                    axum::Json(json!({"id": "ok"}))
                },
            ),
        )
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://public-key-0123@{address}/42"), received)
}

async fn panic_probe(app: &TestApp, message: &str) -> reqwest::Response {
    app.client
        .post(app.url("/admin/v1/test/panic"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({ "message": message }))
        .send()
        .await
        .unwrap()
}

async fn wait_for(received: &Received, count: usize) -> Vec<(HeaderMap, String)> {
    for _ in 0..100 {
        if received.lock().unwrap().len() >= count {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    received.lock().unwrap().clone()
}

#[tokio::test]
async fn a_panic_in_a_handler_reaches_sentry_without_phone_numbers_tokens_or_secrets() {
    let (dsn, received) = sentry_mock().await;
    let app = spawn_with(&[("SENTRY_DSN", dsn.as_str()), ("TEST_CLOCK", "true")]).await;
    let phone = random_phone();
    let session = app.login(&phone).await;
    let local = phone.trim_start_matches("+98");
    let message = format!(
        "user {phone} (0{local}) token {} refresh {} admin {ADMIN_TOKEN} keys {ACCESS_SECRET} {REFRESH_SECRET} test-otp-secret",
        session.access, session.refresh
    );
    let response = app
        .client
        .post(app.url("/admin/v1/test/panic?phone=%2B98912"))
        .bearer_auth(ADMIN_TOKEN)
        .header("x-request-id", "panic-probe-1")
        .json(&json!({ "message": message }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "INTERNAL_ERROR", "{body}");

    let envelopes = wait_for(&received, 1).await;
    assert_eq!(envelopes.len(), 1, "one event per panic: {envelopes:?}");
    let (headers, envelope) = &envelopes[0];
    assert_eq!(
        headers["content-type"].to_str().unwrap(),
        "application/x-sentry-envelope"
    );
    assert!(
        headers["x-sentry-auth"]
            .to_str()
            .unwrap()
            .contains("sentry_key=public-key-0123")
    );
    let lines: Vec<&str> = envelope.lines().collect();
    assert_eq!(lines.len(), 3, "{envelope}");
    let item: Value = serde_json::from_str(lines[1]).unwrap();
    assert_eq!(item["type"], "event");
    assert_eq!(item["length"], lines[2].len());
    let event: Value = serde_json::from_str(lines[2]).unwrap();
    assert_eq!(event["level"], "fatal");
    assert_eq!(event["exception"]["values"][0]["type"], "panic");
    assert_eq!(event["tags"]["route"], "/admin/v1/test/panic");
    assert_eq!(event["tags"]["status"], "500");
    assert_eq!(event["tags"]["request_id"], "panic-probe-1");
    let text = event["exception"]["values"][0]["value"].as_str().unwrap();
    assert!(
        text.starts_with("diagnostic panic: user [number]"),
        "{text}"
    );
    // The handler ran in a unit of work's own task; the panic hook's location still arrives.
    assert!(text.contains("diagnostics.rs:"), "{text}");
    for leaked in [
        local,
        &session.access,
        &session.refresh,
        "eyJ",
        ADMIN_TOKEN,
        ACCESS_SECRET,
        REFRESH_SECRET,
        "test-otp-secret",
        "public-key-0123",
        "authorization",
        "Bearer",
    ] {
        assert!(!envelope.contains(leaked), "{leaked:?} leaked: {envelope}");
    }
}

#[tokio::test]
async fn without_a_dsn_a_panic_is_still_a_documented_500_and_nothing_is_sent() {
    let (_, received) = sentry_mock().await;
    let app = spawn_with(&[("TEST_CLOCK", "true")]).await;
    let response = panic_probe(&app, "no reporter").await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(received.lock().unwrap().is_empty());
}

#[tokio::test]
async fn the_diagnostic_panic_route_is_absent_without_the_test_configuration() {
    let app = spawn_with(&[]).await;
    let response = panic_probe(&app, "x").await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}
