//! Loans (business-rules §7, D10, D21–D24): reads, capacity, preview, creation and repayment
//! on the locked portfolio, and the loan-health check the `loan-health` job runs. The math is
//! `blu_domain::loan`; this module loads, shapes the wire views (api.md §2.2, §9) and builds
//! the change set committed with the ledger entry.

use blu_domain::loan::{
    self as dl, HealthStatus, Installment, InstallmentStatus, LiquidationReason, Loan,
    LoanDuration, LoanRequest, LoanStatus,
};
use blu_domain::money::round_half_up;
use blu_domain::{
    AssetId, Boundary, EntryType, Irr, Layer, Quantity, RuleViolation, Timestamp, activity,
    value_portfolio,
};
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::{Map, Value, json};
use tracing::field::Empty;
use uuid::Uuid;

use super::trade::number;
use super::{
    Movement, PortfolioError, PortfolioResult, PortfolioService, Prepared, Replied, Reply,
    change_set, opt_millis, target_of, ts_millis, uuid_text,
};
use crate::ports::{
    LoanHealthWrite, LoanNotification, LoanRecord, LoanWrite, PortfolioRecord, PriceSnapshot,
};
use crate::trace;

/// An installment (api.md §2.2).
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InstallmentView {
    pub number: i64,
    #[serde(with = "ts_millis")]
    pub due_date: Timestamp,
    pub principal_irr: Irr,
    pub interest_irr: Irr,
    pub total_irr: Irr,
    pub paid_irr: Irr,
    pub status: InstallmentStatus,
    /// An unpaid installment past its due date.
    pub overdue: bool,
    #[serde(with = "opt_millis", skip_serializing_if = "Option::is_none")]
    pub paid_at: Option<Timestamp>,
}

/// A loan (api.md §2.2).
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LoanView {
    pub id: Uuid,
    pub collateral_asset_id: AssetId,
    pub collateral_quantity: Quantity,
    /// At the current price when one is known, else at creation.
    pub collateral_value_irr: Irr,
    pub principal_irr: Irr,
    #[serde(with = "blu_domain::num")]
    pub interest_rate: Decimal,
    #[serde(with = "blu_domain::num")]
    pub daily_interest_rate: Decimal,
    pub duration_months: i64,
    pub duration_days: i64,
    #[serde(with = "ts_millis")]
    pub start_date: Timestamp,
    #[serde(with = "ts_millis")]
    pub due_date: Timestamp,
    pub total_interest_irr: Irr,
    pub total_due_irr: Irr,
    pub total_repayment_irr: Irr,
    pub paid_irr: Irr,
    pub remaining_irr: Irr,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payoff_irr: Option<Irr>,
    pub installments_paid: usize,
    pub installments: Vec<InstallmentView>,
    #[serde(with = "blu_domain::num")]
    pub max_ltv: Decimal,
    /// LTV at creation (P / collateral value then).
    #[serde(
        with = "blu_domain::num::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub ltv: Option<Decimal>,
    #[serde(
        with = "blu_domain::num::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub current_ltv: Option<Decimal>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health_status: Option<HealthStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub days_until_due: Option<i64>,
    #[serde(with = "blu_domain::num")]
    pub progress_pct: Decimal,
    pub status: LoanStatus,
    #[serde(with = "opt_millis", skip_serializing_if = "Option::is_none")]
    pub settled_at: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interest_forgiven_irr: Option<Irr>,
    #[serde(with = "opt_millis", skip_serializing_if = "Option::is_none")]
    pub liquidated_at: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub liquidation_reason: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shortfall_irr: Option<Irr>,
}

/// `GET /loans`.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct LoanList {
    pub loans: Vec<LoanView>,
}

/// One holding of `GET /loans/capacity`.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CollateralView {
    pub asset_id: AssetId,
    pub holding_id: Uuid,
    pub layer: Layer,
    #[serde(with = "blu_domain::num")]
    pub max_ltv: Decimal,
    pub holding_value_irr: Irr,
    pub max_loan_irr: Irr,
    pub existing_loan_irr: Irr,
    pub available_loan_irr: Irr,
    pub frozen: bool,
    pub eligible: bool,
}

/// `GET /loans/capacity`.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CapacityView {
    pub portfolio_value_irr: Irr,
    pub max_capacity_irr: Irr,
    pub used_irr: Irr,
    pub available_irr: Irr,
    pub per_asset: Vec<CollateralView>,
}

/// A refusal inside a 200 preview.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct PreviewRefusal {
    pub code: &'static str,
    pub message: String,
}

/// A scheduled installment of a preview.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScheduledInstallment {
    pub number: i64,
    #[serde(with = "ts_millis")]
    pub due_date: Timestamp,
    pub principal_irr: Irr,
    pub interest_irr: Irr,
    pub total_irr: Irr,
}

/// `POST /loans/preview`.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LoanPreviewView {
    pub valid: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<PreviewRefusal>,
    pub collateral_asset_id: AssetId,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub collateral_value_irr: Option<Irr>,
    #[serde(with = "blu_domain::num")]
    pub max_ltv: Decimal,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_loan_irr: Option<Irr>,
    pub principal_irr: Irr,
    #[serde(with = "blu_domain::num")]
    pub interest_rate: Decimal,
    /// The annual rate the loan's interest implies (`I / P × 12 / months`, 6 dp).
    #[serde(
        rename = "effectiveAPR",
        skip_serializing_if = "Option::is_none",
        with = "blu_domain::num::option"
    )]
    pub effective_apr: Option<Decimal>,
    pub duration_months: i64,
    pub total_interest_irr: Irr,
    pub total_repayment_irr: Irr,
    pub num_installments: i64,
    pub installment_amount_irr: Irr,
    pub installments: Vec<ScheduledInstallment>,
}

/// `POST /loans` (201).
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LoanCreated {
    pub loan: LoanView,
    pub cash_added: Irr,
    pub new_cash_irr: Irr,
    pub holding_frozen: bool,
    pub ledger_entry_id: String,
}

/// `POST /loans/{id}/repay`.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RepayResult {
    pub success: bool,
    pub loan_id: Uuid,
    pub amount_applied: Irr,
    /// 0 when settled, else the loan's new `remainingIrr` (api.md §9; see architecture.md).
    pub remaining_balance: Irr,
    pub installments_paid: usize,
    pub is_fully_settled: bool,
    pub collateral_unfrozen: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interest_forgiven_irr: Option<Irr>,
    pub new_cash_irr: Irr,
    pub loan: LoanView,
    pub ledger_entry_id: String,
}

/// One ACTIVE loan of `GET /loans/health`.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LoanHealthItem {
    pub loan_id: Uuid,
    pub collateral_asset_id: AssetId,
    pub collateral_value_irr: Irr,
    pub outstanding_irr: Irr,
    #[serde(
        with = "blu_domain::num::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub current_ltv: Option<Decimal>,
    #[serde(with = "blu_domain::num")]
    pub max_ltv: Decimal,
    pub health_status: HealthStatus,
    #[serde(with = "blu_domain::num")]
    pub liquidation_ltv: Decimal,
    #[serde(
        with = "blu_domain::num::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub liquidation_price_usd: Option<Decimal>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub days_until_due: Option<i64>,
}

/// `GET /loans/health`.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HealthView {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub worst_health_status: Option<HealthStatus>,
    pub loans: Vec<LoanHealthItem>,
}

/// A loan request as received.
#[derive(Clone, Debug)]
pub struct LoanInput {
    pub collateral_asset_id: String,
    pub amount_irr: Decimal,
    pub duration_months: i64,
}

impl LoanInput {
    fn parse(&self) -> PortfolioResult<LoanRequest> {
        let collateral = blu_domain::trade::parse_asset_id(&self.collateral_asset_id)
            .map_err(|_| RuleViolation::invalid_field("collateralAssetId", "unknown asset"))?;
        trace::record("asset", collateral);
        let amount = Irr::round(self.amount_irr);
        // Above the technical ceiling the request is malformed (400), not a refused loan: the
        // preview's terms could not even be computed.
        if amount.abs() > Irr::new(dl::MAX_PRINCIPAL_IRR) {
            return Err(RuleViolation::invalid_field(
                "amountIrr",
                "must be between 1,000,000 and 100,000,000,000,000 IRR",
            )
            .with("max", Irr::new(dl::MAX_PRINCIPAL_IRR))
            .into());
        }
        Ok(LoanRequest {
            collateral,
            amount,
            duration: LoanDuration::from_months(self.duration_months)?,
        })
    }
}

/// Counts of one `loan-health` run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LoanHealthCounts {
    pub checked: u64,
    pub liquidated: u64,
    pub warned: u64,
}

fn liquidation_reason_text(reason: LiquidationReason) -> &'static str {
    crate::ports::loans::reason_text(reason)
}

/// 6-decimal LTV for the wire.
fn ltv6(ltv: Decimal) -> Decimal {
    round_half_up(ltv, 6).normalize()
}

fn installment_view(i: &Installment, now: Timestamp) -> InstallmentView {
    InstallmentView {
        number: i.number,
        due_date: i.due_date,
        principal_irr: i.principal,
        interest_irr: i.interest,
        total_irr: i.total(),
        paid_irr: i.paid(),
        status: i.status,
        overdue: i.is_overdue(now),
        paid_at: i.paid_at,
    }
}

/// The wire view of a loan at `now`, valued at `price_irr` when known.
pub fn loan_view(record: &LoanRecord, now: Timestamp, price_irr: Option<Decimal>) -> LoanView {
    let loan = &record.loan;
    let figures = loan.figures(now, price_irr);
    let health = figures.health.as_ref();
    let active = loan.is_active();
    let liquidation = record.liquidation_facts();
    LoanView {
        id: record.id,
        collateral_asset_id: loan.collateral_asset,
        collateral_quantity: loan.collateral_quantity,
        collateral_value_irr: health.map_or(loan.collateral_value_at_start, |h| h.collateral_value),
        principal_irr: loan.principal,
        interest_rate: dl::ANNUAL_INTEREST_RATE.normalize(),
        daily_interest_rate: round_half_up(
            dl::ANNUAL_INTEREST_RATE / Decimal::from(dl::DAYS_PER_YEAR),
            12,
        )
        .normalize(),
        duration_months: loan.duration.months(),
        duration_days: loan.duration.days(),
        start_date: loan.start,
        due_date: loan.due_date,
        total_interest_irr: loan.total_interest,
        total_due_irr: loan.total_due(),
        total_repayment_irr: loan.total_due(),
        paid_irr: figures.paid,
        remaining_irr: figures.remaining,
        payoff_irr: figures.payoff,
        installments_paid: figures.installments_paid,
        installments: loan
            .installments
            .iter()
            .map(|i| installment_view(i, now))
            .collect(),
        max_ltv: loan.max_ltv.normalize(),
        ltv: loan.ltv_at_creation().map(ltv6),
        current_ltv: if active {
            health.and_then(|h| h.ltv).or(record.current_ltv).map(ltv6)
        } else {
            None
        },
        health_status: if active {
            health.map(|h| h.status).or(record.health_status)
        } else {
            None
        },
        days_until_due: figures.days_until_due,
        progress_pct: figures.progress_pct,
        status: loan.status,
        settled_at: loan.settled_at,
        interest_forgiven_irr: loan.interest_forgiven,
        liquidated_at: liquidation.map(|l| l.1),
        liquidation_reason: liquidation.map(|l| liquidation_reason_text(l.0)),
        shortfall_irr: liquidation.map(|l| l.2).filter(|s| s.is_positive()),
    }
}

/// The fresh IRR price of `asset`, if its price and FX are fresh.
fn fresh_price(
    snapshot: &PriceSnapshot,
    now: Timestamp,
    max_age: std::time::Duration,
    asset: AssetId,
) -> Option<Decimal> {
    snapshot
        .fresh_book(now, max_age, &[asset])
        .ok()
        .and_then(|b| b.price_irr(asset))
}

fn open_assets(record: &PortfolioRecord) -> Vec<AssetId> {
    record
        .holdings
        .iter()
        .filter(|h| h.quantity.is_positive())
        .map(|h| h.asset)
        .collect()
}

fn domain_loans(records: &[LoanRecord]) -> Vec<Loan> {
    records.iter().map(|r| r.loan.clone()).collect()
}

fn entry_loan_id(id: Uuid) -> blu_domain::ledger::UuidText {
    uuid_text(id)
}

fn not_found() -> PortfolioError {
    PortfolioError::NotFound("loan")
}

impl PortfolioService {
    async fn portfolio_loans(
        &self,
        user_id: Uuid,
    ) -> PortfolioResult<(PortfolioRecord, Vec<LoanRecord>)> {
        let record = self
            .reads
            .run(user_id)
            .await?
            .ok_or(PortfolioError::NoPortfolio)?;
        let loans = self.store.loans(user_id).await?;
        Ok((record, loans))
    }

    fn view_at_latest(&self, record: &LoanRecord, now: Timestamp) -> LoanView {
        let snapshot = self.prices.snapshot();
        let book = Self::valuation_book(&snapshot);
        loan_view(record, now, book.price_irr(record.loan.collateral_asset))
    }

    /// `GET /loans[?status=]`, newest first.
    #[tracing::instrument(skip_all, fields(user_id = %user_id))]
    pub async fn list_loans(
        &self,
        user_id: Uuid,
        status: Option<LoanStatus>,
    ) -> PortfolioResult<LoanList> {
        let (_, loans) = self.portfolio_loans(user_id).await?;
        let now = self.now();
        Ok(LoanList {
            loans: loans
                .iter()
                .filter(|l| status.is_none_or(|s| l.loan.status == s))
                .map(|l| self.view_at_latest(l, now))
                .collect(),
        })
    }

    /// `GET /loans/{id}`: 404 when unknown or another user's.
    #[tracing::instrument(skip_all, fields(user_id = %user_id, loan_id = %loan_id))]
    pub async fn get_loan(&self, user_id: Uuid, loan_id: Uuid) -> PortfolioResult<LoanView> {
        let loans = self.store.loans(user_id).await?;
        let record = loans
            .iter()
            .find(|l| l.id == loan_id)
            .ok_or_else(not_found)?;
        Ok(self.view_at_latest(record, self.now()))
    }

    /// `GET /loans/capacity` at fresh prices (503 when stale, never a silent 0).
    #[tracing::instrument(skip_all, fields(user_id = %user_id))]
    pub async fn loan_capacity(&self, user_id: Uuid) -> PortfolioResult<CapacityView> {
        let (record, loans) = self.portfolio_loans(user_id).await?;
        let now = self.now();
        let snapshot = self.prices.snapshot();
        let book = self.fresh_book(&snapshot, now, &open_assets(&record))?;
        let valuation = value_portfolio(&record.state(), &book, now);
        let capacity = dl::loan_capacity(&valuation, &domain_loans(&loans), now)?;
        Ok(CapacityView {
            portfolio_value_irr: capacity.net_value,
            max_capacity_irr: capacity.max_capacity,
            used_irr: capacity.used,
            available_irr: capacity.available,
            per_asset: capacity
                .per_asset
                .into_iter()
                .map(|c| CollateralView {
                    asset_id: c.asset,
                    holding_id: record.holding(c.asset).map_or_else(
                        || crate::ports::new_holding_id(record.id, c.asset),
                        |h| h.id,
                    ),
                    layer: c.layer,
                    max_ltv: c.max_ltv.normalize(),
                    holding_value_irr: c.holding_value,
                    max_loan_irr: c.max_loan,
                    existing_loan_irr: c.existing_loan,
                    available_loan_irr: c.available_loan,
                    frozen: c.frozen,
                    eligible: c.eligible,
                })
                .collect(),
        })
    }

    /// Refusal when the collateral price or FX is not fresh (business-rules §2.4: loan
    /// creation needs FX and the collateral price fresh; valuations use the latest prices).
    fn collateral_freshness(&self, collateral: AssetId, now: Timestamp) -> PortfolioResult<()> {
        self.fresh_book(&self.prices.snapshot(), now, &[collateral])
            .map(|_| ())
    }

    /// `POST /loans/preview`: 200 with `valid: false` on business refusals.
    #[tracing::instrument(skip_all, fields(user_id = %user_id, asset = Empty))]
    pub async fn preview_loan(
        &self,
        user_id: Uuid,
        input: &LoanInput,
    ) -> PortfolioResult<LoanPreviewView> {
        let request = input.parse()?;
        let (record, loans) = self.portfolio_loans(user_id).await?;
        let now = self.now();
        let book = Self::valuation_book(&self.prices.snapshot());
        let mut preview =
            dl::preview_loan(&record.state(), &book, &domain_loans(&loans), request, now);
        if preview.refusal.is_none()
            && let Err(PortfolioError::Rule(stale)) =
                self.collateral_freshness(request.collateral, now)
        {
            preview.refusal = Some(stale);
        }
        let terms = &preview.terms;
        Ok(LoanPreviewView {
            valid: preview.refusal.is_none(),
            error: preview.refusal.map(|r| PreviewRefusal {
                code: r.code.as_str(),
                message: r.message,
            }),
            collateral_asset_id: request.collateral,
            collateral_value_irr: preview.collateral_value,
            max_ltv: preview.max_ltv.normalize(),
            max_loan_irr: preview.max_loan,
            principal_irr: terms.principal,
            interest_rate: dl::ANNUAL_INTEREST_RATE.normalize(),
            effective_apr: terms.effective_annual_rate(),
            duration_months: terms.duration.months(),
            total_interest_irr: terms.total_interest,
            total_repayment_irr: terms.total_due(),
            num_installments: dl::INSTALLMENT_COUNT,
            installment_amount_irr: terms.installment_amount(),
            installments: terms
                .installments
                .iter()
                .map(|i| ScheduledInstallment {
                    number: i.number,
                    due_date: i.due_date,
                    principal_irr: i.principal,
                    interest_irr: i.interest,
                    total_irr: i.total(),
                })
                .collect(),
        })
    }

    /// `POST /loans`: validates at fresh prices on the locked portfolio, freezes the holding,
    /// adds the principal to cash and writes LOAN_CREATE (SAFE).
    #[tracing::instrument(
        skip_all,
        fields(user_id = %user_id, portfolio_id = Empty, asset = Empty)
    )]
    pub async fn create_loan(
        &self,
        user_id: Uuid,
        input: &LoanInput,
        reply: Reply,
    ) -> PortfolioResult<Replied> {
        let request = input.parse()?;
        let mut tx = self.lock(user_id).await?;
        let record = tx.portfolio().cloned().ok_or(PortfolioError::NoPortfolio)?;
        let target = target_of(&record)?;
        let loans = tx.loans().await?;
        let now = self.now();
        let book = Self::valuation_book(&self.prices.snapshot());
        let state = record.state();
        let mut after = state.clone();
        let loan = dl::create_loan(
            &mut after,
            &book,
            &domain_loans(&loans),
            request.collateral,
            request.amount,
            request.duration.months(),
            now,
        )?;
        self.collateral_freshness(request.collateral, now)?;
        let loan_id = Uuid::now_v7();
        let movement = Movement {
            portfolio_id: record.id,
            entry_type: EntryType::LoanCreate,
            boundary: Boundary::Safe,
            message: activity::borrowed(loan.principal, loan.collateral_asset),
            before: (&state, &book),
            after: (&after, &book),
            target: &target,
            now,
        };
        let (mut entry, snapshot_after) = movement.entry();
        entry.asset_id = Some(loan.collateral_asset);
        entry.quantity = Some(loan.collateral_quantity);
        entry.amount_irr = Some(loan.principal);
        entry.loan_id = Some(entry_loan_id(loan_id));
        let mut metadata = Map::new();
        metadata.insert("durationMonths".into(), json!(loan.duration.months()));
        metadata.insert("totalInterest".into(), number(loan.total_interest.value()));
        if let Some(ltv) = loan.ltv_at_creation() {
            metadata.insert("ltv".into(), number(ltv6(ltv)));
        }
        entry.metadata = Some(metadata);
        let activity = movement.activity(Some(loan.principal), Some(loan.collateral_asset));
        let mut change = change_set(
            Some(&record),
            record.id,
            entry,
            &snapshot_after,
            &after,
            activity,
            now,
        )?;
        let price = book.price_irr(loan.collateral_asset);
        let health = price.map(|p| loan.health(now, p));
        let stored = LoanRecord {
            id: loan_id,
            portfolio_id: record.id,
            loan,
            current_ltv: health.as_ref().and_then(|h| h.ltv).map(ltv6),
            health_status: health.as_ref().map(|h| h.status),
            liquidated: None,
            created_at: now,
        };
        let outcome = LoanCreated {
            loan: loan_view(&stored, now, price),
            cash_added: stored.loan.principal,
            new_cash_irr: after.cash,
            holding_frozen: true,
            ledger_entry_id: change.entry.id.to_string(),
        };
        change.loans.push(LoanWrite {
            record: stored,
            insert: true,
            notification: None,
        });
        Prepared {
            tx,
            change,
            outcome,
        }
        .reply(reply)
        .await
    }

    /// `POST /loans/{id}/repay` (D23): capped to the debt; settlement unfreezes the collateral.
    #[tracing::instrument(
        skip_all,
        fields(user_id = %user_id, portfolio_id = Empty, loan_id = %loan_id)
    )]
    pub async fn repay_loan(
        &self,
        user_id: Uuid,
        loan_id: Uuid,
        amount: Decimal,
        reply: Reply,
    ) -> PortfolioResult<Replied> {
        let amount = Irr::round(amount);
        if !amount.is_positive() {
            return Err(RuleViolation::invalid_field("amountIrr", "must be at least 1").into());
        }
        let mut tx = self.lock(user_id).await?;
        let record = tx.portfolio().cloned().ok_or(PortfolioError::NoPortfolio)?;
        let target = target_of(&record)?;
        let mut stored = tx
            .loans()
            .await?
            .into_iter()
            .find(|l| l.id == loan_id)
            .ok_or_else(not_found)?;
        let now = self.now();
        let book = Self::valuation_book(&self.prices.snapshot());
        let state = record.state();
        let mut after = state.clone();
        let repayment = dl::repay_loan(&mut after, &mut stored.loan, amount, now)?;
        let asset = stored.loan.collateral_asset;
        let message = if repayment.settled {
            activity::loan_settled(asset, repayment.applied)
        } else {
            activity::loan_repaid(
                repayment.applied,
                asset,
                u32::try_from(repayment.installments_paid).unwrap_or(0),
            )
        };
        let movement = Movement {
            portfolio_id: record.id,
            entry_type: EntryType::LoanRepay,
            boundary: Boundary::Safe,
            message,
            before: (&state, &book),
            after: (&after, &book),
            target: &target,
            now,
        };
        let (mut entry, snapshot_after) = movement.entry();
        entry.asset_id = Some(asset);
        entry.amount_irr = Some(repayment.applied);
        entry.loan_id = Some(entry_loan_id(loan_id));
        let mut metadata = Map::new();
        metadata.insert(
            "principalApplied".into(),
            number(repayment.principal_applied.value()),
        );
        metadata.insert(
            "interestApplied".into(),
            number(repayment.interest_applied.value()),
        );
        metadata.insert("settled".into(), Value::Bool(repayment.settled));
        if let Some(f) = repayment.interest_forgiven {
            metadata.insert("interestForgivenIrr".into(), number(f.value()));
        }
        entry.metadata = Some(metadata);
        let activity = movement.activity(Some(repayment.applied), Some(asset));
        let mut change = change_set(
            Some(&record),
            record.id,
            entry,
            &snapshot_after,
            &after,
            activity,
            now,
        )?;
        let view = loan_view(&stored, now, book.price_irr(asset));
        let outcome = RepayResult {
            success: true,
            loan_id,
            amount_applied: repayment.applied,
            remaining_balance: if repayment.settled {
                Irr::ZERO
            } else {
                view.remaining_irr
            },
            installments_paid: repayment.installments_paid,
            is_fully_settled: repayment.settled,
            collateral_unfrozen: repayment.collateral_unfrozen,
            interest_forgiven_irr: repayment.interest_forgiven,
            new_cash_irr: after.cash,
            loan: view,
            ledger_entry_id: change.entry.id.to_string(),
        };
        change.loans.push(LoanWrite {
            record: stored,
            insert: false,
            notification: None,
        });
        Prepared {
            tx,
            change,
            outcome,
        }
        .reply(reply)
        .await
    }

    /// `GET /loans/health`: ACTIVE loans at the latest prices.
    #[tracing::instrument(skip_all, fields(user_id = %user_id))]
    pub async fn loans_health(&self, user_id: Uuid) -> PortfolioResult<HealthView> {
        let (_, loans) = self.portfolio_loans(user_id).await?;
        let now = self.now();
        let book = Self::valuation_book(&self.prices.snapshot());
        let items: Vec<LoanHealthItem> = loans
            .iter()
            .filter(|l| l.loan.is_active())
            .map(|r| {
                let loan = &r.loan;
                let price = book
                    .price_irr(loan.collateral_asset)
                    .filter(|p| p.is_sign_positive());
                let health = price.map(|p| loan.health(now, p));
                let figures = loan.figures(now, price);
                LoanHealthItem {
                    loan_id: r.id,
                    collateral_asset_id: loan.collateral_asset,
                    collateral_value_irr: health
                        .as_ref()
                        .map_or(loan.collateral_value_at_start, |h| h.collateral_value),
                    outstanding_irr: loan.outstanding_debt(now),
                    current_ltv: health
                        .as_ref()
                        .and_then(|h| h.ltv)
                        .or(r.current_ltv)
                        .map(ltv6),
                    max_ltv: loan.max_ltv.normalize(),
                    health_status: health
                        .as_ref()
                        .map(|h| h.status)
                        .or(r.health_status)
                        .unwrap_or(HealthStatus::Healthy),
                    liquidation_ltv: self.liquidation_ltv.normalize(),
                    liquidation_price_usd: loan.liquidation_price_usd(
                        now,
                        book.fx_rate,
                        self.liquidation_ltv,
                    ),
                    days_until_due: figures.days_until_due,
                }
            })
            .collect();
        Ok(HealthView {
            worst_health_status: items.iter().map(|i| i.health_status).max(),
            loans: items,
        })
    }

    /// The outstanding debt of the user's ACTIVE loans now (unpaid principal + accrued
    /// unpaid interest), for the portfolio view.
    pub(super) async fn outstanding_debt(
        &self,
        user_id: Uuid,
        now: Timestamp,
    ) -> PortfolioResult<Irr> {
        let loans = self.store.loans(user_id).await?;
        Ok(loans
            .iter()
            .filter(|l| l.loan.is_active())
            .map(|l| l.loan.outstanding_debt(now))
            .sum())
    }

    /// The `loan-health` job: every ACTIVE loan with a fresh collateral price and FX is
    /// re-valued under its portfolio lock; liquidations (LTV ≥ the threshold, or maturity
    /// default) are money movements of their own, health bands are stored, and entry into
    /// WARNING or CRITICAL writes a notification row in the same transaction.
    #[tracing::instrument(skip_all)]
    pub async fn check_loan_health(&self) -> PortfolioResult<LoanHealthCounts> {
        let mut counts = LoanHealthCounts::default();
        for user_id in self.store.active_loan_users().await? {
            self.check_user_loans(user_id, &mut counts).await?;
        }
        Ok(counts)
    }

    async fn check_user_loans(
        &self,
        user_id: Uuid,
        counts: &mut LoanHealthCounts,
    ) -> PortfolioResult<()> {
        loop {
            let Some(mut tx) = self.store.lock(user_id).await? else {
                return Ok(());
            };
            let Some(record) = tx.portfolio().cloned() else {
                return Ok(());
            };
            let loans = tx.loans().await?;
            let now = self.now();
            let snapshot = self.prices.snapshot();
            let priced: Vec<(LoanRecord, Option<Decimal>)> = loans
                .into_iter()
                .filter(|l| l.loan.is_active())
                .map(|l| {
                    let price =
                        fresh_price(&snapshot, now, self.price_max_age, l.loan.collateral_asset);
                    (l, price)
                })
                .collect();
            let due = priced.iter().find_map(|(l, price)| {
                let price = (*price)?;
                l.loan
                    .liquidation_trigger(now, Some(price), self.liquidation_ltv)
                    .map(|reason| (l.clone(), price, reason))
            });
            if let Some((stored, price, reason)) = due {
                let prepared = self.liquidation(tx, &record, stored, price, reason, now)?;
                prepared.commit(None).await?;
                counts.checked += 1;
                counts.liquidated += 1;
                continue;
            }
            let mut updates = Vec::new();
            for (l, price) in &priced {
                let Some(price) = price else { continue };
                let health = l.loan.health(now, *price);
                counts.checked += 1;
                let entered = health.status.notifies() && l.health_status != Some(health.status);
                let notification = entered.then(|| {
                    counts.warned += 1;
                    health_notification(user_id, l, &health, now)
                });
                updates.push(LoanHealthWrite {
                    loan_id: l.id,
                    current_ltv: health.ltv.map(ltv6),
                    health_status: health.status,
                    checked_at: now,
                    notification,
                });
            }
            tx.commit_loan_health(updates).await?;
            return Ok(());
        }
    }

    /// Builds the liquidation movement (§7.9) of one loan on the locked portfolio.
    fn liquidation(
        &self,
        tx: Box<dyn crate::ports::PortfolioTx>,
        record: &PortfolioRecord,
        mut stored: LoanRecord,
        price: Decimal,
        reason: LiquidationReason,
        now: Timestamp,
    ) -> PortfolioResult<Prepared<()>> {
        let target = target_of(record)?;
        let book = Self::valuation_book(&self.prices.snapshot());
        let state = record.state();
        let mut after = state.clone();
        let ltv = stored.loan.health(now, price).ltv;
        let plan = dl::liquidate_loan(&mut after, &mut stored.loan, price, reason, now)
            .ok_or_else(|| RuleViolation::new(blu_domain::ErrorCode::LoanNotActive, "closed"))?;
        let asset = stored.loan.collateral_asset;
        let movement = Movement {
            portfolio_id: record.id,
            entry_type: EntryType::LoanLiquidate,
            boundary: Boundary::Stress,
            message: activity::loan_liquidated(asset, plan.gross),
            before: (&state, &book),
            after: (&after, &book),
            target: &target,
            now,
        };
        let (mut entry, snapshot_after) = movement.entry();
        entry.asset_id = Some(asset);
        entry.quantity = Some(plan.quantity_sold);
        entry.amount_irr = Some(plan.gross);
        entry.price_irr = Some(price.normalize());
        entry.spread_irr = Some(plan.spread);
        entry.loan_id = Some(entry_loan_id(stored.id));
        let mut metadata = Map::new();
        metadata.insert(
            "reason".into(),
            Value::String(liquidation_reason_text(reason).to_owned()),
        );
        if let Some(ltv) = ltv {
            metadata.insert("ltv".into(), number(ltv6(ltv)));
        }
        for (key, value) in [
            ("debtIrr", plan.debt),
            ("spreadIrr", plan.spread),
            ("netIrr", plan.net),
            ("appliedIrr", plan.applied),
            ("excessIrr", plan.excess),
            ("shortfallIrr", plan.shortfall),
        ] {
            metadata.insert(key.into(), number(value.value()));
        }
        entry.metadata = Some(metadata);
        let activity = movement.activity(Some(plan.gross), Some(asset));
        let mut change = change_set(
            Some(record),
            record.id,
            entry,
            &snapshot_after,
            &after,
            activity,
            now,
        )?;
        let notification = LoanNotification {
            id: Uuid::now_v7(),
            user_id: record.user_id,
            kind: "LOAN_LIQUIDATED".into(),
            entity_id: stored.id.to_string(),
            dedupe_key: "LIQUIDATED".into(),
            title: format!("Your {asset} loan was closed"),
            body: format!(
                "Part of your {asset} was sold to repay your loan ({} IRR).",
                blu_domain::format::compact_irr(plan.gross)
            ),
            data: Some(json!({ "loanId": stored.id.to_string(), "assetId": asset })),
            at: now,
        };
        change.loans.push(LoanWrite {
            record: stored,
            insert: false,
            notification: Some(notification),
        });
        Ok(Prepared {
            tx,
            change,
            outcome: (),
        })
    }
}

/// Doctrine copy: the loan as a share of the collateral's value, never "LTV".
fn health_notification(
    user_id: Uuid,
    loan: &LoanRecord,
    health: &dl::LoanHealth,
    now: Timestamp,
) -> LoanNotification {
    let asset = loan.loan.collateral_asset;
    let pct = health
        .ltv
        .map(|l| {
            round_half_up(l * Decimal::ONE_HUNDRED, 0)
                .normalize()
                .to_string()
        })
        .unwrap_or_else(|| "100".into());
    let band = match health.status {
        HealthStatus::Critical => "CRITICAL",
        _ => "WARNING",
    };
    let day = now.as_micros().div_euclid(86_400_000_000);
    LoanNotification {
        id: Uuid::now_v7(),
        user_id,
        kind: "LOAN_HEALTH".into(),
        entity_id: loan.id.to_string(),
        dedupe_key: format!("{band}:{day}"),
        title: format!("Your {asset} loan needs attention"),
        body: format!(
            "Your loan is now {pct}% of the value of your {asset}. Repaying part of it keeps your {asset} safe."
        ),
        data: Some(json!({ "loanId": loan.id.to_string(), "healthStatus": band })),
        at: now,
    }
}
