//! Opening the SQLite database (the embedded default: one process, a file under the data
//! directory) and migrating it. The ports themselves are written once for both databases
//! (`driver`).

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use blu_app::ports::StoreResult;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Sqlite, Transaction};

use crate::error::map_sqlx;

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
}
