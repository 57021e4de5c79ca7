//! Binding trade quotes in Redis (D17, api.md §1.15: "stored server-side (Redis, shared by all
//! instances) and bound to the user"). A preview then costs the database only its read: the
//! quote is one `SET` with an expiry instead of a row (issue 12). While Redis is away, quotes
//! are kept in the database instead, and looked up there when Redis does not have them.
//!
//! Single use does not depend on this book: the execute's transaction records the consumed
//! quote in `trade_quotes` (a second consumption changes no row and is refused). After that
//! commit the quote is marked consumed here too, so a replay is refused before any work.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use blu_app::ports::{StoreError, StoreResult, TradeQuote, TradeQuoteBook};
use blu_domain::trade::{TradeAction, parse_asset_id};
use blu_domain::{Irr, Quantity, Timestamp};
use redis::aio::ConnectionManager;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::circuit::Circuit;

/// How long Redis keeps a quote after its preview: its 30 s of life (business time, judged at
/// execute) plus a margin, during which an execute naming it is told `QUOTE_EXPIRED` rather
/// than `QUOTE_NOT_FOUND`. Bounds Redis's memory: at 4,000 previews a second, ~240,000 keys.
const KEPT_FOR: Duration = Duration::from_secs(60);

pub struct RedisQuoteBook {
    connection: ConnectionManager,
    prefix: String,
    /// Where quotes go and are looked for while Redis is away (the database).
    fallback: Arc<dyn TradeQuoteBook>,
    circuit: Circuit,
}

impl RedisQuoteBook {
    /// `prefix` namespaces the keys (several deployments or tests can share one Redis); a Redis
    /// call taking longer than `timeout` counts as failed.
    pub fn new(
        connection: ConnectionManager,
        prefix: impl Into<String>,
        fallback: Arc<dyn TradeQuoteBook>,
        timeout: Duration,
    ) -> RedisQuoteBook {
        RedisQuoteBook {
            connection,
            prefix: prefix.into(),
            fallback,
            circuit: Circuit::new(
                "shared quote book",
                "keeping trade quotes in the database",
                timeout,
            ),
        }
    }

    fn key(&self, id: &str) -> String {
        format!("{}tq:{id}", self.prefix)
    }

    async fn put(&self, quote: &TradeQuote, expiry: Expiry) -> bool {
        let mut command = redis::cmd("SET");
        command
            .arg(self.key(&quote.id))
            .arg(Stored::from(quote).encode());
        match expiry {
            Expiry::Fresh => command.arg("PX").arg(KEPT_FOR.as_millis() as u64),
            // Only over a quote still kept: a consumed mark never revives an evicted quote.
            Expiry::Kept => command.arg("XX").arg("KEEPTTL"),
        };
        let mut connection = self.connection.clone();
        self.circuit
            .call(command.query_async::<Option<String>>(&mut connection))
            .await
            .is_some()
    }
}

enum Expiry {
    Fresh,
    Kept,
}

#[async_trait]
impl TradeQuoteBook for RedisQuoteBook {
    async fn save(&self, quote: TradeQuote) -> StoreResult<()> {
        if self.put(&quote, Expiry::Fresh).await {
            return Ok(());
        }
        metrics::counter!("quote_book_fallback_total").increment(1);
        self.fallback.save(quote).await
    }

    async fn find(&self, user_id: Uuid, id: &str) -> StoreResult<Option<TradeQuote>> {
        let mut connection = self.connection.clone();
        let found = self
            .circuit
            .call(
                redis::cmd("GET")
                    .arg(self.key(id))
                    .query_async::<Option<String>>(&mut connection),
            )
            .await
            .flatten();
        match found {
            // Another user's quote is an unknown one (api.md §1.7).
            Some(text) => {
                let quote = Stored::decode(&text)?.into_quote()?;
                Ok(Some(quote).filter(|quote| quote.user_id == user_id))
            }
            // Saved while Redis was away, or Redis is away now.
            None => self.fallback.find(user_id, id).await,
        }
    }

    async fn consumed(&self, quote: &TradeQuote) {
        let consumed = TradeQuote {
            consumed: true,
            ..quote.clone()
        };
        if !self.put(&consumed, Expiry::Kept).await {
            // The transaction refuses a second consumption anyway.
            tracing::debug!(quote_id = %quote.id, "consumed quote not marked in Redis");
        }
        self.fallback.consumed(quote).await;
    }
}

/// A quote as kept in Redis: exact decimals as strings, times in microseconds.
#[derive(Serialize, Deserialize)]
struct Stored {
    id: String,
    user: Uuid,
    portfolio: Uuid,
    asset: String,
    action: TradeAction,
    amount: Decimal,
    sell_all: bool,
    quantity: Decimal,
    price_usd: Option<Decimal>,
    price_irr: Decimal,
    fx_rate: Option<Decimal>,
    spread: Decimal,
    consumed: bool,
    expires_at: i64,
    created_at: i64,
}

impl From<&TradeQuote> for Stored {
    fn from(q: &TradeQuote) -> Stored {
        Stored {
            id: q.id.clone(),
            user: q.user_id,
            portfolio: q.portfolio_id,
            asset: q.asset.as_str().to_owned(),
            action: q.action,
            amount: q.amount.value(),
            sell_all: q.sell_all,
            quantity: q.quantity.value(),
            price_usd: q.price_usd,
            price_irr: q.price_irr,
            fx_rate: q.fx_rate,
            spread: q.spread.value(),
            consumed: q.consumed,
            expires_at: q.expires_at.as_micros(),
            created_at: q.created_at.as_micros(),
        }
    }
}

impl Stored {
    fn encode(&self) -> String {
        serde_json::to_string(self).expect("a quote always serializes")
    }

    fn decode(text: &str) -> StoreResult<Stored> {
        serde_json::from_str(text).map_err(|e| unreadable(format!("{e}")))
    }

    /// A kept quote that does not read back is an error, never a missing quote.
    fn into_quote(self) -> StoreResult<TradeQuote> {
        let whole = |what: &str, value: Decimal| {
            Irr::exact(value).ok_or_else(|| unreadable(format!("{what} {value} is not whole")))
        };
        Ok(TradeQuote {
            asset: parse_asset_id(&self.asset)
                .map_err(|_| unreadable(format!("asset {}", self.asset)))?,
            amount: whole("amount", self.amount)?,
            quantity: Quantity::exact(self.quantity)
                .ok_or_else(|| unreadable(format!("quantity {}", self.quantity)))?,
            spread: whole("spread", self.spread)?,
            id: self.id,
            user_id: self.user,
            portfolio_id: self.portfolio,
            action: self.action,
            sell_all: self.sell_all,
            price_usd: self.price_usd,
            price_irr: self.price_irr,
            fx_rate: self.fx_rate,
            consumed: self.consumed,
            expires_at: Timestamp::from_micros(self.expires_at),
            created_at: Timestamp::from_micros(self.created_at),
        })
    }
}

fn unreadable(why: String) -> StoreError {
    StoreError::Other(anyhow::anyhow!("unreadable trade quote in Redis: {why}"))
}

#[cfg(test)]
mod tests {
    use blu_domain::AssetId;
    use rust_decimal_macros::dec;

    use super::*;

    fn quote() -> TradeQuote {
        TradeQuote {
            id: "tq_1".into(),
            user_id: Uuid::new_v4(),
            portfolio_id: Uuid::new_v4(),
            asset: AssetId::Btc,
            action: TradeAction::Sell,
            amount: Irr::new(10_000_000),
            sell_all: false,
            quantity: Quantity::exact(dec!(0.00007023)).unwrap(),
            price_usd: Some(dec!(97500.12345678901234)),
            price_irr: dec!(141960179753.08641975),
            fx_rate: Some(dec!(1456000)),
            spread: Irr::new(30_000),
            consumed: false,
            expires_at: Timestamp::from_micros(1_768_910_430_123_456),
            created_at: Timestamp::from_micros(1_768_910_400_123_456),
        }
    }

    #[test]
    fn a_quote_reads_back_from_redis_exactly_as_it_was_kept() {
        let quote = quote();
        let text = Stored::from(&quote).encode();
        let back = Stored::decode(&text).unwrap().into_quote().unwrap();
        assert_eq!(back, quote);
    }

    #[test]
    fn a_kept_quote_that_does_not_read_back_is_an_error_not_an_unknown_quote() {
        let mut text: serde_json::Value =
            serde_json::from_str(&Stored::from(&quote()).encode()).unwrap();
        text["amount"] = serde_json::json!("10.5");
        let stored = Stored::decode(&text.to_string()).unwrap();
        assert!(stored.into_quote().is_err());
        assert!(Stored::decode("{").is_err());
    }
}
