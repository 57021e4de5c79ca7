//! The operator's jobs API (api.md §13.2) over the job engine.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{ADMIN_TOKEN, TestApp, assert_error, spawn_app};

impl TestApp {
    pub async fn run_job(&self, name: &str) -> reqwest::Response {
        self.client
            .post(self.url(&format!("/admin/v1/jobs/{name}/run")))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn jobs_are_listed_with_their_schedules_and_last_runs() {
    let app = spawn_app().await;
    let ran = app.run_job("cleanup").await;
    assert_eq!(ran.status(), StatusCode::OK);
    let body: Value = ran.json().await.unwrap();
    assert_eq!(body["job"], "cleanup");
    assert_eq!(body["status"], "succeeded");
    assert!(body["result"]["otpCodesDeleted"].is_u64());
    let list: Value = app
        .client
        .get(app.url("/admin/v1/jobs"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let jobs = list["jobs"].as_array().unwrap();
    let cleanup = jobs.iter().find(|j| j["name"] == "cleanup").unwrap();
    assert_eq!(cleanup["schedule"], "every 1h");
    assert_eq!(cleanup["lastStatus"], "succeeded");
    assert!(
        jobs.iter()
            .any(|j| j["name"] == "prices" && j["schedule"] == "every 30s")
    );
}

#[tokio::test]
async fn running_prices_now_refreshes_through_the_engine() {
    let app = spawn_app().await;
    let ran = app.run_job("prices").await;
    assert_eq!(ran.status(), StatusCode::OK);
    let body: Value = ran.json().await.unwrap();
    assert_eq!(body["result"]["fxUpdated"], true);
}

#[tokio::test]
async fn an_unknown_job_is_not_found_and_the_api_needs_the_admin_token() {
    let app = spawn_app().await;
    assert_error(
        app.run_job("no-such-job").await,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    )
    .await;
    let anonymous = app
        .client
        .post(app.url("/admin/v1/jobs/cleanup/run"))
        .send()
        .await
        .unwrap();
    assert_error(anonymous, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;
}
