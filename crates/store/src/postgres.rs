//! Connecting to PostgreSQL (production and scale-out: any number of API instances and
//! workers): the pool and its bounds, migrations, the tenant transaction and the idempotency
//! claim-owner lock. The ports themselves are written once for both databases (`driver`).

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;

use anyhow::Context;
use blu_app::ports::StoreResult;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::{AssertSqlSafe, Connection, Postgres, Transaction};
use tokio::sync::watch;
use uuid::Uuid;

use crate::error::map_sqlx;

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
    /// This process's name in idempotency claims; see `hold_claim_owner_lock`. A new name is
    /// drawn each time the lock has to be taken again, so claims left behind by a lost
    /// connection never look alive again.
    claim_owner: Arc<AtomicI32>,
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
        let claim_owner = Arc::new(AtomicI32::new(owner));
        tokio::spawn(hold_claim_owner_lock(
            pool.clone(),
            claim_owner.clone(),
            Some(locked),
            stopped,
        ));
        PgStore {
            read_pool: pool.clone(),
            pool,
            has_replica: false,
            claim_owner,
            _claim_owner_lease: Arc::new(lease),
        }
    }

    /// This process's name in the idempotency claims it takes.
    pub(crate) fn claim_owner(&self) -> i32 {
        self.claim_owner.load(Ordering::Acquire)
    }

    /// Whether lag-tolerant reads go to a read replica.
    pub fn has_replica(&self) -> bool {
        self.has_replica
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
    ///
    /// `BEGIN` and both settings are one round trip: one simple-protocol message of two
    /// statements (`set_config('role', …, true)` is `SET LOCAL ROLE`). The user id is written
    /// into the text, which is safe because a `Uuid` prints as hex digits and hyphens only; if
    /// the settings fail, the transaction is rolled back like a refused `BEGIN`.
    pub async fn tenant_tx(&self, user_id: Uuid) -> StoreResult<Transaction<'static, Postgres>> {
        let begin = format!(
            "BEGIN; SELECT set_config('role', 'blu_app', true), \
             set_config('app.user_id', '{}', true)",
            user_id.hyphenated()
        );
        self.pool
            .begin_with(AssertSqlSafe(begin))
            .await
            .map_err(map_sqlx)
    }
}

/// A pool without sqlx's pings: the one before every acquire was a database round trip on the
/// request's path (1 of GET /portfolio's 7, bench/portfolio), and the one after every release
/// (off the path, but still a round trip) is skipped for a connection the release check saw
/// idle. Neither could catch what matters — a connection that died while idle in the pool: a
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
        // The pool's own ping right after this hook could tell nothing more: skip its round
        // trip (vendor/sqlx-postgres/PATCH.md, change 3).
        conn.skip_release_ping();
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
/// seconds and, after a failure (a restarted or unreachable database), takes the lock on a new
/// connection under a *new* owner name. The old name's lock died with its session, and claims
/// taken under it — among them any whose release failed while the database was away — must
/// stay recognisably dead instead of being held until the backstop timer. A request still
/// running under the old name loses nothing: completing a claim checks its claim id, not its
/// owner. Ends when the last clone of the store is dropped.
async fn hold_claim_owner_lock(
    pool: PgPool,
    owner: Arc<AtomicI32>,
    mut locked: Option<PgConnection>,
    mut stopped: watch::Receiver<()>,
) {
    const CHECK_EVERY: Duration = Duration::from_secs(5);
    loop {
        let conn = match locked.take() {
            Some(conn) => Ok(conn),
            None => {
                let renamed = new_claim_owner();
                let taken = lock_claim_owner(&pool, renamed).await;
                if taken.is_ok() {
                    owner.store(renamed, Ordering::Release);
                    tracing::info!("idempotency claim-owner lock taken again under a new owner");
                }
                taken
            }
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
