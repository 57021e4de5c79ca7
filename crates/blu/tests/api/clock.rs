//! The admin test clock (api.md §13.4) and the business time it drives.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{
    ADMIN_TOKEN, TestApp, assert_error, random_phone, redis_url, spawn_app, spawn_from, spawn_with,
    test_vars,
};

impl TestApp {
    pub async fn advance_clock(&self, body: Value) -> reqwest::Response {
        self.client
            .post(self.url("/admin/v1/clock/advance"))
            .bearer_auth(ADMIN_TOKEN)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    pub async fn clock(&self) -> Value {
        let response = self
            .client
            .get(self.url("/admin/v1/clock"))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.unwrap()
    }
}

#[tokio::test]
async fn the_clock_routes_do_not_exist_without_the_test_clock() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.url("/admin/v1/clock"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_error(response, StatusCode::NOT_FOUND, "NOT_FOUND").await;
    assert_error(
        app.advance_clock(json!({ "seconds": 60 })).await,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    )
    .await;
}

#[tokio::test]
async fn the_test_clock_only_moves_forward() {
    let app = spawn_with(&[("TEST_CLOCK", "1")]).await;
    let before = app.clock().await;
    assert_eq!(before["testClock"], true);
    let moved: Value = app
        .advance_clock(json!({ "seconds": 86_400 }))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(moved["offsetSeconds"], 86_400);
    for bad in [
        json!({ "seconds": 0 }),
        json!({ "seconds": -5 }),
        json!({ "seconds": 40_000_000 }),
        json!({ "to": "2001-01-01T00:00:00Z" }),
        json!({ "to": "soon" }),
        json!({}),
    ] {
        assert_error(
            app.advance_clock(bad).await,
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
        )
        .await;
    }
    assert_eq!(app.clock().await["offsetSeconds"], 86_400);
}

#[tokio::test]
async fn a_login_code_expires_after_two_minutes_of_business_time() {
    let app = spawn_with(&[("TEST_CLOCK", "1")]).await;
    let phone = random_phone();
    app.send_otp(&phone).await;
    let code = app.latest_code(&phone).await;
    assert_eq!(
        app.advance_clock(json!({ "seconds": 121 })).await.status(),
        StatusCode::OK
    );
    assert_error(
        app.verify(&phone, &code).await,
        StatusCode::BAD_REQUEST,
        "OTP_EXPIRED",
    )
    .await;
}

#[tokio::test]
async fn instances_sharing_redis_share_the_test_clock() {
    if redis_url().is_none() {
        return; // Without Redis each process keeps its own clock by design.
    }
    let vars = test_vars(&[("TEST_CLOCK", "1")]).await;
    let a = spawn_from(vars.clone()).await;
    let b = spawn_from(vars).await;
    a.advance_clock(json!({ "seconds": 3600 })).await;
    assert_eq!(b.clock().await["offsetSeconds"], 3600);
}
