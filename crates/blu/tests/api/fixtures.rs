//! Shared steps of the portfolio tests: a server with pinned prices, onboarding, funding.

use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{ADMIN_TOKEN, Session, TestApp, random_phone, spawn_with, test_vars};

/// Answers scoring 6 (Balanced, target 0.50/0.35/0.15): S1 of business-rules §1.5 with
/// `loss_30`, so W = 37/6 ≈ 6.17 < C ≈ 6.91 and no cap applies.
pub const SCORE_6: [(&str, &str); 9] = [
    ("q_income", "inc_fixed"),
    ("q_buffer", "buf_6_12"),
    ("q_proportion", "prop_medium"),
    ("q_goal", "goal_grow"),
    ("q_horizon", "hz_3_7"),
    ("q_crash_20", "crash_hold"),
    ("q_tradeoff", "trade_moderate"),
    ("q_past_behavior", "past_calm"),
    ("q_max_loss", "loss_30"),
];

pub fn answers(set: &[(&str, &str); 9]) -> Value {
    json!({ "answers": set.iter().map(|(q, o)| json!({"questionId": q, "optionId": o})).collect::<Vec<_>>() })
}

/// The three consents of `POST /onboarding/consent`.
pub fn consents() -> Value {
    json!({"consentRisk": true, "consentLoss": true, "consentNoGuarantee": true})
}

/// A pinned price file: `{}` = registry default prices at FX 1,456,000.
pub fn price_file() -> String {
    let path = std::env::temp_dir().join(format!("blu-prices-{}.json", uuid::Uuid::new_v4()));
    std::fs::write(&path, "{}").unwrap();
    format!("fixed:{}", path.display())
}

/// A server with pinned default prices.
pub async fn spawn_priced() -> TestApp {
    let source = price_file();
    spawn_with(&[("PRICE_SOURCE", source.as_str())]).await
}

/// The environment of a priced server (for several instances on one database).
pub async fn priced_vars() -> std::collections::HashMap<String, String> {
    let source = price_file();
    test_vars(&[("PRICE_SOURCE", source.as_str())]).await
}

/// The text of a JSON number (exact digits, thanks to `arbitrary_precision`).
pub fn num(v: &Value) -> String {
    assert!(v.is_number(), "expected a number, got {v}");
    v.to_string()
}

impl TestApp {
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
        key: Option<&str>,
    ) -> Response {
        let mut request = self
            .client
            .request(method, self.url(path))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        request.send().await.expect("request sent")
    }

    /// `PUT /profile/settings` with `body`.
    pub async fn put_settings(&self, token: &str, body: Value) -> Response {
        self.send(
            reqwest::Method::PUT,
            "/api/v1/profile/settings",
            token,
            Some(body),
            None,
        )
        .await
    }

    pub async fn get_auth(&self, path: &str, token: &str) -> Response {
        self.send(reqwest::Method::GET, path, token, None, None)
            .await
    }

    pub async fn admin_get(&self, path: &str) -> Response {
        self.client
            .get(self.url(path))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .expect("request sent")
    }

    /// Logs in, scores the questionnaire (score 6) and consents.
    pub async fn onboarded(&self) -> Session {
        let session = self.login(&random_phone()).await;
        let r = self
            .post_auth(
                "/api/v1/onboarding/questionnaire",
                &session.access,
                answers(&SCORE_6),
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        let r = self
            .post_auth("/api/v1/onboarding/consent", &session.access, consents())
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        session
    }

    /// An onboarded user with a portfolio funded with `amount`; returns the session and the
    /// portfolio id.
    pub async fn funded(&self, amount: u64) -> (Session, String) {
        let session = self.onboarded().await;
        let r = self
            .post_auth(
                "/api/v1/onboarding/initial-funding",
                &session.access,
                json!({ "amountIrr": amount }),
            )
            .await;
        assert_eq!(r.status(), StatusCode::CREATED);
        let body: Value = r.json().await.unwrap();
        let id = body["portfolioId"].as_str().unwrap().to_owned();
        (session, id)
    }

    pub async fn verify_ledger(&self, portfolio_id: &str) -> Value {
        let r = self
            .admin_get(&format!(
                "/admin/v1/portfolios/{portfolio_id}/ledger/verify"
            ))
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        r.json().await.unwrap()
    }
}
