//! Trade quote rows (D17): the previews' binding quotes when the database is their book, and
//! the consumption every quoted execute records in its own transaction, whichever the book.

use blu_app::ports::TradeQuote;
use blu_domain::Timestamp;
use serde_json::json;

use crate::driver::{Dialect, NO_FLUSH_WAIT_JOIN, Query, query, query_text, values_rows};

/// The columns `bind` fills, in its order: one list for the preview insert and the consumption.
macro_rules! quote_columns {
    () => {
        "id, user_id, portfolio_id, asset_id, side, amount_irr, quantity, price_usd, price_irr, \
         fx_rate, spread_irr, terms, expires_at, created_at"
    };
}
const COLUMNS: &str = quote_columns!();
const COLUMN_COUNT: usize = 14;

/// Binding quotes (issue 12, item 4) in one `INSERT`, stored in the primary every instance
/// reads, without waiting for a disk flush: a quote lives for seconds and records nothing (the
/// trade is in the ledger, written durably by the execute). After a database crash the quotes
/// of its last moment may be gone; an execute naming one answers 404 `QUOTE_NOT_FOUND`, as for
/// a quote purged after expiry, and the app previews again.
pub(super) fn insert(dialect: Dialect, quotes: &[TradeQuote]) -> Query {
    let values = values_rows(quotes.len(), COLUMN_COUNT);
    let sql = match dialect {
        Dialect::Postgres => format!(
            "INSERT INTO trade_quotes ({COLUMNS}) SELECT v.* FROM (VALUES {values}) AS v \
             {NO_FLUSH_WAIT_JOIN}"
        ),
        Dialect::Sqlite => format!("INSERT INTO trade_quotes ({COLUMNS}) VALUES {values}"),
    };
    quotes.iter().fold(query_text(sql), bind)
}

/// Records `quote` as consumed: inserted as CONSUMED when its book is not the database
/// (Redis), moved from AVAILABLE otherwise. Changes no row when it was already consumed —
/// which the movement's batch turns into `QUOTE_IN_USE`, so a quote fills at most once
/// whatever book held it.
pub(super) fn consumption(quote: &TradeQuote, now: Timestamp) -> Query {
    bind(
        query(concat!(
            "INSERT INTO trade_quotes (",
            quote_columns!(),
            ", state, consumed_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, 'CONSUMED', $15) \
             ON CONFLICT (id) DO UPDATE SET state = 'CONSUMED', consumed_at = excluded.consumed_at \
             WHERE trade_quotes.state = 'AVAILABLE'"
        )),
        quote,
    )
    .bind(now)
}

fn bind(insert: Query, quote: &TradeQuote) -> Query {
    insert
        .bind(&quote.id)
        .bind(quote.user_id)
        .bind(quote.portfolio_id)
        .bind(quote.asset.as_str())
        .bind(quote.action.as_str())
        .bind(quote.amount.value())
        .bind(quote.quantity.value())
        .bind(quote.price_usd)
        .bind(quote.price_irr)
        .bind(quote.fx_rate)
        .bind(quote.spread.value())
        .bind(json!({ "sellAll": quote.sell_all }))
        .bind(quote.expires_at)
        .bind(quote.created_at)
}
