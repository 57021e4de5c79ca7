//! Error reporting (issue 14): when `SENTRY_DSN` is set, every panic and every 5xx response
//! (503, the designed "try again" answer, excepted) is sent to Sentry as an envelope
//! (<https://develop.sentry.dev/sdk/envelopes/>) over the HTTP client the providers use; no
//! Sentry SDK in the tree.
//!
//! An event carries the method, the path with ids and long numbers replaced, the status, the
//! request id, the release and the environment, and for a panic its message and location. It
//! never carries headers, bodies, query strings or user ids; the panic message is scrubbed:
//! every configured secret, anything shaped like a token (a JWT, a long key), and every run of
//! seven or more digits (phone numbers) is replaced.

use std::fmt;
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use blu_app::Secret;
use serde_json::{Value, json};

use crate::config::Config;

/// A parsed DSN: `{scheme}://{public_key}@{host}[:{port}]/[{path}/]{project_id}`.
#[derive(Clone, PartialEq, Eq)]
pub struct Dsn {
    public_key: Secret,
    /// `{scheme}://{host}[:{port}]/[{path}/]api/{project_id}/envelope/`
    envelope_url: String,
}

impl fmt::Debug for Dsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Dsn({}, key [redacted])", self.envelope_url)
    }
}

impl Dsn {
    pub fn parse(text: &str) -> anyhow::Result<Dsn> {
        let text = text.trim();
        let (scheme, rest) = text.split_once("://").context("no scheme")?;
        if scheme != "http" && scheme != "https" {
            bail!("the scheme must be http or https");
        }
        let (credentials, location) = rest.split_once('@').context("no public key")?;
        let public_key = credentials.split(':').next().unwrap_or_default();
        let (host, path) = location.split_once('/').context("no project id")?;
        let path = path.trim_end_matches('/');
        let (prefix, project) = match path.rsplit_once('/') {
            Some((prefix, project)) => (format!("{prefix}/"), project),
            None => (String::new(), path),
        };
        if public_key.is_empty() || host.is_empty() || project.is_empty() {
            bail!("the public key, host and project id must not be empty");
        }
        Ok(Dsn {
            public_key: Secret::new(public_key),
            envelope_url: format!("{scheme}://{host}/{prefix}api/{project}/envelope/"),
        })
    }

    pub fn envelope_url(&self) -> &str {
        &self.envelope_url
    }
}

/// Replaces secrets, tokens and phone numbers in free text.
#[derive(Clone, Debug, Default)]
pub struct Scrubber {
    secrets: Vec<Secret>,
}

impl Scrubber {
    /// Every secret the configuration holds (short ones are caught by the token rules).
    pub fn from_config(config: &Config) -> Scrubber {
        let mut secrets = vec![
            config.jwt_access_secret.clone(),
            config.jwt_refresh_secret.clone(),
            config.otp_key.clone(),
        ];
        secrets.extend(
            [
                &config.admin_token,
                &config.metrics_token,
                &config.coingecko_api_key,
                &config.finnhub_api_key,
                &config.fcm_server_key,
            ]
            .into_iter()
            .flatten()
            .cloned(),
        );
        if let crate::config::SmsProvider::Kavenegar { api_key, .. } = &config.sms {
            secrets.push(api_key.clone());
        }
        if let Some(dsn) = &config.sentry_dsn {
            secrets.push(dsn.public_key.clone());
        }
        for url in [
            &config.database_url,
            &config.database_replica_url,
            &config.redis_url,
        ]
        .into_iter()
        .flatten()
        {
            secrets.push(Secret::new(url.clone()));
            if let Some(password) = url_password(url) {
                secrets.push(Secret::new(password));
            }
        }
        Scrubber::new(secrets)
    }

    pub fn new(secrets: Vec<Secret>) -> Scrubber {
        let mut secrets: Vec<Secret> = secrets
            .into_iter()
            .filter(|s| s.expose().len() >= 4)
            .collect();
        // Longest first, so a secret containing another is replaced whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.expose().len()));
        Scrubber { secrets }
    }

    pub fn scrub(&self, text: &str) -> String {
        let mut text = text.to_owned();
        for secret in &self.secrets {
            text = text.replace(secret.expose(), "[secret]");
        }
        scrub_tokens(&text)
    }
}

fn url_password(url: &str) -> Option<String> {
    let (_, rest) = url.split_once("://")?;
    let authority = rest.split('/').next()?;
    let (credentials, _) = authority.rsplit_once('@')?;
    let (_, password) = credentials.split_once(':')?;
    (!password.is_empty()).then(|| password.to_owned())
}

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '+' | '/' | '=' | '~')
}

/// Per word (a run of token characters): a JWT or a word of 32+ characters mixing letters and
/// digits is a token; 7+ consecutive digits are a phone number (or an account number).
fn scrub_tokens(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        if word.is_empty() {
            return;
        }
        let has_letter = word.chars().any(|c| c.is_ascii_alphabetic());
        let has_digit = word.chars().any(|c| c.is_ascii_digit());
        if word.contains("eyJ") || (word.len() >= 32 && has_letter && has_digit) {
            out.push_str("[token]");
        } else {
            out.push_str(&mask_digit_runs(word));
        }
        word.clear();
    };
    for c in text.chars() {
        if is_word_char(c) {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

fn mask_digit_runs(word: &str) -> String {
    let mut out = String::with_capacity(word.len());
    let mut digits = String::new();
    let end_run = |digits: &mut String, out: &mut String| {
        if digits.len() >= 7 {
            if out.ends_with('+') {
                out.pop();
            }
            out.push_str("[number]");
        } else {
            out.push_str(digits);
        }
        digits.clear();
    };
    for c in word.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
        } else {
            end_run(&mut digits, &mut out);
            out.push(c);
        }
    }
    end_run(&mut digits, &mut out);
    out
}

/// The path with every segment that could identify a person or a record replaced: UUIDs by
/// `{id}`, segments with four or more digits by `{n}`, anything else long by `{value}`.
pub fn sanitize_path(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            if uuid::Uuid::parse_str(segment).is_ok() {
                "{id}"
            } else if segment.chars().filter(char::is_ascii_digit).count() >= 4 {
                "{n}"
            } else if segment.len() > 40 {
                "{value}"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Sends events to one DSN.
pub struct Reporter {
    dsn: Dsn,
    client: reqwest::Client,
    environment: &'static str,
    release: String,
    scrubber: Scrubber,
}

/// What happened, before it becomes an event.
#[derive(Clone, Debug, Default)]
pub struct Incident {
    /// Panic message and location (scrubbed on the way out).
    pub panic: Option<String>,
    pub method: Option<String>,
    pub path: Option<String>,
    pub status: Option<u16>,
    pub request_id: Option<String>,
}

impl Reporter {
    pub fn from_config(config: &Config) -> Option<Arc<Reporter>> {
        let dsn = config.sentry_dsn.clone()?;
        Some(Arc::new(Reporter {
            dsn,
            client: blu_integrations::http::client(Duration::from_secs(5)),
            environment: if config.is_production() {
                "production"
            } else {
                "development"
            },
            release: format!("blu@{}", env!("CARGO_PKG_VERSION")),
            scrubber: Scrubber::from_config(config),
        }))
    }

    /// The event JSON (Sentry event payload).
    pub fn event(&self, event_id: &str, incident: &Incident) -> Value {
        let scrub = |s: &str| self.scrubber.scrub(s);
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64();
        let mut tags = serde_json::Map::new();
        let mut event = json!({
            "event_id": event_id,
            "timestamp": timestamp,
            "platform": "native",
            "logger": "blu",
            "release": self.release,
            "environment": self.environment,
        });
        if let (Some(method), Some(path)) = (&incident.method, &incident.path) {
            let path = scrub(path);
            tags.insert("method".into(), json!(method));
            tags.insert("route".into(), json!(path));
            event["request"] = json!({ "method": method, "url": path });
            event["transaction"] = json!(format!("{method} {path}"));
        }
        if let Some(status) = incident.status {
            tags.insert("status".into(), json!(status.to_string()));
        }
        if let Some(id) = &incident.request_id {
            tags.insert("request_id".into(), json!(scrub(id)));
        }
        match &incident.panic {
            Some(message) => {
                let message = scrub(message);
                event["level"] = json!("fatal");
                event["message"] = json!({ "formatted": format!("panic: {message}") });
                event["exception"] = json!({ "values": [{
                    "type": "panic",
                    "value": message,
                    "mechanism": { "type": "panic", "handled": false },
                }]});
            }
            None => {
                let status = incident.status.unwrap_or(500);
                event["level"] = json!("error");
                event["message"] = json!({ "formatted": format!(
                    "HTTP {status} on {}",
                    event["transaction"].as_str().unwrap_or("a request")
                )});
            }
        }
        event["tags"] = Value::Object(tags);
        event
    }

    /// The envelope body: header line, item header line, event line.
    pub fn envelope(&self, incident: &Incident) -> String {
        let event_id = uuid::Uuid::new_v4().simple().to_string();
        let payload = self.event(&event_id, incident).to_string();
        let sent_at = chrono_like_now();
        let header = json!({ "event_id": event_id, "sent_at": sent_at });
        let item =
            json!({ "type": "event", "length": payload.len(), "content_type": "application/json" });
        format!("{header}\n{item}\n{payload}\n")
    }

    /// Sends in the background (never blocks or fails the request).
    pub fn send(self: &Arc<Self>, incident: Incident) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let reporter = self.clone();
        runtime.spawn(async move {
            let body = reporter.envelope(&incident);
            let auth = format!(
                "Sentry sentry_version=7, sentry_client=blu/{}, sentry_key={}",
                env!("CARGO_PKG_VERSION"),
                reporter.dsn.public_key.expose()
            );
            let result = reporter
                .client
                .post(reporter.dsn.envelope_url())
                .header("content-type", "application/x-sentry-envelope")
                .header("x-sentry-auth", auth)
                .body(body)
                .send()
                .await;
            match result {
                Ok(response) if response.status().is_success() => {}
                Ok(response) => {
                    tracing::warn!(status = response.status().as_u16(), "error report refused")
                }
                Err(e) => tracing::warn!(error = %e.without_url(), "error report not sent"),
            }
        });
    }
}

/// RFC 3339 UTC "now" without a date crate in this binary.
fn chrono_like_now() -> String {
    blu_domain::Timestamp::from_micros(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_micros() as i64)
            .unwrap_or_default(),
    )
    .to_rfc3339_millis()
}

/// The request being served on this task, so the panic hook can attach a panic to it.
#[derive(Clone, Default)]
struct RequestScope {
    panic: Arc<Mutex<Option<String>>>,
}

tokio::task_local! {
    static CURRENT: RequestScope;
}

/// The reporter of panics outside any request (jobs, background tasks).
fn process_reporter() -> &'static RwLock<Option<Arc<Reporter>>> {
    static REPORTER: OnceLock<RwLock<Option<Arc<Reporter>>>> = OnceLock::new();
    REPORTER.get_or_init(|| RwLock::new(None))
}

/// Installs the panic hook once per process (it keeps the previous hook, which prints the
/// panic) and makes `reporter` the one for panics outside requests.
pub fn install(reporter: Option<Arc<Reporter>>) {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let payload = info.payload();
            let text = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "panic".to_owned());
            let message = match info.location() {
                Some(at) => format!("{text} (at {}:{})", at.file(), at.line()),
                None => text,
            };
            // In a request: the middleware reports it with the request's context.
            let in_request = CURRENT
                .try_with(|scope| {
                    if let Ok(mut slot) = scope.panic.lock() {
                        *slot = Some(message.clone());
                    }
                })
                .is_ok();
            // In a unit of work (a task of its own): the API carries it to the 500, which the
            // middleware reports. Anywhere else (jobs, background tasks): reported alone.
            if !in_request && !blu_api::middleware::record_unit_of_work_panic(&message) {
                let reporter = process_reporter().read().ok().and_then(|r| r.clone());
                if let Some(reporter) = reporter {
                    reporter.send(Incident {
                        panic: Some(message),
                        ..Incident::default()
                    });
                }
            }
            previous(info);
        }));
    });
    if reporter.is_some()
        && let Ok(mut slot) = process_reporter().write()
    {
        *slot = reporter;
    }
}

/// Middleware around the whole service: reports panics (caught inside as a 500) and 5xx
/// responses other than 503.
pub async fn report(
    State(reporter): State<Option<Arc<Reporter>>>,
    req: Request,
    next: Next,
) -> Response {
    let scope = RequestScope::default();
    // Scoped even without a reporter: a panic here belongs to this server, not to the process
    // reporter (several servers share a test process).
    let Some(reporter) = reporter else {
        return CURRENT.scope(scope, next.run(req)).await;
    };
    let method = req.method().to_string();
    let path = sanitize_path(req.uri().path());
    let response = CURRENT.scope(scope.clone(), next.run(req)).await;
    let status = response.status();
    // An inline panic was recorded in this request's scope; one in a unit of work's task
    // comes back on the 500 itself.
    let panic = scope
        .panic
        .lock()
        .ok()
        .and_then(|mut p| p.take())
        .or_else(|| {
            response
                .extensions()
                .get::<blu_api::middleware::PanicMessage>()
                .map(|p| p.0.clone())
        });
    if panic.is_some() || (status.is_server_error() && status != StatusCode::SERVICE_UNAVAILABLE) {
        reporter.send(Incident {
            panic,
            method: Some(method),
            path: Some(path),
            status: Some(status.as_u16()),
            request_id: response
                .headers()
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        });
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dsn_gives_the_envelope_endpoint_and_keeps_its_key_out_of_debug() {
        let dsn = Dsn::parse("https://abc123@o1.ingest.example.com/42").unwrap();
        assert_eq!(
            dsn.envelope_url(),
            "https://o1.ingest.example.com/api/42/envelope/"
        );
        assert!(!format!("{dsn:?}").contains("abc123"));
        let with_path = Dsn::parse("http://key:legacy@127.0.0.1:9000/sentry/7").unwrap();
        assert_eq!(
            with_path.envelope_url(),
            "http://127.0.0.1:9000/sentry/api/7/envelope/"
        );
        for bad in [
            "",
            "abc",
            "ftp://k@h/1",
            "https://h/1",
            "https://k@h",
            "https://k@h/",
        ] {
            assert!(Dsn::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn scrubbing_removes_secrets_tokens_and_phone_numbers() {
        let scrubber = Scrubber::new(vec![Secret::new("hunter2-secret")]);
        let text = "user +989123456789 (09123456789) with eyJhbGciOi.eyJzdWIi.sig and key \
                    0123456789abcdef0123456789abcdef01 said hunter2-secret at line 42";
        let scrubbed = scrubber.scrub(text);
        for leaked in ["9123456789", "eyJ", "0123456789abcdef", "hunter2"] {
            assert!(!scrubbed.contains(leaked), "{scrubbed}");
        }
        assert!(scrubbed.contains("at line 42"), "{scrubbed}");
    }

    #[test]
    fn paths_lose_ids_and_numbers() {
        assert_eq!(
            sanitize_path("/api/v1/loans/0193c7a2-8a8e-7c3e-9d4e-1f2a3b4c5d6e/repay"),
            "/api/v1/loans/{id}/repay"
        );
        assert_eq!(
            sanitize_path("/admin/v1/users/+989123456789"),
            "/admin/v1/users/{n}"
        );
    }
}
