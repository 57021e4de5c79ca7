//! The loan tables (business-rules §7): their SQL, and the assembly of loan rows and
//! installment rows into [`LoanRecord`]s.

use anyhow::anyhow;
use blu_app::ports::LoanRecord;
use blu_domain::loan::{
    HealthStatus, Installment, InstallmentStatus, LiquidationReason, Loan, LoanDuration, LoanStatus,
};
use uuid::Uuid;

use crate::driver::{FromRow, Row};
use crate::portfolio::codec as pc;

pub(super) const LOANS_SELECT: &str = "SELECT id, portfolio_id, collateral_asset_id, \
     collateral_quantity, collateral_value_irr, principal_irr, duration_months, \
     total_interest_irr, start_at, due_at, max_ltv, current_ltv, health_status, \
     principal_paid_irr, interest_paid_irr, status, repaid_at, liquidated_at, \
     liquidation_reason, shortfall_irr, interest_forgiven_irr, created_at \
     FROM loans WHERE portfolio_id = $1 ORDER BY created_at DESC, id DESC";

pub(super) const INSTALLMENTS_SELECT: &str = "SELECT i.loan_id, i.number, i.due_at, i.principal_irr, \
     i.interest_irr, i.principal_paid_irr, i.interest_paid_irr, i.status, i.paid_at \
     FROM loan_installments i JOIN loans l ON l.id = i.loan_id \
     WHERE l.portfolio_id = $1 ORDER BY i.loan_id, i.number";

pub(super) const LOAN_INSERT: &str = "INSERT INTO loans (id, portfolio_id, collateral_asset_id, \
     collateral_quantity, collateral_value_irr, principal_irr, interest_rate, duration_months, \
     total_interest_irr, total_due_irr, start_at, due_at, max_ltv, current_ltv, health_status, \
     health_checked_at, status, created_at, updated_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, 'ACTIVE', \
     $16, $16)";

pub(super) const INSTALLMENT_INSERT: &str = "INSERT INTO loan_installments (id, loan_id, number, \
     due_at, principal_irr, interest_irr, total_irr, created_at, updated_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)";

/// Updates an ACTIVE loan; zero rows means it was no longer ACTIVE.
pub(super) const LOAN_UPDATE: &str = "UPDATE loans SET principal_paid_irr = $2, interest_paid_irr = $3, \
     paid_irr = $4, installments_paid = $5, status = $6, repaid_at = $7, liquidated_at = $8, \
     liquidation_reason = $9, shortfall_irr = $10, interest_forgiven_irr = $11, \
     current_ltv = $12, health_status = $13, version = version + 1, updated_at = $14 \
     WHERE id = $1 AND status = 'ACTIVE'";

pub(super) const INSTALLMENT_UPDATE: &str = "UPDATE loan_installments SET paid_irr = $3, \
     principal_paid_irr = $4, interest_paid_irr = $5, status = $6, paid_at = $7, updated_at = $8 \
     WHERE loan_id = $1 AND number = $2";

/// Stores the health job's result on a loan still ACTIVE.
pub(super) const HEALTH_UPDATE: &str = "UPDATE loans SET current_ltv = $2, health_status = $3, \
     health_checked_at = $4, updated_at = $4 WHERE id = $1 AND status = 'ACTIVE'";

pub(super) const ACTIVE_LOAN_USERS: &str = "SELECT DISTINCT p.user_id FROM loans l \
     JOIN portfolios p ON p.id = l.portfolio_id WHERE l.status = 'ACTIVE'";

pub(super) const PORTFOLIO_OF_USER: &str = "SELECT id FROM portfolios WHERE user_id = $1";

pub fn loan_status(text: &str) -> anyhow::Result<LoanStatus> {
    match text {
        "ACTIVE" => Ok(LoanStatus::Active),
        "REPAID" => Ok(LoanStatus::Repaid),
        "LIQUIDATED" => Ok(LoanStatus::Liquidated),
        other => Err(anyhow!("unknown loan status {other:?}")),
    }
}

pub fn loan_status_text(status: LoanStatus) -> &'static str {
    match status {
        LoanStatus::Active => "ACTIVE",
        LoanStatus::Repaid => "REPAID",
        LoanStatus::Liquidated => "LIQUIDATED",
    }
}

pub fn installment_status_text(status: InstallmentStatus) -> &'static str {
    match status {
        InstallmentStatus::Pending => "PENDING",
        InstallmentStatus::Partial => "PARTIAL",
        InstallmentStatus::Paid => "PAID",
    }
}

fn installment_status(text: &str) -> anyhow::Result<InstallmentStatus> {
    match text {
        "PENDING" => Ok(InstallmentStatus::Pending),
        "PARTIAL" => Ok(InstallmentStatus::Partial),
        "PAID" => Ok(InstallmentStatus::Paid),
        other => Err(anyhow!("unknown installment status {other:?}")),
    }
}

pub fn health_text(status: HealthStatus) -> &'static str {
    match status {
        HealthStatus::Healthy => "HEALTHY",
        HealthStatus::Caution => "CAUTION",
        HealthStatus::Warning => "WARNING",
        HealthStatus::Critical => "CRITICAL",
    }
}

fn health(text: &str) -> anyhow::Result<HealthStatus> {
    match text {
        "HEALTHY" => Ok(HealthStatus::Healthy),
        "CAUTION" => Ok(HealthStatus::Caution),
        "WARNING" => Ok(HealthStatus::Warning),
        "CRITICAL" => Ok(HealthStatus::Critical),
        other => Err(anyhow!("unknown health status {other:?}")),
    }
}

fn reason(text: &str) -> anyhow::Result<LiquidationReason> {
    match text {
        "LTV" => Ok(LiquidationReason::LtvBreach),
        "MATURITY_DEFAULT" => Ok(LiquidationReason::MaturityDefault),
        other => Err(anyhow!("unknown liquidation reason {other:?}")),
    }
}

/// One installment row with its loan id.
pub fn installment_row(r: &Row) -> anyhow::Result<(Uuid, Installment)> {
    Ok((
        r.uuid("loan_id")?,
        Installment {
            number: r.int("number")?,
            due_date: r.ts("due_at")?,
            principal: pc::irr(r.dec("principal_irr")?)?,
            interest: pc::irr(r.dec("interest_irr")?)?,
            principal_paid: pc::irr(r.dec("principal_paid_irr")?)?,
            interest_paid: pc::irr(r.dec("interest_paid_irr")?)?,
            status: installment_status(&r.text("status")?)?,
            paid_at: r.opt_ts("paid_at")?,
        },
    ))
}

/// One loan row, its installments attached by [`attach`].
pub fn loan_row(r: &Row) -> anyhow::Result<LoanRecord> {
    let status = loan_status(&r.text("status")?)?;
    let liquidated = match (
        r.opt_text("liquidation_reason")?,
        r.opt_ts("liquidated_at")?,
    ) {
        (Some(why), Some(at)) => Some((
            reason(&why)?,
            at,
            pc::irr(r.opt_dec("shortfall_irr")?.unwrap_or_default())?,
        )),
        _ => None,
    };
    let forgiven = r
        .opt_dec("interest_forgiven_irr")?
        .map(pc::irr)
        .transpose()?;
    Ok(LoanRecord {
        id: r.uuid("id")?,
        portfolio_id: r.uuid("portfolio_id")?,
        loan: Loan {
            collateral_asset: pc::asset(&r.text("collateral_asset_id")?)?,
            collateral_quantity: pc::quantity(r.dec("collateral_quantity")?)?,
            collateral_value_at_start: pc::irr(r.dec("collateral_value_irr")?)?,
            max_ltv: r.dec("max_ltv")?,
            principal: pc::irr(r.dec("principal_irr")?)?,
            duration: LoanDuration::from_months(r.int("duration_months")?)
                .map_err(|e| anyhow!("stored loan duration: {e}"))?,
            total_interest: pc::irr(r.dec("total_interest_irr")?)?,
            start: r.ts("start_at")?,
            due_date: r.ts("due_at")?,
            principal_paid: pc::irr(r.dec("principal_paid_irr")?)?,
            interest_paid: pc::irr(r.dec("interest_paid_irr")?)?,
            installments: Vec::new(),
            status,
            settled_at: r.opt_ts("repaid_at")?,
            interest_forgiven: forgiven,
            liquidation: None,
        },
        current_ltv: r.opt_dec("current_ltv")?,
        health_status: r
            .opt_text("health_status")?
            .as_deref()
            .map(health)
            .transpose()?,
        liquidated,
        created_at: r.ts("created_at")?,
    })
}

/// Attaches installments (sorted by number) to their loans.
pub fn attach(
    mut loans: Vec<LoanRecord>,
    installments: Vec<(Uuid, Installment)>,
) -> Vec<LoanRecord> {
    for (loan_id, installment) in installments {
        if let Some(l) = loans.iter_mut().find(|l| l.id == loan_id) {
            l.loan.installments.push(installment);
        }
    }
    for l in &mut loans {
        l.loan.installments.sort_by_key(|i| i.number);
    }
    loans
}

impl FromRow for LoanRecord {
    fn from_row(r: Row) -> anyhow::Result<LoanRecord> {
        loan_row(&r)
    }
}

/// An installment row and the loan it belongs to.
pub(super) struct InstallmentRow(pub Uuid, pub Installment);

impl FromRow for InstallmentRow {
    fn from_row(r: Row) -> anyhow::Result<InstallmentRow> {
        let (loan_id, installment) = installment_row(&r)?;
        Ok(InstallmentRow(loan_id, installment))
    }
}
