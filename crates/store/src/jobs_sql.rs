//! Statements of the job-run ledger shared by both backends (both accept `$n` parameters).

/// Claims a tick; the primary key (job_name, scheduled_at) makes the claim exactly-once.
pub const CLAIM: &str = "INSERT INTO job_runs (job_name, scheduled_at, run_id, status, attempts, \
     lease_owner, lease_expires_at, started_at) VALUES ($1, $2, $3, 'RUNNING', 1, $4, $5, $6) \
     ON CONFLICT DO NOTHING";

/// Picks the oldest tick needing another attempt (`{lock}` is `FOR UPDATE SKIP LOCKED` on
/// PostgreSQL, empty on SQLite where the write lock already serialises claimers).
macro_rules! reclaim_sql {
    ($lock:literal) => {
        concat!(
            "UPDATE job_runs SET status = 'RUNNING', attempts = attempts + 1, lease_owner = $2, \
             lease_expires_at = $3, finished_at = NULL, error = NULL, next_attempt_at = NULL \
             WHERE (job_name, scheduled_at) IN (SELECT job_name, scheduled_at FROM job_runs \
             WHERE job_name = $1 AND scheduled_at > $6 AND attempts < $5 AND \
             ((status = 'RUNNING' AND lease_expires_at < $4) OR (status = 'FAILED' AND next_attempt_at <= $4)) \
             ORDER BY scheduled_at LIMIT 1 ",
            $lock,
            ") RETURNING job_name, scheduled_at, run_id, attempts"
        )
    };
}
pub(crate) use reclaim_sql;

pub const EXTEND: &str = "UPDATE job_runs SET lease_expires_at = $4 WHERE job_name = $1 AND \
     scheduled_at = $2 AND status = 'RUNNING' AND lease_owner = $3";

pub const FINISH: &str = "UPDATE job_runs SET status = $4, finished_at = $5, result = $6, error = $7, \
     next_attempt_at = $8, lease_expires_at = NULL WHERE job_name = $1 AND scheduled_at = $2 AND lease_owner = $3 AND status = 'RUNNING'";

pub const PURGE: &str = "DELETE FROM job_runs WHERE status <> 'RUNNING' AND scheduled_at < $1 \
     AND scheduled_at < (SELECT max(m.scheduled_at) FROM job_runs m WHERE m.job_name = job_runs.job_name)";

pub const IS_RUNNING: &str = "SELECT 1 FROM job_runs WHERE job_name = $1 AND status = 'RUNNING' AND lease_expires_at > $2 LIMIT 1";

pub const LATEST: &str = "SELECT job_name, scheduled_at, run_id, status, attempts, started_at, finished_at, \
     result, error FROM job_runs r WHERE started_at = (SELECT max(started_at) FROM job_runs x \
     WHERE x.job_name = r.job_name) ORDER BY job_name";

pub const BY_ID: &str = "SELECT job_name, scheduled_at, run_id, status, attempts, started_at, finished_at, \
     result, error FROM job_runs WHERE run_id = $1";
