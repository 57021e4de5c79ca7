//! `blu backup <path>` and `blu restore <path> [--force]` (issue 14 §5, seed plan §8).
//!
//! SQLite (the embedded default): the backup is `VACUUM INTO`, a consistent snapshot taken in
//! one read transaction while the server keeps serving (WAL mode: writers are not blocked; a
//! movement committed before the snapshot starts is in it, one committed after is not). The
//! restore checks the copy (`PRAGMA integrity_check`), writes it beside the configured database
//! file and renames it into place; an existing database is refused unless `--force`, which keeps
//! it as `blu.db.before-restore-<unix time>`. Stop the server before a forced restore.
//!
//! PostgreSQL: `pg_dump` / base backups with WAL archiving, run by `scripts/pg-backup`
//! (docs/operations.md); `blu backup` says so instead of half-doing it.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::Serialize;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};

use crate::config::Config;
use crate::startup::open_database;

/// What a backup or a restored database holds (compared after a restore).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Counts {
    pub users: i64,
    pub portfolios: i64,
    pub ledger_entries: i64,
    pub holdings: i64,
    pub loans: i64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub path: PathBuf,
    pub bytes: u64,
    pub counts: Counts,
}

/// The SQLite file the configuration points at (`DATABASE_URL=sqlite://…` or `DATA_DIR/blu.db`).
pub fn sqlite_path(config: &Config) -> anyhow::Result<PathBuf> {
    match config.database_url.as_deref().map(str::trim) {
        None | Some("") => Ok(config.data_dir.join(blu_store::SQLITE_FILE_NAME)),
        Some(url) if url.starts_with("sqlite:") => {
            let rest = url
                .strip_prefix("sqlite://")
                .or_else(|| url.strip_prefix("sqlite:"))
                .unwrap_or_default();
            Ok(PathBuf::from(rest.split('?').next().unwrap_or_default()))
        }
        Some(_) => bail!(
            "blu backup and blu restore handle the SQLite database; on PostgreSQL use \
             scripts/pg-backup (pg_dump, or a base backup with WAL archiving; docs/operations.md)"
        ),
    }
}

async fn counts(pool: &SqlitePool) -> anyhow::Result<Counts> {
    let count = |table: &'static str| async move {
        // Table names are constants of this function, never input.
        sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
            .fetch_one(pool)
            .await
            .with_context(|| format!("counting {table}"))
    };
    Ok(Counts {
        users: count("users").await?,
        portfolios: count("portfolios").await?,
        ledger_entries: count("ledger").await?,
        holdings: count("holdings").await?,
        loans: count("loans").await?,
    })
}

async fn open_file(path: &Path, read_only: bool) -> anyhow::Result<SqlitePool> {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .read_only(read_only)
        .create_if_missing(false);
    SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .with_context(|| format!("opening {}", path.display()))
}

/// Writes a consistent copy of the running database to `target` (which must not exist).
pub async fn backup(config: &Config, target: &Path) -> anyhow::Result<Summary> {
    sqlite_path(config)?;
    if target.exists() {
        bail!("{} exists; a backup never overwrites", target.display());
    }
    if let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let database = open_database(config).await?;
    let blu_store::Database::Sqlite(store) = database else {
        unreachable!("sqlite_path refused PostgreSQL");
    };
    let target_text = target
        .to_str()
        .context("the backup path must be valid UTF-8")?;
    sqlx::query("VACUUM INTO ?")
        .bind(target_text)
        .execute(store.sqlite_pool())
        .await
        .context("VACUUM INTO")?;
    summarize(target).await
}

async fn summarize(path: &Path) -> anyhow::Result<Summary> {
    let pool = open_file(path, true).await?;
    let counts = counts(&pool).await?;
    pool.close().await;
    Ok(Summary {
        path: path.to_path_buf(),
        bytes: std::fs::metadata(path)?.len(),
        counts,
    })
}

/// Restores `source` (a file made by `backup`) as the configured database.
pub async fn restore(config: &Config, source: &Path, force: bool) -> anyhow::Result<Summary> {
    let target = sqlite_path(config)?;
    let check = open_file(source, true).await?;
    let integrity: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&check)
        .await
        .context("checking the backup")?;
    check.close().await;
    if integrity != "ok" {
        bail!(
            "{} fails its integrity check: {integrity}",
            source.display()
        );
    }
    if target.exists() {
        if !force {
            bail!(
                "{} exists; restoring would replace the live database (stop the server, then \
                 pass --force: the current file is kept as {}.before-restore-<time>)",
                target.display(),
                target.display()
            );
        }
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        let kept = PathBuf::from(format!("{}.before-restore-{stamp}", target.display()));
        std::fs::rename(&target, &kept)
            .with_context(|| format!("moving {} aside", target.display()))?;
    }
    // The old database's WAL must not be replayed onto the restored file.
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", target.display()));
    }
    if let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let partial = PathBuf::from(format!("{}.restoring", target.display()));
    std::fs::copy(source, &partial)
        .with_context(|| format!("copying {} to {}", source.display(), partial.display()))?;
    std::fs::File::open(&partial)?.sync_all()?;
    std::fs::rename(&partial, &target)?;
    // Brings an older backup's schema up to this version.
    open_database(config).await?;
    summarize(&target).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_sqlite_databases_are_backed_up_by_blu_itself() {
        let dir = std::env::temp_dir().join(format!("blu-backup-{}", rand::random::<u64>()));
        let dir_text = dir.to_string_lossy().into_owned();
        let config = Config::from_source(&[("DATA_DIR", dir_text.as_str())]).unwrap();
        assert_eq!(sqlite_path(&config).unwrap(), dir.join("blu.db"));
        let config = Config::from_source(&[
            ("DATA_DIR", dir_text.as_str()),
            ("DATABASE_URL", "sqlite:///tmp/x/other.db?mode=rwc"),
        ])
        .unwrap();
        assert_eq!(
            sqlite_path(&config).unwrap(),
            PathBuf::from("/tmp/x/other.db")
        );
        let config = Config::from_source(&[
            ("DATA_DIR", dir_text.as_str()),
            ("DATABASE_URL", "postgres://u@127.0.0.1/blu"),
        ])
        .unwrap();
        let err = sqlite_path(&config).unwrap_err().to_string();
        assert!(err.contains("scripts/pg-backup"), "{err}");
    }
}
