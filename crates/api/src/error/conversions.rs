//! Every conversion of a lower layer's error into the API's error contract (api.md §1.8–1.10):
//! domain rule violations by their code, store failures (503 when the database is unavailable,
//! 500 otherwise), and the errors of the auth, portfolio, price and job use cases. Handlers
//! only use `?`; the status, code and details of each error are decided here.

use axum::http::StatusCode;
use blu_app::auth::AuthError;
use blu_app::operators::OperatorError;
use blu_app::portfolio::{PortfolioError, QuoteError};
use blu_app::ports::{LimiterError, RunNowError, StoreError};
use blu_app::prices::PriceError;
use blu_domain::{ErrorCode, RuleViolation};

use super::{ApiError, idempotency_key_in_progress};

/// HTTP status of each domain error code (api.md §1.10).
pub fn status_of(code: ErrorCode) -> StatusCode {
    use ErrorCode::*;
    match code {
        ValidationError => StatusCode::BAD_REQUEST,
        NotFound => StatusCode::NOT_FOUND,
        OnboardingIncomplete | PortfolioExists | AssetFrozen | RebalanceTooSoon
        | NoRebalanceNeeded | LoanNotActive | ProtectionExists | ProtectionNotActive
        | ActiveLoansExist => StatusCode::CONFLICT,
        InsufficientCash
        | InsufficientHoldings
        | AcknowledgmentRequired
        | QuoteMismatch
        | CollateralNotEligible
        | ExceedsAssetLtv
        | ExceedsPortfolioLoanLimit
        | ProtectionNotEligible => StatusCode::UNPROCESSABLE_ENTITY,
        PricesStale => StatusCode::SERVICE_UNAVAILABLE,
    }
}

impl From<RuleViolation> for ApiError {
    fn from(v: RuleViolation) -> ApiError {
        let mut e = ApiError::new(status_of(v.code), v.code.as_str(), v.message);
        e.details = v.details;
        if v.code == ErrorCode::PricesStale {
            e.retry_after_secs = Some(30);
        }
        e
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::Unavailable(cause) => {
                tracing::error!(error = %cause, "database unavailable");
                ApiError::service_unavailable("database")
            }
            StoreError::IdempotencyClaimLost => idempotency_key_in_progress(),
            other => ApiError::internal(&other),
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> ApiError {
        let bad_request =
            |code, message: &str| ApiError::new(StatusCode::BAD_REQUEST, code, message);
        match e {
            AuthError::Invalid { field, message } => ApiError::validation(field, message),
            AuthError::RateLimited {
                scope,
                retry_after_secs,
            } => ApiError::rate_limited(scope, retry_after_secs),
            AuthError::OtpExpired => bad_request(
                "OTP_EXPIRED",
                "This code has expired, please request a new one",
            ),
            AuthError::OtpInvalid { attempts_remaining } => {
                bad_request("OTP_INVALID", "The code is not correct")
                    .with("attemptsRemaining", attempts_remaining)
            }
            AuthError::OtpMaxAttempts => bad_request(
                "OTP_MAX_ATTEMPTS",
                "Too many wrong codes, please request a new one",
            ),
            AuthError::Unauthorized => {
                ApiError::unauthorized("UNAUTHORIZED", "Authentication required")
            }
            AuthError::TokenExpired => {
                ApiError::unauthorized("TOKEN_EXPIRED", "Session token expired")
            }
            AuthError::SessionRevoked => {
                ApiError::unauthorized("SESSION_REVOKED", "Session has ended, please log in again")
            }
            AuthError::RefreshTokenReused => ApiError::unauthorized(
                "REFRESH_TOKEN_REUSED",
                "Refresh token was already used; every session has been ended",
            ),
            AuthError::BiometricInvalid => bad_request(
                "BIOMETRIC_INVALID",
                "Device login failed; please log in with a code",
            ),
            AuthError::SmsUnavailable => ApiError::service_unavailable("sms"),
            AuthError::LimiterUnavailable => ApiError::service_unavailable("redis"),
            AuthError::Store(e) => e.into(),
        }
    }
}

impl From<PortfolioError> for ApiError {
    fn from(e: PortfolioError) -> ApiError {
        match e {
            PortfolioError::Rule(v) => v.into(),
            PortfolioError::NoPortfolio => ApiError::not_found("portfolio"),
            PortfolioError::NotFound(resource) => ApiError::not_found(resource),
            PortfolioError::Quote(QuoteError::NotFound) => ApiError::new(
                StatusCode::NOT_FOUND,
                "QUOTE_NOT_FOUND",
                "This quote was not found; please preview the trade again",
            ),
            PortfolioError::Quote(QuoteError::InUse) => ApiError::new(
                StatusCode::CONFLICT,
                "QUOTE_IN_USE",
                "This quote has already been used",
            ),
            PortfolioError::Quote(QuoteError::Expired { valid_until }) => ApiError::new(
                StatusCode::GONE,
                "QUOTE_EXPIRED",
                "This quote has expired; please preview the trade again",
            )
            .with("validUntil", valid_until.to_rfc3339_millis()),
            PortfolioError::Store(e) => e.into(),
        }
    }
}

impl From<PriceError> for ApiError {
    fn from(error: PriceError) -> ApiError {
        match error {
            PriceError::Invalid { field, message } => ApiError::validation(field, message),
            PriceError::Store(e) => e.into(),
        }
    }
}

/// `POST /admin/v1/jobs/{name}/run`: an unknown job is 404, one running now 409.
impl From<RunNowError> for ApiError {
    fn from(e: RunNowError) -> ApiError {
        match e {
            RunNowError::Unknown(_) => ApiError::not_found("job"),
            RunNowError::AlreadyRunning(_) => ApiError::new(
                StatusCode::CONFLICT,
                "JOB_ALREADY_RUNNING",
                "That job is running now",
            )
            .retry_after(5),
            RunNowError::Store(e) => e.into(),
        }
    }
}

/// The general rate limit could not be checked (Redis and its in-memory failover both failed).
impl From<LimiterError> for ApiError {
    fn from(e: LimiterError) -> ApiError {
        tracing::error!(error = %e, "rate limiter unavailable");
        ApiError::service_unavailable("redis")
    }
}

/// A failed Redis command of the shared test clock, logged as `action`: 503 naming Redis.
pub(crate) fn redis_unavailable(
    action: &'static str,
) -> impl FnOnce(redis::RedisError) -> ApiError {
    move |e| {
        tracing::error!(error = %e, "{action}");
        ApiError::service_unavailable("redis")
    }
}

impl From<OperatorError> for ApiError {
    fn from(e: OperatorError) -> ApiError {
        match e {
            OperatorError::InvalidCredentials => {
                ApiError::unauthorized("INVALID_CREDENTIALS", "Wrong name, password or code")
            }
            OperatorError::RateLimited { retry_after_secs } => {
                ApiError::rate_limited("operator_login", retry_after_secs)
            }
            OperatorError::NotFound => ApiError::not_found("operator"),
            OperatorError::NameTaken => ApiError::new(
                StatusCode::CONFLICT,
                "OPERATOR_EXISTS",
                "An operator of that name exists",
            ),
            OperatorError::Invalid { field, message } => ApiError::validation(field, message),
            OperatorError::Store(e) => e.into(),
        }
    }
}
