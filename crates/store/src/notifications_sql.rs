//! Outbox, reminder and housekeeping statements shared by both backends (`$n` placeholders
//! work on SQLite too; each backend binds its own column encodings).

/// The push data of an outbox row: FCM carries string values only, so strings are kept as they
/// are and other values (the payout of a protection is a number) travel as their JSON text;
/// nulls are dropped. Rows are written by several features, and one row the sender cannot read
/// must not block the whole outbox, so anything but an object reads as no data.
pub fn push_data(data: Option<serde_json::Value>) -> std::collections::BTreeMap<String, String> {
    let Some(serde_json::Value::Object(fields)) = data else {
        return std::collections::BTreeMap::new();
    };
    fields
        .into_iter()
        .filter_map(|(key, value)| match value {
            serde_json::Value::Null => None,
            serde_json::Value::String(text) => Some((key, text)),
            other => Some((key, other.to_string())),
        })
        .collect()
}

pub const ENQUEUE: &str = "INSERT INTO notifications \
     (id, user_id, kind, entity_id, dedupe_key, title, body, data, next_attempt_at, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) \
     ON CONFLICT (kind, entity_id, dedupe_key) DO NOTHING";

/// The due rows; `{lock}` is `FOR UPDATE OF n SKIP LOCKED` on PostgreSQL, empty on SQLite
/// (whose writer lock already serialises claims).
macro_rules! due_sql {
    ($lock:literal) => {
        concat!(
            "SELECT n.id, n.user_id, n.kind, n.title, n.body, n.data, n.attempts, \
             u.notifications_enabled, u.notification_token \
             FROM notifications n JOIN users u ON u.id = n.user_id \
             WHERE n.delivered_at IS NULL AND n.next_attempt_at <= $1 AND n.attempts < $2 \
             AND (n.last_error IS NULL OR n.last_error <> 'in flight') \
             ORDER BY n.next_attempt_at, n.id LIMIT $3 ",
            $lock
        )
    };
}
pub(crate) use due_sql;

/// A claim holds the row until `next_attempt_at`: a crashed sender's unsent rows are due again
/// after it.
pub const CLAIM: &str =
    "UPDATE notifications SET attempts = attempts + 1, next_attempt_at = $2 WHERE id = $1";

/// Set just before the push is sent; such a row is never claimed again (at most once).
pub const MARK_SENDING: &str = "UPDATE notifications SET last_error = 'in flight' WHERE id = $1";

pub const MARK_DELIVERED: &str =
    "UPDATE notifications SET delivered_at = $2, last_error = NULL WHERE id = $1";

pub const MARK_CLOSED: &str =
    "UPDATE notifications SET delivered_at = $2, last_error = $3 WHERE id = $1";

pub const MARK_FAILED: &str =
    "UPDATE notifications SET last_error = $2, next_attempt_at = $3 WHERE id = $1";

pub const CLEAR_TOKEN: &str = "UPDATE users SET notification_token = NULL \
     WHERE id = $1 AND notification_token = $2";

pub const INSTALLMENTS_DUE: &str = "SELECT i.id, p.user_id, i.due_at, \
     CAST(i.number AS TEXT) AS label \
     FROM loan_installments i JOIN loans l ON l.id = i.loan_id \
     JOIN portfolios p ON p.id = l.portfolio_id \
     WHERE l.status = 'ACTIVE' AND i.status <> 'PAID' AND i.due_at > $1 AND i.due_at <= $2 \
     ORDER BY i.due_at, i.id";

pub const PROTECTIONS_EXPIRING: &str = "SELECT r.id, p.user_id, r.expires_at AS due_at, \
     r.asset_id AS label \
     FROM protections r JOIN portfolios p ON p.id = r.portfolio_id \
     WHERE r.status = 'ACTIVE' AND r.expires_at > $1 AND r.expires_at <= $2 \
     ORDER BY r.expires_at, r.id";

pub const PURGE_IDEMPOTENCY: &str = "DELETE FROM idempotency_keys WHERE created_at < $1";

/// Expired quotes; a RESERVED one belongs to a trade in progress and is left alone.
pub const PURGE_TRADE_QUOTES: &str =
    "DELETE FROM trade_quotes WHERE expires_at < $1 AND state <> 'RESERVED'";

pub const PURGE_PROTECTION_QUOTES: &str =
    "DELETE FROM protection_quotes WHERE expires_at < $1 AND state <> 'RESERVED'";

/// Activity rows beyond the latest `$1` of each portfolio (the ledger keeps everything).
pub const TRIM_ACTIVITY: &str = "DELETE FROM action_log WHERE id IN (\
     SELECT id FROM (SELECT id, ROW_NUMBER() OVER (PARTITION BY portfolio_id ORDER BY id DESC) \
     AS position FROM action_log) ranked WHERE position > $1)";

pub const PORTFOLIO_STATUSES: &str = "SELECT id, user_id, status FROM portfolios ORDER BY id";

pub const SAVE_STATUS: &str = "UPDATE portfolios SET status = $2, holdings_value_irr = $3, \
     total_value_irr = $4, share_foundation = $5, share_growth = $6, share_upside = $7, \
     max_drift_pp = $8, drift_detected_at = COALESCE($9, drift_detected_at), metrics_at = $10 \
     WHERE id = $1";
