//! Storage of Blu Markets: PostgreSQL (production, scale-out) and SQLite (the embedded default)
//! implementations of `blu_app::ports::Store`, each with its own embedded migrations of the
//! complete schema. `tests/conformance.rs` runs one suite against both so they cannot drift.
//!
//! Every statement is a runtime-checked `sqlx::query` with bound parameters: no `query!`
//! macros (no database needed at build time) and no SQL built from values.
#![forbid(unsafe_code)]

mod biometric_sql;
pub mod codec;
pub mod driver;
pub mod error;
mod idempotency_sql;
mod jobs_sql;
mod loans_codec;
mod notifications_sql;
mod operators;
pub mod pg;
mod pg_jobs;
mod pg_loans;
mod pg_notifications;
pub mod pg_portfolio;
mod pg_prices;
mod pg_protection;
pub mod portfolio_codec;
mod prices_sql;
mod protection_codec;
pub mod reference;
pub mod sqlite;
mod sqlite_jobs;
mod sqlite_loans;
mod sqlite_notifications;
pub mod sqlite_portfolio;
mod sqlite_prices;
mod sqlite_protection;

use std::path::Path;
use std::sync::Arc;

use anyhow::bail;
use blu_app::ports::{NotificationStore, PortfolioStore, StatusStore, Store};

pub use pg::{PgSettings, PgStore};
pub use reference::AssetRow;
pub use sqlite::SqliteStore;

/// File name of the embedded database inside the data directory.
pub const SQLITE_FILE_NAME: &str = "blu.db";
/// PostgreSQL pool size when the configuration names none.
pub const DEFAULT_PG_MAX_CONNECTIONS: u32 = 10;

/// A migrated store of either backend, for callers that need the concrete pool.
#[derive(Clone, Debug)]
pub enum Database {
    Postgres(PgStore),
    Sqlite(SqliteStore),
}

impl Database {
    /// The primary's pool.
    pub fn pool(&self) -> driver::Pool<'_> {
        match self {
            Database::Postgres(store) => driver::Pool::Postgres(store.pg_pool()),
            Database::Sqlite(store) => driver::Pool::Sqlite(store.sqlite_pool()),
        }
    }

    /// The portfolio store of the same database.
    pub fn portfolio_store(&self) -> Arc<dyn PortfolioStore> {
        match self {
            Database::Postgres(store) => Arc::new(store.clone()),
            Database::Sqlite(store) => Arc::new(store.clone()),
        }
    }

    /// The notification outbox (and reminder and housekeeping reads) of the same database.
    pub fn notification_store(&self) -> Arc<dyn NotificationStore> {
        match self {
            Database::Postgres(store) => Arc::new(store.clone()),
            Database::Sqlite(store) => Arc::new(store.clone()),
        }
    }

    /// Portfolio statuses for the status refresh, of the same database.
    pub fn status_store(&self) -> Arc<dyn StatusStore> {
        match self {
            Database::Postgres(store) => Arc::new(store.clone()),
            Database::Sqlite(store) => Arc::new(store.clone()),
        }
    }

    /// The protection store of the same database.
    pub fn protection_store(&self) -> Arc<dyn blu_app::ports::ProtectionStore> {
        match self {
            Database::Postgres(store) => Arc::new(store.clone()),
            Database::Sqlite(store) => Arc::new(store.clone()),
        }
    }

    /// The store behind the port.
    pub fn into_store(self) -> Arc<dyn Store> {
        match self {
            Database::Postgres(store) => Arc::new(store),
            Database::Sqlite(store) => Arc::new(store),
        }
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
