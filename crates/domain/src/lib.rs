//! Blu Markets business rules, pure: no I/O, no clock reads, no async. Time is a parameter.
//! `docs/domain.md` maps every rule of business-rules.md to the function that implements it.
#![forbid(unsafe_code)]

pub mod activity;
pub mod allocation;
pub mod asset;
pub mod boundary;
pub mod construction;
pub mod csv;
pub mod error;
pub mod fixed_income;
pub mod format;
pub mod hram;
pub mod ledger;
pub mod loan;
pub mod money;
pub mod num;
pub mod portfolio;
pub mod profile;
pub mod protection;
pub mod questionnaire;
pub mod rebalance;
pub mod risk;
pub mod schema;
pub mod time;
pub mod trade;

#[cfg(test)]
mod totality_tests;

pub use allocation::{Allocation, PortfolioStatus, StatusReport, portfolio_status};
pub use asset::{Asset, AssetId, Layer};
pub use boundary::{Boundary, BoundaryAssessment};
pub use error::{ErrorCode, RuleResult, RuleViolation};
pub use ledger::{EntryType, LedgerEntry, NewEntry, Snapshot, VerificationReport};
pub use money::{Irr, Quantity};
pub use portfolio::{Holding, PortfolioState, PriceBook, Valuation, value_portfolio};
pub use profile::{RiskProfile, RiskTier, risk_profile};
pub use questionnaire::{AnswerItem, Answers, QuestionId, parse_answers, questionnaire_view};
pub use risk::{RiskAssessment, ScoreBreakdown, assess, risk_score};
pub use time::Timestamp;
