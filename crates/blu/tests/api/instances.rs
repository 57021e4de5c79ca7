//! Two server instances on one database (and one Redis when configured) share sessions and,
//! with Redis, rate limits.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{assert_error, random_phone, redis_url, spawn_from, test_vars};

#[tokio::test]
async fn a_session_opened_on_one_instance_works_and_ends_on_the_other() {
    let vars = test_vars(&[]).await;
    let a = spawn_from(vars.clone()).await;
    let b = spawn_from(vars).await;
    let session = a.login(&random_phone()).await;
    let refreshed = b
        .post(
            "/api/v1/auth/refresh",
            json!({ "refreshToken": session.refresh }),
        )
        .await;
    assert_eq!(refreshed.status(), StatusCode::OK);
    assert_eq!(
        b.post_auth("/api/v1/auth/logout", &session.access, json!({}))
            .await
            .status(),
        StatusCode::OK
    );
    let after = a
        .post_auth("/api/v1/auth/logout", &session.access, json!({}))
        .await;
    assert_error(after, StatusCode::UNAUTHORIZED, "SESSION_REVOKED").await;
}

#[tokio::test]
async fn two_instances_share_the_otp_send_limit_through_redis() {
    if redis_url().is_none() {
        return; // Shared limits need Redis; the in-memory limiter is per process by design.
    }
    let vars = test_vars(&[]).await;
    let a = spawn_from(vars.clone()).await;
    let b = spawn_from(vars).await;
    let phone = random_phone();
    assert_eq!(a.send_otp(&phone).await.status(), StatusCode::OK);
    assert_eq!(b.send_otp(&phone).await.status(), StatusCode::OK);
    assert_eq!(a.send_otp(&phone).await.status(), StatusCode::OK);
    assert_error(
        b.send_otp(&phone).await,
        StatusCode::TOO_MANY_REQUESTS,
        "RATE_LIMITED",
    )
    .await;
}

#[tokio::test]
async fn a_worker_refuses_to_start_on_the_embedded_sqlite_database() {
    let mut vars = test_vars(&[]).await;
    vars.remove("DATABASE_URL");
    let config = blu::config::Config::from_source(&vars).unwrap();
    let error = blu::startup::Application::build_worker(config)
        .await
        .err()
        .expect("refused");
    assert!(format!("{error:#}").contains("PostgreSQL"), "{error:#}");
}
