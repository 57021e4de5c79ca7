//! What the operator console shows (issue 15), as two operator routes:
//! - `GET /admin/v1/console/overview` (every role): readiness, job runs (last, next, failures,
//!   lag), prices with age, source and overrides, the notification backlog, active loans by
//!   health band and protections near expiry;
//! - `POST /admin/v1/customers/lookup` (`support`, `admin`): a customer by phone — portfolio
//!   summary (the same numbers as the app's `GET /portfolio`), holdings, loans, protections,
//!   recent ledger entries and the ledger verification. Phones are masked unless
//!   `revealPhone` is asked for. Every lookup is audited before the data is returned; the phone
//!   travels in the body, so it never lands in access logs.

use axum::Json;
use axum::extract::State;
use blu_app::auth::otp::is_valid_phone;
use blu_app::mask_phone;
use blu_app::portfolio::{
    HistoryFilter, HistoryPage, HoldingView, LoanList, PortfolioError, PortfolioView,
    ProtectionList, StatusFilter, VerifyReport,
};
use blu_app::ports::{Clock, Permission, real_now};
use blu_domain::Timestamp;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::health::{ReadyOut, readiness};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Admin, Body};
use crate::openapi::ErrorBody;
use crate::operator_gate::forbidden;
use crate::state::AppState;

/// Protections expiring within this many days are listed.
const EXPIRY_WINDOW_DAYS: i64 = 14;
/// Recent ledger entries shown for a customer.
const RECENT_ENTRIES: u32 = 20;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(overview))
        .routes(routes!(lookup))
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConsoleJob {
    pub name: String,
    pub schedule: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_run_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_run_at: Option<String>,
    /// Failed runs in the last 24 hours.
    pub failures_24h: i64,
    /// How late the last run started after its scheduled time, in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lag_seconds: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConsolePrice {
    pub asset_id: &'static str,
    #[serde(with = "blu_domain::num")]
    #[schema(value_type = f64)]
    pub price_usd: Decimal,
    #[serde(with = "blu_domain::num")]
    #[schema(value_type = f64)]
    pub price_irr: Decimal,
    pub source: String,
    pub fetched_at: String,
    pub age_seconds: i64,
    pub overridden: bool,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConsoleFx {
    #[serde(with = "blu_domain::num")]
    #[schema(value_type = f64)]
    pub usd_irr: Decimal,
    pub source: String,
    pub fetched_at: String,
    pub age_seconds: i64,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConsoleOutbox {
    pub pending: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oldest_due_at: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConsoleLoanBand {
    /// HEALTHY, CAUTION, WARNING, CRITICAL or UNCHECKED.
    pub band: String,
    pub count: i64,
    #[serde(with = "blu_domain::num")]
    #[schema(value_type = f64)]
    pub principal_irr: Decimal,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConsoleProtection {
    pub id: Uuid,
    pub asset_id: String,
    pub expires_at: String,
    #[serde(with = "blu_domain::num")]
    #[schema(value_type = f64)]
    pub notional_irr: Decimal,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OverviewOut {
    /// Business time now.
    pub now: String,
    pub ready: ReadyOut,
    pub jobs: Vec<ConsoleJob>,
    pub prices: Vec<ConsolePrice>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fx: Option<ConsoleFx>,
    pub outbox: ConsoleOutbox,
    pub loan_bands: Vec<ConsoleLoanBand>,
    pub expiring_protections: Vec<ConsoleProtection>,
}

fn age(now: Timestamp, at: Timestamp) -> i64 {
    now.micros_since(at).max(0) / 1_000_000
}

async fn console_jobs(state: &AppState) -> ApiResult<Vec<ConsoleJob>> {
    let Some(runner) = state.jobs.as_ref() else {
        return Ok(Vec::new());
    };
    let failures = state
        .operators
        .store()
        .job_failures(real_now().plus_seconds(-86_400))
        .await?;
    Ok(runner
        .list()
        .await?
        .into_iter()
        .map(|j| {
            let last = j.last_run.as_ref();
            ConsoleJob {
                failures_24h: failures
                    .iter()
                    .find(|(name, _)| *name == j.name)
                    .map_or(0, |(_, n)| *n),
                last_run_at: last.map(|r| r.started_at.to_rfc3339_millis()),
                last_status: last.map(|r| r.status.as_str().to_ascii_lowercase()),
                lag_seconds: last.map(|r| age(r.started_at, r.scheduled_at)),
                next_run_at: j.next_run_at.map(|t| t.to_rfc3339_millis()),
                name: j.name,
                schedule: j.schedule,
            }
        })
        .collect())
}

/// Everything the console's service view shows, in one answer.
#[utoipa::path(get, path = "/console/overview", tag = "admin",
    operation_id = "admin.console.overview", security(("admin" = [])),
    responses((status = 200, body = OverviewOut), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
async fn overview(_: Admin, State(state): State<AppState>) -> ApiResult<Json<OverviewOut>> {
    let now = state.clock.now();
    let store = state.operators.store();
    let (_, ready) = readiness(&state).await;
    let snapshot = state.prices.snapshot();
    let (overrides, _) = state.price_service.overrides();
    let prices = snapshot
        .prices
        .iter()
        .flatten()
        .map(|q| ConsolePrice {
            asset_id: q.asset.as_str(),
            price_usd: q.price_usd,
            price_irr: q.price_irr,
            source: q.source.clone(),
            fetched_at: q.fetched_at.to_rfc3339_millis(),
            age_seconds: age(now, q.fetched_at),
            overridden: overrides.iter().any(|o| o.quote.asset == q.asset),
        })
        .collect();
    let fx = snapshot.fx.as_ref().map(|fx| ConsoleFx {
        usd_irr: fx.usd_irr,
        source: fx.source.clone(),
        fetched_at: fx.fetched_at.to_rfc3339_millis(),
        age_seconds: age(now, fx.fetched_at),
    });
    let backlog = store.outbox_backlog(now).await?;
    let loan_bands = store
        .loan_bands()
        .await?
        .into_iter()
        .map(|b| ConsoleLoanBand {
            band: b.band,
            count: b.count,
            principal_irr: b.principal_irr,
        })
        .collect();
    let expiring_protections = store
        .expiring_protections(now.plus_days(EXPIRY_WINDOW_DAYS), 50)
        .await?
        .into_iter()
        .map(|p| ConsoleProtection {
            id: p.id,
            asset_id: p.asset,
            expires_at: p.expires_at.to_rfc3339_millis(),
            notional_irr: p.notional_irr,
        })
        .collect();
    Ok(Json(OverviewOut {
        now: now.to_rfc3339_millis(),
        ready,
        jobs: console_jobs(&state).await?,
        prices,
        fx,
        outbox: ConsoleOutbox {
            pending: backlog.pending,
            oldest_due_at: backlog.oldest_due_at.map(|t| t.to_rfc3339_millis()),
        },
        loan_bands,
        expiring_protections,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LookupIn {
    /// `+989` and 9 digits.
    #[schema(pattern = r"^\+989[0-9]{9}$", example = "+989123456789")]
    pub phone: String,
    /// Show the phone unmasked (audited).
    #[serde(default)]
    pub reveal_phone: bool,
}

/// A customer as support sees them.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CustomerOut {
    pub user_id: Uuid,
    /// Masked (`+98912***6789`) unless revealed.
    pub phone: String,
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub portfolio_id: Option<Uuid>,
    /// `GET /portfolio` of the customer's app.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub portfolio: Option<PortfolioView>,
    pub holdings: Vec<HoldingView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loans: Option<LoanList>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protections: Option<ProtectionList>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recent_ledger: Option<HistoryPage>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verification: Option<VerifyReport>,
}

/// `None` when the customer has no portfolio yet.
fn unless_unfunded<T>(result: Result<T, PortfolioError>) -> ApiResult<Option<T>> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(PortfolioError::NoPortfolio) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// A customer by phone: portfolio, holdings, loans, protections, recent ledger entries and the
/// ledger verification. Audited (`customer.lookup`, and `customer.reveal_phone`).
#[utoipa::path(post, path = "/customers/lookup", tag = "admin",
    operation_id = "admin.customers.lookup", security(("admin" = [])), request_body = LookupIn,
    responses((status = 200, body = CustomerOut), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
async fn lookup(
    admin: Admin,
    State(state): State<AppState>,
    Body(input): Body<LookupIn>,
) -> ApiResult<Json<CustomerOut>> {
    let actor = &admin.0;
    let store = state.operators.store();
    if !is_valid_phone(&input.phone) {
        return Err(ApiError::validation("phone", "must match +989XXXXXXXXX"));
    }
    if input.reveal_phone && !actor.can(Permission::RevealPhone) {
        store
            .append_audit(
                &actor
                    .refusal("customer.reveal_phone")
                    .with_target(mask_phone(&input.phone)),
            )
            .await?;
        return Err(forbidden(Permission::RevealPhone));
    }
    let Some(customer) = store.customer_by_phone(&input.phone).await? else {
        store
            .append_audit(
                &actor
                    .audit("customer.lookup")
                    .with_target(mask_phone(&input.phone))
                    .with_after(Some(json!({ "found": false }))),
            )
            .await?;
        return Err(ApiError::not_found("customer"));
    };
    let user = customer.user_id;
    let action = if input.reveal_phone {
        "customer.reveal_phone"
    } else {
        "customer.lookup"
    };
    store
        .append_audit(&actor.audit(action).with_target(format!("user:{user}")))
        .await?;
    let summary = unless_unfunded(state.portfolio.portfolio(user).await)?;
    let (portfolio, holdings) = summary.map_or((None, Vec::new()), |(p, h)| (Some(p), h));
    let recent = HistoryFilter {
        entry_type: None,
        from: None,
        to: None,
        cursor: None,
        limit: RECENT_ENTRIES,
        snapshots: false,
    };
    let verification = match customer.portfolio_id {
        Some(id) => Some(state.portfolio.verify_portfolio(id).await?),
        None => None,
    };
    Ok(Json(CustomerOut {
        user_id: user,
        phone: if input.reveal_phone {
            customer.phone.clone()
        } else {
            mask_phone(&customer.phone)
        },
        created_at: customer.created_at.to_rfc3339_millis(),
        portfolio_id: customer.portfolio_id,
        portfolio,
        holdings,
        loans: unless_unfunded(state.portfolio.list_loans(user, None).await)?,
        protections: unless_unfunded(state.protection.list(user, StatusFilter::All).await)?,
        recent_ledger: unless_unfunded(state.portfolio.history(user, &recent).await)?,
        verification,
    }))
}
