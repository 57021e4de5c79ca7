//! Ports: the traits the use cases need from the outside world.

pub mod clock;
pub mod limits;
pub mod portfolio;
pub mod prices;
pub mod sms;
pub mod store;

pub use clock::{BusinessClock, Clock, SystemClock, real_now};
pub use limits::{Limit, LimiterError, RateDecision, RateLimiter};
pub use portfolio::{
    AccountDeletion, ActivityRecord, HoldingRecord, IdempotencyClaim, IdempotencyCompletion,
    IdempotencyRequest, LedgerQuery, NewActivity, OnboardingRecord, PortfolioChange,
    PortfolioRecord, PortfolioStore, PortfolioTx, ProfileRecord, RiskUpdate, Settings,
    SettingsUpdate, TradeQuote, new_holding_id,
};
pub use prices::{
    BusError, FxQuote, PriceBus, PriceCache, PriceQuote, PriceSnapshot, PriceTick, PricesStatus,
};
pub use sms::{OutboxMessage, SmsError, SmsGateway};
pub use store::{
    AuthStore, NewSession, OtpRecord, SessionRecord, SessionRotation, Store, StoreError,
    StoreResult, UserRecord,
};
