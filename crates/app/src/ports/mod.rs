//! Ports: the traits the use cases need from the outside world.

pub mod clock;
pub mod jobs;
pub mod limits;
pub mod loans;
pub mod notifications;
pub mod operators;
pub mod portfolio;
pub mod price_feed;
pub mod prices;
pub mod protection;
pub mod push;
pub mod sms;
pub mod store;
pub mod stream;

pub use clock::{BusinessClock, Clock, SystemClock, real_now};
pub use jobs::{ClaimedRun, JobInfo, JobRunner, JobStore, RunNowError, RunStatus, RunSummary};
pub use limits::{Limit, LimiterError, RateDecision, RateLimiter};
pub use loans::{LoanHealthWrite, LoanNotification, LoanRecord, LoanWrite};
pub use notifications::{
    DueItem, Housekeeping, NewNotification, NotificationStore, PendingNotification, StatusStore,
    StatusWrite, StoredStatus,
};
pub use operators::{
    ActorKind, AuditEntry, AuditQuery, AuditRecord, AuditTx, CustomerRef, ExpiringProtection,
    LoanBand, LoginCode, OperatorRecord, OperatorSession, OperatorStore, OperatorUpdate,
    OutboxBacklog, Permission, Role,
};
pub use portfolio::{
    AccountClosure, ActivityRecord, BiometricEnrolment, HoldingRecord, IdempotencyClaim,
    IdempotencyCompletion, IdempotencyRequest, LedgerQuery, NewActivity, OnboardingRecord,
    PortfolioChange, PortfolioRecord, PortfolioStore, PortfolioTx, ProfileRecord, RiskUpdate,
    Settings, SettingsUpdate, TradeQuote, TradeQuoteBook, new_holding_id,
};
pub use price_feed::{
    DailyClose, FX_SUBJECT, FetchedPrice, FxSource, PriceOverride, PriceSource, PriceStore,
    PriceWrite, SourceError, StoredPrices,
};
pub use prices::{
    BusError, FxQuote, PriceBus, PriceCache, PriceQuote, PriceSnapshot, PriceTick, PricesStatus,
};
pub use protection::{
    ProtectionNotification, ProtectionQuoteRecord, ProtectionRecord, ProtectionStore,
    ProtectionWrite, QuoteState, RegimeSetting,
};
pub use push::{PushError, PushMessage, PushSender};
pub use sms::{OutboxMessage, SmsError, SmsGateway};
pub use store::{
    AuthStore, BiometricKey, Conflict, NewSession, OtpRecord, SessionRecord, SessionRotation,
    Store, StoreError, StoreResult, UserRecord,
};
pub use stream::{ConnectionSlots, Revocation, Revocations, SlotError};
