//! The price port: an in-memory cache of the latest prices and FX (read on every valuation, so
//! it never touches the database), and the bus that carries price ticks to every instance.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use blu_domain::{AssetId, PriceBook, Timestamp};
use rust_decimal::Decimal;

/// The latest price of one market asset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PriceQuote {
    pub asset: AssetId,
    pub price_usd: Decimal,
    /// `price_usd × fx` at the FX of the snapshot it belongs to.
    pub price_irr: Decimal,
    /// Percentage points; `None` when the provider did not say.
    pub change_24h_pct: Option<Decimal>,
    /// `coingecko`, `finnhub`, `manual` (admin override), `simulated`, `fixed`.
    pub source: String,
    pub fetched_at: Timestamp,
}

/// The latest USD→IRR rate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FxQuote {
    pub usd_irr: Decimal,
    /// `bonbast`, `manual`, `simulated`, `fixed`.
    pub source: String,
    pub fetched_at: Timestamp,
}

/// Overall freshness reported to clients (business-rules §2.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PricesStatus {
    Live,
    Stale,
    Offline,
}

impl PricesStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PricesStatus::Live => "live",
            PricesStatus::Stale => "stale",
            PricesStatus::Offline => "offline",
        }
    }
}

/// Every known price and the FX rate, as of one read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PriceSnapshot {
    pub fx: Option<FxQuote>,
    /// Indexed by `AssetId::index()`; fixed income is never here (priced internally).
    pub prices: [Option<PriceQuote>; 15],
}

impl PriceSnapshot {
    pub fn price(&self, asset: AssetId) -> Option<&PriceQuote> {
        self.prices[asset.index()].as_ref()
    }

    /// A price book of every known price at the snapshot's FX (for valuations, whatever their
    /// age). `None` without FX.
    pub fn book(&self) -> Option<PriceBook> {
        let fx = self.fx.as_ref()?;
        let mut book = PriceBook::new(fx.usd_irr);
        for quote in self.prices.iter().flatten() {
            book.set_usd(quote.asset, quote.price_usd);
        }
        Some(book)
    }

    fn is_fresh(fetched_at: Timestamp, now: Timestamp, max_age: Duration) -> bool {
        now.micros_since(fetched_at) <= max_age.as_micros() as i64
    }

    /// A price book holding only fresh prices, for money movement (D17): FX must be fresh and
    /// every asset in `required` must be fresh, else `Err` lists what is stale or missing
    /// (`"FX"` for the rate). Fixed income is always fresh.
    pub fn fresh_book(
        &self,
        now: Timestamp,
        max_age: Duration,
        required: &[AssetId],
    ) -> Result<PriceBook, Vec<String>> {
        let mut stale = Vec::new();
        let fx = match &self.fx {
            Some(fx) if Self::is_fresh(fx.fetched_at, now, max_age) => Some(fx.usd_irr),
            _ => {
                stale.push("FX".to_owned());
                None
            }
        };
        for asset in required.iter().filter(|a| !a.is_fixed_income()) {
            match self.price(*asset) {
                Some(q) if Self::is_fresh(q.fetched_at, now, max_age) => {}
                _ => stale.push(asset.as_str().to_owned()),
            }
        }
        match fx {
            Some(fx) if stale.is_empty() => {
                let mut book = PriceBook::new(fx);
                for quote in self.prices.iter().flatten() {
                    if Self::is_fresh(quote.fetched_at, now, max_age) {
                        book.set_usd(quote.asset, quote.price_usd);
                    }
                }
                Ok(book)
            }
            _ => Err(stale),
        }
    }

    /// `live` when every price and FX is fresh; `stale` when something is older but the newest
    /// price is under 10 minutes old; `offline` otherwise (business-rules §2.4).
    pub fn status(&self, now: Timestamp, max_age: Duration) -> PricesStatus {
        let market_assets = AssetId::ALL.iter().filter(|a| !a.is_fixed_income());
        let times: Vec<Timestamp> = self.prices.iter().flatten().map(|q| q.fetched_at).collect();
        let Some(newest) = times.iter().max().copied() else {
            return PricesStatus::Offline;
        };
        let all_fresh = self
            .fx
            .as_ref()
            .is_some_and(|fx| Self::is_fresh(fx.fetched_at, now, max_age))
            && market_assets.clone().all(|a| {
                self.price(*a)
                    .is_some_and(|q| Self::is_fresh(q.fetched_at, now, max_age))
            });
        if all_fresh {
            PricesStatus::Live
        } else if Self::is_fresh(newest, now, Duration::from_secs(600)) {
            PricesStatus::Stale
        } else {
            PricesStatus::Offline
        }
    }
}

/// The process-local cache of the latest snapshot (cheap to read: an `Arc` clone).
pub trait PriceCache: Send + Sync {
    fn snapshot(&self) -> Arc<PriceSnapshot>;
}

/// One publication on the price bus: the changed prices, the FX rate and the tick time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PriceTick {
    pub prices: Vec<PriceQuote>,
    pub fx: Option<FxQuote>,
    pub at: Timestamp,
}

#[derive(Debug, thiserror::Error)]
#[error("price bus unavailable: {0}")]
pub struct BusError(pub String);

/// Carries ticks to every instance (in-memory broadcast, or Redis pub/sub when configured).
#[async_trait]
pub trait PriceBus: Send + Sync {
    async fn publish(&self, tick: &PriceTick) -> Result<(), BusError>;
    /// Ticks published by any instance from now on (including this one).
    fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Arc<PriceTick>>;
}
