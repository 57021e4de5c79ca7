//! The SQLite store: the embedded default (one process, a file under the data directory).

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use blu_app::ports::{
    AuthStore, BiometricKey, NewSession, OtpRecord, SessionRecord, SessionRotation, Store,
    StoreError, StoreResult, UserRecord,
};
use blu_domain::Timestamp;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Row, Sqlite, Transaction};
use uuid::Uuid;

use crate::biometric_sql as bio;
use crate::codec::{SqliteRowExt, ts_text, uuid_text};
use crate::error::map_sqlx;
use crate::reference::AssetRow;

/// Migrations of the SQLite schema, embedded in the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// A writer waits this long for another writer before the store reports `Unavailable`.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// WAL lets readers run beside the single writer, so a few connections help; more would only
/// queue on the write lock.
const MAX_CONNECTIONS: u32 = 8;

/// Storage in one SQLite file.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if missing) the database file at `path`: WAL journal, foreign keys on,
    /// a 5 s busy timeout. Call `migrate` before use.
    pub async fn open(path: &Path) -> anyhow::Result<SqliteStore> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("creating the data directory {}", dir.display()))?;
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: a committed money movement survives a power loss too (NORMAL would only
            // survive an application crash); the extra fsync per commit is cheap at this scale.
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        let pool = SqlitePoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(BUSY_TIMEOUT)
            .connect_with(options)
            .await
            .with_context(|| format!("opening SQLite database {}", path.display()))?;
        Ok(SqliteStore { pool })
    }

    /// Opens a database from a `sqlite://path` or `sqlite:path` URL (query parameters are
    /// ignored: the store sets its own options).
    pub async fn open_url(url: &str) -> anyhow::Result<SqliteStore> {
        let rest = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .with_context(|| format!("not a SQLite URL: {url}"))?;
        let path = rest.split('?').next().unwrap_or_default();
        anyhow::ensure!(!path.is_empty(), "the SQLite URL names no file: {url}");
        // Validate the rest of the URL the way sqlx would, for a clear error.
        SqliteConnectOptions::from_str(url).with_context(|| format!("invalid SQLite URL {url}"))?;
        SqliteStore::open(Path::new(path)).await
    }

    /// Applies pending migrations.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        MIGRATOR.run(&self.pool).await.context("migrating SQLite")
    }

    /// The underlying pool, for use cases that need their own statements.
    pub fn sqlite_pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// A write transaction that takes the database write lock at once (`BEGIN IMMEDIATE`).
    /// SQLite's equivalent of locking the portfolio row: writers queue on the busy timeout
    /// instead of failing with SQLITE_BUSY when a read transaction later tries to write.
    pub async fn write_tx(&self) -> StoreResult<Transaction<'static, Sqlite>> {
        self.pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(map_sqlx)
    }

    /// The asset registry as seeded (joined with its layer parameters), in registry order.
    pub async fn assets(&self) -> StoreResult<Vec<AssetRow>> {
        let rows = sqlx::query(crate::reference::ASSETS_QUERY)
            .fetch_all(&self.pool)
            .await
            .map_err(map_sqlx)?;
        rows.iter().map(asset_row).collect()
    }
}

fn other(e: anyhow::Error) -> StoreError {
    StoreError::Other(e)
}

fn asset_row(r: &SqliteRow) -> StoreResult<AssetRow> {
    let g = || -> anyhow::Result<AssetRow> {
        Ok(AssetRow {
            id: r.try_get("id")?,
            position: r.try_get("position")?,
            name: r.try_get("name")?,
            layer: r.try_get("layer")?,
            category: r.try_get("category")?,
            layer_weight: r.dec("layer_weight")?,
            price_source: r.try_get("price_source")?,
            source_id: r.try_get("source_id")?,
            default_price_usd: r.opt_dec("default_price_usd")?,
            base_volatility: r.dec("base_volatility")?,
            liquidity_score: r.dec("liquidity_score")?,
            asset_max_ltv: r.dec("asset_max_ltv")?,
            effective_max_ltv: r.dec("effective_max_ltv")?,
            implied_volatility: r.dec("implied_volatility")?,
            protection_eligible: r.try_get("protection_eligible")?,
            protection_execution_spread: r.opt_dec("protection_execution_spread")?,
            protection_min_premium_30d: r.opt_dec("protection_min_premium_30d")?,
            protection_max_premium_30d: r.opt_dec("protection_max_premium_30d")?,
            trade_spread: r.dec("trade_spread")?,
            layer_ltv: r.dec("layer_ltv")?,
            protection_monthly_rate: r.dec("protection_monthly_rate")?,
            protection_margin_per_day: r.dec("protection_margin_per_day")?,
        })
    };
    g().map_err(other)
}

/// The `OtpRecord` columns; a macro so statements stay `&'static str` literals.
macro_rules! otp_columns {
    () => {
        "id, phone, code_hash, attempts, consumed, expires_at, created_at"
    };
}

fn otp_record(r: &SqliteRow) -> StoreResult<OtpRecord> {
    let g = || -> anyhow::Result<OtpRecord> {
        Ok(OtpRecord {
            id: r.uuid("id")?,
            phone: r.try_get("phone")?,
            code_hash: r.try_get("code_hash")?,
            attempts: r.try_get("attempts")?,
            consumed: r.try_get("consumed")?,
            expires_at: r.ts("expires_at")?,
            created_at: r.ts("created_at")?,
        })
    };
    g().map_err(other)
}

const USER_SELECT: &str = "SELECT u.id, u.phone, u.phone_verified, u.risk_score, u.consent_risk, \
     u.consent_loss, u.consent_no_guarantee, \
     EXISTS (SELECT 1 FROM portfolios p WHERE p.user_id = u.id) AS has_portfolio, \
     u.created_at, u.last_login_at \
     FROM users u WHERE u.id = $1 AND u.deleted_at IS NULL";

fn user_record(r: &SqliteRow) -> StoreResult<UserRecord> {
    let g = || -> anyhow::Result<UserRecord> {
        Ok(UserRecord {
            id: r.uuid("id")?,
            phone: r.try_get("phone")?,
            phone_verified: r.try_get("phone_verified")?,
            risk_score: r.try_get("risk_score")?,
            consent_risk: r.try_get("consent_risk")?,
            consent_loss: r.try_get("consent_loss")?,
            consent_no_guarantee: r.try_get("consent_no_guarantee")?,
            has_portfolio: r.try_get("has_portfolio")?,
            created_at: r.ts("created_at")?,
            last_login_at: r.opt_ts("last_login_at")?,
        })
    };
    g().map_err(other)
}

fn session_record(r: &SqliteRow) -> StoreResult<SessionRecord> {
    let g = || -> anyhow::Result<SessionRecord> {
        Ok(SessionRecord {
            id: r.uuid("id")?,
            user_id: r.uuid("user_id")?,
            refresh_token_hash: r.try_get("refresh_token_hash")?,
            previous_refresh_token_hash: r.try_get("previous_refresh_token_hash")?,
            generation: r.try_get("generation")?,
            rotated_at: r.ts("rotated_at")?,
            expires_at: r.ts("expires_at")?,
            revoked_at: r.opt_ts("revoked_at")?,
            user_agent: r.try_get("user_agent")?,
            ip: r.try_get("ip")?,
            created_at: r.ts("created_at")?,
        })
    };
    g().map_err(other)
}

#[async_trait]
impl AuthStore for SqliteStore {
    async fn replace_otp(&self, otp: &OtpRecord) -> StoreResult<()> {
        let mut tx = self.write_tx().await?;
        sqlx::query("UPDATE otp_codes SET consumed = 1 WHERE phone = $1 AND NOT consumed")
            .bind(&otp.phone)
            .execute(&mut *tx)
            .await
            .map_err(map_sqlx)?;
        sqlx::query(
            "INSERT INTO otp_codes (id, phone, code_hash, attempts, consumed, expires_at, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(uuid_text(otp.id))
        .bind(&otp.phone)
        .bind(&otp.code_hash)
        .bind(otp.attempts)
        .bind(otp.consumed)
        .bind(ts_text(otp.expires_at))
        .bind(ts_text(otp.created_at))
        .execute(&mut *tx)
        .await
        .map_err(map_sqlx)?;
        tx.commit().await.map_err(map_sqlx)
    }

    async fn latest_otp(&self, phone: &str) -> StoreResult<Option<OtpRecord>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            otp_columns!(),
            " FROM otp_codes WHERE phone = $1 AND NOT consumed \
             ORDER BY created_at DESC, id DESC LIMIT 1"
        ))
        .bind(phone)
        .fetch_optional(&self.pool)
        .await
        .map_err(map_sqlx)?;
        row.as_ref().map(otp_record).transpose()
    }

    async fn take_otp_attempt(
        &self,
        id: Uuid,
        now: Timestamp,
        max_attempts: i32,
    ) -> StoreResult<Option<OtpRecord>> {
        // One statement holds the write lock from condition to increment, so concurrent
        // attempts serialise and at most `max_attempts` succeed. Instants compare as text
        // (fixed-width format).
        let row = sqlx::query(concat!(
            "UPDATE otp_codes SET attempts = attempts + 1 \
             WHERE id = $1 AND NOT consumed AND expires_at > $2 AND attempts < $3 \
             RETURNING ",
            otp_columns!()
        ))
        .bind(uuid_text(id))
        .bind(ts_text(now))
        .bind(max_attempts)
        .fetch_optional(&self.pool)
        .await
        .map_err(map_sqlx)?;
        row.as_ref().map(otp_record).transpose()
    }

    async fn consume_otp(&self, id: Uuid) -> StoreResult<bool> {
        let done = sqlx::query("UPDATE otp_codes SET consumed = 1 WHERE id = $1 AND NOT consumed")
            .bind(uuid_text(id))
            .execute(&self.pool)
            .await
            .map_err(map_sqlx)?;
        Ok(done.rows_affected() == 1)
    }

    async fn otp_superseded(&self, phone: &str, code_hash: &str) -> StoreResult<bool> {
        let row = sqlx::query(
            "SELECT 1 FROM otp_codes WHERE phone = $1 AND code_hash = $2 AND consumed LIMIT 1",
        )
        .bind(phone)
        .bind(code_hash)
        .fetch_optional(self.sqlite_pool())
        .await
        .map_err(map_sqlx)?;
        Ok(row.is_some())
    }

    async fn login_user(&self, phone: &str, now: Timestamp) -> StoreResult<(UserRecord, bool)> {
        let now = ts_text(now);
        // BEGIN IMMEDIATE serialises concurrent logins; ON CONFLICT makes a second first login
        // of the same phone find the user the first one created.
        let mut tx = self.write_tx().await?;
        let inserted = sqlx::query(
            "INSERT INTO users (id, phone, phone_verified, created_at, updated_at, last_login_at) \
             VALUES ($1, $2, 1, $3, $3, $3) \
             ON CONFLICT (phone) WHERE deleted_at IS NULL DO NOTHING",
        )
        .bind(uuid_text(Uuid::now_v7()))
        .bind(phone)
        .bind(&now)
        .execute(&mut *tx)
        .await
        .map_err(map_sqlx)?;
        let created = inserted.rows_affected() == 1;
        let id: String = sqlx::query_scalar(
            "UPDATE users SET phone_verified = 1, last_login_at = $2, updated_at = $2 \
             WHERE phone = $1 AND deleted_at IS NULL RETURNING id",
        )
        .bind(phone)
        .bind(&now)
        .fetch_one(&mut *tx)
        .await
        .map_err(map_sqlx)?;
        let row = sqlx::query(USER_SELECT)
            .bind(id)
            .fetch_one(&mut *tx)
            .await
            .map_err(map_sqlx)?;
        let user = user_record(&row)?;
        tx.commit().await.map_err(map_sqlx)?;
        Ok((user, created))
    }

    async fn user(&self, id: Uuid) -> StoreResult<Option<UserRecord>> {
        let row = sqlx::query(USER_SELECT)
            .bind(uuid_text(id))
            .fetch_optional(&self.pool)
            .await
            .map_err(map_sqlx)?;
        row.as_ref().map(user_record).transpose()
    }

    async fn create_session(&self, s: &NewSession) -> StoreResult<()> {
        let issued = ts_text(s.issued_at);
        sqlx::query(
            "INSERT INTO sessions (id, user_id, refresh_token_hash, generation, rotated_at, \
             expires_at, user_agent, ip, created_at) VALUES ($1, $2, $3, 0, $4, $5, $6, $7, $4)",
        )
        .bind(uuid_text(s.id))
        .bind(uuid_text(s.user_id))
        .bind(&s.refresh_token_hash)
        .bind(issued)
        .bind(ts_text(s.expires_at))
        .bind(&s.user_agent)
        .bind(&s.ip)
        .execute(&self.pool)
        .await
        .map_err(map_sqlx)?;
        Ok(())
    }

    async fn session(&self, id: Uuid) -> StoreResult<Option<SessionRecord>> {
        let row = sqlx::query(
            "SELECT id, user_id, refresh_token_hash, previous_refresh_token_hash, generation, \
             rotated_at, expires_at, revoked_at, user_agent, ip, created_at \
             FROM sessions WHERE id = $1",
        )
        .bind(uuid_text(id))
        .fetch_optional(&self.pool)
        .await
        .map_err(map_sqlx)?;
        row.as_ref().map(session_record).transpose()
    }

    async fn rotate_session(&self, r: &SessionRotation) -> StoreResult<bool> {
        // Compare-and-set on (hash, generation); a revoked or expired session never rotates,
        // so a logout racing a refresh wins.
        let done = sqlx::query(
            "UPDATE sessions SET previous_refresh_token_hash = refresh_token_hash, \
             refresh_token_hash = $4, generation = generation + 1, rotated_at = $5, \
             expires_at = $6 \
             WHERE id = $1 AND refresh_token_hash = $2 AND generation = $3 \
             AND revoked_at IS NULL AND expires_at > $5",
        )
        .bind(uuid_text(r.session_id))
        .bind(&r.expected_hash)
        .bind(r.expected_generation)
        .bind(&r.new_hash)
        .bind(ts_text(r.rotated_at))
        .bind(ts_text(r.expires_at))
        .execute(&self.pool)
        .await
        .map_err(map_sqlx)?;
        Ok(done.rows_affected() == 1)
    }

    async fn revoke_session(&self, id: Uuid, now: Timestamp) -> StoreResult<u64> {
        let done =
            sqlx::query("UPDATE sessions SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
                .bind(uuid_text(id))
                .bind(ts_text(now))
                .execute(&self.pool)
                .await
                .map_err(map_sqlx)?;
        Ok(done.rows_affected())
    }

    async fn revoke_user_sessions(&self, user_id: Uuid, now: Timestamp) -> StoreResult<u64> {
        let done = sqlx::query(
            "UPDATE sessions SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL",
        )
        .bind(uuid_text(user_id))
        .bind(ts_text(now))
        .execute(&self.pool)
        .await
        .map_err(map_sqlx)?;
        Ok(done.rows_affected())
    }

    async fn create_biometric_challenge(
        &self,
        device_id: &str,
        challenge_hash: &str,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let done = sqlx::query(bio::CREATE_CHALLENGE)
            .bind(device_id)
            .bind(challenge_hash)
            .bind(ts_text(expires_at))
            .bind(ts_text(now))
            .execute(self.sqlite_pool())
            .await
            .map_err(map_sqlx)?;
        Ok(done.rows_affected() > 0)
    }

    async fn consume_biometric_challenge(
        &self,
        device_id: &str,
        challenge_hash: &str,
        now: Timestamp,
    ) -> StoreResult<Vec<BiometricKey>> {
        let mut tx = self.write_tx().await?;
        let consumed = sqlx::query(bio::CONSUME_CHALLENGE)
            .bind(device_id)
            .bind(challenge_hash)
            .bind(ts_text(now))
            .fetch_all(&mut *tx)
            .await
            .map_err(map_sqlx)?;
        if consumed.is_empty() {
            return Ok(Vec::new());
        }
        let named = consumed
            .iter()
            .map(|r| r.uuid("user_id").map_err(StoreError::Other))
            .collect::<StoreResult<Vec<Uuid>>>()?;
        let keys = sqlx::query(bio::DEVICE_KEYS)
            .bind(device_id)
            .fetch_all(&mut *tx)
            .await
            .map_err(map_sqlx)?;
        tx.commit().await.map_err(map_sqlx)?;
        let keys = keys
            .iter()
            .map(|r| {
                Ok(BiometricKey {
                    user_id: r.uuid("user_id").map_err(StoreError::Other)?,
                    public_key: r.try_get("public_key").map_err(map_sqlx)?,
                })
            })
            .collect::<StoreResult<Vec<BiometricKey>>>()?;
        Ok(bio::issued_to(keys, &named))
    }

    async fn record_biometric_login(
        &self,
        device_id: &str,
        user_id: Uuid,
        now: Timestamp,
    ) -> StoreResult<()> {
        let mut tx = self.write_tx().await?;
        sqlx::query(bio::DEVICE_USED)
            .bind(device_id)
            .bind(ts_text(now))
            .bind(uuid_text(user_id))
            .execute(&mut *tx)
            .await
            .map_err(map_sqlx)?;
        sqlx::query(bio::USER_LOGGED_IN)
            .bind(uuid_text(user_id))
            .bind(ts_text(now))
            .execute(&mut *tx)
            .await
            .map_err(map_sqlx)?;
        tx.commit().await.map_err(map_sqlx)
    }

    async fn purge_biometric_challenges(&self, before: Timestamp) -> StoreResult<u64> {
        let done = sqlx::query(bio::PURGE_CHALLENGES)
            .bind(ts_text(before))
            .execute(self.sqlite_pool())
            .await
            .map_err(map_sqlx)?;
        Ok(done.rows_affected())
    }

    async fn purge_auth(
        &self,
        older_than: Timestamp,
        sessions_older_than: Timestamp,
    ) -> StoreResult<(u64, u64)> {
        // The schema keeps no consumption time: a code lives 120 s, so "consumed before t" is
        // taken as "consumed and created before t" (at most one code lifetime early).
        let mut tx = self.write_tx().await?;
        let codes = sqlx::query(
            "DELETE FROM otp_codes WHERE expires_at < $1 OR (consumed AND created_at < $1)",
        )
        .bind(ts_text(older_than))
        .execute(&mut *tx)
        .await
        .map_err(map_sqlx)?;
        let sessions = sqlx::query("DELETE FROM sessions WHERE expires_at < $1 OR revoked_at < $1")
            .bind(ts_text(sessions_older_than))
            .execute(&mut *tx)
            .await
            .map_err(map_sqlx)?;
        tx.commit().await.map_err(map_sqlx)?;
        Ok((codes.rows_affected(), sessions.rows_affected()))
    }
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(map_sqlx)?;
        Ok(())
    }
}
