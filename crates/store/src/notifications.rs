//! The notification outbox (api.md §10, business-rules §10), reminder reads, portfolio status
//! writes and housekeeping. These jobs span tenants: they run as the owner.

use std::time::Duration;

use async_trait::async_trait;
use blu_app::ports::notifications::SKIPPED_PREFIX;
use blu_app::ports::{
    DueItem, Housekeeping, NewNotification, NotificationStore, PendingNotification, StatusStore,
    StatusWrite, StoreError, StoreResult, StoredStatus,
};
use blu_domain::Timestamp;
use uuid::Uuid;

use crate::Database;
use crate::driver::{FromRow, On, Row, Sql, query};

/// The push data of an outbox row: FCM carries string values only, so strings are kept as they
/// are and other values (the payout of a protection is a number) travel as their JSON text;
/// nulls are dropped. Rows are written by several features, and one row the sender cannot read
/// must not block the whole outbox, so anything but an object reads as no data.
fn push_data(data: Option<serde_json::Value>) -> std::collections::BTreeMap<String, String> {
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

const ENQUEUE: &str = "INSERT INTO notifications \
     (id, user_id, kind, entity_id, dedupe_key, title, body, data, next_attempt_at, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) \
     ON CONFLICT (kind, entity_id, dedupe_key) DO NOTHING";

/// The due rows. PostgreSQL skips rows another sender has locked; SQLite's writer lock
/// already serialises claims.
macro_rules! due_select {
    () => {
        "SELECT n.id, n.user_id, n.kind, n.title, n.body, n.data, n.attempts, \
         u.notifications_enabled, u.notification_token \
         FROM notifications n JOIN users u ON u.id = n.user_id \
         WHERE n.delivered_at IS NULL AND n.next_attempt_at <= $1 AND n.attempts < $2 \
         AND (n.last_error IS NULL OR n.last_error <> 'in flight') \
         ORDER BY n.next_attempt_at, n.id LIMIT $3"
    };
}

const DUE: Sql = Sql {
    postgres: concat!(due_select!(), " FOR UPDATE OF n SKIP LOCKED"),
    sqlite: due_select!(),
};

/// A claim holds the row until `next_attempt_at`: a crashed sender's unsent rows are due again
/// after it.
const CLAIM: &str =
    "UPDATE notifications SET attempts = attempts + 1, next_attempt_at = $2 WHERE id = $1";

/// Set just before the push is sent; such a row is never claimed again (at most once).
const MARK_SENDING: &str = "UPDATE notifications SET last_error = 'in flight' WHERE id = $1";

const MARK_DELIVERED: &str =
    "UPDATE notifications SET delivered_at = $2, last_error = NULL WHERE id = $1";

const MARK_CLOSED: &str =
    "UPDATE notifications SET delivered_at = $2, last_error = $3 WHERE id = $1";

const MARK_FAILED: &str =
    "UPDATE notifications SET last_error = $2, next_attempt_at = $3 WHERE id = $1";

const CLEAR_TOKEN: &str = "UPDATE users SET notification_token = NULL \
     WHERE id = $1 AND notification_token = $2";

const INSTALLMENTS_DUE: &str = "SELECT i.id, p.user_id, i.due_at, \
     CAST(i.number AS TEXT) AS label \
     FROM loan_installments i JOIN loans l ON l.id = i.loan_id \
     JOIN portfolios p ON p.id = l.portfolio_id \
     WHERE l.status = 'ACTIVE' AND i.status <> 'PAID' AND i.due_at > $1 AND i.due_at <= $2 \
     ORDER BY i.due_at, i.id";

const PROTECTIONS_EXPIRING: &str = "SELECT r.id, p.user_id, r.expires_at AS due_at, \
     r.asset_id AS label \
     FROM protections r JOIN portfolios p ON p.id = r.portfolio_id \
     WHERE r.status = 'ACTIVE' AND r.expires_at > $1 AND r.expires_at <= $2 \
     ORDER BY r.expires_at, r.id";

const PURGE_IDEMPOTENCY: &str = "DELETE FROM idempotency_keys WHERE created_at < $1";

/// Expired quotes; a RESERVED one belongs to a trade in progress and is left alone, and a
/// CONSUMED one is kept longer ($2): its row is what refuses a second fill of a quote kept
/// outside the database (Redis), so it must outlive every copy of the quote.
const PURGE_TRADE_QUOTES: &str = "DELETE FROM trade_quotes \
     WHERE (state = 'CONSUMED' AND expires_at < $2) \
     OR (state NOT IN ('CONSUMED', 'RESERVED') AND expires_at < $1)";

const PURGE_PROTECTION_QUOTES: &str =
    "DELETE FROM protection_quotes WHERE expires_at < $1 AND state <> 'RESERVED'";

/// Activity rows beyond the latest `$1` of each portfolio (the ledger keeps everything).
const TRIM_ACTIVITY: &str = "DELETE FROM action_log WHERE id IN (\
     SELECT id FROM (SELECT id, ROW_NUMBER() OVER (PARTITION BY portfolio_id ORDER BY id DESC) \
     AS position FROM action_log) ranked WHERE position > $1)";

const PORTFOLIO_STATUSES: &str = "SELECT id, user_id, status FROM portfolios ORDER BY id";

const SAVE_STATUS: &str = "UPDATE portfolios SET status = $2, holdings_value_irr = $3, \
     total_value_irr = $4, share_foundation = $5, share_growth = $6, share_upside = $7, \
     max_drift_pp = $8, drift_detected_at = COALESCE($9, drift_detected_at), metrics_at = $10 \
     WHERE id = $1";

/// A row of the outbox, written on its own (`NotificationStore::enqueue`) or in the
/// transaction of the change it announces (a loan or protection movement), so a change never
/// lacks its notification and a rolled-back change sends none.
pub(crate) struct OutboxRow<'a> {
    pub id: Uuid,
    pub user_id: Uuid,
    pub kind: &'a str,
    pub entity_id: &'a str,
    pub dedupe_key: &'a str,
    pub title: &'a str,
    pub body: &'a str,
    pub data: Option<serde_json::Value>,
    pub at: Timestamp,
}

/// Adds the row unless its (kind, entity, dedupe key) is already there; whether it was added.
pub(crate) async fn enqueue_row<'e>(
    on: impl Into<On<'e>>,
    row: OutboxRow<'_>,
) -> StoreResult<bool> {
    let added = query(ENQUEUE)
        .bind(row.id)
        .bind(row.user_id)
        .bind(row.kind)
        .bind(row.entity_id)
        .bind(row.dedupe_key)
        .bind(row.title)
        .bind(row.body)
        .bind(row.data)
        .bind(row.at)
        .execute(on)
        .await?;
    Ok(added == 1)
}

impl FromRow for PendingNotification {
    fn from_row(r: Row) -> anyhow::Result<PendingNotification> {
        Ok(PendingNotification {
            id: r.uuid("id")?,
            user_id: r.uuid("user_id")?,
            kind: r.text("kind")?,
            title: r.text("title")?,
            body: r.text("body")?,
            // A row the sender cannot read must not block the outbox (`push_data`).
            data: push_data(r.opt_json("data").ok().flatten()),
            attempts: r.int_as::<i32>("attempts")? + 1,
            notifications_enabled: r.bool("notifications_enabled")?,
            device_token: r.opt_text("notification_token")?,
        })
    }
}

impl FromRow for DueItem {
    fn from_row(r: Row) -> anyhow::Result<DueItem> {
        Ok(DueItem {
            id: r.uuid("id")?,
            user_id: r.uuid("user_id")?,
            due_at: r.ts("due_at")?,
            label: r.text("label")?,
        })
    }
}

impl FromRow for StoredStatus {
    fn from_row(r: Row) -> anyhow::Result<StoredStatus> {
        Ok(StoredStatus {
            portfolio_id: r.uuid("id")?,
            user_id: r.uuid("user_id")?,
            status: r.text("status")?,
        })
    }
}

impl Database {
    async fn due_items(
        &self,
        statement: &'static str,
        from: Timestamp,
        until: Timestamp,
    ) -> StoreResult<Vec<DueItem>> {
        query(statement)
            .bind(from)
            .bind(until)
            .fetch_all(self.pool())
            .await
    }
}

#[async_trait]
impl NotificationStore for Database {
    async fn enqueue(&self, n: &NewNotification, now: Timestamp) -> StoreResult<bool> {
        let data = serde_json::to_value(&n.data).map_err(|e| StoreError::Other(e.into()))?;
        let row = OutboxRow {
            id: Uuid::now_v7(),
            user_id: n.user_id,
            kind: &n.kind,
            entity_id: &n.entity_id,
            dedupe_key: &n.dedupe_key,
            title: &n.title,
            body: &n.body,
            data: Some(data),
            at: now,
        };
        enqueue_row(self.pool(), row).await
    }

    async fn claim_due(
        &self,
        now: Timestamp,
        limit: u32,
        max_attempts: i32,
        in_flight_until: Timestamp,
    ) -> StoreResult<Vec<PendingNotification>> {
        let mut tx = self.pool().begin_write().await?;
        let claimed: Vec<PendingNotification> = query(tx.dialect().pick(&DUE))
            .bind(now)
            .bind(max_attempts)
            .bind(i64::from(limit))
            .fetch_all(&mut tx)
            .await?;
        for n in &claimed {
            query(CLAIM)
                .bind(n.id)
                .bind(in_flight_until)
                .execute(&mut tx)
                .await?;
        }
        tx.commit().await?;
        Ok(claimed)
    }

    async fn mark_sending(&self, id: Uuid) -> StoreResult<()> {
        query(MARK_SENDING).bind(id).execute(self.pool()).await?;
        Ok(())
    }

    async fn mark_delivered(&self, id: Uuid, now: Timestamp) -> StoreResult<()> {
        query(MARK_DELIVERED)
            .bind(id)
            .bind(now)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    async fn mark_skipped(&self, id: Uuid, reason: &str, now: Timestamp) -> StoreResult<()> {
        query(MARK_CLOSED)
            .bind(id)
            .bind(now)
            .bind(format!("{SKIPPED_PREFIX}{reason}"))
            .execute(self.pool())
            .await?;
        Ok(())
    }

    async fn mark_failed(&self, id: Uuid, error: &str, next: Timestamp) -> StoreResult<()> {
        query(MARK_FAILED)
            .bind(id)
            .bind(error)
            .bind(next)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    async fn clear_device_token(&self, user_id: Uuid, token: &str) -> StoreResult<bool> {
        let cleared = query(CLEAR_TOKEN)
            .bind(user_id)
            .bind(token)
            .execute(self.pool())
            .await?;
        Ok(cleared == 1)
    }

    async fn installments_due(
        &self,
        from: Timestamp,
        until: Timestamp,
    ) -> StoreResult<Vec<DueItem>> {
        self.due_items(INSTALLMENTS_DUE, from, until).await
    }

    async fn protections_expiring(
        &self,
        from: Timestamp,
        until: Timestamp,
    ) -> StoreResult<Vec<DueItem>> {
        self.due_items(PROTECTIONS_EXPIRING, from, until).await
    }

    async fn housekeeping(
        &self,
        now: Timestamp,
        idempotency_ttl: Duration,
        consumed_quote_ttl: Duration,
        activity_keep: u32,
    ) -> StoreResult<Housekeeping> {
        let purge = |statement: &'static str, before: Timestamp| {
            query(statement).bind(before).execute(self.pool())
        };
        let activity_rows = query(TRIM_ACTIVITY)
            .bind(i64::from(activity_keep))
            .execute(self.pool())
            .await?;
        Ok(Housekeeping {
            idempotency_keys: purge(PURGE_IDEMPOTENCY, now.minus_duration(idempotency_ttl)).await?,
            trade_quotes: query(PURGE_TRADE_QUOTES)
                .bind(now)
                .bind(now.minus_duration(consumed_quote_ttl))
                .execute(self.pool())
                .await?,
            protection_quotes: purge(PURGE_PROTECTION_QUOTES, now).await?,
            activity_rows,
        })
    }
}

#[async_trait]
impl StatusStore for Database {
    async fn portfolio_statuses(&self) -> StoreResult<Vec<StoredStatus>> {
        query(PORTFOLIO_STATUSES).fetch_all(self.pool()).await
    }

    async fn save_status(&self, portfolio_id: Uuid, w: &StatusWrite) -> StoreResult<()> {
        query(SAVE_STATUS)
            .bind(portfolio_id)
            .bind(&w.status)
            .bind(w.holdings_value_irr)
            .bind(w.total_value_irr)
            .bind(w.shares[0])
            .bind(w.shares[1])
            .bind(w.shares[2])
            .bind(w.max_drift_pp)
            .bind(w.drift_detected_at)
            .bind(w.at)
            .execute(self.pool())
            .await?;
        Ok(())
    }
}
