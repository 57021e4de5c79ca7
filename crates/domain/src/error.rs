//! Business-rule refusals. Each carries a stable code from the api.md catalogue (§1.10); the
//! HTTP layer maps codes to statuses, so the domain never knows about HTTP.

use serde_json::{Map, Value};

/// Error codes the domain can produce (api.md §1.10).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    ValidationError,
    NotFound,
    OnboardingIncomplete,
    PortfolioExists,
    InsufficientCash,
    InsufficientHoldings,
    AssetFrozen,
    AcknowledgmentRequired,
    QuoteMismatch,
    PricesStale,
    RebalanceTooSoon,
    NoRebalanceNeeded,
    CollateralNotEligible,
    ExceedsAssetLtv,
    ExceedsPortfolioLoanLimit,
    LoanNotActive,
    ProtectionExists,
    ProtectionNotEligible,
    ProtectionNotActive,
    ActiveLoansExist,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::ValidationError => "VALIDATION_ERROR",
            ErrorCode::NotFound => "NOT_FOUND",
            ErrorCode::OnboardingIncomplete => "ONBOARDING_INCOMPLETE",
            ErrorCode::PortfolioExists => "PORTFOLIO_EXISTS",
            ErrorCode::InsufficientCash => "INSUFFICIENT_CASH",
            ErrorCode::InsufficientHoldings => "INSUFFICIENT_HOLDINGS",
            ErrorCode::AssetFrozen => "ASSET_FROZEN",
            ErrorCode::AcknowledgmentRequired => "ACKNOWLEDGMENT_REQUIRED",
            ErrorCode::QuoteMismatch => "QUOTE_MISMATCH",
            ErrorCode::PricesStale => "PRICES_STALE",
            ErrorCode::RebalanceTooSoon => "REBALANCE_TOO_SOON",
            ErrorCode::NoRebalanceNeeded => "NO_REBALANCE_NEEDED",
            ErrorCode::CollateralNotEligible => "COLLATERAL_NOT_ELIGIBLE",
            ErrorCode::ExceedsAssetLtv => "EXCEEDS_ASSET_LTV",
            ErrorCode::ExceedsPortfolioLoanLimit => "EXCEEDS_PORTFOLIO_LOAN_LIMIT",
            ErrorCode::LoanNotActive => "LOAN_NOT_ACTIVE",
            ErrorCode::ProtectionExists => "PROTECTION_EXISTS",
            ErrorCode::ProtectionNotEligible => "PROTECTION_NOT_ELIGIBLE",
            ErrorCode::ProtectionNotActive => "PROTECTION_NOT_ACTIVE",
            ErrorCode::ActiveLoansExist => "ACTIVE_LOANS_EXIST",
        }
    }
}

/// A refusal by a business rule: code, one human sentence (Communication Doctrine, §9.6), and
/// structured details (numbers as exact JSON numbers).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{}: {message}", code.as_str())]
pub struct RuleViolation {
    pub code: ErrorCode,
    pub message: String,
    pub details: Map<String, Value>,
}

impl RuleViolation {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> RuleViolation {
        RuleViolation {
            code,
            message: message.into(),
            details: Map::new(),
        }
    }

    /// Adds one detail; `value` is anything serializable (use `Irr`, `Quantity` or
    /// `num::Num` for exact numbers).
    pub fn with(mut self, key: &str, value: impl serde::Serialize) -> RuleViolation {
        let value = serde_json::to_value(value).unwrap_or(Value::Null);
        self.details.insert(key.to_owned(), value);
        self
    }

    /// A `VALIDATION_ERROR` naming one field, in the `details.fields` shape of api.md §1.8.
    pub fn invalid_field(field: &str, message: impl Into<String>) -> RuleViolation {
        let message = message.into();
        let fields = serde_json::json!([{ "field": field, "message": message }]);
        RuleViolation::new(ErrorCode::ValidationError, format!("{field} {message}"))
            .with("fields", fields)
    }
}

pub type RuleResult<T> = Result<T, RuleViolation>;
