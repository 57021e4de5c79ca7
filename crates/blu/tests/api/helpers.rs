//! `spawn_app()`: a fresh server with a fresh database per test.

use std::collections::HashMap;
use std::path::PathBuf;

use blu::config::Config;
use blu::startup::Application;
use reqwest::{Client, Response, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";
pub const ACCESS_SECRET: &str = "test-access-secret-0123456789-abcdef";
pub const REFRESH_SECRET: &str = "test-refresh-secret-0123456789-abcdef";

pub struct TestApp {
    pub address: String,
    pub client: Client,
    /// This instance's price bus (tests publish ticks on it).
    pub price_bus: std::sync::Arc<dyn blu_app::ports::PriceBus>,
    /// This instance's authentication service (tests count its store reads); `None` for a
    /// server in another process.
    pub auth: Option<std::sync::Arc<blu_app::auth::AuthService>>,
    /// Dropped with the test: the in-process server stops.
    pub _shutdown: tokio::sync::oneshot::Sender<()>,
}

/// Which backends this run uses: PostgreSQL and Redis when their URLs are set.
pub fn postgres_url() -> Option<String> {
    std::env::var("DATABASE_URL")
        .ok()
        .filter(|u| u.starts_with("postgres"))
}

pub fn redis_url() -> Option<String> {
    std::env::var("REDIS_URL").ok().filter(|u| !u.is_empty())
}

/// A fresh PostgreSQL database for one test, created through the configured server.
pub async fn fresh_postgres_database(base: &str) -> String {
    use sqlx::Connection;
    let name = format!("blu_test_{}", Uuid::new_v4().simple());
    let mut connection = sqlx::PgConnection::connect(base)
        .await
        .expect("PostgreSQL reachable");
    // The name is generated here (a UUID), never user input.
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut connection)
        .await
        .expect("create database");
    let (prefix, rest) = base.rsplit_once('/').expect("database URL has a path");
    let query = rest
        .split_once('?')
        .map(|(_, q)| format!("?{q}"))
        .unwrap_or_default();
    format!("{prefix}/{name}{query}")
}

/// The environment of a new, isolated server.
pub async fn test_vars(extra: &[(&str, &str)]) -> HashMap<String, String> {
    let data_dir: PathBuf =
        std::env::temp_dir().join(format!("blu-test-{}", Uuid::new_v4().simple()));
    let mut vars: HashMap<String, String> = [
        ("PORT", "0"),
        ("ADMIN_TOKEN", ADMIN_TOKEN),
        ("JWT_ACCESS_SECRET", ACCESS_SECRET),
        ("JWT_REFRESH_SECRET", REFRESH_SECRET),
        ("OTP_SECRET", "test-otp-secret"),
        ("ENABLE_PUSH_NOTIFICATIONS", "false"),
        // Tests run jobs explicitly (`POST /admin/v1/jobs/{name}/run`), so no scheduled tick
        // races them; the engine's own scheduling is tested in `crates/jobs`.
        ("RUN_JOBS", "false"),
        // Hundreds of tests share two cores: a request may wait longer than production's
        // 750 ms for a pooled connection without anything being wrong. The fault suite sets
        // the production value back (`faults::fault_vars`), because it measures promptness.
        ("DATABASE_ACQUIRE_TIMEOUT_MS", "5000"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    vars.insert("DATA_DIR".into(), data_dir.to_string_lossy().into_owned());
    if let Some(base) = postgres_url() {
        vars.insert("DATABASE_URL".into(), fresh_postgres_database(&base).await);
    }
    if let Some(redis) = redis_url() {
        vars.insert("REDIS_URL".into(), redis);
        vars.insert(
            "REDIS_KEY_PREFIX".into(),
            format!("test:{}:", Uuid::new_v4().simple()),
        );
    }
    for (k, v) in extra {
        vars.insert((*k).to_owned(), (*v).to_owned());
    }
    vars
}

pub async fn spawn_app() -> TestApp {
    spawn_with(&[]).await
}

pub async fn spawn_with(extra: &[(&str, &str)]) -> TestApp {
    spawn_from(test_vars(extra).await).await
}

/// Starts a server from an environment (a second instance shares database and Redis).
pub async fn spawn_from(vars: HashMap<String, String>) -> TestApp {
    let config = Config::from_source(&vars).expect("test configuration is valid");
    let app = Application::build(config).await.expect("server builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    let price_bus = app.price_bus();
    let auth = Some(app.auth());
    let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.run_until_stopped(async move {
        let _ = stopped.await;
    }));
    let client = blu_integrations::http::client(std::time::Duration::from_secs(30));
    TestApp {
        address,
        client,
        price_bus,
        auth,
        _shutdown: shutdown,
    }
}

/// A logged-in user's tokens.
pub struct Session {
    pub access: String,
    pub refresh: String,
    pub body: Value,
}

impl TestApp {
    /// What authentication did so far on this (in-process) instance.
    pub fn auth_stats(&self) -> blu_app::auth::AuthStats {
        self.auth.as_ref().expect("an in-process server").stats()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn post(&self, path: &str, body: Value) -> Response {
        self.client
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .expect("request sent")
    }

    pub async fn post_auth(&self, path: &str, token: &str, body: Value) -> Response {
        self.client
            .post(self.url(path))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .expect("request sent")
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request sent")
    }

    pub async fn send_otp(&self, phone: &str) -> Response {
        self.post("/api/v1/auth/send-otp", json!({ "phone": phone }))
            .await
    }

    /// The newest code sent to a phone, read from the admin-only development outbox.
    pub async fn latest_code(&self, phone: &str) -> String {
        let response = self
            .client
            .get(self.url("/admin/v1/sms-outbox"))
            .query(&[("phone", phone), ("limit", "1")])
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .expect("request sent");
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.unwrap();
        body["messages"][0]["code"]
            .as_str()
            .expect("a code was sent")
            .to_owned()
    }

    pub async fn verify(&self, phone: &str, code: &str) -> Response {
        self.post(
            "/api/v1/auth/verify-otp",
            json!({ "phone": phone, "code": code }),
        )
        .await
    }

    /// Full phone login through the outbox.
    pub async fn login(&self, phone: &str) -> Session {
        assert_eq!(self.send_otp(phone).await.status(), StatusCode::OK);
        let code = self.latest_code(phone).await;
        let response = self.verify(phone, &code).await;
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.unwrap();
        Session {
            access: body["tokens"]["accessToken"].as_str().unwrap().to_owned(),
            refresh: body["tokens"]["refreshToken"].as_str().unwrap().to_owned(),
            body,
        }
    }
}

/// A random valid phone number, so tests never collide on per-phone limits.
pub fn random_phone() -> String {
    format!("+989{:09}", rand_u32() % 1_000_000_000)
}

fn rand_u32() -> u32 {
    u32::from_le_bytes(Uuid::new_v4().as_bytes()[..4].try_into().unwrap())
}

/// Asserts the documented error body and returns it.
pub async fn assert_error(response: Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(response.status(), status, "status for {code}");
    let body: Value = response.json().await.expect("error bodies are JSON");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert_eq!(body["message"], body["error"]["message"]);
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
    );
    body
}
