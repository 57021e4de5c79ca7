//! Storage of protections and protection quotes (business-rules §8, api.md §7): loads and
//! writes inside the portfolio transaction of a movement, quote reservation, the expiry job's
//! read and the operator's volatility regimes.

mod codec;

use async_trait::async_trait;
use blu_app::ports::{
    AuditEntry, Conflict, ProtectionNotification, ProtectionQuoteRecord, ProtectionRecord,
    ProtectionStore, ProtectionWrite, RegimeSetting, StoreError, StoreResult,
};
use blu_domain::{AssetId, Timestamp};
use uuid::Uuid;

use self::codec::protection_columns;
use crate::Database;
use crate::driver::{Exec, FromRow, Row, Tx, query};
use crate::notifications::{OutboxRow, enqueue_row};
use crate::operators::insert_audit_opt;

/// The protections of a portfolio, newest first.
pub(crate) async fn load(
    conn: &mut impl Exec,
    portfolio_id: Uuid,
) -> StoreResult<Vec<ProtectionRecord>> {
    query(concat!(
        "SELECT ",
        protection_columns!(),
        " FROM protections WHERE portfolio_id = $1 ORDER BY created_at DESC, id DESC"
    ))
    .bind(portfolio_id)
    .fetch_all(conn.on())
    .await
}

/// Reserves a quote of `user_id` (AVAILABLE and unexpired → RESERVED) and returns it.
pub(crate) async fn reserve_quote(
    tx: &mut Tx,
    user_id: Uuid,
    id: &str,
    now: Timestamp,
) -> StoreResult<Option<ProtectionQuoteRecord>> {
    query(
        "UPDATE protection_quotes SET state = CASE WHEN expires_at < $3 THEN 'EXPIRED' \
         ELSE 'RESERVED' END, reserved_at = $3 \
         WHERE id = $1 AND user_id = $2 AND state = 'AVAILABLE'",
    )
    .bind(id)
    .bind(user_id)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    query(
        "SELECT id, user_id, portfolio_id, holding_id, terms, state FROM protection_quotes \
         WHERE id = $1 AND user_id = $2",
    )
    .bind(id)
    .bind(user_id)
    .fetch_optional(tx)
    .await
}

async fn notify(tx: &mut Tx, n: &ProtectionNotification, now: Timestamp) -> StoreResult<()> {
    let row = OutboxRow {
        id: Uuid::now_v7(),
        user_id: n.user_id,
        kind: &n.kind,
        entity_id: &n.entity_id,
        dedupe_key: &n.dedupe_key,
        title: &n.title,
        body: &n.body,
        data: Some(n.data.clone()),
        at: now,
    };
    enqueue_row(tx, row).await.map(drop)
}

const PROTECTION_INSERT: &str = concat!(
    "INSERT INTO protections (",
    protection_columns!(),
    ", updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, \
     $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31, $32, $33, \
     $34, $34)"
);

/// Settles or cancels an ACTIVE protection; zero rows means it was no longer ACTIVE.
const PROTECTION_TRANSITION: &str = "UPDATE protections SET status = $2, cancelled_at = $3, \
     settled_at = $4, settlement_price_usd = $5, settlement_fx_rate = $6, \
     settlement_held_quantity = $7, payout_usd = $8, payout_irr = $9, updated_at = $10 \
     WHERE id = $1 AND status = 'ACTIVE'";

/// Applies the protection writes of a movement inside its transaction.
pub(crate) async fn write(
    tx: &mut Tx,
    writes: &[ProtectionWrite],
    now: Timestamp,
) -> StoreResult<()> {
    for w in writes {
        match w {
            ProtectionWrite::Insert(record) => {
                let mut insert = query(PROTECTION_INSERT);
                for v in codec::protection_values(record) {
                    insert = insert.bind(v);
                }
                insert.execute(&mut *tx).await?;
                if let Some(quote_id) = &record.quote_id {
                    let consumed = query(
                        "UPDATE protection_quotes SET state = 'CONSUMED', consumed_at = $2 \
                         WHERE id = $1 AND state IN ('AVAILABLE', 'RESERVED')",
                    )
                    .bind(quote_id)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                    if consumed != 1 {
                        return Err(StoreError::Conflict(Conflict::ProtectionQuoteConsumed));
                    }
                }
                if let Some(holding) = record.holding_id {
                    query(
                        "UPDATE protection_quotes SET state = 'EXPIRED' \
                         WHERE holding_id = $1 AND state = 'AVAILABLE'",
                    )
                    .bind(holding)
                    .execute(&mut *tx)
                    .await?;
                }
            }
            ProtectionWrite::Transition {
                record,
                notification,
            } => {
                // Indices in `protection_columns!()` order: id, then status through payout_irr.
                let v = codec::protection_values(record);
                let mut update = query(PROTECTION_TRANSITION).bind(v[0].clone());
                for column in &v[25..=32] {
                    update = update.bind(column.clone());
                }
                let updated = update.bind(now).execute(&mut *tx).await?;
                if updated != 1 {
                    return Err(StoreError::Conflict(Conflict::ProtectionNotActive));
                }
                if let Some(n) = notification {
                    notify(tx, n, now).await?;
                }
            }
        }
    }
    Ok(())
}

/// A protection due for settlement: its owner and its id.
struct Due(Uuid, Uuid);

impl FromRow for Due {
    fn from_row(r: Row) -> anyhow::Result<Due> {
        Ok(Due(r.uuid("user_id")?, r.uuid("id")?))
    }
}

#[async_trait]
impl ProtectionStore for Database {
    async fn save_protection_quote(&self, quote: &ProtectionQuoteRecord) -> StoreResult<()> {
        let mut insert = query(
            "INSERT INTO protection_quotes (id, user_id, portfolio_id, holding_id, asset_id, \
             coverage_pct, duration_days, premium_irr, terms, expires_at, created_at, state) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        );
        for v in codec::quote_values(quote) {
            insert = insert.bind(v);
        }
        insert
            .bind(quote.state.as_str())
            .execute(self.pool())
            .await?;
        Ok(())
    }

    async fn protections(&self, user_id: Uuid) -> StoreResult<Vec<ProtectionRecord>> {
        let mut conn = self.pool().acquire().await?;
        let portfolio: Option<Row> = query(
            "SELECT p.id FROM portfolios p JOIN users u ON u.id = p.user_id \
             WHERE p.user_id = $1 AND u.deleted_at IS NULL",
        )
        .bind(user_id)
        .fetch_optional(&mut conn)
        .await?;
        match portfolio {
            Some(r) => load(&mut conn, r.uuid("id")?).await,
            None => Ok(Vec::new()),
        }
    }

    async fn due_protections(&self, now: Timestamp) -> StoreResult<Vec<(Uuid, Uuid)>> {
        let due: Vec<Due> = query(
            "SELECT p.user_id, x.id FROM protections x JOIN portfolios p ON p.id = x.portfolio_id \
             WHERE x.status = 'ACTIVE' AND x.expires_at <= $1 ORDER BY x.expires_at, x.id",
        )
        .bind(now)
        .fetch_all(self.pool())
        .await?;
        Ok(due.into_iter().map(|Due(user, id)| (user, id)).collect())
    }

    async fn volatility_regimes(&self) -> StoreResult<Vec<RegimeSetting>> {
        query("SELECT asset_id, regime, reason, set_at FROM volatility_regimes ORDER BY asset_id")
            .fetch_all(self.pool())
            .await
    }

    async fn set_volatility_regime(
        &self,
        setting: &RegimeSetting,
        audit: Option<&AuditEntry>,
    ) -> StoreResult<()> {
        let mut tx = self.pool().begin_write().await?;
        query(
            "INSERT INTO volatility_regimes (asset_id, regime, reason, set_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (asset_id) DO UPDATE SET \
             regime = excluded.regime, reason = excluded.reason, set_at = excluded.set_at",
        )
        .bind(setting.asset.as_str())
        .bind(setting.regime.as_str())
        .bind(setting.reason.as_deref())
        .bind(setting.set_at)
        .execute(&mut tx)
        .await?;
        insert_audit_opt(&mut tx, audit).await?;
        tx.commit().await
    }

    async fn clear_volatility_regime(
        &self,
        asset: AssetId,
        audit: Option<&AuditEntry>,
    ) -> StoreResult<bool> {
        let mut tx = self.pool().begin_write().await?;
        let cleared = query("DELETE FROM volatility_regimes WHERE asset_id = $1")
            .bind(asset.as_str())
            .execute(&mut tx)
            .await?;
        insert_audit_opt(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(cleared > 0)
    }
}
