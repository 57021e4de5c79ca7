//! SQLite storage of protections and protection quotes (business-rules §8), in the canonical
//! text forms of `codec`; the SQL mirrors `pg_protection`.

use async_trait::async_trait;
use blu_app::ports::{
    ProtectionNotification, ProtectionQuoteRecord, ProtectionRecord, ProtectionStore,
    ProtectionWrite, RegimeSetting, StoreError, StoreResult,
};
use blu_domain::{AssetId, Timestamp};
use sqlx::SqliteConnection;
use uuid::Uuid;

use crate::codec::{SqliteRowExt, ts_text, uuid_text};
use crate::error::map_sqlx;
use crate::protection_codec::{self as codec, protection_columns};
use crate::sqlite::SqliteStore;

fn other(e: anyhow::Error) -> StoreError {
    StoreError::Other(e)
}

/// The protections of a portfolio, newest first.
pub(crate) async fn load(
    conn: &mut SqliteConnection,
    portfolio_id: Uuid,
) -> StoreResult<Vec<ProtectionRecord>> {
    let rows = sqlx::query(concat!(
        "SELECT ",
        protection_columns!(),
        " FROM protections WHERE portfolio_id = $1 ORDER BY created_at DESC, id DESC"
    ))
    .bind(uuid_text(portfolio_id))
    .fetch_all(&mut *conn)
    .await
    .map_err(map_sqlx)?;
    rows.iter()
        .map(|r| codec::protection_row(r).map_err(other))
        .collect()
}

/// Reserves a quote of `user_id` (AVAILABLE and unexpired → RESERVED) and returns it.
pub(crate) async fn reserve_quote(
    conn: &mut SqliteConnection,
    user_id: Uuid,
    id: &str,
    now: Timestamp,
) -> StoreResult<Option<ProtectionQuoteRecord>> {
    let now = ts_text(now);
    sqlx::query(
        "UPDATE protection_quotes SET state = CASE WHEN expires_at < $3 THEN 'EXPIRED' \
         ELSE 'RESERVED' END, reserved_at = $3 \
         WHERE id = $1 AND user_id = $2 AND state = 'AVAILABLE'",
    )
    .bind(id)
    .bind(uuid_text(user_id))
    .bind(&now)
    .execute(&mut *conn)
    .await
    .map_err(map_sqlx)?;
    let row = sqlx::query(
        "SELECT id, user_id, portfolio_id, holding_id, terms, state FROM protection_quotes \
         WHERE id = $1 AND user_id = $2",
    )
    .bind(id)
    .bind(uuid_text(user_id))
    .fetch_optional(&mut *conn)
    .await
    .map_err(map_sqlx)?;
    row.map(|r| codec::quote_row(&r).map_err(other)).transpose()
}

async fn notify(
    conn: &mut SqliteConnection,
    n: &ProtectionNotification,
    now: &str,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO notifications (id, user_id, kind, entity_id, dedupe_key, title, body, data, \
         next_attempt_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) \
         ON CONFLICT (kind, entity_id, dedupe_key) DO NOTHING",
    )
    .bind(uuid_text(Uuid::now_v7()))
    .bind(uuid_text(n.user_id))
    .bind(&n.kind)
    .bind(&n.entity_id)
    .bind(&n.dedupe_key)
    .bind(&n.title)
    .bind(&n.body)
    .bind(n.data.to_string())
    .bind(now)
    .execute(&mut *conn)
    .await
    .map_err(map_sqlx)?;
    Ok(())
}

/// Applies the protection writes of a movement inside its transaction.
pub(crate) async fn write(
    conn: &mut SqliteConnection,
    writes: &[ProtectionWrite],
    now: Timestamp,
) -> StoreResult<()> {
    let now = ts_text(now);
    for w in writes {
        match w {
            ProtectionWrite::Insert(record) => {
                let values = codec::protection_values(record);
                let mut q = sqlx::query(
                    "INSERT INTO protections (id, portfolio_id, holding_id, asset_id, coverage_pct, \
                     protected_quantity, notional_irr, notional_usd, strike_usd, strike_irr, \
                     duration_days, start_at, expires_at, premium_irr, premium_usd, premium_pct, \
                     pricing_model, implied_volatility, volatility_regime, greek_delta, greek_gamma, \
                     greek_vega, greek_theta, greek_rho, quote_id, status, cancelled_at, settled_at, \
                     settlement_price_usd, settlement_fx_rate, settlement_held_quantity, payout_usd, \
                     payout_irr, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, \
                     $9, $10, CAST($11 AS INTEGER), $12, $13, $14, $15, $16, $17, $18, $19, $20, \
                     $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31, $32, $33, $34, $34)",
                );
                for v in values {
                    q = q.bind(v);
                }
                q.execute(&mut *conn).await.map_err(map_sqlx)?;
                if let Some(quote_id) = &record.quote_id {
                    let done = sqlx::query(
                        "UPDATE protection_quotes SET state = 'CONSUMED', consumed_at = $2 \
                         WHERE id = $1 AND state IN ('AVAILABLE', 'RESERVED')",
                    )
                    .bind(quote_id)
                    .bind(&now)
                    .execute(&mut *conn)
                    .await
                    .map_err(map_sqlx)?;
                    if done.rows_affected() != 1 {
                        return Err(StoreError::Conflict("protection_quotes_consumed".into()));
                    }
                }
                if let Some(holding) = record.holding_id {
                    sqlx::query(
                        "UPDATE protection_quotes SET state = 'EXPIRED' \
                         WHERE holding_id = $1 AND state = 'AVAILABLE'",
                    )
                    .bind(uuid_text(holding))
                    .execute(&mut *conn)
                    .await
                    .map_err(map_sqlx)?;
                }
            }
            ProtectionWrite::Transition {
                record,
                notification,
            } => {
                let v = codec::protection_values(record);
                let done = sqlx::query(
                    "UPDATE protections SET status = $2, cancelled_at = $3, settled_at = $4, \
                     settlement_price_usd = $5, settlement_fx_rate = $6, \
                     settlement_held_quantity = $7, payout_usd = $8, payout_irr = $9, \
                     updated_at = $10 WHERE id = $1 AND status = 'ACTIVE'",
                )
                .bind(&v[0])
                .bind(&v[25])
                .bind(&v[26])
                .bind(&v[27])
                .bind(&v[28])
                .bind(&v[29])
                .bind(&v[30])
                .bind(&v[31])
                .bind(&v[32])
                .bind(&now)
                .execute(&mut *conn)
                .await
                .map_err(map_sqlx)?;
                if done.rows_affected() != 1 {
                    return Err(StoreError::Conflict("protections_not_active".into()));
                }
                if let Some(n) = notification {
                    notify(conn, n, &now).await?;
                }
            }
        }
    }
    Ok(())
}

#[async_trait]
impl ProtectionStore for SqliteStore {
    async fn save_protection_quote(&self, quote: &ProtectionQuoteRecord) -> StoreResult<()> {
        let mut q = sqlx::query(
            "INSERT INTO protection_quotes (id, user_id, portfolio_id, holding_id, asset_id, \
             coverage_pct, duration_days, premium_irr, terms, expires_at, created_at, state) \
             VALUES ($1, $2, $3, $4, $5, $6, CAST($7 AS INTEGER), $8, $9, $10, $11, $12)",
        );
        for v in codec::quote_values(quote) {
            q = q.bind(v);
        }
        q.bind(quote.state.as_str())
            .execute(self.sqlite_pool())
            .await
            .map_err(map_sqlx)?;
        Ok(())
    }

    async fn protections(&self, user_id: Uuid) -> StoreResult<Vec<ProtectionRecord>> {
        let mut conn = self.sqlite_pool().acquire().await.map_err(map_sqlx)?;
        let row = sqlx::query(
            "SELECT p.id FROM portfolios p JOIN users u ON u.id = p.user_id \
             WHERE p.user_id = $1 AND u.deleted_at IS NULL",
        )
        .bind(uuid_text(user_id))
        .fetch_optional(&mut *conn)
        .await
        .map_err(map_sqlx)?;
        match row {
            Some(r) => load(&mut conn, r.uuid("id").map_err(other)?).await,
            None => Ok(Vec::new()),
        }
    }

    async fn due_protections(&self, now: Timestamp) -> StoreResult<Vec<(Uuid, Uuid)>> {
        let rows = sqlx::query(
            "SELECT p.user_id, x.id FROM protections x JOIN portfolios p ON p.id = x.portfolio_id \
             WHERE x.status = 'ACTIVE' AND x.expires_at <= $1 ORDER BY x.expires_at, x.id",
        )
        .bind(ts_text(now))
        .fetch_all(self.sqlite_pool())
        .await
        .map_err(map_sqlx)?;
        rows.iter()
            .map(|r| Ok((r.uuid("user_id")?, r.uuid("id")?)))
            .collect::<anyhow::Result<_>>()
            .map_err(other)
    }

    async fn volatility_regimes(&self) -> StoreResult<Vec<RegimeSetting>> {
        let rows = sqlx::query(
            "SELECT asset_id, regime, reason, set_at FROM volatility_regimes ORDER BY asset_id",
        )
        .fetch_all(self.sqlite_pool())
        .await
        .map_err(map_sqlx)?;
        rows.iter()
            .map(|r| codec::regime_row(r).map_err(other))
            .collect()
    }

    async fn set_volatility_regime(
        &self,
        setting: &RegimeSetting,
        audit: Option<&blu_app::ports::AuditEntry>,
    ) -> StoreResult<()> {
        let mut tx = self.write_tx().await?;
        sqlx::query(
            "INSERT INTO volatility_regimes (asset_id, regime, reason, set_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (asset_id) DO UPDATE SET \
             regime = excluded.regime, reason = excluded.reason, set_at = excluded.set_at",
        )
        .bind(setting.asset.as_str())
        .bind(setting.regime.as_str())
        .bind(&setting.reason)
        .bind(ts_text(setting.set_at))
        .execute(&mut *tx)
        .await
        .map_err(map_sqlx)?;
        let mut tx = crate::driver::Tx::Sqlite(tx);
        crate::operators::insert_audit_opt(&mut tx, audit).await?;
        tx.commit().await
    }

    async fn clear_volatility_regime(
        &self,
        asset: AssetId,
        audit: Option<&blu_app::ports::AuditEntry>,
    ) -> StoreResult<bool> {
        let mut tx = self.write_tx().await?;
        let done = sqlx::query("DELETE FROM volatility_regimes WHERE asset_id = $1")
            .bind(asset.as_str())
            .execute(&mut *tx)
            .await
            .map_err(map_sqlx)?;
        let mut tx = crate::driver::Tx::Sqlite(tx);
        crate::operators::insert_audit_opt(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }
}
