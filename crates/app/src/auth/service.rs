//! The authentication use cases (D31–D33). Access tokens are verified once per request
//! (`verify_access`) and their session checked against the in-memory session cache
//! (`session_context`, issue 12), which a revocation on any instance invalidates.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use blu_domain::Timestamp;
use uuid::Uuid;

use super::biometric::{
    CHALLENGE_TTL, challenge_bytes, challenge_hash, is_valid_device_id, new_challenge,
    parse_public_key, signature_matches,
};
use super::otp::{code_hash, code_matches, generate_code, is_valid_phone, is_well_formed_code};
use super::sessions::{Lookup, SessionCache, Verdict};
use super::tokens::{AccessClaims, RefreshClaims, TokenError, TokenKeys, token_hash};
use crate::ports::{
    Clock, Limit, NewSession, OtpRecord, RateLimiter, Revocation, Revocations, SessionRecord,
    SessionRotation, SmsGateway, Store, StoreError, real_now,
};
use crate::secret::{Secret, mask_phone};

/// Tunables of authentication; the defaults are the decisions' numbers.
#[derive(Clone, Debug)]
pub struct AuthSettings {
    pub access_secret: Secret,
    pub refresh_secret: Secret,
    /// Key of the OTP HMAC (derived from configuration; never the JWT secrets).
    pub otp_key: Secret,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    pub otp_ttl: Duration,
    pub otp_max_attempts: i32,
    /// Window after a rotation in which the retired refresh token still works (D32).
    pub refresh_grace: Duration,
    /// Per-phone send limits: (max, window) pairs (D31: 3 per 5 minutes, 30 per hour).
    pub otp_phone_limits: Vec<(u32, Duration)>,
    /// Per-IP send limit (api.md §1.12: 60 per hour).
    pub otp_ip_limit: (u32, Duration),
    /// Device-key login requests (both steps) per device and per IP.
    pub biometric_device_limit: (u32, Duration),
    pub biometric_ip_limit: (u32, Duration),
}

impl AuthSettings {
    pub fn with_secrets(access: Secret, refresh: Secret, otp_key: Secret) -> AuthSettings {
        AuthSettings {
            access_secret: access,
            refresh_secret: refresh,
            otp_key,
            access_ttl: Duration::from_secs(15 * 60),
            refresh_ttl: Duration::from_secs(7 * 24 * 3600),
            otp_ttl: Duration::from_secs(120),
            otp_max_attempts: 3,
            refresh_grace: Duration::from_secs(10),
            otp_phone_limits: vec![
                (3, Duration::from_secs(300)),
                (30, Duration::from_secs(3600)),
            ],
            otp_ip_limit: (60, Duration::from_secs(3600)),
            biometric_device_limit: (10, Duration::from_secs(300)),
            biometric_ip_limit: (60, Duration::from_secs(3600)),
        }
    }
}

/// Why an authentication step failed. The API maps each to its code and status.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("{field} {message}")]
    Invalid {
        field: &'static str,
        message: &'static str,
    },
    #[error("too many requests")]
    RateLimited {
        scope: &'static str,
        retry_after_secs: u64,
    },
    #[error("the code has expired or was replaced")]
    OtpExpired,
    #[error("the code is not correct")]
    OtpInvalid { attempts_remaining: i32 },
    #[error("too many wrong codes")]
    OtpMaxAttempts,
    #[error("authentication required")]
    Unauthorized,
    #[error("token expired")]
    TokenExpired,
    #[error("session revoked")]
    SessionRevoked,
    #[error("refresh token reused")]
    RefreshTokenReused,
    /// Unknown device, used or expired challenge, or a signature that does not verify.
    #[error("device-key login refused")]
    BiometricInvalid,
    #[error("sms unavailable")]
    SmsUnavailable,
    #[error("rate limiter unavailable")]
    LimiterUnavailable,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Who is calling, established from an access token and a live session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthContext {
    pub user_id: Uuid,
    pub session_id: Uuid,
    pub phone: String,
}

/// Work done by authentication since start, for tests and diagnostics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AuthStats {
    /// Access tokens whose signature was checked.
    pub token_verifications: u64,
    /// Sessions read from the store (a cache miss, a refresh, a socket's periodic re-check).
    pub session_reads: u64,
}

/// Request metadata recorded on a new session.
#[derive(Clone, Debug, Default)]
pub struct ClientInfo {
    pub user_agent: Option<String>,
    pub ip: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
    pub expires_in: u64,
    pub refresh_expires_in: u64,
}

#[derive(Clone, Debug)]
pub struct LoginOutcome {
    pub tokens: TokenPair,
    pub user_id: Uuid,
    pub phone: String,
    pub is_new_user: bool,
    pub onboarding_complete: bool,
}

pub struct AuthService {
    store: Arc<dyn Store>,
    sms: Arc<dyn SmsGateway>,
    limiter: Arc<dyn RateLimiter>,
    business_clock: Arc<dyn Clock>,
    keys: TokenKeys,
    settings: AuthSettings,
    /// Told about every revocation so open sockets close at once (api.md §12.2) and cached
    /// sessions are dropped on every instance.
    revocations: Option<Arc<dyn Revocations>>,
    /// Live sessions in memory; `None` reads the store on every request.
    sessions: Option<Arc<SessionCache>>,
    token_verifications: AtomicU64,
    session_reads: AtomicU64,
}

impl AuthService {
    pub fn new(
        store: Arc<dyn Store>,
        sms: Arc<dyn SmsGateway>,
        limiter: Arc<dyn RateLimiter>,
        business_clock: Arc<dyn Clock>,
        settings: AuthSettings,
    ) -> AuthService {
        let keys = TokenKeys::new(&settings.access_secret, &settings.refresh_secret);
        AuthService {
            store,
            sms,
            limiter,
            business_clock,
            keys,
            settings,
            revocations: None,
            sessions: None,
            token_verifications: AtomicU64::new(0),
            session_reads: AtomicU64::new(0),
        }
    }

    /// Announces every revoked session (logout, refresh-token reuse) on this channel. With a
    /// session cache this should be its `Announcer`, so this instance's cache sees the
    /// revocation before the caller gets its answer.
    pub fn with_revocations(mut self, revocations: Arc<dyn Revocations>) -> AuthService {
        self.revocations = Some(revocations);
        self
    }

    /// Checks sessions in this cache before the store (issue 12).
    pub fn with_session_cache(mut self, sessions: Arc<SessionCache>) -> AuthService {
        self.sessions = Some(sessions);
        self
    }

    pub fn stats(&self) -> AuthStats {
        AuthStats {
            token_verifications: self.token_verifications.load(Ordering::Relaxed),
            session_reads: self.session_reads.load(Ordering::Relaxed),
        }
    }

    async fn announce(&self, user_id: Uuid, session_id: Option<Uuid>) {
        if let Some(revocations) = &self.revocations {
            revocations
                .notify(Revocation {
                    user_id,
                    session_id,
                })
                .await;
        }
    }

    pub fn settings(&self) -> &AuthSettings {
        &self.settings
    }

    /// Issues a code and sends it (D31). Older codes of the phone stop working.
    pub async fn send_otp(&self, phone: &str, client_ip: Option<&str>) -> Result<u64, AuthError> {
        if !is_valid_phone(phone) {
            return Err(AuthError::Invalid {
                field: "phone",
                message: "must match +989XXXXXXXXX",
            });
        }
        if let Some(ip) = client_ip {
            let (max, window) = self.settings.otp_ip_limit;
            self.enforce(
                vec![Limit {
                    key: format!("otp:ip:{ip}"),
                    max,
                    window,
                }],
                "otp_ip",
            )
            .await?;
        }
        let phone_limits = self
            .settings
            .otp_phone_limits
            .iter()
            .map(|&(max, window)| Limit {
                key: format!("otp:phone:{phone}:{}", window.as_secs()),
                max,
                window,
            })
            .collect();
        self.enforce(phone_limits, "otp_phone").await?;

        let now = self.business_clock.now();
        let code = generate_code();
        let record = OtpRecord {
            id: Uuid::now_v7(),
            phone: phone.to_owned(),
            code_hash: code_hash(&self.settings.otp_key, phone, &code),
            attempts: 0,
            consumed: false,
            expires_at: now.plus_seconds(self.settings.otp_ttl.as_secs() as i64),
            created_at: now,
        };
        self.store.replace_otp(&record).await?;
        if let Err(e) = self.sms.send_otp(phone, &code).await {
            tracing::warn!(phone = %mask_phone(phone), error = %e, "otp sms failed; code discarded");
            self.store.consume_otp(record.id).await?;
            return Err(AuthError::SmsUnavailable);
        }
        tracing::info!(phone = %mask_phone(phone), "otp sent");
        Ok(self.settings.otp_ttl.as_secs())
    }

    async fn enforce(&self, limits: Vec<Limit>, scope: &'static str) -> Result<(), AuthError> {
        let decision = self.limiter.hit(&limits).await.map_err(|e| {
            tracing::error!(error = %e, "rate limiter unavailable");
            AuthError::LimiterUnavailable
        })?;
        if decision.allowed {
            Ok(())
        } else {
            Err(AuthError::RateLimited {
                scope,
                retry_after_secs: decision.retry_after_secs.max(1),
            })
        }
    }

    /// Checks a code and logs the user in, creating the account on first login.
    pub async fn verify_otp(
        &self,
        phone: &str,
        code: &str,
        client: ClientInfo,
    ) -> Result<LoginOutcome, AuthError> {
        if !is_valid_phone(phone) {
            return Err(AuthError::Invalid {
                field: "phone",
                message: "must match +989XXXXXXXXX",
            });
        }
        if !is_well_formed_code(code) {
            return Err(AuthError::Invalid {
                field: "code",
                message: "must be 6 digits",
            });
        }
        let now = self.business_clock.now();
        let max = self.settings.otp_max_attempts;
        let Some(latest) = self.store.latest_otp(phone).await? else {
            return Err(AuthError::OtpExpired);
        };
        if latest.attempts >= max {
            return Err(AuthError::OtpMaxAttempts);
        }
        if latest.expires_at <= now {
            return Err(AuthError::OtpExpired);
        }
        // The attempt is counted before the comparison, atomically, so parallel guesses cannot
        // exceed the limit.
        let Some(attempt) = self.store.take_otp_attempt(latest.id, now, max).await? else {
            return Err(AuthError::OtpMaxAttempts);
        };
        if !code_matches(&self.settings.otp_key, phone, code, &attempt.code_hash) {
            let remaining = max - attempt.attempts;
            if remaining <= 0 {
                return Err(AuthError::OtpMaxAttempts);
            }
            // A code that a newer one superseded (or that was used) is expired, not wrong.
            let presented = code_hash(&self.settings.otp_key, phone, code);
            if self.store.otp_superseded(phone, &presented).await? {
                return Err(AuthError::OtpExpired);
            }
            return Err(AuthError::OtpInvalid {
                attempts_remaining: remaining,
            });
        }
        if !self.store.consume_otp(attempt.id).await? {
            return Err(AuthError::OtpExpired);
        }
        let (user, is_new_user) = self.store.login_user(phone, now).await?;
        let tokens = self.open_session(user.id, &user.phone, client).await?;
        tracing::info!(phone = %mask_phone(phone), user.id = %user.id, is_new_user, "login");
        Ok(LoginOutcome {
            tokens,
            user_id: user.id,
            phone: user.phone.clone(),
            is_new_user,
            onboarding_complete: user.onboarding_complete(),
        })
    }

    /// Step 1 of a device-key login: a one-time challenge for an enrolled device; returns it
    /// with its lifetime in seconds.
    pub async fn biometric_challenge(
        &self,
        device_id: &str,
        client_ip: Option<&str>,
    ) -> Result<(String, u64), AuthError> {
        self.check_biometric_request(device_id, client_ip).await?;
        let now = self.business_clock.now();
        let (challenge, hash) = new_challenge();
        let stored = self
            .store
            .create_biometric_challenge(device_id, &hash, now.plus_duration(CHALLENGE_TTL), now)
            .await?;
        if !stored {
            return Err(AuthError::BiometricInvalid);
        }
        Ok((challenge, CHALLENGE_TTL.as_secs()))
    }

    /// Step 2: consumes the challenge (once, whatever the outcome, so a signature cannot be
    /// guessed at), verifies the signature with the enrolled key and opens a session.
    pub async fn biometric_login(
        &self,
        device_id: &str,
        challenge: &str,
        signature: &str,
        client: ClientInfo,
    ) -> Result<LoginOutcome, AuthError> {
        self.check_biometric_request(device_id, client.ip.as_deref())
            .await?;
        let Some(bytes) = challenge_bytes(challenge) else {
            return Err(AuthError::BiometricInvalid);
        };
        let now = self.business_clock.now();
        let keys = self
            .store
            .consume_biometric_challenge(device_id, &challenge_hash(challenge), now)
            .await?;
        if keys.is_empty() {
            return Err(AuthError::BiometricInvalid);
        }
        // The device id may be enrolled by several users (D38): the enrolment whose key made the
        // signature answers, the first enrolled when several would.
        let Some(key) = keys.iter().find(|key| {
            parse_public_key(&key.public_key)
                .is_some_and(|public| signature_matches(&public, challenge, &bytes, signature))
        }) else {
            tracing::warn!(
                device_id,
                enrolments = keys.len(),
                "device-key login with a bad signature"
            );
            return Err(AuthError::BiometricInvalid);
        };
        let user = self
            .store
            .user(key.user_id)
            .await?
            .ok_or(AuthError::BiometricInvalid)?;
        self.store
            .record_biometric_login(device_id, user.id, now)
            .await?;
        let tokens = self.open_session(user.id, &user.phone, client).await?;
        tracing::info!(phone = %mask_phone(&user.phone), user.id = %user.id, "device-key login");
        Ok(LoginOutcome {
            tokens,
            user_id: user.id,
            onboarding_complete: user.onboarding_complete(),
            phone: user.phone,
            is_new_user: false,
        })
    }

    async fn check_biometric_request(
        &self,
        device_id: &str,
        client_ip: Option<&str>,
    ) -> Result<(), AuthError> {
        if !is_valid_device_id(device_id) {
            return Err(AuthError::Invalid {
                field: "deviceId",
                message: "must be 1-255 printable characters",
            });
        }
        let (max, window) = self.settings.biometric_device_limit;
        let mut limits = vec![Limit {
            key: format!("biometric:device:{device_id}"),
            max,
            window,
        }];
        if let Some(ip) = client_ip {
            let (max, window) = self.settings.biometric_ip_limit;
            limits.push(Limit {
                key: format!("biometric:ip:{ip}"),
                max,
                window,
            });
        }
        self.enforce(limits, "biometric").await
    }

    async fn open_session(
        &self,
        user_id: Uuid,
        phone: &str,
        client: ClientInfo,
    ) -> Result<TokenPair, AuthError> {
        let issued = real_now();
        let session_id = Uuid::now_v7();
        let expires_at = issued.plus_seconds(self.settings.refresh_ttl.as_secs() as i64);
        let refresh = self.keys.sign_refresh(&RefreshClaims {
            sub: user_id,
            sid: session_id,
            generation: 0,
            iat: seconds(issued),
            exp: seconds(expires_at),
        });
        self.store
            .create_session(&NewSession {
                id: session_id,
                user_id,
                refresh_token_hash: token_hash(&refresh),
                issued_at: issued,
                expires_at,
                user_agent: client.user_agent.map(|ua| ua.chars().take(512).collect()),
                ip: client.ip,
            })
            .await?;
        Ok(self.pair(user_id, phone, session_id, refresh, issued))
    }

    fn pair(
        &self,
        user_id: Uuid,
        phone: &str,
        session_id: Uuid,
        refresh: String,
        now: Timestamp,
    ) -> TokenPair {
        let access = self.keys.sign_access(&AccessClaims {
            sub: user_id,
            phone: phone.to_owned(),
            sid: session_id,
            iat: seconds(now),
            exp: seconds(now) + self.settings.access_ttl.as_secs() as i64,
        });
        TokenPair {
            access_token: access,
            refresh_token: refresh,
            expires_in: self.settings.access_ttl.as_secs(),
            refresh_expires_in: self.settings.refresh_ttl.as_secs(),
        }
    }

    /// Rotates a refresh token (D32), with reuse detection and the concurrent-refresh grace.
    pub async fn refresh(&self, refresh_token: &str) -> Result<TokenPair, AuthError> {
        let claims = self
            .keys
            .verify_refresh(refresh_token)
            .map_err(token_error)?;
        let session = self.live_session(claims.sid, claims.sub).await?;
        let user = self
            .store
            .user(session.user_id)
            .await?
            .ok_or(AuthError::Unauthorized)?;
        let presented = token_hash(refresh_token);
        let now = real_now();

        if presented == session.refresh_token_hash {
            let next_generation = session.generation + 1;
            let expires_at = now.plus_seconds(self.settings.refresh_ttl.as_secs() as i64);
            let new_refresh = self.keys.sign_refresh(&RefreshClaims {
                sub: session.user_id,
                sid: session.id,
                generation: next_generation,
                iat: seconds(now),
                exp: seconds(expires_at),
            });
            let rotated = self
                .store
                .rotate_session(&SessionRotation {
                    session_id: session.id,
                    expected_hash: presented.clone(),
                    expected_generation: session.generation,
                    new_hash: token_hash(&new_refresh),
                    rotated_at: now,
                    expires_at,
                })
                .await?;
            if rotated {
                return Ok(self.pair(session.user_id, &user.phone, session.id, new_refresh, now));
            }
            // A concurrent refresh rotated first: answer as the grace path does.
            let session = self.live_session(claims.sid, claims.sub).await?;
            return self
                .grace_refresh(&session, &presented, claims.generation, &user.phone, now)
                .await;
        }
        self.grace_refresh(&session, &presented, claims.generation, &user.phone, now)
            .await
    }

    /// D32's grace: within the window after the session's latest rotation, a token this
    /// session issued earlier is a concurrent or late copy of the client's own refresh (an
    /// abandoned request finishes after its retry moved the chain on, issue 10), not a theft:
    /// it is answered with the session's current token. The previous token is recognised by
    /// its hash; older ones by their signed generation (the signature was checked already).
    async fn grace_refresh(
        &self,
        session: &SessionRecord,
        presented: &str,
        presented_generation: i64,
        phone: &str,
        now: Timestamp,
    ) -> Result<TokenPair, AuthError> {
        let within_grace =
            now.micros_since(session.rotated_at) <= self.settings.refresh_grace.as_micros() as i64;
        let earlier_token = session.previous_refresh_token_hash.as_deref() == Some(presented)
            || presented_generation < session.generation;
        if earlier_token && within_grace {
            // Re-signing the stored claims reproduces exactly the token the rotation issued.
            let current = self.keys.sign_refresh(&RefreshClaims {
                sub: session.user_id,
                sid: session.id,
                generation: session.generation,
                iat: seconds(session.rotated_at),
                exp: seconds(session.expires_at),
            });
            return Ok(self.pair(session.user_id, phone, session.id, current, now));
        }
        let revoked = self
            .store
            .revoke_user_sessions(session.user_id, now)
            .await?;
        tracing::warn!(user.id = %session.user_id, revoked, "refresh token reuse; sessions revoked");
        self.announce(session.user_id, None).await;
        Err(AuthError::RefreshTokenReused)
    }

    async fn read_session(&self, session_id: Uuid) -> Result<Option<SessionRecord>, AuthError> {
        self.session_reads.fetch_add(1, Ordering::Relaxed);
        Ok(self.store.session(session_id).await?)
    }

    /// The session as the store has it now, checked (refresh needs the whole record).
    async fn live_session(
        &self,
        session_id: Uuid,
        user_id: Uuid,
    ) -> Result<SessionRecord, AuthError> {
        let session = self
            .read_session(session_id)
            .await?
            .ok_or(AuthError::Unauthorized)?;
        check(&session, user_id)?;
        Ok(session)
    }

    /// Whether a session is live, from the cache when it can answer, else from the store
    /// (whose answer is then cached).
    async fn cached_session(&self, session_id: Uuid, user_id: Uuid) -> Result<(), AuthError> {
        let Some(cache) = &self.sessions else {
            return self.live_session(session_id, user_id).await.map(|_| ());
        };
        let listening = self.revocations.as_ref().map_or(Some(0), |r| r.listening());
        let ticket = match cache.lookup(session_id, user_id, real_now(), listening) {
            Lookup::Hit(verdict) => {
                metrics::counter!("auth_session_checks_total", "source" => "cache").increment(1);
                return match verdict {
                    Verdict::Live => Ok(()),
                    Verdict::Revoked => Err(AuthError::SessionRevoked),
                    Verdict::OtherUser => Err(AuthError::Unauthorized),
                };
            }
            Lookup::Miss(ticket) => ticket,
        };
        metrics::counter!("auth_session_checks_total", "source" => "store").increment(1);
        let session = self
            .read_session(session_id)
            .await?
            .ok_or(AuthError::Unauthorized)?;
        cache.insert(ticket, &session);
        check(&session, user_id)
    }

    /// Verifies an access token's signature and expiry (once per request: the API keeps the
    /// result for every middleware and extractor of the request). Establishes nothing about
    /// the session yet; `session_context` does.
    pub fn verify_access(&self, access_token: &str) -> Result<AccessClaims, AuthError> {
        self.token_verifications.fetch_add(1, Ordering::Relaxed);
        self.keys.verify_access(access_token).map_err(token_error)
    }

    /// The caller behind verified claims, once their session is known to be live.
    pub async fn session_context(&self, claims: &AccessClaims) -> Result<AuthContext, AuthError> {
        self.cached_session(claims.sid, claims.sub).await?;
        Ok(AuthContext {
            user_id: claims.sub,
            session_id: claims.sid,
            phone: claims.phone.clone(),
        })
    }

    /// Verifies an access token and its session (WebSocket and Socket.IO connects; HTTP
    /// requests go through `verify_access` and `session_context` separately).
    pub async fn authenticate(&self, access_token: &str) -> Result<AuthContext, AuthError> {
        let claims = self.verify_access(access_token)?;
        self.session_context(&claims).await
    }

    /// Revokes the caller's session, or all of the user's sessions.
    pub async fn logout(&self, ctx: &AuthContext, all_devices: bool) -> Result<u64, AuthError> {
        let now = real_now();
        let revoked = if all_devices {
            self.store.revoke_user_sessions(ctx.user_id, now).await?
        } else {
            self.store.revoke_session(ctx.session_id, now).await?
        };
        self.announce(ctx.user_id, (!all_devices).then_some(ctx.session_id))
            .await;
        Ok(revoked)
    }

    /// Whether a session is still live (open sockets re-check this periodically; their
    /// access token may have expired meanwhile, which does not end them). Reads the store, not
    /// the cache: this is the backstop for a revocation notice the socket never received.
    pub async fn check_session(&self, user_id: Uuid, session_id: Uuid) -> Result<(), AuthError> {
        self.live_session(session_id, user_id).await.map(|_| ())
    }
}

fn check(session: &SessionRecord, user_id: Uuid) -> Result<(), AuthError> {
    if session.user_id != user_id {
        return Err(AuthError::Unauthorized);
    }
    if session.revoked_at.is_some() {
        return Err(AuthError::SessionRevoked);
    }
    if session.expires_at <= real_now() {
        return Err(AuthError::TokenExpired);
    }
    Ok(())
}

fn token_error(e: TokenError) -> AuthError {
    match e {
        TokenError::Expired => AuthError::TokenExpired,
        TokenError::Invalid => AuthError::Unauthorized,
    }
}

fn seconds(t: Timestamp) -> i64 {
    t.as_micros().div_euclid(1_000_000)
}
