//! PostgreSQL loan storage: loads and writes loans inside the portfolio transaction (tenant
//! role, portfolio row locked) and the operator query of the loan-health job.

use anyhow::Context;
use blu_app::ports::loans::reason_text;
use blu_app::ports::{
    LoanHealthWrite, LoanNotification, LoanRecord, LoanWrite, StoreError, StoreResult,
};
use blu_domain::Timestamp;
use rust_decimal::Decimal;
use sqlx::postgres::PgRow;
use sqlx::types::Json;
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use crate::codec::{PgRowExt, to_datetime};
use crate::error::map_sqlx;
use crate::loans_codec::{self as lc, LoanColumns};
use crate::pg::PgStore;

impl LoanColumns for PgRow {
    fn uuid_col(&self, column: &str) -> anyhow::Result<Uuid> {
        self.try_get(column).with_context(|| column.to_owned())
    }
    fn dec_col(&self, column: &str) -> anyhow::Result<Decimal> {
        self.dec(column)
    }
    fn opt_dec_col(&self, column: &str) -> anyhow::Result<Option<Decimal>> {
        self.opt_dec(column)
    }
    fn ts_col(&self, column: &str) -> anyhow::Result<Timestamp> {
        self.ts(column)
    }
    fn opt_ts_col(&self, column: &str) -> anyhow::Result<Option<Timestamp>> {
        self.opt_ts(column)
    }
    fn text_col(&self, column: &str) -> anyhow::Result<Option<String>> {
        self.try_get(column).with_context(|| column.to_owned())
    }
    fn int_col(&self, column: &str) -> anyhow::Result<i64> {
        let v: i32 = self.try_get(column).with_context(|| column.to_owned())?;
        Ok(i64::from(v))
    }
}

fn dt(t: Timestamp) -> StoreResult<chrono::DateTime<chrono::Utc>> {
    to_datetime(t).map_err(StoreError::Other)
}

fn opt_dt(t: Option<Timestamp>) -> StoreResult<Option<chrono::DateTime<chrono::Utc>>> {
    t.map(dt).transpose()
}

/// The portfolio's loans with installments, newest first.
pub(crate) async fn load_loans(
    conn: &mut PgConnection,
    portfolio_id: Uuid,
) -> StoreResult<Vec<LoanRecord>> {
    let rows = sqlx::query(lc::LOANS_SELECT)
        .bind(portfolio_id)
        .fetch_all(&mut *conn)
        .await
        .map_err(map_sqlx)?;
    let installments = sqlx::query(lc::INSTALLMENTS_SELECT)
        .bind(portfolio_id)
        .fetch_all(&mut *conn)
        .await
        .map_err(map_sqlx)?;
    let g = || -> anyhow::Result<Vec<LoanRecord>> {
        let loans = rows
            .iter()
            .map(lc::loan_row)
            .collect::<anyhow::Result<_>>()?;
        let installments = installments
            .iter()
            .map(lc::installment_row)
            .collect::<anyhow::Result<_>>()?;
        Ok(lc::attach(loans, installments))
    };
    g().map_err(StoreError::Other)
}

/// Writes the loans of a movement in its transaction.
pub(crate) async fn write_loans(
    conn: &mut PgConnection,
    writes: &[LoanWrite],
    now: Timestamp,
) -> StoreResult<()> {
    let at = dt(now)?;
    for write in writes {
        let r = &write.record;
        let loan = &r.loan;
        if write.insert {
            sqlx::query(lc::LOAN_INSERT)
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
                .bind(dt(loan.start)?)
                .bind(dt(loan.due_date)?)
                .bind(loan.max_ltv)
                .bind(r.current_ltv)
                .bind(r.health_status.map(lc::health_text))
                .bind(at)
                .execute(&mut *conn)
                .await
                .map_err(map_sqlx)?;
            for i in &loan.installments {
                sqlx::query(lc::INSTALLMENT_INSERT)
                    .bind(Uuid::now_v7())
                    .bind(r.id)
                    .bind(i32::try_from(i.number).unwrap_or(0))
                    .bind(dt(i.due_date)?)
                    .bind(i.principal.value())
                    .bind(i.interest.value())
                    .bind(i.total().value())
                    .bind(at)
                    .execute(&mut *conn)
                    .await
                    .map_err(map_sqlx)?;
            }
        } else {
            let liquidation = r.liquidation_facts();
            let done = sqlx::query(lc::LOAN_UPDATE)
                .bind(r.id)
                .bind(loan.principal_paid.value())
                .bind(loan.interest_paid.value())
                .bind(loan.paid().value())
                .bind(i32::try_from(loan.installments_paid()).unwrap_or(0))
                .bind(lc::loan_status_text(loan.status))
                .bind(opt_dt(loan.settled_at)?)
                .bind(opt_dt(liquidation.map(|l| l.1))?)
                .bind(liquidation.map(|l| reason_text(l.0)))
                .bind(liquidation.map(|l| l.2.value()))
                .bind(loan.interest_forgiven.map(|f| f.value()))
                .bind(r.current_ltv)
                .bind(r.health_status.map(lc::health_text))
                .bind(at)
                .execute(&mut *conn)
                .await
                .map_err(map_sqlx)?;
            if done.rows_affected() != 1 {
                return Err(StoreError::Conflict("loan_not_active".into()));
            }
            for i in &loan.installments {
                sqlx::query(lc::INSTALLMENT_UPDATE)
                    .bind(r.id)
                    .bind(i32::try_from(i.number).unwrap_or(0))
                    .bind(i.paid().value())
                    .bind(i.principal_paid.value())
                    .bind(i.interest_paid.value())
                    .bind(lc::installment_status_text(i.status))
                    .bind(opt_dt(i.paid_at)?)
                    .bind(at)
                    .execute(&mut *conn)
                    .await
                    .map_err(map_sqlx)?;
            }
        }
        if let Some(n) = &write.notification {
            insert_notification(conn, n).await?;
        }
    }
    Ok(())
}

/// Stores the loan-health job's results and notifications.
pub(crate) async fn write_health(
    conn: &mut PgConnection,
    updates: &[LoanHealthWrite],
) -> StoreResult<()> {
    for u in updates {
        let done = sqlx::query(lc::HEALTH_UPDATE)
            .bind(u.loan_id)
            .bind(u.current_ltv)
            .bind(lc::health_text(u.health_status))
            .bind(dt(u.checked_at)?)
            .execute(&mut *conn)
            .await
            .map_err(map_sqlx)?;
        if done.rows_affected() == 1
            && let Some(n) = &u.notification
        {
            insert_notification(conn, n).await?;
        }
    }
    Ok(())
}

async fn insert_notification(conn: &mut PgConnection, n: &LoanNotification) -> StoreResult<()> {
    sqlx::query(lc::NOTIFICATION_INSERT)
        .bind(n.id)
        .bind(n.user_id)
        .bind(&n.kind)
        .bind(&n.entity_id)
        .bind(&n.dedupe_key)
        .bind(&n.title)
        .bind(&n.body)
        .bind(n.data.clone().map(Json))
        .bind(dt(n.at)?)
        .execute(&mut *conn)
        .await
        .map_err(map_sqlx)?;
    Ok(())
}

/// The user's loans (pool read).
pub(crate) async fn user_loans(store: &PgStore, user_id: Uuid) -> StoreResult<Vec<LoanRecord>> {
    let mut conn = store.pg_pool().acquire().await.map_err(map_sqlx)?;
    let portfolio: Option<Uuid> = sqlx::query_scalar(lc::PORTFOLIO_OF_USER)
        .bind(user_id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(map_sqlx)?;
    match portfolio {
        Some(id) => load_loans(&mut conn, id).await,
        None => Ok(Vec::new()),
    }
}

/// Owners of an ACTIVE loan (operator access).
pub(crate) async fn active_loan_users(store: &PgStore) -> StoreResult<Vec<Uuid>> {
    sqlx::query_scalar(lc::ACTIVE_LOAN_USERS)
        .fetch_all(store.pg_pool())
        .await
        .map_err(map_sqlx)
}
