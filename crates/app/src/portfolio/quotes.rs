//! Binding trade quotes kept in the database (D17, api.md §1.15): the book of the embedded
//! default, and where the Redis book falls back while Redis is away. Previews that arrive
//! together are stored in one statement (issue 12).

use std::sync::Arc;

use async_trait::async_trait;
use uuid::Uuid;

use super::grouped::Grouped;
use crate::ports::{PortfolioStore, StoreResult, TradeQuote, TradeQuoteBook};

/// At most this many quotes per `INSERT` (14 parameters each), and inserts in flight at once:
/// fewer of them make bigger groups, and a quote insert is short (bench/run, docs/benchmarks.md).
const MAX_QUOTE_GROUP: usize = 64;
const QUOTE_INSERTS_IN_FLIGHT: usize = 2;

pub struct DatabaseQuoteBook {
    store: Arc<dyn PortfolioStore>,
    inserts: Grouped<TradeQuote, ()>,
}

impl DatabaseQuoteBook {
    pub fn new(store: Arc<dyn PortfolioStore>) -> DatabaseQuoteBook {
        let writer = store.clone();
        let inserts = Grouped::new(
            "trade quotes",
            MAX_QUOTE_GROUP,
            QUOTE_INSERTS_IN_FLIGHT,
            Arc::new(move |quotes: Arc<[TradeQuote]>| {
                let store = writer.clone();
                Box::pin(async move {
                    store.save_quotes(&quotes).await?;
                    Ok(vec![(); quotes.len()])
                })
            }),
        );
        DatabaseQuoteBook { store, inserts }
    }
}

#[async_trait]
impl TradeQuoteBook for DatabaseQuoteBook {
    async fn save(&self, quote: TradeQuote) -> StoreResult<()> {
        self.inserts.run(quote).await
    }

    async fn find(&self, user_id: Uuid, id: &str) -> StoreResult<Option<TradeQuote>> {
        self.store.quote(user_id, id).await
    }

    /// The movement's transaction moved the row to CONSUMED: nothing left to record.
    async fn consumed(&self, _: &TradeQuote) {}
}
