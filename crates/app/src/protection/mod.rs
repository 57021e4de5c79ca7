//! Protection use cases (business-rules §8, api.md §10; decisions D11, D25–D27): eligible
//! holdings, quotes, purchase (with a quote or in one step), reads, cancellation, settlement at
//! expiry and the operators' volatility regimes, on top of the portfolio service's lock, prices
//! and clock.
//!
//! Submodules: `service` (the service, regimes, the money movements and reads of the caller's
//! protections), `quotes` (eligible holdings and quotes) and `views` (the wire shapes).

mod quotes;
mod service;
mod views;

pub(crate) use service::cancellation;
pub use service::{ProtectionService, PurchaseInput, QuoteInput};
pub use views::{
    Breakeven, CancelResult, CoverageRange, EligibleHolding, EligibleView, GreeksView,
    IndicativePremium, ProtectionList, ProtectionView, PurchaseResult, QuoteResult, QuoteView,
    SettleCounts, StatusFilter, Validity, VolatilityView, protection_view,
};
