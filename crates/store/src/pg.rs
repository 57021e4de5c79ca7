//! The PostgreSQL store: production and scale-out (any number of API instances and workers).

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use blu_app::ports::{
    AuthStore, BiometricKey, NewSession, OtpRecord, SessionRecord, SessionRotation, Store,
    StoreError, StoreResult, UserRecord,
};
use blu_domain::Timestamp;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions, PgRow};
use sqlx::{Connection, Postgres, Row, Transaction};
use tokio::sync::watch;
use uuid::Uuid;

use crate::biometric_sql as bio;
use crate::codec::{PgRowExt, to_datetime};
use crate::error::map_sqlx;
use crate::reference::AssetRow;

/// Migrations of the PostgreSQL schema, embedded in the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Pool size and the bounds that keep one stuck connection, statement or transaction from
/// holding a request (or another transaction) forever (issue 10).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PgSettings {
    pub max_connections: u32,
    /// How long a request waits for a pooled connection (including connecting while the
    /// server refuses) before the store reports `Unavailable` (503): a refusing database
    /// answers within about this long, not after a hang.
    pub acquire_timeout: Duration,
    /// `statement_timeout` of every session: a statement running longer is cancelled by the
    /// server (SQLSTATE 57014 → 503).
    pub statement_timeout: Duration,
    /// `lock_timeout`: a statement waiting longer for a row lock gives up (55P03 → 503), so a
    /// stuck transaction cannot block every movement of a portfolio.
    pub lock_timeout: Duration,
    /// `idle_in_transaction_session_timeout`: the server ends a session that sits inside a
    /// transaction without a statement this long (a wedged client can hold no lock longer).
    pub idle_in_transaction_timeout: Duration,
}

impl PgSettings {
    pub const DEFAULT_ACQUIRE_TIMEOUT: Duration = Duration::from_millis(750);
    pub const DEFAULT_STATEMENT_TIMEOUT: Duration = Duration::from_secs(10);
    pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(5);
    pub const DEFAULT_IDLE_IN_TRANSACTION_TIMEOUT: Duration = Duration::from_secs(30);
}

/// Default bounds with the given pool size.
impl From<u32> for PgSettings {
    fn from(max_connections: u32) -> PgSettings {
        PgSettings {
            max_connections,
            acquire_timeout: PgSettings::DEFAULT_ACQUIRE_TIMEOUT,
            statement_timeout: PgSettings::DEFAULT_STATEMENT_TIMEOUT,
            lock_timeout: PgSettings::DEFAULT_LOCK_TIMEOUT,
            idle_in_transaction_timeout: PgSettings::DEFAULT_IDLE_IN_TRANSACTION_TIMEOUT,
        }
    }
}

/// Storage on PostgreSQL.
#[derive(Clone, Debug)]
pub struct PgStore {
    pool: PgPool,
    /// Reads that tolerate replication lag (history pages, price history, ledger verification)
    /// go here: the `DATABASE_REPLICA_URL` pool, or the primary's when none is configured.
    read_pool: PgPool,
    has_replica: bool,
    /// This process's name in idempotency claims; see `hold_claim_owner_lock`.
    claim_owner: i32,
    /// Dropped with the last clone of the store, which ends the lock-holding task.
    _claim_owner_lease: Arc<watch::Sender<()>>,
}

/// First key of the advisory lock (two-int4 form) by which a process says "my idempotency
/// claims are alive"; the second key is the process's `claim_owner`. `idempotency_sql`
/// looks for it in `pg_locks`.
pub(crate) const CLAIM_OWNER_LOCK_CLASS: i32 = 0x426C75;

impl PgStore {
    /// Connects a pool to `url` with the configured size and bounds.
    pub async fn connect(url: &str, settings: impl Into<PgSettings>) -> anyhow::Result<PgStore> {
        let pool = pool(url, settings.into())
            .await
            .context("connecting to PostgreSQL")?;
        PgStore::from_pool(pool).await
    }

    /// Wraps an existing pool. Takes this process's claim-owner lock before returning, so its
    /// first idempotency claim is already recognisably alive.
    pub async fn from_pool(pool: PgPool) -> anyhow::Result<PgStore> {
        let owner = new_claim_owner();
        let locked = lock_claim_owner(&pool, owner)
            .await
            .context("taking the idempotency claim-owner lock")?;
        Ok(PgStore::with_claim_owner(pool, owner, locked))
    }

    /// Sends the lag-tolerant reads to a read replica (a pool of the same size and bounds).
    pub async fn with_replica(
        self,
        url: &str,
        settings: impl Into<PgSettings>,
    ) -> anyhow::Result<PgStore> {
        let read_pool = pool(url, settings.into())
            .await
            .context("connecting to the PostgreSQL read replica")?;
        Ok(PgStore {
            read_pool,
            has_replica: true,
            ..self
        })
    }

    fn with_claim_owner(pool: PgPool, owner: i32, locked: PgConnection) -> PgStore {
        let (lease, stopped) = watch::channel(());
        tokio::spawn(hold_claim_owner_lock(
            pool.clone(),
            owner,
            Some(locked),
            stopped,
        ));
        PgStore {
            read_pool: pool.clone(),
            pool,
            has_replica: false,
            claim_owner: owner,
            _claim_owner_lease: Arc::new(lease),
        }
    }

    /// This process's name in the idempotency claims it takes.
    pub(crate) fn claim_owner(&self) -> i32 {
        self.claim_owner
    }

    /// The pool of reads that tolerate replication lag.
    pub fn read_pool(&self) -> &PgPool {
        &self.read_pool
    }

    /// Applies pending migrations. Safe to run from several processes at once: sqlx takes an
    /// advisory lock per database, and the role creation tolerates other databases.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        let mut conn = self
            .pool
            .acquire()
            .await
            .context("connecting to PostgreSQL")?;
        // A migration may rewrite a large table: the request-sized statement timeout does not
        // apply to it. `RESET` gives the session its configured timeout back.
        sqlx::query("SET statement_timeout = 0")
            .execute(&mut *conn)
            .await
            .context("migrating PostgreSQL")?;
        let migrated = MIGRATOR
            .run(&mut *conn)
            .await
            .context("migrating PostgreSQL");
        sqlx::query("RESET statement_timeout")
            .execute(&mut *conn)
            .await
            .context("migrating PostgreSQL")?;
        migrated
    }

    /// The underlying pool, for use cases that need their own statements.
    pub fn pg_pool(&self) -> &PgPool {
        &self.pool
    }

    /// A transaction on behalf of one user: `SET LOCAL ROLE blu_app` plus the `app.user_id`
    /// setting, so row-level security hides every other user's rows and the ledger is
    /// append-only. Both settings end with the transaction, so the pooled connection goes back
    /// clean. Background jobs use plain `pg_pool().begin()` as the owner instead.
    pub async fn tenant_tx(&self, user_id: Uuid) -> StoreResult<Transaction<'static, Postgres>> {
        let mut tx = self.pool.begin().await.map_err(map_sqlx)?;
        // `set_config('role', …, true)` is `SET LOCAL ROLE`: both settings in one round trip.
        sqlx::query(
            "SELECT set_config('role', 'blu_app', true), set_config('app.user_id', $1, true)",
        )
        .bind(user_id.to_string())
        .execute(&mut *tx)
        .await
        .map_err(map_sqlx)?;
        Ok(tx)
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

/// A pool without sqlx's ping before every acquire: that ping is a database round trip on the
/// request's path (1 of GET /portfolio's 7, bench/portfolio). A dead connection is still
/// caught: sqlx checks each connection when it goes back to the pool (off the request path), a
/// query on a broken one fails as `Unavailable` (503, the client retries) and closes it, and
/// idle connections are recycled after ten minutes.
///
/// Every session starts with the statement, lock and idle-in-transaction timeouts, and a
/// connection goes back to the pool only if the server says it is idle outside any
/// transaction (`release_only_idle`).
async fn pool(url: &str, settings: PgSettings) -> Result<PgPool, sqlx::Error> {
    let millis = |d: Duration| d.as_millis().to_string();
    let options = PgConnectOptions::from_str(url)?.options([
        ("statement_timeout", millis(settings.statement_timeout)),
        ("lock_timeout", millis(settings.lock_timeout)),
        (
            "idle_in_transaction_session_timeout",
            millis(settings.idle_in_transaction_timeout),
        ),
    ]);
    PgPoolOptions::new()
        .max_connections(settings.max_connections.max(1))
        .acquire_timeout(settings.acquire_timeout)
        .test_before_acquire(false)
        .idle_timeout(Duration::from_secs(600))
        .after_release(|conn, _| Box::pin(release_only_idle(conn)))
        .connect_with(options)
        .await
}

/// The pool's release check (issue 10): a connection whose session is still inside a
/// transaction — a cancelled `BEGIN`, a driver bug, a statement that ran `BEGIN` itself —
/// would run the next borrower's statements inside that transaction, answered but never
/// committed. Such a connection is closed instead (the server rolls its transaction back).
/// The common case costs nothing: the last reply already says "idle".
async fn release_only_idle(conn: &mut PgConnection) -> Result<bool, sqlx::Error> {
    if conn.is_idle_outside_transaction() {
        return Ok(true);
    }
    // Replies still pending (a rollback queued by a dropped transaction, a cancelled query):
    // read them, then look again.
    conn.ping().await?;
    if conn.is_idle_outside_transaction() {
        return Ok(true);
    }
    tracing::error!("a pooled connection came back inside a transaction; closing it");
    Ok(false)
}

/// A random positive `int4`: two live processes drawing the same one is a 1-in-2^31 event,
/// and would only make one's abandoned claims wait for the backstop timer.
fn new_claim_owner() -> i32 {
    (rand_u32() & 0x7fff_ffff).max(1) as i32
}

fn rand_u32() -> u32 {
    let bytes = Uuid::new_v4().into_bytes();
    u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
}

/// A dedicated connection (not pooled) holding the session advisory lock that says this
/// process's claims are alive. PostgreSQL drops the lock the moment the session ends — the
/// process crashed, was killed, or lost its connection — and other instances then take its
/// IN_PROGRESS claims over at once (`idempotency_sql::FREE_KEY_PG`).
async fn lock_claim_owner(pool: &PgPool, owner: i32) -> Result<PgConnection, sqlx::Error> {
    let options = pool.connect_options();
    let mut conn = PgConnection::connect_with(&options).await?;
    sqlx::query("SELECT pg_advisory_lock($1, $2)")
        .bind(CLAIM_OWNER_LOCK_CLASS)
        .bind(owner)
        .execute(&mut conn)
        .await?;
    Ok(conn)
}

/// Keeps the claim-owner lock for as long as the store lives: checks the session every few
/// seconds and takes the lock again on a new connection after a failure (a restarted or
/// unreachable database). Ends when the last clone of the store is dropped.
async fn hold_claim_owner_lock(
    pool: PgPool,
    owner: i32,
    mut locked: Option<PgConnection>,
    mut stopped: watch::Receiver<()>,
) {
    const CHECK_EVERY: Duration = Duration::from_secs(5);
    loop {
        let conn = match locked.take() {
            Some(conn) => Ok(conn),
            None => lock_claim_owner(&pool, owner).await,
        };
        let wait = match conn {
            Ok(conn) => {
                locked = Some(conn);
                CHECK_EVERY
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot take the idempotency claim-owner lock; retrying");
                Duration::from_secs(1)
            }
        };
        tokio::select! {
            changed = stopped.changed() => {
                if changed.is_err() {
                    if let Some(conn) = locked.take() {
                        let _ = conn.close().await;
                    }
                    return;
                }
            }
            () = tokio::time::sleep(wait) => {}
        }
        if let Some(mut conn) = locked.take()
            && conn.ping().await.is_ok()
        {
            locked = Some(conn);
        }
    }
}

fn other(e: anyhow::Error) -> StoreError {
    StoreError::Other(e)
}

fn asset_row(r: &PgRow) -> StoreResult<AssetRow> {
    let g = || -> anyhow::Result<AssetRow> {
        Ok(AssetRow {
            id: r.try_get("id")?,
            position: i64::from(r.try_get::<i16, _>("position")?),
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

fn otp_record(r: &PgRow) -> StoreResult<OtpRecord> {
    let g = || -> anyhow::Result<OtpRecord> {
        Ok(OtpRecord {
            id: r.try_get("id")?,
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

fn user_record(r: &PgRow) -> StoreResult<UserRecord> {
    let g = || -> anyhow::Result<UserRecord> {
        Ok(UserRecord {
            id: r.try_get("id")?,
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

fn session_record(r: &PgRow) -> StoreResult<SessionRecord> {
    let g = || -> anyhow::Result<SessionRecord> {
        Ok(SessionRecord {
            id: r.try_get("id")?,
            user_id: r.try_get("user_id")?,
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

fn dt(t: Timestamp) -> StoreResult<chrono::DateTime<chrono::Utc>> {
    to_datetime(t).map_err(other)
}

#[async_trait]
impl AuthStore for PgStore {
    async fn replace_otp(&self, otp: &OtpRecord) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.map_err(map_sqlx)?;
        sqlx::query("UPDATE otp_codes SET consumed = TRUE WHERE phone = $1 AND NOT consumed")
            .bind(&otp.phone)
            .execute(&mut *tx)
            .await
            .map_err(map_sqlx)?;
        sqlx::query(
            "INSERT INTO otp_codes (id, phone, code_hash, attempts, consumed, expires_at, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(otp.id)
        .bind(&otp.phone)
        .bind(&otp.code_hash)
        .bind(otp.attempts)
        .bind(otp.consumed)
        .bind(dt(otp.expires_at)?)
        .bind(dt(otp.created_at)?)
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
        // One conditional UPDATE: the row lock serialises concurrent attempts, and each
        // re-evaluates the condition on the latest row version, so at most `max_attempts`
        // succeed however many run at once.
        let row = sqlx::query(concat!(
            "UPDATE otp_codes SET attempts = attempts + 1 \
             WHERE id = $1 AND NOT consumed AND expires_at > $2 AND attempts < $3 \
             RETURNING ",
            otp_columns!()
        ))
        .bind(id)
        .bind(dt(now)?)
        .bind(max_attempts)
        .fetch_optional(&self.pool)
        .await
        .map_err(map_sqlx)?;
        row.as_ref().map(otp_record).transpose()
    }

    async fn consume_otp(&self, id: Uuid) -> StoreResult<bool> {
        let done =
            sqlx::query("UPDATE otp_codes SET consumed = TRUE WHERE id = $1 AND NOT consumed")
                .bind(id)
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
        .fetch_optional(&self.pool)
        .await
        .map_err(map_sqlx)?;
        Ok(row.is_some())
    }

    async fn login_user(&self, phone: &str, now: Timestamp) -> StoreResult<(UserRecord, bool)> {
        let now = dt(now)?;
        let mut tx = self.pool.begin().await.map_err(map_sqlx)?;
        // A concurrent first login of the same phone blocks on the partial unique index until
        // the other transaction commits, then inserts nothing: one user, both logins succeed.
        let inserted = sqlx::query(
            "INSERT INTO users (id, phone, phone_verified, created_at, updated_at, last_login_at) \
             VALUES ($1, $2, TRUE, $3, $3, $3) \
             ON CONFLICT (phone) WHERE deleted_at IS NULL DO NOTHING",
        )
        .bind(Uuid::now_v7())
        .bind(phone)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(map_sqlx)?;
        let created = inserted.rows_affected() == 1;
        let id: Uuid = sqlx::query_scalar(
            "UPDATE users SET phone_verified = TRUE, last_login_at = $2, updated_at = $2 \
             WHERE phone = $1 AND deleted_at IS NULL RETURNING id",
        )
        .bind(phone)
        .bind(now)
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
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_sqlx)?;
        row.as_ref().map(user_record).transpose()
    }

    async fn create_session(&self, s: &NewSession) -> StoreResult<()> {
        let issued = dt(s.issued_at)?;
        sqlx::query(
            "INSERT INTO sessions (id, user_id, refresh_token_hash, generation, rotated_at, \
             expires_at, user_agent, ip, created_at) VALUES ($1, $2, $3, 0, $4, $5, $6, $7, $4)",
        )
        .bind(s.id)
        .bind(s.user_id)
        .bind(&s.refresh_token_hash)
        .bind(issued)
        .bind(dt(s.expires_at)?)
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
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(map_sqlx)?;
        row.as_ref().map(session_record).transpose()
    }

    async fn rotate_session(&self, r: &SessionRotation) -> StoreResult<bool> {
        // Compare-and-set on (hash, generation); a revoked or expired session never rotates,
        // so a logout racing a refresh wins.
        let rotated_at = dt(r.rotated_at)?;
        let done = sqlx::query(
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
        .bind(rotated_at)
        .bind(dt(r.expires_at)?)
        .execute(&self.pool)
        .await
        .map_err(map_sqlx)?;
        Ok(done.rows_affected() == 1)
    }

    async fn revoke_session(&self, id: Uuid, now: Timestamp) -> StoreResult<u64> {
        let done =
            sqlx::query("UPDATE sessions SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
                .bind(id)
                .bind(dt(now)?)
                .execute(&self.pool)
                .await
                .map_err(map_sqlx)?;
        Ok(done.rows_affected())
    }

    async fn revoke_user_sessions(&self, user_id: Uuid, now: Timestamp) -> StoreResult<u64> {
        let done = sqlx::query(
            "UPDATE sessions SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL",
        )
        .bind(user_id)
        .bind(dt(now)?)
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
            .bind(dt(expires_at)?)
            .bind(dt(now)?)
            .execute(&self.pool)
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
        let mut tx = self.pool.begin().await.map_err(map_sqlx)?;
        let consumed = sqlx::query(bio::CONSUME_CHALLENGE)
            .bind(device_id)
            .bind(challenge_hash)
            .bind(dt(now)?)
            .fetch_all(&mut *tx)
            .await
            .map_err(map_sqlx)?;
        if consumed.is_empty() {
            return Ok(Vec::new());
        }
        let named = consumed
            .iter()
            .map(|r| {
                r.try_get("user_id")
                    .map_err(|e| StoreError::Other(e.into()))
            })
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
                    user_id: r
                        .try_get("user_id")
                        .map_err(|e| StoreError::Other(e.into()))?,
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
        let mut tx = self.pool.begin().await.map_err(map_sqlx)?;
        sqlx::query(bio::DEVICE_USED)
            .bind(device_id)
            .bind(dt(now)?)
            .bind(user_id)
            .execute(&mut *tx)
            .await
            .map_err(map_sqlx)?;
        sqlx::query(bio::USER_LOGGED_IN)
            .bind(user_id)
            .bind(dt(now)?)
            .execute(&mut *tx)
            .await
            .map_err(map_sqlx)?;
        tx.commit().await.map_err(map_sqlx)
    }

    async fn purge_biometric_challenges(&self, before: Timestamp) -> StoreResult<u64> {
        let done = sqlx::query(bio::PURGE_CHALLENGES)
            .bind(dt(before)?)
            .execute(&self.pool)
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
        let codes = sqlx::query(
            "DELETE FROM otp_codes WHERE expires_at < $1 OR (consumed AND created_at < $1)",
        )
        .bind(dt(older_than)?)
        .execute(&self.pool)
        .await
        .map_err(map_sqlx)?;
        let sessions = sqlx::query("DELETE FROM sessions WHERE expires_at < $1 OR revoked_at < $1")
            .bind(dt(sessions_older_than)?)
            .execute(&self.pool)
            .await
            .map_err(map_sqlx)?;
        Ok((codes.rows_affected(), sessions.rows_affected()))
    }
}

#[async_trait]
impl Store for PgStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(map_sqlx)?;
        if self.has_replica {
            sqlx::query("SELECT 1")
                .execute(&self.read_pool)
                .await
                .map_err(map_sqlx)?;
        }
        Ok(())
    }
}
