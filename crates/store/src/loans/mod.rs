//! Loan storage (business-rules §7, api.md §6): loads and writes loans inside the portfolio
//! transaction of a movement, the health job's writes, and the reads of the loans page and of
//! the loan-health job.

mod codec;

use blu_app::ports::loans::reason_text;
use blu_app::ports::{
    Conflict, LoanHealthWrite, LoanNotification, LoanRecord, LoanWrite, StoreError, StoreResult,
};
use blu_domain::Timestamp;
use uuid::Uuid;

use self::codec::{self as lc, InstallmentRow};
use crate::Database;
use crate::driver::{Exec, FromRow, Row, Tx, query};
use crate::notifications::{OutboxRow, enqueue_row};

/// The portfolio's loans with installments, newest first.
pub(crate) async fn load_loans(
    conn: &mut impl Exec,
    portfolio_id: Uuid,
) -> StoreResult<Vec<LoanRecord>> {
    let loans: Vec<LoanRecord> = query(lc::LOANS_SELECT)
        .bind(portfolio_id)
        .fetch_all(conn.on())
        .await?;
    let installments: Vec<InstallmentRow> = query(lc::INSTALLMENTS_SELECT)
        .bind(portfolio_id)
        .fetch_all(conn.on())
        .await?;
    Ok(lc::attach(
        loans,
        installments
            .into_iter()
            .map(|InstallmentRow(loan, i)| (loan, i))
            .collect(),
    ))
}

/// Writes the loans of a movement in its transaction.
pub(crate) async fn write_loans(
    tx: &mut Tx,
    writes: &[LoanWrite],
    now: Timestamp,
) -> StoreResult<()> {
    for write in writes {
        let r = &write.record;
        let loan = &r.loan;
        if write.insert {
            query(lc::LOAN_INSERT)
                .bind(r.id)
                .bind(r.portfolio_id)
                .bind(loan.collateral_asset.as_str())
                .bind(loan.collateral_quantity.value())
                .bind(loan.collateral_value_at_start.value())
                .bind(loan.principal.value())
                .bind(blu_domain::loan::ANNUAL_INTEREST_RATE)
                .bind(i32::try_from(loan.duration.months()).unwrap_or(3))
                .bind(loan.total_interest.value())
                .bind(loan.total_due().value())
                .bind(loan.start)
                .bind(loan.due_date)
                .bind(loan.max_ltv)
                .bind(r.current_ltv)
                .bind(r.health_status.map(lc::health_text))
                .bind(now)
                .execute(&mut *tx)
                .await?;
            for i in &loan.installments {
                query(lc::INSTALLMENT_INSERT)
                    .bind(Uuid::now_v7())
                    .bind(r.id)
                    .bind(i32::try_from(i.number).unwrap_or(0))
                    .bind(i.due_date)
                    .bind(i.principal.value())
                    .bind(i.interest.value())
                    .bind(i.total().value())
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
            }
        } else {
            let liquidation = r.liquidation_facts();
            let updated = query(lc::LOAN_UPDATE)
                .bind(r.id)
                .bind(loan.principal_paid.value())
                .bind(loan.interest_paid.value())
                .bind(loan.paid().value())
                .bind(i32::try_from(loan.installments_paid()).unwrap_or(0))
                .bind(lc::loan_status_text(loan.status))
                .bind(loan.settled_at)
                .bind(liquidation.map(|l| l.1))
                .bind(liquidation.map(|l| reason_text(l.0)))
                .bind(liquidation.map(|l| l.2.value()))
                .bind(loan.interest_forgiven.map(|f| f.value()))
                .bind(r.current_ltv)
                .bind(r.health_status.map(lc::health_text))
                .bind(now)
                .execute(&mut *tx)
                .await?;
            if updated != 1 {
                return Err(StoreError::Conflict(Conflict::LoanNotActive));
            }
            for i in &loan.installments {
                query(lc::INSTALLMENT_UPDATE)
                    .bind(r.id)
                    .bind(i32::try_from(i.number).unwrap_or(0))
                    .bind(i.paid().value())
                    .bind(i.principal_paid.value())
                    .bind(i.interest_paid.value())
                    .bind(lc::installment_status_text(i.status))
                    .bind(i.paid_at)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        if let Some(n) = &write.notification {
            insert_notification(tx, n).await?;
        }
    }
    Ok(())
}

/// Stores the loan-health job's results and notifications.
pub(crate) async fn write_health(tx: &mut Tx, updates: &[LoanHealthWrite]) -> StoreResult<()> {
    for u in updates {
        let updated = query(lc::HEALTH_UPDATE)
            .bind(u.loan_id)
            .bind(u.current_ltv)
            .bind(lc::health_text(u.health_status))
            .bind(u.checked_at)
            .execute(&mut *tx)
            .await?;
        if updated == 1
            && let Some(n) = &u.notification
        {
            insert_notification(tx, n).await?;
        }
    }
    Ok(())
}

async fn insert_notification(tx: &mut Tx, n: &LoanNotification) -> StoreResult<()> {
    let row = OutboxRow {
        id: n.id,
        user_id: n.user_id,
        kind: &n.kind,
        entity_id: &n.entity_id,
        dedupe_key: &n.dedupe_key,
        title: &n.title,
        body: &n.body,
        data: n.data.clone(),
        at: n.at,
    };
    enqueue_row(tx, row).await.map(drop)
}

/// A user id column.
struct UserId(Uuid);

impl FromRow for UserId {
    fn from_row(r: Row) -> anyhow::Result<UserId> {
        Ok(UserId(r.uuid("user_id")?))
    }
}

/// The user's loans (pool read).
pub(crate) async fn user_loans(db: &Database, user_id: Uuid) -> StoreResult<Vec<LoanRecord>> {
    let mut conn = db.pool().acquire().await?;
    let portfolio: Option<Row> = query(lc::PORTFOLIO_OF_USER)
        .bind(user_id)
        .fetch_optional(&mut conn)
        .await?;
    match portfolio {
        Some(row) => load_loans(&mut conn, row.uuid("id")?).await,
        None => Ok(Vec::new()),
    }
}

/// Owners of an ACTIVE loan (operator access).
pub(crate) async fn active_loan_users(db: &Database) -> StoreResult<Vec<Uuid>> {
    let users: Vec<UserId> = query(lc::ACTIVE_LOAN_USERS).fetch_all(db.pool()).await?;
    Ok(users.into_iter().map(|UserId(id)| id).collect())
}
