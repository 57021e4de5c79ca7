//! Kavenegar `verify/lookup` (template message) client. SMS fails fast: one attempt with a 5 s
//! timeout, since a retried send could deliver two different codes and the user can ask again.

use std::time::Duration;

use async_trait::async_trait;
use blu_app::ports::{SmsError, SmsGateway};
use blu_app::{Secret, mask_phone};
use serde::Deserialize;

#[derive(Clone, Debug)]
pub struct KavenegarConfig {
    pub api_key: Secret,
    /// `https://api.kavenegar.com` in production; a local mock server in tests.
    pub base_url: String,
    /// The verify template registered with Kavenegar (business-rules §11: `blumarkets-otp`).
    pub template: String,
    pub timeout: Duration,
}

impl KavenegarConfig {
    pub fn new(api_key: Secret) -> KavenegarConfig {
        KavenegarConfig {
            api_key,
            base_url: "https://api.kavenegar.com".to_owned(),
            template: "blumarkets-otp".to_owned(),
            timeout: Duration::from_secs(5),
        }
    }
}

pub struct KavenegarGateway {
    config: KavenegarConfig,
    client: reqwest::Client,
}

impl KavenegarGateway {
    pub fn new(config: KavenegarConfig) -> KavenegarGateway {
        let client = crate::http::client(config.timeout);
        KavenegarGateway { config, client }
    }
}

/// Kavenegar's response envelope: `{"return":{"status","message"},"entries":[…]|null}`.
#[derive(Debug, Deserialize)]
struct Envelope {
    #[serde(rename = "return")]
    result: ReturnStatus,
}

#[derive(Debug, Deserialize)]
struct ReturnStatus {
    status: i64,
    message: String,
}

#[async_trait]
impl SmsGateway for KavenegarGateway {
    async fn send_otp(&self, phone: &str, code: &str) -> Result<(), SmsError> {
        // The API key is part of Kavenegar's URL path; never log the URL.
        let url = format!(
            "{}/v1/{}/verify/lookup.json",
            self.config.base_url.trim_end_matches('/'),
            self.config.api_key.expose()
        );
        let receptor = super::local_receptor(phone);
        let form = [
            ("receptor", receptor.as_str()),
            ("token", code),
            ("template", self.config.template.as_str()),
        ];
        let response = self
            .client
            .post(&url)
            .form(&form)
            .send()
            .await
            .map_err(|e| SmsError::Unreachable(e.without_url().to_string()))?;
        let http_status = response.status();
        let body = response
            .text()
            .await
            .map_err(|e| SmsError::Unreachable(e.without_url().to_string()))?;
        match serde_json::from_str::<Envelope>(&body) {
            Ok(envelope) if http_status.is_success() && envelope.result.status == 200 => {
                tracing::info!(phone = %mask_phone(phone), "kavenegar accepted the message");
                Ok(())
            }
            Ok(envelope) => Err(SmsError::Rejected(format!(
                "status {} ({})",
                envelope.result.status, envelope.result.message
            ))),
            Err(_) => Err(SmsError::Rejected(format!(
                "http {http_status} with an unreadable body"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use axum::extract::{Form, Path, State};
    use axum::http::StatusCode;
    use axum::routing::post;

    use super::*;

    type Seen = Arc<Mutex<Vec<(String, Vec<(String, String)>)>>>;

    /// A local stand-in for api.kavenegar.com answering with Kavenegar's real response shapes.
    async fn mock(status: StatusCode, body: &'static str, delay: Duration) -> (String, Seen) {
        let seen: Seen = Arc::default();
        let app = axum::Router::new()
            .route(
                "/v1/{key}/verify/lookup.json",
                post(
                    move |State(seen): State<Seen>,
                          Path(key): Path<String>,
                          Form(form): Form<Vec<(String, String)>>| async move {
                        seen.lock().unwrap().push((key, form));
                        tokio::time::sleep(delay).await;
                        (status, [("content-type", "application/json")], body)
                    },
                ),
            )
            .with_state(seen.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (format!("http://{addr}"), seen)
    }

    fn gateway(base_url: String, timeout: Duration) -> KavenegarGateway {
        KavenegarGateway::new(KavenegarConfig {
            api_key: Secret::new("TEST-KEY"),
            base_url,
            template: "blumarkets-otp".into(),
            timeout,
        })
    }

    const ACCEPTED: &str = r#"{"return":{"status":200,"message":"تایید شد"},"entries":[{"messageid":8792343,"message":"کد ورود: 123456","status":5,"statustext":"در صف ارسال","sender":"10004346","receptor":"09123456789","date":1356619709,"cost":120}]}"#;

    #[tokio::test]
    async fn a_lookup_sends_the_local_receptor_token_and_template() {
        let (url, seen) = mock(StatusCode::OK, ACCEPTED, Duration::ZERO).await;
        gateway(url, Duration::from_secs(5))
            .send_otp("+989123456789", "123456")
            .await
            .unwrap();
        let seen = seen.lock().unwrap();
        assert_eq!(seen[0].0, "TEST-KEY");
        let form: std::collections::HashMap<_, _> = seen[0].1.iter().cloned().collect();
        assert_eq!(form["receptor"], "09123456789");
        assert_eq!(form["token"], "123456");
        assert_eq!(form["template"], "blumarkets-otp");
    }

    #[tokio::test]
    async fn a_refusal_from_kavenegar_is_a_rejection() {
        let body =
            r#"{"return":{"status":418,"message":"اعتبار حساب شما کافی نیست"},"entries":null}"#;
        let (url, _) = mock(StatusCode::from_u16(418).unwrap(), body, Duration::ZERO).await;
        let err = gateway(url, Duration::from_secs(5))
            .send_otp("+989123456789", "123456")
            .await
            .unwrap_err();
        assert!(
            matches!(err, SmsError::Rejected(ref m) if m.contains("418")),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn a_slow_provider_times_out_as_unreachable() {
        let (url, _) = mock(StatusCode::OK, ACCEPTED, Duration::from_secs(3)).await;
        let err = gateway(url, Duration::from_millis(200))
            .send_otp("+989123456789", "123456")
            .await
            .unwrap_err();
        assert!(matches!(err, SmsError::Unreachable(_)), "{err:?}");
    }

    #[tokio::test]
    async fn an_unreachable_provider_is_reported_without_the_api_key() {
        let err = gateway("http://127.0.0.1:9".into(), Duration::from_secs(1))
            .send_otp("+989123456789", "123456")
            .await
            .unwrap_err();
        assert!(
            matches!(err, SmsError::Unreachable(ref m) if !m.contains("TEST-KEY")),
            "{err:?}"
        );
    }
}
