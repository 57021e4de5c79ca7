//! Idempotency claims (api.md §1.11, D29, issue 10): a key is claimed before the work, the
//! response is stored in the work's own transaction, and a claim whose holder is gone is freed.
//! Only the statement that frees a key differs, because only PostgreSQL can tell that the
//! process holding a claim is gone.

use blu_app::ports::{
    IdempotencyClaim, IdempotencyCompletion, IdempotencyRequest, StoreError, StoreResult,
};
use blu_domain::Timestamp;
use uuid::Uuid;

use crate::Database;
use crate::driver::{Dialect, FromRow, On, Query, Row, Sql, insert_without_flush_wait, query};

/// Expired records (24 h) and IN_PROGRESS records past the backstop give the key back.
/// $1 user, $2 key, $3 expired before, $4 abandoned before.
macro_rules! free_key_where {
    () => {
        "DELETE FROM idempotency_keys WHERE user_id = $1 AND key = $2 \
         AND (created_at < $3 OR (state = 'IN_PROGRESS' AND (created_at < $4"
    };
}

/// PostgreSQL also frees a claim whose owning process no longer holds its advisory lock
/// (`postgres::CLAIM_OWNER_LOCK_CLASS`, two-int4 form: `objsubid = 2`): the lock dies with the
/// owner's session, so a crashed or killed process's claims are free at once. SQLite has one
/// process per file: a live claim is only freed by the backstop timer, and the claims of a
/// dead process are released when `blu serve` starts (`release_abandoned`).
const FREE_KEY: Sql = Sql {
    postgres: concat!(
        free_key_where!(),
        " OR owner IS NULL OR NOT EXISTS (SELECT 1 FROM pg_locks l \
           WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2 \
           AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
           AND l.classid = 4353141 AND l.objid = idempotency_keys.owner::oid))))"
    ),
    sqlite: concat!(free_key_where!(), ")))"),
};

/// $1 user, $2 key, $3 method, $4 path, $5 fingerprint, $6 now, $7 claim, $8 owner.
/// A claim is not worth a disk flush: if the database crashes, the request holding it dies
/// with its work, and a lost claim only means the retry claims again.
const INSERT: Sql = insert_without_flush_wait!(
    "INSERT INTO idempotency_keys \
     (user_id, key, method, path, fingerprint, created_at, claim_id, owner)",
    "$1, $2, $3, $4, $5, $6, $7, $8",
    "ON CONFLICT (user_id, key) DO NOTHING"
);

const SELECT: &str = "SELECT fingerprint, state, status_code, response_body \
     FROM idempotency_keys WHERE user_id = $1 AND key = $2";

/// Completes only the claim named: zero rows means the claim was taken over.
/// $1 user, $2 key, $3 status, $4 body, $5 now, $6 claim.
const COMPLETE: &str = "UPDATE idempotency_keys SET state = 'COMPLETED', status_code = $3, \
     response_body = $4, completed_at = $5 \
     WHERE user_id = $1 AND key = $2 AND claim_id = $6 AND state = 'IN_PROGRESS'";

/// $1 user, $2 key, $3 claim.
const RELEASE: &str = "DELETE FROM idempotency_keys \
     WHERE user_id = $1 AND key = $2 AND claim_id = $3 AND state = 'IN_PROGRESS'";

const RELEASE_ALL_IN_PROGRESS: &str = "DELETE FROM idempotency_keys WHERE state = 'IN_PROGRESS'";

/// What a key already holds, as seen by a request with `fingerprint`.
struct Existing {
    fingerprint: String,
    state: String,
    status: Option<i64>,
    body: Option<Vec<u8>>,
}

impl FromRow for Existing {
    fn from_row(r: Row) -> anyhow::Result<Existing> {
        Ok(Existing {
            fingerprint: r.text("fingerprint")?,
            state: r.text("state")?,
            status: r.opt_int("status_code")?,
            body: r.opt_bytes("response_body")?,
        })
    }
}

impl Existing {
    fn claim(self, fingerprint: &str) -> anyhow::Result<IdempotencyClaim> {
        Ok(if self.fingerprint != fingerprint {
            IdempotencyClaim::Mismatch
        } else if self.state == "COMPLETED" {
            IdempotencyClaim::Replay {
                status: u16::try_from(self.status.unwrap_or_default())?,
                body: self.body.unwrap_or_default(),
            }
        } else {
            IdempotencyClaim::InProgress
        })
    }
}

/// Claims the key. A fresh key — nearly every request — is one autocommit `INSERT` (one round
/// trip); only a key that already has a record takes the transaction that frees an expired or
/// abandoned record and reads what the key holds.
pub(crate) async fn claim(
    db: &Database,
    request: &IdempotencyRequest,
) -> StoreResult<IdempotencyClaim> {
    if insert_claim(db.dialect(), request, db.claim_owner())
        .execute(db.pool())
        .await?
        == 1
    {
        return Ok(IdempotencyClaim::Started);
    }
    let mut tx = db.pool().begin_write().await?;
    query(tx.dialect().pick(&FREE_KEY))
        .bind(request.user_id)
        .bind(&request.key)
        .bind(request.expired_before)
        .bind(request.abandoned_before)
        .execute(&mut tx)
        .await?;
    let inserted = insert_claim(db.dialect(), request, db.claim_owner())
        .execute(&mut tx)
        .await?;
    let claim = if inserted == 1 {
        IdempotencyClaim::Started
    } else {
        let existing: Existing = query(SELECT)
            .bind(request.user_id)
            .bind(&request.key)
            .fetch_one(&mut tx)
            .await?;
        existing.claim(&request.fingerprint)?
    };
    tx.commit().await?;
    Ok(claim)
}

fn insert_claim(dialect: Dialect, request: &IdempotencyRequest, owner: Option<i32>) -> Query {
    query(dialect.pick(&INSERT))
        .bind(request.user_id)
        .bind(&request.key)
        .bind(&request.method)
        .bind(&request.path)
        .bind(&request.fingerprint)
        .bind(request.now)
        .bind(request.claim)
        .bind(owner)
}

/// Stores the response under the claim, in the transaction of the work it answers.
pub(crate) async fn complete<'a>(
    on: impl Into<On<'a>>,
    completion: &IdempotencyCompletion,
    now: Timestamp,
) -> StoreResult<()> {
    completed(completion_write(completion, now).execute(on).await?)
}

/// The write that stores the response under the claim (for a [`crate::driver::Batch`]).
pub(crate) fn completion_write(completion: &IdempotencyCompletion, now: Timestamp) -> Query {
    query(COMPLETE)
        .bind(completion.user_id)
        .bind(&completion.key)
        .bind(i32::from(completion.status))
        .bind(completion.body.clone())
        .bind(now)
        .bind(completion.claim)
}

/// What the completion changed: no row means the claim was taken over.
pub(crate) fn completed(rows: u64) -> StoreResult<()> {
    if rows != 1 {
        return Err(StoreError::IdempotencyClaimLost);
    }
    Ok(())
}

pub(crate) async fn release(
    db: &Database,
    user_id: Uuid,
    key: &str,
    claim: Uuid,
) -> StoreResult<()> {
    query(RELEASE)
        .bind(user_id)
        .bind(key)
        .bind(claim)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// Claims left IN_PROGRESS by the previous process. Only SQLite: on PostgreSQL the claim
/// statement itself recognises a dead owner, and other instances' live claims must stay.
pub(crate) async fn release_abandoned(db: &Database) -> StoreResult<u64> {
    match db.dialect() {
        Dialect::Postgres => Ok(0),
        Dialect::Sqlite => query(RELEASE_ALL_IN_PROGRESS).execute(db.pool()).await,
    }
}
