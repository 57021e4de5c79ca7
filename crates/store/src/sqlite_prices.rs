//! `PriceStore` on SQLite: current prices, FX, daily closes, chart points, overrides and the
//! `job_runs` claim of the prices tick. Decimals, instants and uuids are canonical TEXT.

use anyhow::anyhow;
use async_trait::async_trait;
use blu_app::ports::{
    DailyClose, FxQuote, PriceOverride, PriceQuote, PriceStore, PriceWrite, StoreError,
    StoreResult, StoredPrices,
};
use blu_domain::{AssetId, Timestamp};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use crate::SqliteStore;
use crate::codec::{SqliteRowExt, dec_text, ts_text};
use crate::error::map_sqlx;
use crate::prices_sql as q;

fn ts(t: Timestamp) -> StoreResult<String> {
    Ok(ts_text(t))
}

fn dec(d: rust_decimal::Decimal) -> String {
    dec_text(d)
}

fn asset(text: &str) -> anyhow::Result<AssetId> {
    text.parse()
        .map_err(|_| anyhow!("unknown asset {text:?} in the prices tables"))
}

fn price_quote(r: &SqliteRow) -> StoreResult<PriceQuote> {
    let g = || -> anyhow::Result<PriceQuote> {
        Ok(PriceQuote {
            asset: asset(r.try_get("asset_id")?)?,
            price_usd: r.dec("price_usd")?,
            price_irr: r.dec("price_irr")?,
            change_24h_pct: r.opt_dec("change_24h_pct")?,
            source: r.try_get("source")?,
            fetched_at: r.ts("fetched_at")?,
        })
    };
    g().map_err(StoreError::Other)
}

fn price_override(r: &SqliteRow) -> StoreResult<PriceOverride> {
    let g = || -> anyhow::Result<PriceOverride> {
        let asset_id: Option<String> = r.try_get("asset_id")?;
        Ok(PriceOverride {
            asset: asset_id.as_deref().map(asset).transpose()?,
            value: r.dec("value")?,
            change_24h_pct: r.opt_dec("change_24h_pct")?,
            reason: r.try_get("reason")?,
            expires_at: r.opt_ts("expires_at")?,
            created_at: r.ts("created_at")?,
        })
    };
    g().map_err(StoreError::Other)
}

#[async_trait]
impl PriceStore for SqliteStore {
    async fn load_prices(&self) -> StoreResult<StoredPrices> {
        let pool = self.sqlite_pool();
        let prices = sqlx::query(q::SELECT_PRICES)
            .fetch_all(pool)
            .await
            .map_err(map_sqlx)?;
        let fx = sqlx::query(q::SELECT_FX)
            .fetch_optional(pool)
            .await
            .map_err(map_sqlx)?;
        let overrides = sqlx::query(q::SELECT_OVERRIDES)
            .fetch_all(pool)
            .await
            .map_err(map_sqlx)?;
        let fx = fx
            .map(|r| -> anyhow::Result<FxQuote> {
                Ok(FxQuote {
                    usd_irr: r.dec("rate")?,
                    source: r.try_get("source")?,
                    fetched_at: r.ts("fetched_at")?,
                })
            })
            .transpose()
            .map_err(StoreError::Other)?;
        Ok(StoredPrices {
            prices: prices.iter().map(price_quote).collect::<StoreResult<_>>()?,
            fx,
            overrides: overrides
                .iter()
                .map(price_override)
                .collect::<StoreResult<_>>()?,
        })
    }

    async fn save_prices(&self, write: &PriceWrite) -> StoreResult<()> {
        let mut tx = self.write_tx().await?;
        if let Some(fx) = &write.fx {
            sqlx::query(q::UPSERT_FX)
                .bind(dec(fx.usd_irr))
                .bind(&fx.source)
                .bind(ts(fx.fetched_at)?)
                .execute(&mut *tx)
                .await
                .map_err(map_sqlx)?;
        }
        for (p, fx) in &write.prices {
            sqlx::query(q::UPSERT_PRICE)
                .bind(p.asset.as_str())
                .bind(dec(p.price_usd))
                .bind(dec(p.price_usd * fx.usd_irr))
                .bind(dec(fx.usd_irr))
                .bind(&fx.source)
                .bind(&p.source)
                .bind(ts(p.fetched_at)?)
                .bind(ts(fx.fetched_at)?)
                .bind(p.change_24h_pct.map(dec))
                .execute(&mut *tx)
                .await
                .map_err(map_sqlx)?;
        }
        if let Some(o) = &write.set_override {
            upsert_override(&mut tx, o).await?;
        }
        for p in &write.points {
            let irr = (p.price_irr > rust_decimal::Decimal::ZERO).then_some(p.price_irr);
            sqlx::query(q::UPSERT_CLOSE_SQLITE)
                .bind(p.asset.as_str())
                .bind(blu_app::prices::utc_day(p.fetched_at))
                .bind(dec(p.price_usd))
                .bind(irr.map(dec))
                .bind(ts(p.fetched_at)?)
                .execute(&mut *tx)
                .await
                .map_err(map_sqlx)?;
            sqlx::query(q::UPSERT_POINT)
                .bind(p.asset.as_str())
                .bind(ts(p.fetched_at)?)
                .bind(dec(p.price_usd))
                .bind(irr.map(dec))
                .execute(&mut *tx)
                .await
                .map_err(map_sqlx)?;
        }
        if let Some(before) = write.prune_points_before {
            sqlx::query(q::PRUNE_POINTS)
                .bind(ts(before)?)
                .execute(&mut *tx)
                .await
                .map_err(map_sqlx)?;
        }
        let mut tx = crate::driver::Tx::Sqlite(tx);
        crate::operators::insert_audit_opt(&mut tx, write.audit.as_ref()).await?;
        tx.commit().await
    }

    async fn put_override(&self, o: &PriceOverride) -> StoreResult<()> {
        let mut conn = self.sqlite_pool().acquire().await.map_err(map_sqlx)?;
        upsert_override(&mut conn, o).await
    }

    async fn delete_override(
        &self,
        subject: &str,
        audit: Option<&blu_app::ports::AuditEntry>,
    ) -> StoreResult<bool> {
        let mut tx = self.write_tx().await?;
        let done = sqlx::query(q::DELETE_OVERRIDE)
            .bind(subject)
            .execute(&mut *tx)
            .await
            .map_err(map_sqlx)?;
        let mut tx = crate::driver::Tx::Sqlite(tx);
        crate::operators::insert_audit_opt(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    async fn daily_closes(&self, asset: AssetId, from_day: &str) -> StoreResult<Vec<DailyClose>> {
        let rows = sqlx::query(q::SELECT_CLOSES_SQLITE)
            .bind(asset.as_str())
            .bind(from_day)
            .fetch_all(self.sqlite_pool())
            .await
            .map_err(map_sqlx)?;
        rows.iter()
            .map(|r| -> anyhow::Result<DailyClose> {
                Ok(DailyClose {
                    day: r.try_get("day")?,
                    close_usd: r.dec("close_usd")?,
                    close_irr: r.opt_dec("close_irr")?,
                })
            })
            .collect::<anyhow::Result<_>>()
            .map_err(StoreError::Other)
    }

    async fn job_tick_finished(&self, job: &str, scheduled_at: Timestamp) -> StoreResult<bool> {
        let status: Option<String> = sqlx::query_scalar(q::TICK_STATUS)
            .bind(job)
            .bind(ts(scheduled_at)?)
            .fetch_optional(self.sqlite_pool())
            .await
            .map_err(map_sqlx)?;
        Ok(status.is_some_and(|s| s != "RUNNING"))
    }
}

/// Upserts an operator override (alone, or inside `save_prices`' transaction).
async fn upsert_override(conn: &mut sqlx::SqliteConnection, o: &PriceOverride) -> StoreResult<()> {
    sqlx::query(q::UPSERT_OVERRIDE)
        .bind(o.subject())
        .bind(o.asset.map(AssetId::as_str))
        .bind(dec(o.value))
        .bind(o.change_24h_pct.map(dec))
        .bind(o.reason.as_deref())
        .bind(o.expires_at.map(ts).transpose()?)
        .bind(ts(o.created_at)?)
        .execute(conn)
        .await
        .map_err(map_sqlx)?;
    Ok(())
}
