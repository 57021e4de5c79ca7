//! FCM HTTP v1 (`projects/{id}/messages:send`) with OAuth2 access tokens obtained from a
//! service account: an RS256-signed JWT assertion exchanged at the token endpoint, cached until
//! shortly before it expires. The legacy server-key API is shut down, so it is not offered.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use blu_app::Secret;
use blu_app::ports::{PushError, PushMessage, PushSender};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::Mutex;

const SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";

/// The fields of a Google service-account JSON file that FCM needs.
#[derive(Clone, Deserialize)]
pub struct ServiceAccount {
    pub project_id: String,
    pub client_email: String,
    pub private_key: Secret,
    #[serde(default = "default_token_uri")]
    pub token_uri: String,
}

impl std::fmt::Debug for ServiceAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceAccount")
            .field("project_id", &self.project_id)
            .finish_non_exhaustive()
    }
}

fn default_token_uri() -> String {
    "https://oauth2.googleapis.com/token".to_owned()
}

#[derive(Clone, Debug)]
pub struct FcmConfig {
    pub account: ServiceAccount,
    /// `https://fcm.googleapis.com` in production; a local mock in tests.
    pub api_base_url: String,
    pub timeout: Duration,
}

impl FcmConfig {
    /// Reads a service-account JSON document (the file's contents).
    pub fn from_service_account_json(json: &str) -> anyhow::Result<FcmConfig> {
        let account: ServiceAccount = serde_json::from_str(json).map_err(|e| {
            anyhow::anyhow!("not a service-account JSON document: {}", e.classify_name())
        })?;
        Ok(FcmConfig {
            account,
            api_base_url: "https://fcm.googleapis.com".to_owned(),
            timeout: Duration::from_secs(5),
        })
    }
}

trait ClassifyName {
    fn classify_name(&self) -> &'static str;
}

impl ClassifyName for serde_json::Error {
    /// The error category only: the document holds a private key, so no excerpt is printed.
    fn classify_name(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "io",
            serde_json::error::Category::Syntax => "syntax error",
            serde_json::error::Category::Data => "missing or wrong fields",
            serde_json::error::Category::Eof => "truncated",
        }
    }
}

struct CachedToken {
    value: String,
    expires_at: SystemTime,
}

pub struct FcmSender {
    config: FcmConfig,
    key: jsonwebtoken::EncodingKey,
    client: reqwest::Client,
    token: Mutex<Option<CachedToken>>,
}

#[derive(Serialize)]
struct Assertion<'a> {
    iss: &'a str,
    scope: &'a str,
    aud: &'a str,
    iat: u64,
    exp: u64,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    expires_in: u64,
}

impl FcmSender {
    pub fn new(config: FcmConfig) -> anyhow::Result<FcmSender> {
        let key =
            jsonwebtoken::EncodingKey::from_rsa_pem(config.account.private_key.expose().as_bytes())
                .map_err(|_| {
                    anyhow::anyhow!("the service account's private_key is not an RSA PEM key")
                })?;
        let client = crate::http::client(config.timeout);
        Ok(FcmSender {
            config,
            key,
            client,
            token: Mutex::new(None),
        })
    }

    /// A valid OAuth2 access token, refreshed a minute before it expires.
    async fn access_token(&self) -> Result<String, PushError> {
        let mut cached = self.token.lock().await;
        let now = SystemTime::now();
        if let Some(token) = cached
            .as_ref()
            .filter(|t| t.expires_at > now + Duration::from_secs(60))
        {
            return Ok(token.value.clone());
        }
        let iat = now
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let account = &self.config.account;
        let assertion = jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
            &Assertion {
                iss: &account.client_email,
                scope: SCOPE,
                aud: &account.token_uri,
                iat,
                exp: iat + 3600,
            },
            &self.key,
        )
        .map_err(|e| PushError::Rejected(format!("signing the token request failed: {e}")))?;
        let response = self
            .client
            .post(&account.token_uri)
            .form(&[
                ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                ("assertion", assertion.as_str()),
            ])
            .send()
            .await
            .map_err(|e| PushError::Unavailable(e.without_url().to_string()))?;
        let status = response.status();
        if !status.is_success() {
            let failure = format!("token endpoint answered {status}");
            return Err(if status.is_server_error() {
                PushError::Unavailable(failure)
            } else {
                PushError::Rejected(failure)
            });
        }
        let token: TokenResponse = response
            .json()
            .await
            .map_err(|_| PushError::Unavailable("unreadable token response".to_owned()))?;
        let value = token.access_token.clone();
        *cached = Some(CachedToken {
            value: token.access_token,
            expires_at: now + Duration::from_secs(token.expires_in),
        });
        Ok(value)
    }
}

/// The FCM error code inside `error.details[].errorCode`, when present.
fn fcm_error_code(body: &Value) -> Option<&str> {
    body["error"]["details"]
        .as_array()?
        .iter()
        .find_map(|d| d["errorCode"].as_str())
}

#[async_trait]
impl PushSender for FcmSender {
    async fn send(&self, message: &PushMessage) -> Result<(), PushError> {
        let token = self.access_token().await?;
        let url = format!(
            "{}/v1/projects/{}/messages:send",
            self.config.api_base_url.trim_end_matches('/'),
            self.config.account.project_id
        );
        let body = json!({
            "message": {
                "token": message.device_token,
                "notification": { "title": message.title, "body": message.body },
                "data": message.data,
            }
        });
        let response = self
            .client
            .post(url)
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .map_err(|e| PushError::Unavailable(e.without_url().to_string()))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let details: Value = response.json().await.unwrap_or(Value::Null);
        let code = fcm_error_code(&details).unwrap_or("");
        if status.as_u16() == 401 {
            // An expired or revoked access token: drop it so the next send fetches a new one.
            *self.token.lock().await = None;
        }
        Err(match (status.as_u16(), code) {
            (_, "UNREGISTERED") | (404, _) => PushError::Unregistered,
            (429 | 500..=599, _)
            | (_, "QUOTA_EXCEEDED" | "UNAVAILABLE" | "INTERNAL")
            | (401, _) => PushError::Unavailable(format!("fcm answered {status} {code}")),
            _ => PushError::Rejected(format!("fcm answered {status} {code}")),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex as StdMutex};

    use axum::extract::State;
    use axum::http::{HeaderMap, StatusCode};
    use axum::routing::post;

    use super::*;

    /// A throwaway RSA key made for these tests only.
    const TEST_KEY: &str = include_str!("test_rsa_key.pem");

    #[derive(Default)]
    struct Seen {
        token_requests: usize,
        sends: Vec<(String, Value)>,
    }

    type Shared = Arc<StdMutex<Seen>>;

    /// Local stand-ins for Google's token endpoint and the FCM v1 API with their real shapes.
    async fn mock(send_status: StatusCode, send_body: Value) -> (String, Shared) {
        let seen: Shared = Arc::default();
        let app = axum::Router::new()
            .route(
                "/token",
                post(|State(seen): State<Shared>, body: String| async move {
                    assert!(body.contains("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer"));
                    seen.lock().unwrap().token_requests += 1;
                    axum::Json(json!({ "access_token": "ya29.test-token", "expires_in": 3599, "token_type": "Bearer" }))
                }),
            )
            .route(
                "/v1/projects/blu-test/messages:send",
                post(move |State(seen): State<Shared>, headers: HeaderMap, axum::Json(body): axum::Json<Value>| {
                    let send_body = send_body.clone();
                    async move {
                        let auth = headers["authorization"].to_str().unwrap().to_owned();
                        seen.lock().unwrap().sends.push((auth, body));
                        (send_status, axum::Json(send_body))
                    }
                }),
            )
            .with_state(seen.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (format!("http://{addr}"), seen)
    }

    fn sender(base: &str) -> FcmSender {
        let account = json!({
            "type": "service_account",
            "project_id": "blu-test",
            "client_email": "push@blu-test.iam.gserviceaccount.com",
            "private_key": TEST_KEY,
            "token_uri": format!("{base}/token"),
        });
        let mut config = FcmConfig::from_service_account_json(&account.to_string()).unwrap();
        config.api_base_url = base.to_owned();
        FcmSender::new(config).unwrap()
    }

    fn message() -> PushMessage {
        PushMessage {
            device_token: "device-token-1".into(),
            title: "Loan installment".into(),
            body: "Installment 2 of 6 is due on 2026-02-19.".into(),
            data: [("loanId".to_owned(), "9b2e".to_owned())].into(),
        }
    }

    #[tokio::test]
    async fn a_notification_is_sent_with_a_cached_oauth_token() {
        let (base, seen) = mock(
            StatusCode::OK,
            json!({ "name": "projects/blu-test/messages/0:1" }),
        )
        .await;
        let fcm = sender(&base);
        fcm.send(&message()).await.unwrap();
        fcm.send(&message()).await.unwrap();
        let seen = seen.lock().unwrap();
        assert_eq!(
            seen.token_requests, 1,
            "the access token is reused until it nears expiry"
        );
        assert_eq!(seen.sends.len(), 2);
        assert_eq!(seen.sends[0].0, "Bearer ya29.test-token");
        assert_eq!(seen.sends[0].1["message"]["token"], "device-token-1");
        assert_eq!(
            seen.sends[0].1["message"]["notification"]["title"],
            "Loan installment"
        );
        assert_eq!(seen.sends[0].1["message"]["data"]["loanId"], "9b2e");
    }

    #[tokio::test]
    async fn an_unregistered_token_is_reported_so_it_can_be_cleared() {
        let body = json!({"error":{"code":404,"message":"Requested entity was not found.","status":"NOT_FOUND",
            "details":[{"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":"UNREGISTERED"}]}});
        let (base, _) = mock(StatusCode::NOT_FOUND, body).await;
        assert!(matches!(
            sender(&base).send(&message()).await,
            Err(PushError::Unregistered)
        ));
    }

    #[tokio::test]
    async fn quota_and_server_errors_are_retryable_and_bad_requests_are_not() {
        let quota = json!({"error":{"code":429,"message":"Quota exceeded","status":"RESOURCE_EXHAUSTED",
            "details":[{"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":"QUOTA_EXCEEDED"}]}});
        let (base, _) = mock(StatusCode::TOO_MANY_REQUESTS, quota).await;
        assert!(matches!(
            sender(&base).send(&message()).await,
            Err(PushError::Unavailable(_))
        ));
        let invalid = json!({"error":{"code":400,"message":"Invalid value","status":"INVALID_ARGUMENT",
            "details":[{"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":"INVALID_ARGUMENT"}]}});
        let (base, _) = mock(StatusCode::BAD_REQUEST, invalid).await;
        assert!(matches!(
            sender(&base).send(&message()).await,
            Err(PushError::Rejected(_))
        ));
    }

    #[test]
    fn a_malformed_service_account_is_refused_without_echoing_it() {
        let err = FcmConfig::from_service_account_json(r#"{"private_key":"-----BEGIN secret"}"#)
            .unwrap_err();
        assert!(!err.to_string().contains("secret"));
    }
}
