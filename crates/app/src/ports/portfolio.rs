//! The portfolio storage port: a unit of work that holds the portfolio lock while a money
//! movement is computed and applied, plus the read-only queries of the portfolio, history,
//! activity, profile and verification use cases.
//!
//! A money movement is: [`PortfolioStore::lock`] (one transaction: PostgreSQL `SELECT … FOR
//! UPDATE` on the portfolio row inside the tenant transaction, SQLite `BEGIN IMMEDIATE`) loads the
//! whole state; the domain computes the change; [`PortfolioTx::commit`] writes cash, holdings,
//! lots, the sealed ledger entry, the activity row, the consumed quote and the idempotency
//! record, and commits. Dropping the unit of work without committing rolls everything back.

use async_trait::async_trait;
use blu_domain::fixed_income::Lot;
use blu_domain::ledger::ChainHead;
use blu_domain::trade::TradeAction;
use blu_domain::{
    Allocation, AssetId, Boundary, EntryType, Holding, Irr, LedgerEntry, PortfolioState,
    PortfolioStatus, Quantity, Timestamp,
};
use rust_decimal::Decimal;
use uuid::Uuid;

use super::store::StoreResult;

/// One holding row with its fixed-income lots (oldest first).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HoldingRecord {
    pub id: Uuid,
    pub asset: AssetId,
    pub quantity: Quantity,
    pub frozen: bool,
    pub first_purchased_at: Option<Timestamp>,
    pub lots: Vec<Lot>,
}

/// A portfolio as loaded in one consistent read: the row, its holdings and lots, the owner's
/// target, the ledger head and the counts the portfolio view reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortfolioRecord {
    pub id: Uuid,
    pub user_id: Uuid,
    pub cash: Irr,
    pub last_rebalance_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub risk_score: Option<u8>,
    pub target: Option<Allocation>,
    /// Registry order.
    pub holdings: Vec<HoldingRecord>,
    pub head: Option<ChainHead>,
    pub active_loans: i64,
    pub active_protections: i64,
    /// Σ unpaid principal of ACTIVE loans.
    pub outstanding_loan_principal: Irr,
}

impl PortfolioRecord {
    /// The domain state (cash, holdings with lots).
    pub fn state(&self) -> PortfolioState {
        PortfolioState {
            cash: self.cash,
            holdings: self
                .holdings
                .iter()
                .map(|h| Holding {
                    asset: h.asset,
                    quantity: h.quantity,
                    frozen: h.frozen,
                    lots: h.lots.clone(),
                })
                .collect(),
        }
    }

    pub fn holding(&self, asset: AssetId) -> Option<&HoldingRecord> {
        self.holdings.iter().find(|h| h.asset == asset)
    }
}

/// The onboarding facts of a user, read under the lock before a portfolio exists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OnboardingRecord {
    pub risk_score: Option<u8>,
    pub target: Option<Allocation>,
    pub consents_given: bool,
}

/// An activity row to write (api.md §2.4).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewActivity {
    pub action_type: String,
    pub boundary: Boundary,
    pub message: String,
    pub amount: Option<Irr>,
    pub asset: Option<AssetId>,
    pub at: Timestamp,
}

/// A stored activity row: its integer id (the wire id and keyset cursor) and content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActivityRecord {
    pub id: i64,
    pub activity: NewActivity,
}

/// The stored response of an idempotent request, written with the business effect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdempotencyCompletion {
    pub user_id: Uuid,
    pub key: String,
    /// The claim this completion belongs to (`IdempotencyRequest::claim`): a claim that was
    /// taken over cannot be completed, and the movement carrying it rolls back.
    pub claim: Uuid,
    pub status: u16,
    pub body: Vec<u8>,
}

/// The outcome of claiming an idempotency key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IdempotencyClaim {
    /// First use (or the earlier record expired): run the request.
    Started,
    /// Same key and fingerprint, completed: replay this response.
    Replay { status: u16, body: Vec<u8> },
    /// Same key, another request.
    Mismatch,
    /// Same key, still running.
    InProgress,
}

/// A new idempotency claim.
#[derive(Clone, Debug)]
pub struct IdempotencyRequest {
    pub user_id: Uuid,
    pub key: String,
    /// A fresh id naming this claim (the request holding the key).
    pub claim: Uuid,
    pub method: String,
    pub path: String,
    pub fingerprint: String,
    pub now: Timestamp,
    /// Records created before this instant are expired (24 h) and replaced.
    pub expired_before: Timestamp,
    /// IN_PROGRESS records created before this instant are taken over whatever their owner
    /// (the backstop: a partitioned owner). A record whose owning process is known to be gone
    /// is taken over at once.
    pub abandoned_before: Timestamp,
}

/// A trade quote (business-rules §5.3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TradeQuote {
    pub id: String,
    pub user_id: Uuid,
    pub portfolio_id: Uuid,
    pub asset: AssetId,
    pub action: TradeAction,
    /// The requested amount (0 for a `sellAll` request).
    pub amount: Irr,
    pub sell_all: bool,
    pub quantity: Quantity,
    pub price_usd: Option<Decimal>,
    pub price_irr: Decimal,
    pub fx_rate: Option<Decimal>,
    pub spread: Irr,
    /// `AVAILABLE` or `CONSUMED`.
    pub consumed: bool,
    pub expires_at: Timestamp,
    pub created_at: Timestamp,
}

/// Where binding trade quotes wait between a preview and its execute, shared by every instance
/// (api.md §1.15): Redis when configured, else the database. A book keeps the terms; the
/// single use is recorded by the execute's own transaction (`PortfolioChange::consumed_quote`),
/// so no book can let a quote fill twice.
#[async_trait]
pub trait TradeQuoteBook: Send + Sync {
    /// Keeps `quote` at least until it expires.
    async fn save(&self, quote: TradeQuote) -> StoreResult<()>;
    /// A quote of `user_id` (`None` when unknown, long expired, or another user's).
    async fn find(&self, user_id: Uuid, id: &str) -> StoreResult<Option<TradeQuote>>;
    /// Told once the movement that consumed `quote` has committed, so that a replay is
    /// refused before any work. Best effort: the movement's transaction already made the quote
    /// single use.
    async fn consumed(&self, quote: &TradeQuote);
}

/// Everything one money movement writes, computed by the domain from the locked state.
#[derive(Clone, Debug)]
pub struct PortfolioChange {
    pub portfolio_id: Uuid,
    /// True for initial funding: the portfolio row is inserted.
    pub create: bool,
    pub cash: Irr,
    /// The full holdings after the change (a holding sold out stays with quantity 0).
    pub holdings: Vec<Holding>,
    pub status: PortfolioStatus,
    pub entry: LedgerEntry,
    pub activity: NewActivity,
    /// The quote this movement fills, recorded as consumed in its transaction: the row is
    /// inserted as CONSUMED (a quote kept outside the database) or moved from AVAILABLE; a
    /// quote already consumed refuses the movement (`Conflict::TradeQuoteConsumed`).
    pub consumed_quote: Option<TradeQuote>,
    /// Protection rows written with the movement (business-rules §8).
    pub protections: Vec<super::protection::ProtectionWrite>,
    pub idempotency: Option<IdempotencyCompletion>,
    /// A rebalance: `portfolios.last_rebalance_at` is set to `now`.
    pub rebalanced: bool,
    pub now: Timestamp,
    /// Loans created or changed by this movement (issue 6).
    pub loans: Vec<super::LoanWrite>,
}

/// A locked portfolio (or, before funding, a locked user).
#[async_trait]
pub trait PortfolioTx: Send {
    fn onboarding(&self) -> &OnboardingRecord;
    fn portfolio(&self) -> Option<&PortfolioRecord>;
    /// The locked portfolio's protections, newest first.
    async fn protections(&mut self) -> StoreResult<Vec<super::protection::ProtectionRecord>>;
    /// Reserves a protection quote of the locked user (AVAILABLE → RESERVED inside this
    /// transaction, so a rollback releases it). Returns the quote with its state: RESERVED when
    /// this call reserved it; `None` when unknown or another user's.
    async fn reserve_protection_quote(
        &mut self,
        id: &str,
        now: Timestamp,
    ) -> StoreResult<Option<super::protection::ProtectionQuoteRecord>>;
    /// Applies the change and commits. A uniqueness conflict (a second portfolio) is
    /// `StoreError::Conflict`.
    async fn commit(self: Box<Self>, change: PortfolioChange) -> StoreResult<()>;
    /// Closes the locked user's account and commits, in this one transaction: applies the
    /// cancellations (protection transitions, ledger entries, activity rows), then anonymises
    /// the user (phone, push token, stored answers, `deleted_at`; ledger rows stay) and revokes
    /// every session. Works with or without a portfolio.
    async fn close_account(self: Box<Self>, closure: AccountClosure) -> StoreResult<()>;
    /// The locked portfolio's loans with their installments, newest first.
    async fn loans(&mut self) -> StoreResult<Vec<super::LoanRecord>>;
    /// Stores loan-health results (no money movement) and commits. Only ACTIVE loans change.
    async fn commit_loan_health(
        self: Box<Self>,
        updates: Vec<super::LoanHealthWrite>,
    ) -> StoreResult<()>;
}

/// Filters of `GET /history`.
#[derive(Clone, Debug, Default)]
pub struct LedgerQuery {
    pub entry_type: Option<EntryType>,
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
    /// Keyset: entries with a smaller sequence number.
    pub before_sequence: Option<u64>,
    pub limit: u32,
}

/// A user's profile (api.md §11 `GET /profile`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProfileRecord {
    pub id: Uuid,
    pub phone: String,
    pub created_at: Timestamp,
    pub last_login_at: Option<Timestamp>,
    pub risk_score: Option<u8>,
    pub target: Option<Allocation>,
    pub consent_risk: bool,
    pub consent_loss: bool,
    pub consent_no_guarantee: bool,
    pub consented_at: Option<Timestamp>,
    pub has_portfolio: bool,
    pub settings: Settings,
}

/// User settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    pub language: String,
    pub notifications_enabled: bool,
    pub notification_token: Option<String>,
    /// A device key is enrolled for `POST /auth/biometric`.
    pub biometric_enabled: bool,
}

/// A partial settings update (absent = unchanged).
#[derive(Clone, Debug, Default)]
pub struct SettingsUpdate {
    pub language: Option<String>,
    pub notifications_enabled: Option<bool>,
    pub notification_token: Option<String>,
    /// Enrols (or replaces) a device key.
    pub biometric: Option<BiometricEnrolment>,
    /// Removes every enrolled device first.
    pub remove_biometrics: bool,
}

/// A device key to enrol: a base64 SPKI of a P-256 key, already checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BiometricEnrolment {
    pub device_id: String,
    pub public_key: String,
}

/// A scored questionnaire to store on the user.
#[derive(Clone, Debug)]
pub struct RiskUpdate {
    pub score: u8,
    pub tier: String,
    pub profile_name: String,
    pub target: Allocation,
    pub version: String,
    pub answers: serde_json::Value,
    pub breakdown: serde_json::Value,
    pub at: Timestamp,
}

/// Everything closing an account writes (api.md §11 `DELETE /profile`), computed under the lock.
#[derive(Clone, Debug)]
pub struct AccountClosure {
    /// One PROTECTION_CANCEL movement per ACTIVE protection, each sealed after the one before
    /// (the first after the locked ledger head), applied in order exactly as a commit would.
    pub cancellations: Vec<PortfolioChange>,
    /// Replaces the phone, so the number can register again as a new user.
    pub anonymised_phone: String,
    pub now: Timestamp,
}

/// Portfolio storage.
#[async_trait]
pub trait PortfolioStore: Send + Sync {
    /// Opens the unit of work of a money movement for `user_id`, holding its portfolio lock.
    /// `None` when the user does not exist (or was deleted).
    async fn lock(&self, user_id: Uuid) -> StoreResult<Option<Box<dyn PortfolioTx>>>;

    /// The user's portfolio, read without locking.
    async fn portfolio(&self, user_id: Uuid) -> StoreResult<Option<PortfolioRecord>> {
        Ok(self.portfolios(&[user_id]).await?.pop().flatten())
    }

    /// The portfolios of several users, read without locking in one statement, in the order
    /// asked (`None` for a user without one). Reads that arrive together are grouped
    /// (`portfolio::grouped`).
    async fn portfolios(&self, user_ids: &[Uuid]) -> StoreResult<Vec<Option<PortfolioRecord>>>;

    /// Stores binding trade quotes, all in one statement (previews arriving together are
    /// written as one group: `portfolio::grouped`).
    async fn save_quotes(&self, quotes: &[TradeQuote]) -> StoreResult<()>;

    /// A stored trade quote of `user_id`, with its state (`None` when unknown or another
    /// user's).
    async fn quote(&self, user_id: Uuid, id: &str) -> StoreResult<Option<TradeQuote>>;

    /// Ledger entries of the user's portfolio, newest first.
    async fn ledger_page(
        &self,
        user_id: Uuid,
        query: &LedgerQuery,
    ) -> StoreResult<Vec<LedgerEntry>>;

    /// One ledger entry of the user's portfolio.
    async fn ledger_entry(&self, user_id: Uuid, id: Uuid) -> StoreResult<Option<LedgerEntry>>;

    /// Every ledger entry of a portfolio, ascending sequence, with its current state: the input
    /// of verification (operator access, no tenant). `None` when the portfolio is unknown.
    async fn verification_input(
        &self,
        portfolio_id: Uuid,
    ) -> StoreResult<Option<(Vec<LedgerEntry>, PortfolioState)>>;

    /// Every portfolio id (operator access).
    async fn portfolio_ids(&self) -> StoreResult<Vec<Uuid>>;

    /// Activity of the user's portfolio, newest first, ids below `before_id`.
    async fn activity_page(
        &self,
        user_id: Uuid,
        before_id: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<ActivityRecord>>;

    /// Stores a scored questionnaire; with a portfolio, also the activity row (one
    /// transaction). Returns whether a portfolio exists.
    async fn save_risk(
        &self,
        user_id: Uuid,
        update: &RiskUpdate,
        activity: &NewActivity,
    ) -> StoreResult<bool>;

    /// Records the three consents; `None` when the questionnaire was not scored yet. Returns
    /// the (first) consent time.
    async fn save_consent(&self, user_id: Uuid, now: Timestamp) -> StoreResult<Option<Timestamp>>;

    async fn profile(&self, user_id: Uuid) -> StoreResult<Option<ProfileRecord>>;

    async fn update_settings(
        &self,
        user_id: Uuid,
        update: &SettingsUpdate,
        now: Timestamp,
    ) -> StoreResult<Option<Settings>>;

    /// Claims an idempotency key (api.md §1.11).
    async fn claim_idempotency(
        &self,
        request: &IdempotencyRequest,
    ) -> StoreResult<IdempotencyClaim>;

    /// Stores the response of a claimed key (routes whose effect has no portfolio transaction).
    /// A claim that is no longer held is `StoreError::IdempotencyClaimLost`.
    async fn complete_idempotency(
        &self,
        completion: &IdempotencyCompletion,
        now: Timestamp,
    ) -> StoreResult<()>;

    /// Forgets an IN_PROGRESS claim (5xx, 401, 429, a dropped request: the key may be
    /// retried). Only the claim named is released.
    async fn release_idempotency(&self, user_id: Uuid, key: &str, claim: Uuid) -> StoreResult<()>;

    /// At the start of `blu serve`: releases IN_PROGRESS claims whose owning process is gone
    /// and that the claim statement cannot recognise as such by itself (SQLite: one instance
    /// per file, so every claim left is a dead process's). Returns how many were released.
    async fn release_abandoned_idempotency(&self) -> StoreResult<u64>;

    /// The user's loans with installments, newest first (read without locking).
    async fn loans(&self, user_id: Uuid) -> StoreResult<Vec<super::LoanRecord>>;

    /// Owners of portfolios with an ACTIVE loan (operator access, for the loan-health job).
    async fn active_loan_users(&self) -> StoreResult<Vec<Uuid>>;
}

/// The id of a new holding: derived from the portfolio and the asset (a name-based UUID over
/// SHA-256), so the id a use case reports before commit is the id the store writes, and a
/// holding keeps one id per portfolio and asset.
pub fn new_holding_id(portfolio_id: Uuid, asset: AssetId) -> Uuid {
    use sha2::{Digest, Sha256};
    let digest = Sha256::new()
        .chain_update(portfolio_id.as_bytes())
        .chain_update(asset.as_str().as_bytes())
        .finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_sha1_bytes(bytes).into_uuid()
}
