//! Mapping of driver errors onto the port's `StoreError`, so the API can answer 503 for an
//! unreachable or overloaded database, 409-style conflicts for uniqueness rules, and 500 for
//! everything else.

use blu_app::ports::{Conflict, StoreError, StoreResult};

/// Classifies a sqlx error (both backends).
pub fn map_sqlx(error: sqlx::Error) -> StoreError {
    match error {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        // A connection cut mid-conversation (e.g. "unexpected response from SSLRequest"
        // through a proxy that dropped it): nothing was committed, the client may retry.
        | sqlx::Error::Protocol(_)
        | sqlx::Error::WorkerCrashed => StoreError::Unavailable(error.to_string()),
        sqlx::Error::Database(ref db) => {
            if db.is_unique_violation() {
                return StoreError::Conflict(Conflict::Unique(constraint_name(db.as_ref())));
            }
            let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
            if is_unavailable_code(&code) {
                StoreError::Unavailable(error.to_string())
            } else {
                StoreError::Other(anyhow::Error::new(error))
            }
        }
        other => StoreError::Other(anyhow::Error::new(other)),
    }
}

/// The violated constraint: PostgreSQL names it; SQLite only says
/// "UNIQUE constraint failed: users.phone", so the column list stands in for the name.
fn constraint_name(db: &dyn sqlx::error::DatabaseError) -> String {
    if let Some(name) = db.constraint() {
        return name.to_owned();
    }
    let message = db.message();
    message
        .split_once("failed: ")
        .map_or(message, |(_, columns)| columns)
        .to_owned()
}

/// Error codes meaning "the database refused the work for now; retry later" rather than "this
/// request is wrong". PostgreSQL SQLSTATEs always have five characters; SQLite extended result
/// codes are integers below 10,000, so the length tells the backends apart.
fn is_unavailable_code(code: &str) -> bool {
    if code.len() == 5 {
        // Class 08 connection exceptions, class 53 insufficient resources (too many
        // connections, disk full), 57014 statement timeout, 57P01–57P03 shutdown or startup,
        // 40001/40P01 serialization failure and deadlock (the transaction may simply be
        // retried), 55P03 lock_timeout and 25P03 idle-in-transaction timeout (issue 10).
        return code.starts_with("08")
            || code.starts_with("53")
            || matches!(
                code,
                "57014" | "57P01" | "57P02" | "57P03" | "40001" | "40P01" | "55P03" | "25P03"
            );
    }
    // The low byte is the primary code: SQLITE_BUSY (5, still locked after busy_timeout),
    // SQLITE_LOCKED (6), SQLITE_IOERR (10), SQLITE_FULL (13), SQLITE_CANTOPEN (14).
    code.parse::<i32>()
        .is_ok_and(|n| matches!(n & 0xff, 5 | 6 | 10 | 13 | 14))
}

/// Names the conflict a statement can hit, at the statement (realworld's `on_constraint`):
/// `insert.await.on_unique(Conflict::PortfolioExists)?`.
pub(crate) trait OnUnique<T> {
    fn on_unique(self, conflict: Conflict) -> StoreResult<T>;
}

impl<T> OnUnique<T> for StoreResult<T> {
    fn on_unique(self, conflict: Conflict) -> StoreResult<T> {
        self.map_err(|e| match e {
            StoreError::Conflict(Conflict::Unique(_)) => StoreError::Conflict(conflict),
            other => other,
        })
    }
}
