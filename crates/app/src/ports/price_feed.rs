//! Ports of the price service: the providers it fetches from (`PriceSource`, `FxSource`) and the
//! storage of current prices, daily closes, chart points, admin overrides and the refresh lease
//! (`PriceStore`).

use async_trait::async_trait;
use blu_domain::{AssetId, Timestamp};
use rust_decimal::Decimal;

use super::operators::AuditEntry;
use super::prices::{FxQuote, PriceQuote};
use super::store::StoreResult;

/// One price as a provider reported it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchedPrice {
    pub asset: AssetId,
    pub price_usd: Decimal,
    /// Percentage points over 24 h, when the provider says.
    pub change_24h_pct: Option<Decimal>,
}

/// Why a provider call failed (after its retries).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    /// Timeout, connection failure or a 5xx.
    #[error("provider unreachable: {0}")]
    Unreachable(String),
    /// 429 after every attempt, or the local rate limit is exhausted.
    #[error("provider rate limit reached")]
    RateLimited,
    /// 4xx, or a body that does not have the documented shape or holds a non-positive value.
    #[error("provider answer refused: {0}")]
    Invalid(String),
}

/// A provider of market prices for some assets. An asset missing from a successful answer keeps
/// its previous price (it goes stale).
#[async_trait]
pub trait PriceSource: Send + Sync {
    /// `coingecko`, `finnhub`, `simulated`, `fixed`: the `source` of the quotes it yields.
    fn name(&self) -> &'static str;
    async fn fetch_prices(&self) -> Result<Vec<FetchedPrice>, SourceError>;
}

/// A provider of the USD→IRR rate, in rials per dollar.
#[async_trait]
pub trait FxSource: Send + Sync {
    /// `bonbast`, `simulated`, `fixed`.
    fn name(&self) -> &'static str;
    async fn fetch_usd_irr(&self) -> Result<Decimal, SourceError>;
}

/// An admin override (api.md §13.1): of one asset's USD price, or of the FX rate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PriceOverride {
    /// `None` for the FX override.
    pub asset: Option<AssetId>,
    /// `priceUsd` for an asset, `usdIrr` for FX.
    pub value: Decimal,
    pub change_24h_pct: Option<Decimal>,
    pub reason: Option<String>,
    pub expires_at: Option<Timestamp>,
    pub created_at: Timestamp,
}

impl PriceOverride {
    /// The `price_overrides.subject` of this override: the asset id, or `FX`.
    pub fn subject(&self) -> &'static str {
        self.asset.map_or(FX_SUBJECT, AssetId::as_str)
    }

    pub fn is_active(&self, now: Timestamp) -> bool {
        self.expires_at.is_none_or(|at| now < at)
    }

    /// Whether the value is within the domain's bounds for a USD price of its asset or for FX
    /// (`blu_domain::asset::price_usd_bounds`, `fx_in_bounds`).
    pub fn in_bounds(&self) -> bool {
        match self.asset {
            Some(asset) => blu_domain::asset::price_usd_in_bounds(asset, self.value),
            None => blu_domain::asset::fx_in_bounds(self.value),
        }
    }
}

/// `price_overrides.subject` of the FX override.
pub const FX_SUBJECT: &str = "FX";

/// One daily close (UTC day) of an asset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DailyClose {
    /// `YYYY-MM-DD`.
    pub day: String,
    pub close_usd: Decimal,
    pub close_irr: Option<Decimal>,
}

/// What one refresh (or one override) writes, in one transaction.
#[derive(Clone, Debug, Default)]
pub struct PriceWrite {
    /// The feed's FX when it was fetched this time (upserts `fx_rates`).
    pub fx: Option<FxQuote>,
    /// Feed prices to upsert into `prices`, each with the FX it was converted at.
    pub prices: Vec<(PriceQuote, FxQuote)>,
    /// Effective prices (overrides applied) to record as the day's close and a chart point,
    /// at `price_irr` of the quote.
    pub points: Vec<PriceQuote>,
    /// Chart points older than this are deleted (history closes are kept).
    pub prune_points_before: Option<Timestamp>,
    /// An operator override stored in the same transaction as the points it produces, so a
    /// failed write leaves neither.
    pub set_override: Option<PriceOverride>,
    /// The operator's audit row of the override, in the same transaction (issue 15).
    pub audit: Option<AuditEntry>,
}

/// Everything stored about prices, as loaded at startup and on reload.
#[derive(Clone, Debug, Default)]
pub struct StoredPrices {
    pub prices: Vec<PriceQuote>,
    pub fx: Option<FxQuote>,
    /// Every stored override, expired or not.
    pub overrides: Vec<PriceOverride>,
}

/// Storage of the price service. Prices are reference data: no tenant, owner connection.
#[async_trait]
pub trait PriceStore: Send + Sync {
    async fn load_prices(&self) -> StoreResult<StoredPrices>;

    /// Applies a write in one transaction. A daily close is the last price written that UTC day.
    async fn save_prices(&self, write: &PriceWrite) -> StoreResult<()>;

    /// Sets (replaces) the override of its subject.
    async fn put_override(&self, o: &PriceOverride) -> StoreResult<()>;

    /// Deletes the override of `subject` (`FX` or an asset id) with the operator's audit row
    /// in the same transaction; false when none was set (the audit row is written either way).
    async fn delete_override(&self, subject: &str, audit: Option<&AuditEntry>)
    -> StoreResult<bool>;

    /// Daily closes of an asset from `from_day` (`YYYY-MM-DD`, inclusive), oldest first.
    async fn daily_closes(&self, asset: AssetId, from_day: &str) -> StoreResult<Vec<DailyClose>>;

    /// Whether a job's tick has finished (succeeded or failed); false if unclaimed or running
    /// (instances that did not run the `prices` tick reload after it).
    async fn job_tick_finished(&self, job: &str, scheduled_at: Timestamp) -> StoreResult<bool>;
}
