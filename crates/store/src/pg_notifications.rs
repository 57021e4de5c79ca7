//! The notification outbox, reminder reads and housekeeping on PostgreSQL (as the owner: these
//! jobs span tenants).

use std::time::Duration;

use async_trait::async_trait;
use blu_app::ports::notifications::SKIPPED_PREFIX;
use blu_app::ports::{
    DueItem, Housekeeping, NewNotification, NotificationStore, PendingNotification, StatusStore,
    StatusWrite, StoreError, StoreResult, StoredStatus,
};
use blu_domain::Timestamp;
use sqlx::Row;
use sqlx::postgres::PgRow;
use uuid::Uuid;

use crate::codec::{PgRowExt, to_datetime};
use crate::error::map_sqlx;
use crate::notifications_sql::{self as sql, due_sql};
use crate::pg::PgStore;

fn at(t: Timestamp) -> StoreResult<chrono::DateTime<chrono::Utc>> {
    to_datetime(t).map_err(StoreError::Other)
}

fn pending(r: &PgRow) -> StoreResult<PendingNotification> {
    let g = || -> anyhow::Result<PendingNotification> {
        let data: Option<serde_json::Value> = r.try_get("data")?;
        Ok(PendingNotification {
            id: r.try_get("id")?,
            user_id: r.try_get("user_id")?,
            kind: r.try_get("kind")?,
            title: r.try_get("title")?,
            body: r.try_get("body")?,
            data: sql::push_data(data),
            attempts: r.try_get::<i32, _>("attempts")? + 1,
            notifications_enabled: r.try_get("notifications_enabled")?,
            device_token: r.try_get("notification_token")?,
        })
    };
    g().map_err(StoreError::Other)
}

fn due_item(r: &PgRow) -> StoreResult<DueItem> {
    let g = || -> anyhow::Result<DueItem> {
        Ok(DueItem {
            id: r.try_get("id")?,
            user_id: r.try_get("user_id")?,
            due_at: r.ts("due_at")?,
            label: r.try_get("label")?,
        })
    };
    g().map_err(StoreError::Other)
}

impl PgStore {
    async fn due_items(
        &self,
        statement: &'static str,
        from: Timestamp,
        until: Timestamp,
    ) -> StoreResult<Vec<DueItem>> {
        let rows = sqlx::query(statement)
            .bind(at(from)?)
            .bind(at(until)?)
            .fetch_all(self.pg_pool())
            .await
            .map_err(map_sqlx)?;
        rows.iter().map(due_item).collect()
    }
}

#[async_trait]
impl NotificationStore for PgStore {
    async fn enqueue(&self, n: &NewNotification, now: Timestamp) -> StoreResult<bool> {
        let data = serde_json::to_value(&n.data).map_err(|e| StoreError::Other(e.into()))?;
        let done = sqlx::query(sql::ENQUEUE)
            .bind(Uuid::now_v7())
            .bind(n.user_id)
            .bind(&n.kind)
            .bind(&n.entity_id)
            .bind(&n.dedupe_key)
            .bind(&n.title)
            .bind(&n.body)
            .bind(data)
            .bind(at(now)?)
            .execute(self.pg_pool())
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
        let mut tx = self.pg_pool().begin().await.map_err(map_sqlx)?;
        let rows = sqlx::query(due_sql!("FOR UPDATE OF n SKIP LOCKED"))
            .bind(at(now)?)
            .bind(max_attempts)
            .bind(i64::from(limit))
            .fetch_all(&mut *tx)
            .await
            .map_err(map_sqlx)?;
        let claimed = rows.iter().map(pending).collect::<StoreResult<Vec<_>>>()?;
        for n in &claimed {
            sqlx::query(sql::CLAIM)
                .bind(n.id)
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
            .bind(id)
            .execute(self.pg_pool())
            .await
            .map_err(map_sqlx)?;
        Ok(())
    }

    async fn mark_delivered(&self, id: Uuid, now: Timestamp) -> StoreResult<()> {
        sqlx::query(sql::MARK_DELIVERED)
            .bind(id)
            .bind(at(now)?)
            .execute(self.pg_pool())
            .await
            .map_err(map_sqlx)?;
        Ok(())
    }

    async fn mark_skipped(&self, id: Uuid, reason: &str, now: Timestamp) -> StoreResult<()> {
        sqlx::query(sql::MARK_CLOSED)
            .bind(id)
            .bind(at(now)?)
            .bind(format!("{SKIPPED_PREFIX}{reason}"))
            .execute(self.pg_pool())
            .await
            .map_err(map_sqlx)?;
        Ok(())
    }

    async fn mark_failed(&self, id: Uuid, error: &str, next: Timestamp) -> StoreResult<()> {
        sqlx::query(sql::MARK_FAILED)
            .bind(id)
            .bind(error)
            .bind(at(next)?)
            .execute(self.pg_pool())
            .await
            .map_err(map_sqlx)?;
        Ok(())
    }

    async fn clear_device_token(&self, user_id: Uuid, token: &str) -> StoreResult<bool> {
        let done = sqlx::query(sql::CLEAR_TOKEN)
            .bind(user_id)
            .bind(token)
            .execute(self.pg_pool())
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
        let pool = self.pg_pool();
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
impl StatusStore for PgStore {
    async fn portfolio_statuses(&self) -> StoreResult<Vec<StoredStatus>> {
        let rows = sqlx::query(sql::PORTFOLIO_STATUSES)
            .fetch_all(self.pg_pool())
            .await
            .map_err(map_sqlx)?;
        rows.iter()
            .map(|r| {
                Ok(StoredStatus {
                    portfolio_id: r.try_get("id").map_err(map_sqlx)?,
                    user_id: r.try_get("user_id").map_err(map_sqlx)?,
                    status: r.try_get("status").map_err(map_sqlx)?,
                })
            })
            .collect()
    }

    async fn save_status(&self, portfolio_id: Uuid, w: &StatusWrite) -> StoreResult<()> {
        sqlx::query(sql::SAVE_STATUS)
            .bind(portfolio_id)
            .bind(&w.status)
            .bind(w.holdings_value_irr)
            .bind(w.total_value_irr)
            .bind(w.shares[0])
            .bind(w.shares[1])
            .bind(w.shares[2])
            .bind(w.max_drift_pp)
            .bind(w.drift_detected_at.map(at).transpose()?)
            .bind(at(w.at)?)
            .execute(self.pg_pool())
            .await
            .map_err(map_sqlx)?;
        Ok(())
    }
}
