//! SQLite loan storage: loads and writes loans inside the portfolio transaction (`BEGIN
//! IMMEDIATE`) and the operator query of the loan-health job. TEXT decimals, instants and ids.

use anyhow::Context;
use blu_app::ports::loans::reason_text;
use blu_app::ports::{
    LoanHealthWrite, LoanNotification, LoanRecord, LoanWrite, StoreError, StoreResult,
};
use blu_domain::Timestamp;
use rust_decimal::Decimal;
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection};
use uuid::Uuid;

use crate::codec::{SqliteRowExt, dec_text, parse_uuid_text, ts_text, uuid_text};
use crate::error::map_sqlx;
use crate::loans_codec::{self as lc, LoanColumns};
use crate::sqlite::SqliteStore;

impl LoanColumns for SqliteRow {
    fn uuid_col(&self, column: &str) -> anyhow::Result<Uuid> {
        self.uuid(column)
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
        self.try_get(column).with_context(|| column.to_owned())
    }
}

fn opt_dec(d: Option<Decimal>) -> Option<String> {
    d.map(dec_text)
}

/// The portfolio's loans with installments, newest first.
pub(crate) async fn load_loans(
    conn: &mut SqliteConnection,
    portfolio_id: Uuid,
) -> StoreResult<Vec<LoanRecord>> {
    let rows = sqlx::query(lc::LOANS_SELECT)
        .bind(uuid_text(portfolio_id))
        .fetch_all(&mut *conn)
        .await
        .map_err(map_sqlx)?;
    let installments = sqlx::query(lc::INSTALLMENTS_SELECT)
        .bind(uuid_text(portfolio_id))
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
    conn: &mut SqliteConnection,
    writes: &[LoanWrite],
    now: Timestamp,
) -> StoreResult<()> {
    let at = ts_text(now);
    for write in writes {
        let r = &write.record;
        let loan = &r.loan;
        if write.insert {
            sqlx::query(lc::LOAN_INSERT)
                .bind(uuid_text(r.id))
                .bind(uuid_text(r.portfolio_id))
                .bind(loan.collateral_asset.as_str())
                .bind(dec_text(loan.collateral_quantity.value()))
                .bind(dec_text(loan.collateral_value_at_start.value()))
                .bind(dec_text(loan.principal.value()))
                .bind(dec_text(blu_domain::loan::ANNUAL_INTEREST_RATE))
                .bind(loan.duration.months())
                .bind(dec_text(loan.total_interest.value()))
                .bind(dec_text(loan.total_due().value()))
                .bind(ts_text(loan.start))
                .bind(ts_text(loan.due_date))
                .bind(dec_text(loan.max_ltv))
                .bind(opt_dec(r.current_ltv))
                .bind(r.health_status.map(lc::health_text))
                .bind(&at)
                .execute(&mut *conn)
                .await
                .map_err(map_sqlx)?;
            for i in &loan.installments {
                sqlx::query(lc::INSTALLMENT_INSERT)
                    .bind(uuid_text(Uuid::now_v7()))
                    .bind(uuid_text(r.id))
                    .bind(i.number)
                    .bind(ts_text(i.due_date))
                    .bind(dec_text(i.principal.value()))
                    .bind(dec_text(i.interest.value()))
                    .bind(dec_text(i.total().value()))
                    .bind(&at)
                    .execute(&mut *conn)
                    .await
                    .map_err(map_sqlx)?;
            }
        } else {
            let liquidation = r.liquidation_facts();
            let done = sqlx::query(lc::LOAN_UPDATE)
                .bind(uuid_text(r.id))
                .bind(dec_text(loan.principal_paid.value()))
                .bind(dec_text(loan.interest_paid.value()))
                .bind(dec_text(loan.paid().value()))
                .bind(i64::try_from(loan.installments_paid()).unwrap_or(0))
                .bind(lc::loan_status_text(loan.status))
                .bind(loan.settled_at.map(ts_text))
                .bind(liquidation.map(|l| ts_text(l.1)))
                .bind(liquidation.map(|l| reason_text(l.0)))
                .bind(liquidation.map(|l| dec_text(l.2.value())))
                .bind(loan.interest_forgiven.map(|f| dec_text(f.value())))
                .bind(opt_dec(r.current_ltv))
                .bind(r.health_status.map(lc::health_text))
                .bind(&at)
                .execute(&mut *conn)
                .await
                .map_err(map_sqlx)?;
            if done.rows_affected() != 1 {
                return Err(StoreError::Conflict("loan_not_active".into()));
            }
            for i in &loan.installments {
                sqlx::query(lc::INSTALLMENT_UPDATE)
                    .bind(uuid_text(r.id))
                    .bind(i.number)
                    .bind(dec_text(i.paid().value()))
                    .bind(dec_text(i.principal_paid.value()))
                    .bind(dec_text(i.interest_paid.value()))
                    .bind(lc::installment_status_text(i.status))
                    .bind(i.paid_at.map(ts_text))
                    .bind(&at)
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
    conn: &mut SqliteConnection,
    updates: &[LoanHealthWrite],
) -> StoreResult<()> {
    for u in updates {
        let done = sqlx::query(lc::HEALTH_UPDATE)
            .bind(uuid_text(u.loan_id))
            .bind(opt_dec(u.current_ltv))
            .bind(lc::health_text(u.health_status))
            .bind(ts_text(u.checked_at))
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

async fn insert_notification(conn: &mut SqliteConnection, n: &LoanNotification) -> StoreResult<()> {
    sqlx::query(lc::NOTIFICATION_INSERT)
        .bind(uuid_text(n.id))
        .bind(uuid_text(n.user_id))
        .bind(&n.kind)
        .bind(&n.entity_id)
        .bind(&n.dedupe_key)
        .bind(&n.title)
        .bind(&n.body)
        .bind(n.data.as_ref().map(|d| d.to_string()))
        .bind(ts_text(n.at))
        .execute(&mut *conn)
        .await
        .map_err(map_sqlx)?;
    Ok(())
}

/// The user's loans (pool read).
pub(crate) async fn user_loans(store: &SqliteStore, user_id: Uuid) -> StoreResult<Vec<LoanRecord>> {
    let mut conn = store.sqlite_pool().acquire().await.map_err(map_sqlx)?;
    let portfolio: Option<String> = sqlx::query_scalar(lc::PORTFOLIO_OF_USER)
        .bind(uuid_text(user_id))
        .fetch_optional(&mut *conn)
        .await
        .map_err(map_sqlx)?;
    match portfolio {
        Some(id) => {
            let id = parse_uuid_text(&id).map_err(StoreError::Other)?;
            load_loans(&mut conn, id).await
        }
        None => Ok(Vec::new()),
    }
}

/// Owners of an ACTIVE loan (operator access).
pub(crate) async fn active_loan_users(store: &SqliteStore) -> StoreResult<Vec<Uuid>> {
    let ids: Vec<String> = sqlx::query_scalar(lc::ACTIVE_LOAN_USERS)
        .fetch_all(store.sqlite_pool())
        .await
        .map_err(map_sqlx)?;
    ids.iter()
        .map(|t| parse_uuid_text(t).map_err(StoreError::Other))
        .collect()
}
