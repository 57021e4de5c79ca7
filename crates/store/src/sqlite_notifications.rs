//! The notification outbox, reminder reads and housekeeping on SQLite (uuids and
//! instants as TEXT, JSON as TEXT).

use std::time::Duration;

use async_trait::async_trait;
use blu_app::ports::notifications::SKIPPED_PREFIX;
use blu_app::ports::{
    DueItem, Housekeeping, NewNotification, NotificationStore, PendingNotification, StatusStore,
    StatusWrite, StoreError, StoreResult, StoredStatus,
};
use blu_domain::Timestamp;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;
use uuid::Uuid;

use crate::codec::{SqliteRowExt, dec_text, ts_text, uuid_text};
use crate::error::map_sqlx;
use crate::notifications_sql::{self as sql, due_sql};
use crate::sqlite::SqliteStore;

fn at(t: Timestamp) -> StoreResult<String> {
    Ok(ts_text(t))
}

fn pending(r: &SqliteRow) -> StoreResult<PendingNotification> {
    let g = || -> anyhow::Result<PendingNotification> {
        let data: Option<String> = r.try_get("data")?;
        Ok(PendingNotification {
            id: r.uuid("id")?,
            user_id: r.uuid("user_id")?,
            kind: r.try_get("kind")?,
            title: r.try_get("title")?,
            body: r.try_get("body")?,
            data: sql::push_data(data.as_deref().and_then(|d| serde_json::from_str(d).ok())),
            attempts: r.try_get::<i32, _>("attempts")? + 1,
            notifications_enabled: r.try_get("notifications_enabled")?,
            device_token: r.try_get("notification_token")?,
        })
    };
    g().map_err(StoreError::Other)
}

fn due_item(r: &SqliteRow) -> StoreResult<DueItem> {
    let g = || -> anyhow::Result<DueItem> {
        Ok(DueItem {
            id: r.uuid("id")?,
            user_id: r.uuid("user_id")?,
            due_at: r.ts("due_at")?,
            label: r.try_get("label")?,
        })
    };
    g().map_err(StoreError::Other)
}

impl SqliteStore {
    async fn due_items(
        &self,
        statement: &'static str,
        from: Timestamp,
        until: Timestamp,
    ) -> StoreResult<Vec<DueItem>> {
        let rows = sqlx::query(statement)
            .bind(at(from)?)
            .bind(at(until)?)
            .fetch_all(self.sqlite_pool())
            .await
            .map_err(map_sqlx)?;
        rows.iter().map(due_item).collect()
    }
}

#[async_trait]
impl NotificationStore for SqliteStore {
    async fn enqueue(&self, n: &NewNotification, now: Timestamp) -> StoreResult<bool> {
        let data = serde_json::to_string(&n.data).map_err(|e| StoreError::Other(e.into()))?;
        let done = sqlx::query(sql::ENQUEUE)
            .bind(uuid_text(Uuid::now_v7()))
            .bind(uuid_text(n.user_id))
            .bind(&n.kind)
            .bind(&n.entity_id)
            .bind(&n.dedupe_key)
            .bind(&n.title)
            .bind(&n.body)
            .bind(data)
            .bind(at(now)?)
            .execute(self.sqlite_pool())
            .await
            .map_err(map_sqlx)?;
        Ok(done.rows_affected() == 1)
    }

    async fn claim_due(
        &self,
        now: Timestamp,
        limit: u32,
        max_attempts: i32,
        in_flight_until: Timestamp,
    ) -> StoreResult<Vec<PendingNotification>> {
        let mut tx = self.write_tx().await?;
        let rows = sqlx::query(due_sql!(""))
            .bind(at(now)?)
            .bind(max_attempts)
            .bind(i64::from(limit))
            .fetch_all(&mut *tx)
            .await
            .map_err(map_sqlx)?;
        let claimed = rows.iter().map(pending).collect::<StoreResult<Vec<_>>>()?;
        for n in &claimed {
            sqlx::query(sql::CLAIM)
                .bind(uuid_text(n.id))
                .bind(at(in_flight_until)?)
                .execute(&mut *tx)
                .await
                .map_err(map_sqlx)?;
        }
        tx.commit().await.map_err(map_sqlx)?;
        Ok(claimed)
    }

    async fn mark_sending(&self, id: Uuid) -> StoreResult<()> {
        sqlx::query(sql::MARK_SENDING)
            .bind(uuid_text(id))
            .execute(self.sqlite_pool())
            .await
            .map_err(map_sqlx)?;
        Ok(())
    }

    async fn mark_delivered(&self, id: Uuid, now: Timestamp) -> StoreResult<()> {
        sqlx::query(sql::MARK_DELIVERED)
            .bind(uuid_text(id))
            .bind(at(now)?)
            .execute(self.sqlite_pool())
            .await
            .map_err(map_sqlx)?;
        Ok(())
    }

    async fn mark_skipped(&self, id: Uuid, reason: &str, now: Timestamp) -> StoreResult<()> {
        sqlx::query(sql::MARK_CLOSED)
            .bind(uuid_text(id))
            .bind(at(now)?)
            .bind(format!("{SKIPPED_PREFIX}{reason}"))
            .execute(self.sqlite_pool())
            .await
            .map_err(map_sqlx)?;
        Ok(())
    }

    async fn mark_failed(&self, id: Uuid, error: &str, next: Timestamp) -> StoreResult<()> {
        sqlx::query(sql::MARK_FAILED)
            .bind(uuid_text(id))
            .bind(error)
            .bind(at(next)?)
            .execute(self.sqlite_pool())
            .await
            .map_err(map_sqlx)?;
        Ok(())
    }

    async fn clear_device_token(&self, user_id: Uuid, token: &str) -> StoreResult<bool> {
        let done = sqlx::query(sql::CLEAR_TOKEN)
            .bind(uuid_text(user_id))
            .bind(token)
            .execute(self.sqlite_pool())
            .await
            .map_err(map_sqlx)?;
        Ok(done.rows_affected() == 1)
    }

    async fn installments_due(
        &self,
        from: Timestamp,
        until: Timestamp,
    ) -> StoreResult<Vec<DueItem>> {
        self.due_items(sql::INSTALLMENTS_DUE, from, until).await
    }

    async fn protections_expiring(
        &self,
        from: Timestamp,
        until: Timestamp,
    ) -> StoreResult<Vec<DueItem>> {
        self.due_items(sql::PROTECTIONS_EXPIRING, from, until).await
    }

    async fn housekeeping(
        &self,
        now: Timestamp,
        idempotency_ttl: Duration,
        activity_keep: u32,
    ) -> StoreResult<Housekeeping> {
        let pool = self.sqlite_pool();
        let purge = |statement: &'static str, before: Timestamp| async move {
            let done = sqlx::query(statement)
                .bind(at(before)?)
                .execute(pool)
                .await
                .map_err(map_sqlx)?;
            StoreResult::Ok(done.rows_affected())
        };
        let activity = sqlx::query(sql::TRIM_ACTIVITY)
            .bind(i64::from(activity_keep))
            .execute(pool)
            .await
            .map_err(map_sqlx)?;
        Ok(Housekeeping {
            idempotency_keys: purge(sql::PURGE_IDEMPOTENCY, now.minus_duration(idempotency_ttl))
                .await?,
            trade_quotes: purge(sql::PURGE_TRADE_QUOTES, now).await?,
            protection_quotes: purge(sql::PURGE_PROTECTION_QUOTES, now).await?,
            activity_rows: activity.rows_affected(),
        })
    }
}

#[async_trait]
impl StatusStore for SqliteStore {
    async fn portfolio_statuses(&self) -> StoreResult<Vec<StoredStatus>> {
        let rows = sqlx::query(sql::PORTFOLIO_STATUSES)
            .fetch_all(self.sqlite_pool())
            .await
            .map_err(map_sqlx)?;
        rows.iter()
            .map(|r| {
                let g = || -> anyhow::Result<StoredStatus> {
                    Ok(StoredStatus {
                        portfolio_id: r.uuid("id")?,
                        user_id: r.uuid("user_id")?,
                        status: r.try_get("status")?,
                    })
                };
                g().map_err(StoreError::Other)
            })
            .collect()
    }

    async fn save_status(&self, portfolio_id: Uuid, w: &StatusWrite) -> StoreResult<()> {
        sqlx::query(sql::SAVE_STATUS)
            .bind(uuid_text(portfolio_id))
            .bind(&w.status)
            .bind(dec_text(w.holdings_value_irr))
            .bind(dec_text(w.total_value_irr))
            .bind(dec_text(w.shares[0]))
            .bind(dec_text(w.shares[1]))
            .bind(dec_text(w.shares[2]))
            .bind(dec_text(w.max_drift_pp))
            .bind(w.drift_detected_at.map(ts_text))
            .bind(ts_text(w.at))
            .execute(self.sqlite_pool())
            .await
            .map_err(map_sqlx)?;
        Ok(())
    }
}
