//! Operators (issue 15): named accounts with a role, login with a password or a one-time code,
//! sessions that expire, and the audit trail every operator action writes.
//!
//! Session times use real time (like user sessions), never the test clock.

pub mod actor;
pub mod credentials;

use std::sync::Arc;
use std::time::Duration;

use blu_domain::Timestamp;
use serde_json::json;
use uuid::Uuid;

pub use actor::{Actor, BREAK_GLASS_NAME};

use crate::ports::{
    Limit, LoginCode, OperatorRecord, OperatorSession, OperatorStore, OperatorUpdate, RateLimiter,
    Role, StoreError, real_now,
};

/// A session ends this long after login, whatever happens.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(8 * 3600);
/// Or after this long without a request.
pub const SESSION_IDLE: Duration = Duration::from_secs(30 * 60);
/// A one-time code works this long.
pub const CODE_LIFETIME: Duration = Duration::from_secs(24 * 3600);
/// Longest operator name, in characters.
pub const MAX_NAME_CHARS: usize = 64;
/// Activity is recorded at most this often per session.
const TOUCH_EVERY_SECONDS: i64 = 60;
/// Login attempts: per client IP and per operator name, each per 15 minutes.
const LOGIN_IP_LIMIT: u32 = 30;
const LOGIN_NAME_LIMIT: u32 = 10;
const LOGIN_WINDOW: Duration = Duration::from_secs(15 * 60);

#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    /// Unknown operator, wrong password or code, disabled account: one answer for all (401).
    #[error("invalid credentials")]
    InvalidCredentials,
    /// Too many login attempts (429).
    #[error("too many login attempts")]
    RateLimited { retry_after_secs: u64 },
    #[error("operator not found")]
    NotFound,
    #[error("an operator of that name exists")]
    NameTaken,
    /// Bad input naming the field (400).
    #[error("{field} {message}")]
    Invalid {
        field: &'static str,
        message: &'static str,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub type OperatorResult<T> = Result<T, OperatorError>;

fn invalid(field: &'static str, message: &'static str) -> OperatorError {
    OperatorError::Invalid { field, message }
}

/// How a login proves who it is.
pub enum Credential<'a> {
    Password(&'a str),
    Code(&'a str),
}

/// A new session: the token (cookie or bearer) and its CSRF token.
pub struct LoggedIn {
    pub token: String,
    pub csrf_token: String,
    pub operator: OperatorRecord,
    pub expires_at: Timestamp,
}

/// An operator's one-time code, to hand over out of band.
pub struct IssuedCode {
    pub operator: OperatorRecord,
    pub code: String,
    pub expires_at: Timestamp,
}

/// The session behind a token, with its operator.
#[derive(Clone, Debug)]
pub struct Authenticated {
    pub session: OperatorSession,
    pub operator: OperatorRecord,
}

pub struct OperatorService {
    store: Arc<dyn OperatorStore>,
    limiter: Arc<dyn RateLimiter>,
}

/// Names: trimmed, 1–64 characters, no control characters (any script).
pub fn validate_name(name: &str) -> OperatorResult<String> {
    let name = name.trim();
    let chars = name.chars().count();
    if chars == 0 || chars > MAX_NAME_CHARS {
        return Err(invalid("name", "must be 1 to 64 characters"));
    }
    if name.chars().any(char::is_control) {
        return Err(invalid("name", "must not contain control characters"));
    }
    Ok(name.to_owned())
}

fn validate_password(password: &str) -> OperatorResult<()> {
    let chars = password.chars().count();
    if !(credentials::MIN_PASSWORD_CHARS..=credentials::MAX_PASSWORD_CHARS).contains(&chars) {
        return Err(invalid("password", "must be 12 to 256 characters"));
    }
    Ok(())
}

fn plus(t: Timestamp, d: Duration) -> Timestamp {
    t.plus_seconds(d.as_secs() as i64)
}

/// The audit view of an operator (never a credential).
pub fn operator_json(o: &OperatorRecord) -> serde_json::Value {
    json!({ "name": o.name, "role": o.role.as_str(), "disabled": o.disabled })
}

/// Argon2 is CPU work of tens of milliseconds: off the async workers.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f)
        .await
        .expect("a password hash task does not panic")
}

impl OperatorService {
    pub fn new(store: Arc<dyn OperatorStore>, limiter: Arc<dyn RateLimiter>) -> OperatorService {
        OperatorService { store, limiter }
    }

    pub fn store(&self) -> &Arc<dyn OperatorStore> {
        &self.store
    }

    fn new_code(&self, operator_id: Uuid, now: Timestamp) -> (String, LoginCode) {
        let code = credentials::new_code();
        let record = LoginCode {
            operator_id,
            code_hash: credentials::code_hash(&code),
            expires_at: plus(now, CODE_LIFETIME),
            created_at: now,
        };
        (code, record)
    }

    /// Adds an operator with a one-time code for the first login (or a password, from the
    /// command line).
    pub async fn add(
        &self,
        actor: &Actor,
        name: &str,
        role: Role,
        password: Option<String>,
    ) -> OperatorResult<IssuedCode> {
        let name = validate_name(name)?;
        if let Some(p) = &password {
            validate_password(p)?;
        }
        let now = real_now();
        let password_hash = match password {
            Some(p) => Some(blocking(move || credentials::hash_password(&p)).await),
            None => None,
        };
        let operator = OperatorRecord {
            id: Uuid::now_v7(),
            name,
            role,
            password_hash,
            disabled: false,
            created_at: now,
        };
        let (code, record) = self.new_code(operator.id, now);
        let audit = actor
            .audit("operator.add")
            .with_target(operator.name.clone())
            .with_after(Some(operator_json(&operator)));
        match self
            .store
            .create_operator(&operator, Some(&record), &audit)
            .await
        {
            Err(StoreError::Conflict(_)) => Err(OperatorError::NameTaken),
            other => other.map_err(OperatorError::from),
        }?;
        Ok(IssuedCode {
            operator,
            code,
            expires_at: record.expires_at,
        })
    }

    async fn existing(&self, name: &str) -> OperatorResult<OperatorRecord> {
        let name = validate_name(name).map_err(|_| OperatorError::NotFound)?;
        self.store
            .operator_by_name(&name)
            .await?
            .ok_or(OperatorError::NotFound)
    }

    /// A new one-time code for an operator (a forgotten password; older codes stop working).
    pub async fn issue_code(&self, actor: &Actor, name: &str) -> OperatorResult<IssuedCode> {
        let operator = self.existing(name).await?;
        let now = real_now();
        let (code, record) = self.new_code(operator.id, now);
        let audit = actor
            .audit("operator.code")
            .with_target(operator.name.clone());
        self.store.add_login_code(&record, &audit).await?;
        Ok(IssuedCode {
            operator,
            code,
            expires_at: record.expires_at,
        })
    }

    /// Changes an operator's role or enables/disables the account. An operator cannot demote
    /// or disable themselves (so the last admin cannot lock everyone out by mistake).
    pub async fn update(
        &self,
        actor: &Actor,
        name: &str,
        role: Option<Role>,
        disabled: Option<bool>,
    ) -> OperatorResult<OperatorRecord> {
        let before = self.existing(name).await?;
        if actor.operator_id == Some(before.id)
            && (role.is_some_and(|r| r != before.role) || disabled == Some(true))
        {
            return Err(invalid(
                "name",
                "cannot change your own role or disable your own account",
            ));
        }
        let mut after = before.clone();
        after.role = role.unwrap_or(before.role);
        after.disabled = disabled.unwrap_or(before.disabled);
        let audit = actor
            .audit("operator.update")
            .with_target(before.name.clone())
            .with_before(Some(operator_json(&before)))
            .with_after(Some(operator_json(&after)));
        let update = OperatorUpdate {
            role,
            disabled,
            password_hash: None,
        };
        if !self
            .store
            .update_operator(before.id, &update, real_now(), &audit)
            .await?
        {
            return Err(OperatorError::NotFound);
        }
        Ok(after)
    }

    pub async fn list(&self) -> OperatorResult<Vec<OperatorRecord>> {
        Ok(self.store.operators().await?)
    }

    async fn limit_login(&self, name: &str, ip: Option<&str>) -> OperatorResult<()> {
        let mut limits = vec![Limit {
            key: format!("operator-login:name:{}", name.to_lowercase()),
            max: LOGIN_NAME_LIMIT,
            window: LOGIN_WINDOW,
        }];
        if let Some(ip) = ip {
            limits.push(Limit {
                key: format!("operator-login:ip:{ip}"),
                max: LOGIN_IP_LIMIT,
                window: LOGIN_WINDOW,
            });
        }
        let decision = self.limiter.hit(&limits).await.map_err(|e| {
            tracing::error!(error = %e, "rate limiter unavailable");
            OperatorError::Store(StoreError::Unavailable("rate limiter".into()))
        })?;
        if decision.allowed {
            Ok(())
        } else {
            Err(OperatorError::RateLimited {
                retry_after_secs: decision.retry_after_secs.max(1),
            })
        }
    }

    /// Logs an operator in. Every outcome is audited; a failure says nothing about why.
    pub async fn login(
        &self,
        name: &str,
        credential: Credential<'_>,
        request_id: Option<String>,
        ip: Option<String>,
    ) -> OperatorResult<LoggedIn> {
        // As typed, less what no name can hold (control characters never reach the database).
        let name: String = name
            .trim()
            .chars()
            .filter(|c| !c.is_control())
            .take(MAX_NAME_CHARS)
            .collect();
        self.limit_login(&name, ip.as_deref()).await?;
        let operator = self.store.operator_by_name(&name).await?;
        let attempt = Actor {
            name: name.clone(),
            kind: crate::ports::ActorKind::Operator,
            role: operator.as_ref().map_or(Role::Viewer, |o| o.role),
            operator_id: operator.as_ref().map(|o| o.id),
            session_id: None,
            request_id,
            ip,
        };
        let method = match credential {
            Credential::Password(_) => "password",
            Credential::Code(_) => "code",
        };
        let now = real_now();
        let (token, token_hash) = credentials::new_token();
        let session = operator.as_ref().map(|o| OperatorSession {
            id: Uuid::now_v7(),
            operator_id: o.id,
            token_hash,
            created_at: now,
            expires_at: plus(now, SESSION_LIFETIME),
            last_seen_at: now,
        });
        let accepted = match (&operator, &session) {
            (Some(o), Some(session)) if !o.disabled => match credential {
                Credential::Password(password) => {
                    let phc = o
                        .password_hash
                        .clone()
                        .unwrap_or_else(|| credentials::decoy_hash().to_owned());
                    let password = password.to_owned();
                    blocking(move || credentials::verify_password(&password, &phc)).await
                        && self.open(&attempt, session, None, method).await?
                }
                Credential::Code(code) => {
                    let hash = credentials::code_hash(code);
                    self.open(&attempt, session, Some(&hash), method).await?
                }
            },
            _ => {
                if let Credential::Password(password) = credential {
                    // As long as a real check, so timing does not tell which names exist.
                    let password = password.to_owned();
                    blocking(move || {
                        credentials::verify_password(&password, credentials::decoy_hash())
                    })
                    .await;
                }
                false
            }
        };
        match (accepted, operator, session) {
            (true, Some(operator), Some(session)) => Ok(LoggedIn {
                csrf_token: credentials::csrf_token(&token),
                token,
                operator,
                expires_at: session.expires_at,
            }),
            _ => {
                let refusal = attempt
                    .refusal("operator.login")
                    .with_after(Some(json!({ "method": method })));
                self.store.append_audit(&refusal).await?;
                Err(OperatorError::InvalidCredentials)
            }
        }
    }

    async fn open(
        &self,
        attempt: &Actor,
        session: &OperatorSession,
        code_hash: Option<&str>,
        method: &str,
    ) -> OperatorResult<bool> {
        let audit = Actor {
            session_id: Some(session.id),
            ..attempt.clone()
        }
        .audit("operator.login")
        .with_after(Some(json!({ "method": method, "session": session.id })));
        Ok(self.store.open_session(session, code_hash, &audit).await?)
    }

    /// The live session of a token: unrevoked, within its lifetime and idle limit, of an
    /// enabled operator.
    pub async fn authenticate(&self, token: &str) -> OperatorResult<Option<Authenticated>> {
        if !token.starts_with(credentials::TOKEN_PREFIX) {
            return Ok(None);
        }
        let now = real_now();
        let Some((session, operator)) = self
            .store
            .session(&credentials::token_hash(token), now)
            .await?
        else {
            return Ok(None);
        };
        if plus(session.last_seen_at, SESSION_IDLE) < now {
            return Ok(None);
        }
        if now.micros_since(session.last_seen_at) > TOUCH_EVERY_SECONDS * 1_000_000 {
            self.store.touch_session(session.id, now).await?;
        }
        Ok(Some(Authenticated { session, operator }))
    }

    /// Ends the actor's session.
    pub async fn logout(&self, actor: &Actor) -> OperatorResult<()> {
        let Some(session) = actor.session_id else {
            return Ok(());
        };
        let audit = actor
            .audit("operator.logout")
            .with_after(Some(json!({ "session": session })));
        Ok(self
            .store
            .revoke_session(session, real_now(), &audit)
            .await?)
    }

    /// Sets the actor's own password; with an existing one, `current` must match it.
    pub async fn set_password(
        &self,
        actor: &Actor,
        current: Option<String>,
        new: String,
    ) -> OperatorResult<()> {
        validate_password(&new)?;
        let operator = self.existing(&actor.name).await?;
        if actor.operator_id != Some(operator.id) {
            return Err(invalid("name", "only operators have passwords"));
        }
        if let Some(phc) = operator.password_hash.clone() {
            let current = current.unwrap_or_default();
            if !blocking(move || credentials::verify_password(&current, &phc)).await {
                return Err(invalid("currentPassword", "does not match"));
            }
        }
        let hash = blocking(move || credentials::hash_password(&new)).await;
        let audit = actor.audit("operator.password").with_target(operator.name);
        let update = OperatorUpdate {
            password_hash: Some(hash),
            ..OperatorUpdate::default()
        };
        self.store
            .update_operator(operator.id, &update, real_now(), &audit)
            .await?;
        Ok(())
    }
}
