//! Statements of the price store. Most are identical on both backends (`$n` placeholders work
//! in SQLite too); the `_PG` / `_SQLITE` pairs differ only in how a UTC day is typed.

pub const SELECT_PRICES: &str = "SELECT asset_id, price_usd, price_irr, change_24h_pct, source, \
     fetched_at FROM prices ORDER BY asset_id";

pub const SELECT_FX: &str = "SELECT rate, source, fetched_at FROM fx_rates WHERE pair = 'USD_IRR'";

pub const SELECT_OVERRIDES: &str = "SELECT subject, asset_id, value, change_24h_pct, reason, \
     expires_at, created_at FROM price_overrides ORDER BY subject";

pub const UPSERT_FX: &str = "INSERT INTO fx_rates (pair, rate, source, fetched_at, updated_at) \
     VALUES ('USD_IRR', $1, $2, $3, $3) \
     ON CONFLICT (pair) DO UPDATE SET rate = excluded.rate, source = excluded.source, \
     fetched_at = excluded.fetched_at, updated_at = excluded.updated_at";

pub const UPSERT_PRICE: &str = "INSERT INTO prices (asset_id, price_usd, price_irr, fx_rate, \
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

pub const UPSERT_CLOSE_PG: &str = upsert_close!("CAST($2 AS DATE)");
pub const UPSERT_CLOSE_SQLITE: &str = upsert_close!("$2");

pub const UPSERT_POINT: &str = "INSERT INTO price_points (asset_id, at, price_usd, price_irr) \
     VALUES ($1, $2, $3, $4) ON CONFLICT (asset_id, at) DO UPDATE SET \
     price_usd = excluded.price_usd, price_irr = excluded.price_irr";

pub const PRUNE_POINTS: &str = "DELETE FROM price_points WHERE at < $1";

pub const UPSERT_OVERRIDE: &str = "INSERT INTO price_overrides (subject, asset_id, value, \
     change_24h_pct, reason, expires_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
     ON CONFLICT (subject) DO UPDATE SET asset_id = excluded.asset_id, value = excluded.value, \
     change_24h_pct = excluded.change_24h_pct, reason = excluded.reason, \
     expires_at = excluded.expires_at, created_at = excluded.created_at";

pub const DELETE_OVERRIDE: &str = "DELETE FROM price_overrides WHERE subject = $1";

pub const SELECT_CLOSES_PG: &str = "SELECT to_char(day, 'YYYY-MM-DD') AS day, close_usd, \
     close_irr FROM price_history WHERE asset_id = $1 AND day >= CAST($2 AS DATE) ORDER BY day";

pub const SELECT_CLOSES_SQLITE: &str = "SELECT day, close_usd, close_irr FROM price_history \
     WHERE asset_id = $1 AND day >= $2 ORDER BY day";

/// A claimed tick's lease; after it, a crashed run's slot counts as abandoned.
pub const TICK_STATUS: &str =
    "SELECT status FROM job_runs WHERE job_name = $1 AND scheduled_at = $2";
