//! SQL of idempotency claims (api.md §1.11, D29, issue 10), shared by both backends: only the
//! statement that frees a key differs, because only PostgreSQL can tell that the process
//! holding a claim is gone.

/// Expired records (24 h) and IN_PROGRESS records past the backstop give the key back.
/// $1 user, $2 key, $3 expired before, $4 abandoned before.
macro_rules! free_key_where {
    () => {
        "DELETE FROM idempotency_keys WHERE user_id = $1 AND key = $2 \
         AND (created_at < $3 OR (state = 'IN_PROGRESS' AND (created_at < $4"
    };
}

/// SQLite: one process per file, so a live claim is only freed by the backstop timer (claims
/// of a dead process are released when `blu serve` starts: `RELEASE_ALL_IN_PROGRESS`).
pub const FREE_KEY_SQLITE: &str = concat!(free_key_where!(), ")))");

/// PostgreSQL: also frees a claim whose owning process no longer holds its advisory lock
/// (`pg::CLAIM_OWNER_LOCK_CLASS`, two-int4 form: `objsubid = 2`). The lock dies with the
/// owner's session, so a crashed or killed process's claims are free at once.
pub const FREE_KEY_PG: &str = concat!(
    free_key_where!(),
    " OR owner IS NULL OR NOT EXISTS (SELECT 1 FROM pg_locks l \
       WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2 \
       AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
       AND l.classid = 4353141 AND l.objid = idempotency_keys.owner::oid))))"
);

/// $1 user, $2 key, $3 method, $4 path, $5 fingerprint, $6 now, $7 claim, $8 owner.
pub const INSERT: &str = "INSERT INTO idempotency_keys \
     (user_id, key, method, path, fingerprint, created_at, claim_id, owner) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (user_id, key) DO NOTHING";

pub const SELECT: &str = "SELECT fingerprint, state, status_code, response_body \
     FROM idempotency_keys WHERE user_id = $1 AND key = $2";

/// Completes only the claim named: zero rows means the claim was taken over.
/// $1 user, $2 key, $3 status, $4 body, $5 now, $6 claim.
pub const COMPLETE: &str = "UPDATE idempotency_keys SET state = 'COMPLETED', status_code = $3, \
     response_body = $4, completed_at = $5 \
     WHERE user_id = $1 AND key = $2 AND claim_id = $6 AND state = 'IN_PROGRESS'";

/// $1 user, $2 key, $3 claim.
pub const RELEASE: &str = "DELETE FROM idempotency_keys \
     WHERE user_id = $1 AND key = $2 AND claim_id = $3 AND state = 'IN_PROGRESS'";

pub const RELEASE_ALL_IN_PROGRESS: &str =
    "DELETE FROM idempotency_keys WHERE state = 'IN_PROGRESS'";
