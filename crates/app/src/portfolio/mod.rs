//! Portfolio use cases (business-rules §3–§7 and §9; api.md §5–§9 and §11): onboarding,
//! portfolio reads, add funds, trade preview and execute, rebalancing, loans, ledger history and
//! activity, verification and the profile. Each money movement is one call: it locks the
//! portfolio through [`PortfolioStore::lock`], lets the domain compute the change, and commits it
//! with its answer stored under the request's idempotency key ([`Reply`] in, [`Replied`] out).

mod funds;
mod grouped;
mod history;
mod loans;
mod onboarding;
mod profile;
mod quotes;
mod rebalance;
mod reply;
mod trade;
mod view;

use std::sync::Arc;
use std::time::Duration;

use blu_domain::ledger::{NewEntry, SealError, UuidText};
use blu_domain::{
    Allocation, AssetId, Boundary, EntryType, ErrorCode, Irr, PortfolioState, PriceBook,
    RuleViolation, Snapshot, Timestamp, value_portfolio,
};
use rust_decimal::Decimal;
use serde::Serialize;
use uuid::Uuid;

use crate::ports::{
    Clock, Conflict, IdempotencyCompletion, NewActivity, PortfolioChange, PortfolioRecord,
    PortfolioStore, PortfolioTx, PriceCache, PriceSnapshot, StoreError, TradeQuoteBook,
};
use crate::trace;

pub use funds::FundsAdded;
pub use history::{
    ActivityItem, ActivityPage, HistoryFilter, HistoryPage, VerifyAll, VerifyFailure, VerifyReport,
    decode_cursor, encode_cursor,
};
pub use loans::{
    CapacityView, HealthView, LoanCreated, LoanHealthCounts, LoanInput, LoanList, LoanPreviewView,
    LoanView, RepayResult, loan_view,
};
pub use onboarding::{ConsentResult, FundingResult, RiskResult};
pub use profile::{ConsentsView, Deleted, ProfileView, SettingsView};
pub use quotes::DatabaseQuoteBook;
// Protection moved to `crate::protection`; its old paths stay for the crates that use them.
pub use crate::protection::{
    CancelResult, EligibleView, ProtectionList, ProtectionService, ProtectionView, PurchaseInput,
    PurchaseResult, QuoteInput, QuoteResult, SettleCounts, StatusFilter,
};
pub use rebalance::{
    CooldownView, GapRowView, GapSummaryView, HRAM_HISTORY_DAYS, LayerAmounts, RebalanceExecuted,
    RebalancePreview, RebalanceRequest, RebalanceStatus, hram_weights,
};
pub use reply::{ClaimedKey, Replied, Reply};
pub(crate) use trade::number;
pub use trade::{ExecuteRequest, ExecuteResult, PreviewResult, TradeInput, TradeLimits, TradeView};
pub use view::{FixedIncomeView, HoldingView, PortfolioView};

/// Trade quotes live 30 s (D17).
pub const QUOTE_TTL_SECONDS: i64 = 30;

/// Why a portfolio use case failed.
#[derive(Debug, thiserror::Error)]
pub enum PortfolioError {
    /// A business rule refused (4xx by its code, or 503 `PRICES_STALE`).
    #[error("{0}")]
    Rule(#[from] RuleViolation),
    /// A quote problem of `POST /trade/execute` (business-rules §5.3).
    #[error("{0:?}")]
    Quote(QuoteError),
    /// The user has no portfolio yet (404 `NOT_FOUND`, resource `portfolio`).
    #[error("no portfolio")]
    NoPortfolio,
    /// An unknown resource or another user's (404 `NOT_FOUND`).
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Quote failures, each with its own status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QuoteError {
    /// 404 `QUOTE_NOT_FOUND`: unknown or another user's.
    NotFound,
    /// 409 `QUOTE_IN_USE`: already used.
    InUse,
    /// 410 `QUOTE_EXPIRED`.
    Expired { valid_until: Timestamp },
}

pub type PortfolioResult<T> = Result<T, PortfolioError>;

fn sealed(e: SealError) -> PortfolioError {
    PortfolioError::Store(StoreError::Other(anyhow::anyhow!("ledger seal: {e}")))
}

/// A computed money movement holding the portfolio lock: commit it (with the idempotency
/// record of the response, [`Prepared::reply`]) or drop it to roll back.
pub(crate) struct Prepared<T> {
    pub(crate) tx: Box<dyn PortfolioTx>,
    pub(crate) change: PortfolioChange,
    pub(crate) outcome: T,
}

impl<T> Prepared<T> {
    /// Commits the movement; `idempotency` is stored in the same transaction.
    pub async fn commit(
        mut self,
        idempotency: Option<IdempotencyCompletion>,
    ) -> PortfolioResult<T> {
        self.change.idempotency = idempotency;
        match self.tx.commit(self.change).await {
            Ok(()) => Ok(self.outcome),
            Err(StoreError::Conflict(Conflict::PortfolioExists)) => Err(portfolio_exists().into()),
            Err(StoreError::Conflict(Conflict::TradeQuoteConsumed)) => {
                Err(PortfolioError::Quote(QuoteError::InUse))
            }
            Err(e) => Err(e.into()),
        }
    }
}

pub(crate) fn portfolio_exists() -> RuleViolation {
    RuleViolation::new(
        ErrorCode::PortfolioExists,
        "A portfolio already exists for this account",
    )
}

/// The portfolio use cases.
pub struct PortfolioService {
    pub(crate) store: Arc<dyn PortfolioStore>,
    pub(crate) prices: Arc<dyn PriceCache>,
    clock: Arc<dyn Clock>,
    price_max_age: Duration,
    /// LTV at which the loan-health job liquidates (`LIQUIDATION_LTV`, D24).
    liquidation_ltv: Decimal,
    /// Told when an account closure revoked the user's sessions (issue 12).
    revocations: Option<Arc<dyn crate::ports::Revocations>>,
    /// Portfolio reads, grouped (issue 12).
    reads: grouped::Grouped<Uuid, Option<PortfolioRecord>>,
    /// Where the binding quotes of previews wait for their execute (D17).
    quotes: Arc<dyn TradeQuoteBook>,
}

/// At most this many portfolios per read (each is 1–20 rows), and reads in flight at once:
/// more of them keep the tail short (a group waits behind fewer rows).
const MAX_READ_GROUP: usize = 32;
const READS_IN_FLIGHT: usize = 4;

fn grouped_reads(
    store: Arc<dyn PortfolioStore>,
) -> grouped::Grouped<Uuid, Option<PortfolioRecord>> {
    grouped::Grouped::new(
        "portfolio reads",
        MAX_READ_GROUP,
        READS_IN_FLIGHT,
        Arc::new(move |users: Arc<[Uuid]>| {
            let store = store.clone();
            Box::pin(async move { store.portfolios(&users).await })
        }),
    )
}

impl PortfolioService {
    pub fn new(
        store: Arc<dyn PortfolioStore>,
        prices: Arc<dyn PriceCache>,
        clock: Arc<dyn Clock>,
        price_max_age: Duration,
    ) -> PortfolioService {
        PortfolioService {
            reads: grouped_reads(store.clone()),
            quotes: Arc::new(DatabaseQuoteBook::new(store.clone())),
            store,
            prices,
            clock,
            price_max_age,
            liquidation_ltv: blu_domain::loan::DEFAULT_LIQUIDATION_LTV,
            revocations: None,
        }
    }

    /// Announces the sessions an account closure revoked on this channel (the session
    /// cache's `Announcer`), so every instance refuses them at once and their sockets close.
    pub fn with_revocations(
        mut self,
        revocations: Arc<dyn crate::ports::Revocations>,
    ) -> PortfolioService {
        self.revocations = Some(revocations);
        self
    }

    /// Keeps the binding quotes of previews in the book `wrap` makes of the current one (the
    /// database's): Redis, shared by every instance (api.md §1.15), falling back to it.
    pub fn with_quote_book(
        mut self,
        wrap: impl FnOnce(Arc<dyn TradeQuoteBook>) -> Arc<dyn TradeQuoteBook>,
    ) -> PortfolioService {
        self.quotes = wrap(self.quotes);
        self
    }

    /// Sets the liquidation threshold (`LIQUIDATION_LTV`).
    pub fn with_liquidation_ltv(mut self, ltv: Decimal) -> PortfolioService {
        self.liquidation_ltv = ltv;
        self
    }

    pub fn store(&self) -> &Arc<dyn PortfolioStore> {
        &self.store
    }

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    pub fn price_max_age(&self) -> Duration {
        self.price_max_age
    }

    /// The latest prices (any age) for valuations; an empty book without FX.
    pub(crate) fn valuation_book(snapshot: &PriceSnapshot) -> PriceBook {
        snapshot
            .book()
            .unwrap_or_else(|| PriceBook::new(Decimal::ZERO))
    }

    /// Fresh prices for money movement touching `assets` (D17), else `PRICES_STALE`.
    pub(crate) fn fresh_book(
        &self,
        snapshot: &PriceSnapshot,
        now: Timestamp,
        assets: &[AssetId],
    ) -> PortfolioResult<PriceBook> {
        snapshot
            .fresh_book(now, self.price_max_age, assets)
            .map_err(|stale| {
                RuleViolation::new(
                    ErrorCode::PricesStale,
                    "Prices are being updated. Please try again in a moment.",
                )
                .with("assetIds", stale)
                .with("maxAgeSeconds", self.price_max_age.as_secs())
                .into()
            })
    }

    /// Locks the user's portfolio (or, before there is one, the user) for a money movement.
    pub(crate) async fn lock(&self, user_id: Uuid) -> PortfolioResult<Box<dyn PortfolioTx>> {
        let tx = self
            .store
            .lock(user_id)
            .await?
            .ok_or(PortfolioError::NotFound("user"))?;
        if let Some(record) = tx.portfolio() {
            trace::record("portfolio_id", record.id);
        }
        Ok(tx)
    }
}

/// The target of a portfolio (always set: a portfolio cannot exist without a risk score).
pub(crate) fn target_of(record: &PortfolioRecord) -> PortfolioResult<Allocation> {
    record.target.ok_or_else(|| {
        PortfolioError::Store(StoreError::Other(anyhow::anyhow!(
            "portfolio {} has no target allocation",
            record.id
        )))
    })
}

pub(crate) fn uuid_text(id: Uuid) -> UuidText {
    UuidText::parse(&id.hyphenated().to_string()).expect("a uuid prints as a uuid")
}

/// The parts every ledger-writing movement shares.
pub(crate) struct Movement<'a> {
    pub(crate) portfolio_id: Uuid,
    pub(crate) entry_type: EntryType,
    pub(crate) boundary: Boundary,
    pub(crate) message: String,
    pub(crate) before: (&'a PortfolioState, &'a PriceBook),
    pub(crate) after: (&'a PortfolioState, &'a PriceBook),
    pub(crate) target: &'a Allocation,
    pub(crate) now: Timestamp,
}

impl Movement<'_> {
    /// The unsealed entry with canonical before/after snapshots.
    pub(crate) fn entry(&self) -> (NewEntry, Snapshot) {
        let before = Snapshot::capture(
            &value_portfolio(self.before.0, self.before.1, self.now),
            self.target,
        );
        let after = Snapshot::capture(
            &value_portfolio(self.after.0, self.after.1, self.now),
            self.target,
        );
        let entry = NewEntry::new(
            uuid_text(Uuid::now_v7()),
            uuid_text(self.portfolio_id),
            self.entry_type,
            self.now,
            before,
            after.clone(),
            self.boundary,
            self.message.clone(),
        );
        (entry, after)
    }

    pub(crate) fn activity(&self, amount: Option<Irr>, asset: Option<AssetId>) -> NewActivity {
        NewActivity {
            action_type: self.entry_type.as_str().to_owned(),
            boundary: self.boundary,
            message: self.message.clone(),
            amount,
            asset,
            at: self.now,
        }
    }
}

/// Seals `entry` after `record`'s head and builds the change set.
pub(crate) fn change_set(
    record: Option<&PortfolioRecord>,
    portfolio_id: Uuid,
    entry: NewEntry,
    after: &Snapshot,
    state: &PortfolioState,
    activity: NewActivity,
    now: Timestamp,
) -> PortfolioResult<PortfolioChange> {
    let entry = entry
        .seal(record.and_then(|r| r.head.as_ref()))
        .map_err(sealed)?;
    Ok(PortfolioChange {
        portfolio_id,
        create: record.is_none(),
        cash: state.cash,
        holdings: state.holdings.clone(),
        status: after.status,
        entry,
        activity,
        consumed_quote: None,
        protections: Vec::new(),
        idempotency: None,
        rebalanced: false,
        now,
        loans: Vec::new(),
    })
}

/// Serializes `Option<Timestamp>` as an RFC 3339 string with milliseconds.
pub(crate) mod opt_millis {
    use blu_domain::Timestamp;
    use serde::Serializer;

    pub fn serialize<S: Serializer>(t: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_str(&t.to_rfc3339_millis()),
            None => s.serialize_none(),
        }
    }
}

/// Serializes `Timestamp` as an RFC 3339 string with milliseconds.
pub(crate) mod ts_millis {
    use blu_domain::Timestamp;
    use serde::Serializer;

    pub fn serialize<S: Serializer>(t: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&t.to_rfc3339_millis())
    }
}

/// `{"success": true}`-style acknowledgement bodies.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Success {
    pub success: bool,
}
