//! Blu Markets business rules, pure: no I/O, no clock reads, no async. Time is a parameter.
//! `docs/domain.md` maps every rule of business-rules.md to the function that implements it.
#![forbid(unsafe_code)]

pub mod allocation;
pub mod asset;
pub mod boundary;
pub mod csv;
pub mod error;
pub mod fixed_income;
pub mod ledger;
pub mod money;
pub mod num;
pub mod portfolio;
pub mod time;

pub use allocation::{Allocation, PortfolioStatus, StatusReport, portfolio_status};
pub use asset::{Asset, AssetId, Layer};
pub use boundary::{Boundary, BoundaryAssessment};
pub use error::{ErrorCode, RuleResult, RuleViolation};
pub use ledger::{EntryType, LedgerEntry, NewEntry, Snapshot, VerificationReport};
pub use money::{Irr, Quantity};
pub use portfolio::{Holding, PortfolioState, PriceBook, Valuation, value_portfolio};
pub use time::Timestamp;
