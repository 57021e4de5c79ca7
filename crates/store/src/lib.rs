//! Storage of Blu Markets (seed-architecture-plan §3, issue 13): every port of `blu_app::ports`
//! implemented once, on [`Database`], over PostgreSQL (production, scale-out) or SQLite (the
//! embedded default). One file per port; `driver` alone knows the two drivers; `postgres` and
//! `sqlite` only connect, migrate and open transactions. Each backend has its own embedded
//! migrations of the complete schema, and `tests/conformance.rs` runs one suite against both.
//!
//! Every statement is a runtime-checked query with bound parameters: no `query!` macros (no
//! database needed at build time) and no SQL built from values.
#![forbid(unsafe_code)]

mod auth;
mod biometric;
pub mod codec;
pub mod driver;
pub mod error;
mod idempotency;
mod jobs;
mod loans;
mod notifications;
mod operators;
mod portfolio;
pub mod postgres;
mod prices;
mod protection;
pub mod reference;
pub mod sqlite;

use std::path::Path;
use std::sync::Arc;

use anyhow::bail;
use blu_app::ports::{NotificationStore, PortfolioStore, StatusStore, Store};

use blu_app::ports::StoreResult;
use uuid::Uuid;

use crate::driver::{Dialect, Pool, Tx};
pub use postgres::{PgSettings, PgStore};
pub use reference::AssetRow;
pub use sqlite::SqliteStore;

/// File name of the embedded database inside the data directory.
pub const SQLITE_FILE_NAME: &str = "blu.db";
/// PostgreSQL pool size when the configuration names none.
pub const DEFAULT_PG_MAX_CONNECTIONS: u32 = 10;

/// A migrated store of either backend: every port is implemented on it once.
#[derive(Clone, Debug)]
pub enum Database {
    Postgres(PgStore),
    Sqlite(SqliteStore),
}

impl Database {
    /// The primary's pool.
    pub fn pool(&self) -> Pool<'_> {
        match self {
            Database::Postgres(store) => Pool::Postgres(store.pg_pool()),
            Database::Sqlite(store) => Pool::Sqlite(store.sqlite_pool()),
        }
    }

    /// The pool of reads that tolerate replication lag (history pages, price history, ledger
    /// verification): the read replica when one is configured.
    pub fn read_pool(&self) -> Pool<'_> {
        match self {
            Database::Postgres(store) => Pool::Postgres(store.read_pool()),
            Database::Sqlite(store) => Pool::Sqlite(store.sqlite_pool()),
        }
    }

    pub fn dialect(&self) -> Dialect {
        self.pool().dialect()
    }

    /// A transaction on behalf of one user (a money movement, a profile change). PostgreSQL:
    /// as the tenant role with `app.user_id` set, so row-level security hides every other
    /// user's rows; SQLite: `BEGIN IMMEDIATE`, the database's one write lock.
    pub async fn begin_as_user(&self, user_id: Uuid) -> StoreResult<Tx> {
        match self {
            Database::Postgres(store) => Ok(Tx::Postgres(
                store.tenant_tx(user_id).await?,
                driver::Role::Tenant,
            )),
            Database::Sqlite(_) => self.pool().begin_write().await,
        }
    }

    /// This process's name in the idempotency claims it takes (PostgreSQL; NULL on SQLite).
    fn claim_owner(&self) -> Option<i32> {
        match self {
            Database::Postgres(store) => Some(store.claim_owner()),
            Database::Sqlite(_) => None,
        }
    }

    /// The asset registry as seeded (joined with its layer parameters), in registry order.
    pub async fn assets(&self) -> StoreResult<Vec<AssetRow>> {
        driver::query(reference::ASSETS_QUERY)
            .fetch_all(self.pool())
            .await
    }

    /// The portfolio store of the same database.
    pub fn portfolio_store(&self) -> Arc<dyn PortfolioStore> {
        Arc::new(self.clone())
    }

    /// The notification outbox (and reminder and housekeeping reads) of the same database.
    pub fn notification_store(&self) -> Arc<dyn NotificationStore> {
        Arc::new(self.clone())
    }

    /// Portfolio statuses for the status refresh, of the same database.
    pub fn status_store(&self) -> Arc<dyn StatusStore> {
        Arc::new(self.clone())
    }

    /// The protection store of the same database.
    pub fn protection_store(&self) -> Arc<dyn blu_app::ports::ProtectionStore> {
        Arc::new(self.clone())
    }

    /// The store behind the port.
    pub fn into_store(self) -> Arc<dyn Store> {
        Arc::new(self)
    }
}

/// Opens and migrates the database chosen by `database_url`: `postgres://…` or
/// `postgresql://…` → PostgreSQL with `pg_max_connections`; `sqlite://path` (or `sqlite:path`)
/// → that SQLite file; absent → SQLite file `blu.db` in `data_dir` (the embedded default).
/// `pg` is the PostgreSQL pool size (and bounds, `PgSettings`).
pub async fn connect(
    database_url: Option<&str>,
    data_dir: &Path,
    pg: impl Into<PgSettings>,
) -> anyhow::Result<Database> {
    let database = match database_url.map(str::trim).filter(|u| !u.is_empty()) {
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            Database::Postgres(PgStore::connect(url, pg.into()).await?)
        }
        Some(url) if url.starts_with("sqlite:") => {
            Database::Sqlite(SqliteStore::open_url(url).await?)
        }
        Some(url) => bail!(
            "unsupported DATABASE_URL scheme in {:?}: expected postgres://, postgresql:// or sqlite://",
            url.split(':').next().unwrap_or_default()
        ),
        None => Database::Sqlite(SqliteStore::open(&data_dir.join(SQLITE_FILE_NAME)).await?),
    };
    match &database {
        Database::Postgres(store) => store.migrate().await?,
        Database::Sqlite(store) => store.migrate().await?,
    }
    Ok(database)
}

/// `connect`, then sends lag-tolerant reads to `replica_url` (PostgreSQL only).
pub async fn connect_with_replica(
    database_url: Option<&str>,
    replica_url: Option<&str>,
    data_dir: &Path,
    pg: impl Into<PgSettings>,
) -> anyhow::Result<Database> {
    let pg = pg.into();
    let database = connect(database_url, data_dir, pg).await?;
    let Some(replica) = replica_url.map(str::trim).filter(|u| !u.is_empty()) else {
        return Ok(database);
    };
    if !(replica.starts_with("postgres://") || replica.starts_with("postgresql://")) {
        bail!("DATABASE_REPLICA_URL must be a postgres:// or postgresql:// URL");
    }
    match database {
        Database::Postgres(store) => Ok(Database::Postgres(store.with_replica(replica, pg).await?)),
        Database::Sqlite(_) => bail!("DATABASE_REPLICA_URL needs a PostgreSQL DATABASE_URL"),
    }
}

/// `connect` with the default PostgreSQL pool size, behind the port.
pub async fn open(database_url: Option<&str>, data_dir: &Path) -> anyhow::Result<Arc<dyn Store>> {
    Ok(connect(database_url, data_dir, DEFAULT_PG_MAX_CONNECTIONS)
        .await?
        .into_store())
}
