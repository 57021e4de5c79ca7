//! The authentication port (api.md §3, business-rules §1): one-time codes, users, sessions and
//! their rotation, device-key login (`biometric`), housekeeping; and the `Store` facade
//! (backend name, readiness ping).

use async_trait::async_trait;
use blu_app::ports::{
    AuthStore, BiometricKey, NewSession, OtpRecord, SessionRecord, SessionRotation, Store,
    StoreResult, UserRecord,
};
use blu_domain::Timestamp;
use uuid::Uuid;

use crate::Database;
use crate::biometric;
use crate::driver::{FromRow, Row, query};

/// The `OtpRecord` columns; a macro so statements stay `&'static str` literals.
macro_rules! otp_columns {
    () => {
        "id, phone, code_hash, attempts, consumed, expires_at, created_at"
    };
}

impl FromRow for OtpRecord {
    fn from_row(r: Row) -> anyhow::Result<OtpRecord> {
        Ok(OtpRecord {
            id: r.uuid("id")?,
            phone: r.text("phone")?,
            code_hash: r.text("code_hash")?,
            attempts: r.int_as("attempts")?,
            consumed: r.bool("consumed")?,
            expires_at: r.ts("expires_at")?,
            created_at: r.ts("created_at")?,
        })
    }
}

const USER_SELECT: &str = "SELECT u.id, u.phone, u.phone_verified, u.risk_score, u.consent_risk, \
     u.consent_loss, u.consent_no_guarantee, \
     EXISTS (SELECT 1 FROM portfolios p WHERE p.user_id = u.id) AS has_portfolio, \
     u.created_at, u.last_login_at \
     FROM users u WHERE u.id = $1 AND u.deleted_at IS NULL";

impl FromRow for UserRecord {
    fn from_row(r: Row) -> anyhow::Result<UserRecord> {
        Ok(UserRecord {
            id: r.uuid("id")?,
            phone: r.text("phone")?,
            phone_verified: r.bool("phone_verified")?,
            risk_score: r.opt_int_as("risk_score")?,
            consent_risk: r.bool("consent_risk")?,
            consent_loss: r.bool("consent_loss")?,
            consent_no_guarantee: r.bool("consent_no_guarantee")?,
            has_portfolio: r.bool("has_portfolio")?,
            created_at: r.ts("created_at")?,
            last_login_at: r.opt_ts("last_login_at")?,
        })
    }
}

impl FromRow for SessionRecord {
    fn from_row(r: Row) -> anyhow::Result<SessionRecord> {
        Ok(SessionRecord {
            id: r.uuid("id")?,
            user_id: r.uuid("user_id")?,
            refresh_token_hash: r.text("refresh_token_hash")?,
            previous_refresh_token_hash: r.opt_text("previous_refresh_token_hash")?,
            generation: r.int_as("generation")?,
            rotated_at: r.ts("rotated_at")?,
            expires_at: r.ts("expires_at")?,
            revoked_at: r.opt_ts("revoked_at")?,
            user_agent: r.opt_text("user_agent")?,
            ip: r.opt_text("ip")?,
            created_at: r.ts("created_at")?,
        })
    }
}

/// Just the id of a row (`RETURNING id`).
struct Id(Uuid);

impl FromRow for Id {
    fn from_row(r: Row) -> anyhow::Result<Id> {
        Ok(Id(r.uuid("id")?))
    }
}

#[async_trait]
impl AuthStore for Database {
    async fn replace_otp(&self, otp: &OtpRecord) -> StoreResult<()> {
        let mut tx = self.pool().begin_write().await?;
        query("UPDATE otp_codes SET consumed = TRUE WHERE phone = $1 AND NOT consumed")
            .bind(&otp.phone)
            .execute(&mut tx)
            .await?;
        query(
            "INSERT INTO otp_codes (id, phone, code_hash, attempts, consumed, expires_at, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(otp.id)
        .bind(&otp.phone)
        .bind(&otp.code_hash)
        .bind(otp.attempts)
        .bind(otp.consumed)
        .bind(otp.expires_at)
        .bind(otp.created_at)
        .execute(&mut tx)
        .await?;
        tx.commit().await
    }

    async fn latest_otp(&self, phone: &str) -> StoreResult<Option<OtpRecord>> {
        query(concat!(
            "SELECT ",
            otp_columns!(),
            " FROM otp_codes WHERE phone = $1 AND NOT consumed \
             ORDER BY created_at DESC, id DESC LIMIT 1"
        ))
        .bind(phone)
        .fetch_optional(self.pool())
        .await
    }

    async fn take_otp_attempt(
        &self,
        id: Uuid,
        now: Timestamp,
        max_attempts: i32,
    ) -> StoreResult<Option<OtpRecord>> {
        // One conditional UPDATE: the row lock serialises concurrent attempts, and each
        // re-evaluates the condition on the latest row version, so at most `max_attempts`
        // succeed however many run at once.
        query(concat!(
            "UPDATE otp_codes SET attempts = attempts + 1 \
             WHERE id = $1 AND NOT consumed AND expires_at > $2 AND attempts < $3 \
             RETURNING ",
            otp_columns!()
        ))
        .bind(id)
        .bind(now)
        .bind(max_attempts)
        .fetch_optional(self.pool())
        .await
    }

    async fn consume_otp(&self, id: Uuid) -> StoreResult<bool> {
        let done = query("UPDATE otp_codes SET consumed = TRUE WHERE id = $1 AND NOT consumed")
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(done == 1)
    }

    async fn otp_superseded(&self, phone: &str, code_hash: &str) -> StoreResult<bool> {
        let row: Option<Row> = query(
            "SELECT 1 AS one FROM otp_codes WHERE phone = $1 AND code_hash = $2 AND consumed LIMIT 1",
        )
        .bind(phone)
        .bind(code_hash)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.is_some())
    }

    async fn login_user(&self, phone: &str, now: Timestamp) -> StoreResult<(UserRecord, bool)> {
        let mut tx = self.pool().begin_write().await?;
        // A concurrent first login of the same phone blocks on the partial unique index until
        // the other transaction commits, then inserts nothing: one user, both logins succeed.
        let inserted = query(
            "INSERT INTO users (id, phone, phone_verified, created_at, updated_at, last_login_at) \
             VALUES ($1, $2, TRUE, $3, $3, $3) \
             ON CONFLICT (phone) WHERE deleted_at IS NULL DO NOTHING",
        )
        .bind(Uuid::now_v7())
        .bind(phone)
        .bind(now)
        .execute(&mut tx)
        .await?;
        let Id(id) = query(
            "UPDATE users SET phone_verified = TRUE, last_login_at = $2, updated_at = $2 \
             WHERE phone = $1 AND deleted_at IS NULL RETURNING id",
        )
        .bind(phone)
        .bind(now)
        .fetch_one(&mut tx)
        .await?;
        let user: UserRecord = query(USER_SELECT).bind(id).fetch_one(&mut tx).await?;
        tx.commit().await?;
        Ok((user, inserted == 1))
    }

    async fn user(&self, id: Uuid) -> StoreResult<Option<UserRecord>> {
        query(USER_SELECT)
            .bind(id)
            .fetch_optional(self.pool())
            .await
    }

    async fn create_session(&self, s: &NewSession) -> StoreResult<()> {
        query(
            "INSERT INTO sessions (id, user_id, refresh_token_hash, generation, rotated_at, \
             expires_at, user_agent, ip, created_at) VALUES ($1, $2, $3, 0, $4, $5, $6, $7, $4)",
        )
        .bind(s.id)
        .bind(s.user_id)
        .bind(&s.refresh_token_hash)
        .bind(s.issued_at)
        .bind(s.expires_at)
        .bind(s.user_agent.as_deref())
        .bind(s.ip.as_deref())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    async fn session(&self, id: Uuid) -> StoreResult<Option<SessionRecord>> {
        query(
            "SELECT id, user_id, refresh_token_hash, previous_refresh_token_hash, generation, \
             rotated_at, expires_at, revoked_at, user_agent, ip, created_at \
             FROM sessions WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(self.pool())
        .await
    }

    async fn rotate_session(&self, r: &SessionRotation) -> StoreResult<bool> {
        // Compare-and-set on (hash, generation); a revoked or expired session never rotates,
        // so a logout racing a refresh wins.
        let done = query(
            "UPDATE sessions SET previous_refresh_token_hash = refresh_token_hash, \
             refresh_token_hash = $4, generation = generation + 1, rotated_at = $5, \
             expires_at = $6 \
             WHERE id = $1 AND refresh_token_hash = $2 AND generation = $3 \
             AND revoked_at IS NULL AND expires_at > $5",
        )
        .bind(r.session_id)
        .bind(&r.expected_hash)
        .bind(r.expected_generation)
        .bind(&r.new_hash)
        .bind(r.rotated_at)
        .bind(r.expires_at)
        .execute(self.pool())
        .await?;
        Ok(done == 1)
    }

    async fn revoke_session(&self, id: Uuid, now: Timestamp) -> StoreResult<u64> {
        query("UPDATE sessions SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
            .bind(id)
            .bind(now)
            .execute(self.pool())
            .await
    }

    async fn revoke_user_sessions(&self, user_id: Uuid, now: Timestamp) -> StoreResult<u64> {
        query("UPDATE sessions SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL")
            .bind(user_id)
            .bind(now)
            .execute(self.pool())
            .await
    }

    async fn create_biometric_challenge(
        &self,
        device_id: &str,
        challenge_hash: &str,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> StoreResult<bool> {
        biometric::create_challenge(self, device_id, challenge_hash, expires_at, now).await
    }

    async fn consume_biometric_challenge(
        &self,
        device_id: &str,
        challenge_hash: &str,
        now: Timestamp,
    ) -> StoreResult<Vec<BiometricKey>> {
        biometric::consume_challenge(self, device_id, challenge_hash, now).await
    }

    async fn record_biometric_login(
        &self,
        device_id: &str,
        user_id: Uuid,
        now: Timestamp,
    ) -> StoreResult<()> {
        biometric::record_login(self, device_id, user_id, now).await
    }

    async fn purge_biometric_challenges(&self, before: Timestamp) -> StoreResult<u64> {
        query(biometric::PURGE_CHALLENGES)
            .bind(before)
            .execute(self.pool())
            .await
    }

    async fn purge_auth(
        &self,
        older_than: Timestamp,
        sessions_older_than: Timestamp,
    ) -> StoreResult<(u64, u64)> {
        // The schema keeps no consumption time: a code lives 120 s, so "consumed before t" is
        // taken as "consumed and created before t" (at most one code lifetime early).
        let codes =
            query("DELETE FROM otp_codes WHERE expires_at < $1 OR (consumed AND created_at < $1)")
                .bind(older_than)
                .execute(self.pool())
                .await?;
        let sessions = query("DELETE FROM sessions WHERE expires_at < $1 OR revoked_at < $1")
            .bind(sessions_older_than)
            .execute(self.pool())
            .await?;
        Ok((codes, sessions))
    }
}

#[async_trait]
impl Store for Database {
    fn backend(&self) -> &'static str {
        match self.dialect() {
            crate::driver::Dialect::Postgres => "postgres",
            crate::driver::Dialect::Sqlite => "sqlite",
        }
    }

    async fn ping(&self) -> StoreResult<()> {
        query("SELECT 1 AS one").execute(self.pool()).await?;
        if let Database::Postgres(store) = self
            && store.has_replica()
        {
            query("SELECT 1 AS one").execute(self.read_pool()).await?;
        }
        Ok(())
    }
}
