//! Binding trade quotes written in groups (issue 12, item 4; api.md §6, D17). Every preview
//! stores its quote before answering, so any instance can honour it; previews that arrive
//! together share one multi-row `INSERT` (`PortfolioStore::save_quotes`) instead of one
//! statement and one commit each.
//!
//! One writer task takes whatever is queued, writes it as one group and answers every preview
//! in it, then takes the next group. Nothing waits on a timer: alone, a preview is written at
//! once; under load, the previews that queue while a group is being written form the next one.

use std::sync::{Arc, OnceLock};

use tokio::sync::{mpsc, oneshot};

use crate::ports::{PortfolioStore, StoreError, StoreResult, TradeQuote};

/// At most this many quotes per statement (14 parameters each, far below any driver limit).
const MAX_GROUP: usize = 64;

struct Pending {
    quote: TradeQuote,
    stored: oneshot::Sender<StoreResult<()>>,
}

pub(crate) struct QuoteWriter {
    store: Arc<dyn PortfolioStore>,
    /// Started by the first quote, inside the runtime that serves it.
    queue: OnceLock<mpsc::UnboundedSender<Pending>>,
}

impl QuoteWriter {
    pub(crate) fn new(store: Arc<dyn PortfolioStore>) -> QuoteWriter {
        QuoteWriter {
            store,
            queue: OnceLock::new(),
        }
    }

    /// Stores the quote; returns once it is committed (or the group it was in failed). A
    /// preview dropped while waiting leaves its quote to be written anyway — unused, it expires.
    pub(crate) async fn save(&self, quote: TradeQuote) -> StoreResult<()> {
        let (stored, answer) = oneshot::channel();
        self.queue()
            .send(Pending { quote, stored })
            .map_err(|_| StoreError::Unavailable("the quote writer has stopped".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Unavailable("the quote writer has stopped".into()))?
    }

    fn queue(&self) -> &mpsc::UnboundedSender<Pending> {
        self.queue.get_or_init(|| {
            let (queue, pending) = mpsc::unbounded_channel();
            tokio::spawn(write_groups(self.store.clone(), pending));
            queue
        })
    }
}

/// Ends when the last sender (the service) is dropped.
async fn write_groups(
    store: Arc<dyn PortfolioStore>,
    mut pending: mpsc::UnboundedReceiver<Pending>,
) {
    let mut group = Vec::with_capacity(MAX_GROUP);
    while pending.recv_many(&mut group, MAX_GROUP).await > 0 {
        let (quotes, waiting): (Vec<TradeQuote>, Vec<_>) =
            group.drain(..).map(|p| (p.quote, p.stored)).unzip();
        let written = store.save_quotes(&quotes).await;
        if let Err(e) = &written {
            tracing::warn!(error = %e, quotes = quotes.len(), "storing trade quotes failed");
        }
        for stored in waiting {
            let _ = stored.send(match &written {
                Ok(()) => Ok(()),
                Err(e) => Err(shared(e)),
            });
        }
    }
}

/// The failure of a group, as each of its previews reports it.
fn shared(e: &StoreError) -> StoreError {
    match e {
        StoreError::Unavailable(why) => StoreError::Unavailable(why.clone()),
        StoreError::Conflict(c) => StoreError::Conflict(c.clone()),
        StoreError::IdempotencyClaimLost => StoreError::IdempotencyClaimLost,
        StoreError::Other(e) => StoreError::Other(anyhow::anyhow!("storing trade quotes: {e:#}")),
    }
}
