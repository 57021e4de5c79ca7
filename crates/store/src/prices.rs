//! The price store (api.md §8, business-rules §6): current prices, FX, daily closes, chart
//! points, operator overrides and the `job_runs` claim of the prices tick. Prices are reference
//! data: written and read as the owner (the API's tenant role may only read them).

use anyhow::anyhow;
use async_trait::async_trait;
use blu_app::ports::{
    AuditEntry, DailyClose, FxQuote, PriceOverride, PriceQuote, PriceStore, PriceWrite,
    StoreResult, StoredPrices,
};
use blu_domain::{AssetId, Timestamp};

use crate::Database;
use crate::driver::{FromRow, On, Row, Sql, query};
use crate::operators::insert_audit_opt;

const SELECT_PRICES: &str = "SELECT asset_id, price_usd, price_irr, change_24h_pct, source, \
     fetched_at FROM prices ORDER BY asset_id";

const SELECT_FX: &str = "SELECT rate, source, fetched_at FROM fx_rates WHERE pair = 'USD_IRR'";

const SELECT_OVERRIDES: &str = "SELECT subject, asset_id, value, change_24h_pct, reason, \
     expires_at, created_at FROM price_overrides ORDER BY subject";

const UPSERT_FX: &str = "INSERT INTO fx_rates (pair, rate, source, fetched_at, updated_at) \
     VALUES ('USD_IRR', $1, $2, $3, $3) \
     ON CONFLICT (pair) DO UPDATE SET rate = excluded.rate, source = excluded.source, \
     fetched_at = excluded.fetched_at, updated_at = excluded.updated_at";

const UPSERT_PRICE: &str = "INSERT INTO prices (asset_id, price_usd, price_irr, fx_rate, \
     fx_source, source, fetched_at, fx_fetched_at, change_24h_pct, updated_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $7) \
     ON CONFLICT (asset_id) DO UPDATE SET price_usd = excluded.price_usd, \
     price_irr = excluded.price_irr, fx_rate = excluded.fx_rate, fx_source = excluded.fx_source, \
     source = excluded.source, fetched_at = excluded.fetched_at, \
     fx_fetched_at = excluded.fx_fetched_at, change_24h_pct = excluded.change_24h_pct, \
     updated_at = excluded.updated_at";

/// The day's close is the last price seen that UTC day: a later write replaces it, an earlier
/// one (a slow instance) does not.
macro_rules! upsert_close {
    ($day:literal) => {
        concat!(
            "INSERT INTO price_history (asset_id, day, close_usd, close_irr, updated_at) \
             VALUES ($1, ",
            $day,
            ", $3, $4, $5) \
             ON CONFLICT (asset_id, day) DO UPDATE SET close_usd = excluded.close_usd, \
             close_irr = excluded.close_irr, updated_at = excluded.updated_at \
             WHERE price_history.updated_at <= excluded.updated_at"
        )
    };
}

/// PostgreSQL keeps the day as a `DATE`, SQLite as its `YYYY-MM-DD` text.
const UPSERT_CLOSE: Sql = Sql {
    postgres: upsert_close!("CAST($2 AS DATE)"),
    sqlite: upsert_close!("$2"),
};

const UPSERT_POINT: &str = "INSERT INTO price_points (asset_id, at, price_usd, price_irr) \
     VALUES ($1, $2, $3, $4) ON CONFLICT (asset_id, at) DO UPDATE SET \
     price_usd = excluded.price_usd, price_irr = excluded.price_irr";

const PRUNE_POINTS: &str = "DELETE FROM price_points WHERE at < $1";

const UPSERT_OVERRIDE: &str = "INSERT INTO price_overrides (subject, asset_id, value, \
     change_24h_pct, reason, expires_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
     ON CONFLICT (subject) DO UPDATE SET asset_id = excluded.asset_id, value = excluded.value, \
     change_24h_pct = excluded.change_24h_pct, reason = excluded.reason, \
     expires_at = excluded.expires_at, created_at = excluded.created_at";

const DELETE_OVERRIDE: &str = "DELETE FROM price_overrides WHERE subject = $1";

const SELECT_CLOSES: Sql = Sql {
    postgres: "SELECT to_char(day, 'YYYY-MM-DD') AS day, close_usd, close_irr \
     FROM price_history WHERE asset_id = $1 AND day >= CAST($2 AS DATE) ORDER BY day",
    sqlite: "SELECT day, close_usd, close_irr FROM price_history \
     WHERE asset_id = $1 AND day >= $2 ORDER BY day",
};

/// A claimed tick's lease; after it, a crashed run's slot counts as abandoned.
const TICK_STATUS: &str = "SELECT status FROM job_runs WHERE job_name = $1 AND scheduled_at = $2";

fn asset(text: &str) -> anyhow::Result<AssetId> {
    text.parse()
        .map_err(|_| anyhow!("unknown asset {text:?} in the prices tables"))
}

impl FromRow for PriceQuote {
    fn from_row(r: Row) -> anyhow::Result<PriceQuote> {
        Ok(PriceQuote {
            asset: asset(&r.text("asset_id")?)?,
            price_usd: r.dec("price_usd")?,
            price_irr: r.dec("price_irr")?,
            change_24h_pct: r.opt_dec("change_24h_pct")?,
            source: r.text("source")?,
            fetched_at: r.ts("fetched_at")?,
        })
    }
}

impl FromRow for PriceOverride {
    fn from_row(r: Row) -> anyhow::Result<PriceOverride> {
        Ok(PriceOverride {
            asset: r.opt_text("asset_id")?.as_deref().map(asset).transpose()?,
            value: r.dec("value")?,
            change_24h_pct: r.opt_dec("change_24h_pct")?,
            reason: r.opt_text("reason")?,
            expires_at: r.opt_ts("expires_at")?,
            created_at: r.ts("created_at")?,
        })
    }
}

impl FromRow for FxQuote {
    fn from_row(r: Row) -> anyhow::Result<FxQuote> {
        Ok(FxQuote {
            usd_irr: r.dec("rate")?,
            source: r.text("source")?,
            fetched_at: r.ts("fetched_at")?,
        })
    }
}

impl FromRow for DailyClose {
    fn from_row(r: Row) -> anyhow::Result<DailyClose> {
        Ok(DailyClose {
            day: r.text("day")?,
            close_usd: r.dec("close_usd")?,
            close_irr: r.opt_dec("close_irr")?,
        })
    }
}

#[async_trait]
impl PriceStore for Database {
    async fn load_prices(&self) -> StoreResult<StoredPrices> {
        Ok(StoredPrices {
            prices: query(SELECT_PRICES).fetch_all(self.pool()).await?,
            fx: query(SELECT_FX).fetch_optional(self.pool()).await?,
            overrides: query(SELECT_OVERRIDES).fetch_all(self.pool()).await?,
        })
    }

    async fn save_prices(&self, write: &PriceWrite) -> StoreResult<()> {
        let mut tx = self.pool().begin_write().await?;
        if let Some(fx) = &write.fx {
            query(UPSERT_FX)
                .bind(fx.usd_irr)
                .bind(&fx.source)
                .bind(fx.fetched_at)
                .execute(&mut tx)
                .await?;
        }
        for (p, fx) in &write.prices {
            query(UPSERT_PRICE)
                .bind(p.asset.as_str())
                .bind(p.price_usd)
                .bind(p.price_usd * fx.usd_irr)
                .bind(fx.usd_irr)
                .bind(&fx.source)
                .bind(&p.source)
                .bind(p.fetched_at)
                .bind(fx.fetched_at)
                .bind(p.change_24h_pct)
                .execute(&mut tx)
                .await?;
        }
        if let Some(o) = &write.set_override {
            upsert_override(&mut tx, o).await?;
        }
        let upsert_close = tx.dialect().pick(&UPSERT_CLOSE);
        for p in &write.points {
            let irr = (p.price_irr > rust_decimal::Decimal::ZERO).then_some(p.price_irr);
            query(upsert_close)
                .bind(p.asset.as_str())
                .bind(blu_app::prices::utc_day(p.fetched_at))
                .bind(p.price_usd)
                .bind(irr)
                .bind(p.fetched_at)
                .execute(&mut tx)
                .await?;
            query(UPSERT_POINT)
                .bind(p.asset.as_str())
                .bind(p.fetched_at)
                .bind(p.price_usd)
                .bind(irr)
                .execute(&mut tx)
                .await?;
        }
        if let Some(before) = write.prune_points_before {
            query(PRUNE_POINTS).bind(before).execute(&mut tx).await?;
        }
        insert_audit_opt(&mut tx, write.audit.as_ref()).await?;
        tx.commit().await
    }

    async fn put_override(&self, o: &PriceOverride) -> StoreResult<()> {
        upsert_override(self.pool(), o).await
    }

    async fn delete_override(
        &self,
        subject: &str,
        audit: Option<&AuditEntry>,
    ) -> StoreResult<bool> {
        let mut tx = self.pool().begin_write().await?;
        let deleted = query(DELETE_OVERRIDE)
            .bind(subject)
            .execute(&mut tx)
            .await?;
        insert_audit_opt(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(deleted > 0)
    }

    async fn daily_closes(&self, asset: AssetId, from_day: &str) -> StoreResult<Vec<DailyClose>> {
        query(self.dialect().pick(&SELECT_CLOSES))
            .bind(asset.as_str())
            .bind(from_day)
            .fetch_all(self.read_pool())
            .await
    }

    async fn job_tick_finished(&self, job: &str, scheduled_at: Timestamp) -> StoreResult<bool> {
        let status: Option<Row> = query(TICK_STATUS)
            .bind(job)
            .bind(scheduled_at)
            .fetch_optional(self.pool())
            .await?;
        Ok(status
            .map(|r| r.text("status"))
            .transpose()?
            .is_some_and(|s| s != "RUNNING"))
    }
}

/// Upserts an operator override (alone, or inside `save_prices`' transaction).
async fn upsert_override<'a>(on: impl Into<On<'a>>, o: &PriceOverride) -> StoreResult<()> {
    query(UPSERT_OVERRIDE)
        .bind(o.subject())
        .bind(o.asset.map(AssetId::as_str))
        .bind(o.value)
        .bind(o.change_24h_pct)
        .bind(o.reason.as_deref())
        .bind(o.expires_at)
        .bind(o.created_at)
        .execute(on)
        .await?;
    Ok(())
}
