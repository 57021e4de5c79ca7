//! A money movement under the portfolio lock (business-rules §2, api.md §1.11): the locked
//! portfolio handed to the use case (`PortfolioTx`), and the writes of one movement — portfolio
//! row, holdings and lots, loans, protections, the sealed ledger entry, the activity row, the
//! consumed quote and the idempotency record — in the same transaction.
//!
//! PostgreSQL runs it as the tenant (`SET LOCAL ROLE blu_app`, row-level security) with the
//! portfolio row locked `FOR UPDATE`; SQLite inside `BEGIN IMMEDIATE`, which holds the
//! database's write lock from the start.

use async_trait::async_trait;
use blu_app::ports::{
    AccountClosure, Conflict, LoanHealthWrite, LoanRecord, NewActivity, OnboardingRecord,
    PortfolioChange, PortfolioRecord, PortfolioTx, ProtectionQuoteRecord, ProtectionRecord,
    StoreError, StoreResult,
};
use blu_domain::{LedgerEntry, Timestamp};
use uuid::Uuid;

use super::codec::{self as pc};
use super::rows::ledger_columns;
use crate::driver::{Batch, Query, Tx, query};
use crate::error::OnUnique;
use crate::{biometric, idempotency, loans, protection};

/// A locked portfolio (or, before onboarding, the locked user) of either database.
pub(super) struct LockedPortfolio {
    pub tx: Tx,
    pub user_id: Uuid,
    pub onboarding: OnboardingRecord,
    pub portfolio: Option<PortfolioRecord>,
}

#[async_trait]
impl PortfolioTx for LockedPortfolio {
    fn onboarding(&self) -> &OnboardingRecord {
        &self.onboarding
    }

    fn portfolio(&self) -> Option<&PortfolioRecord> {
        self.portfolio.as_ref()
    }

    async fn loans(&mut self) -> StoreResult<Vec<LoanRecord>> {
        match self.portfolio.as_ref().map(|p| p.id) {
            Some(id) => loans::load_loans(&mut self.tx, id).await,
            None => Ok(Vec::new()),
        }
    }

    async fn protections(&mut self) -> StoreResult<Vec<ProtectionRecord>> {
        match self.portfolio.as_ref().map(|p| p.id) {
            Some(id) => protection::load(&mut self.tx, id).await,
            None => Ok(Vec::new()),
        }
    }

    async fn commit_loan_health(self: Box<Self>, updates: Vec<LoanHealthWrite>) -> StoreResult<()> {
        let mut tx = self.tx;
        loans::write_health(&mut tx, &updates).await?;
        tx.commit().await
    }

    async fn reserve_protection_quote(
        &mut self,
        id: &str,
        now: Timestamp,
    ) -> StoreResult<Option<ProtectionQuoteRecord>> {
        protection::reserve_quote(&mut self.tx, self.user_id, id, now).await
    }

    async fn commit(self: Box<Self>, change: PortfolioChange) -> StoreResult<()> {
        let LockedPortfolio {
            mut tx,
            user_id,
            portfolio,
            ..
        } = *self;
        apply(&mut tx, user_id, portfolio.as_ref(), &change).await?;
        tx.commit().await
    }

    async fn close_account(self: Box<Self>, closure: AccountClosure) -> StoreResult<()> {
        let LockedPortfolio {
            mut tx,
            user_id,
            portfolio,
            ..
        } = *self;
        for change in &closure.cancellations {
            apply(&mut tx, user_id, portfolio.as_ref(), change).await?;
        }
        query(
            "UPDATE users SET phone = $2, deleted_at = $3, notification_token = NULL, \
             questionnaire_answers = NULL, updated_at = $3 WHERE id = $1",
        )
        .bind(user_id)
        .bind(&closure.anonymised_phone)
        .bind(closure.now)
        .execute(&mut tx)
        .await?;
        // Sessions are not a tenant table: revoke them as the owner.
        tx.leave_tenant_role().await?;
        query("UPDATE sessions SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL")
            .bind(user_id)
            .bind(closure.now)
            .execute(&mut tx)
            .await?;
        // Enrolled device keys go with the account (a closed account cannot log in anyway).
        query(biometric::REMOVE_USER_DEVICES)
            .bind(user_id)
            .execute(&mut tx)
            .await?;
        tx.commit().await
    }
}

/// Writes one movement inside the locked transaction. The caller commits.
///
/// The writes every movement makes — portfolio row, holdings, ledger entry, activity row,
/// consumed quote, idempotency record — go as one [`Batch`] (one round trip on PostgreSQL);
/// each touches a different row, and each count is checked. Loans and protections are
/// written before it (the ledger entry names them), lots after it (they name their holding).
async fn apply(
    tx: &mut Tx,
    user_id: Uuid,
    portfolio: Option<&PortfolioRecord>,
    change: &PortfolioChange,
) -> StoreResult<()> {
    let now = change.now;
    if change.create {
        query(
            "INSERT INTO portfolios (id, user_id, cash_irr, status, last_rebalance_at, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6)",
        )
        .bind(change.portfolio_id)
        .bind(user_id)
        .bind(change.cash.value())
        .bind(change.status.as_str())
        .bind(change.rebalanced.then_some(now))
        .bind(now)
        .execute(&mut *tx)
        .await
        // The only uniqueness rules of `portfolios`: its id (fresh) and one per user.
        .on_unique(Conflict::PortfolioExists)?;
    }
    loans::write_loans(tx, &change.loans, now).await?;
    protection::write(tx, &change.protections, now).await?;

    let mut batch = Batch::default();
    if !change.create {
        batch.push_one(
            query(
                "UPDATE portfolios SET cash_irr = $2, status = $3, version = version + 1, \
                 updated_at = $4, \
                 last_rebalance_at = CASE WHEN $5 THEN $4 ELSE last_rebalance_at END \
                 WHERE id = $1",
            )
            .bind(change.portfolio_id)
            .bind(change.cash.value())
            .bind(change.status.as_str())
            .bind(now)
            .bind(change.rebalanced),
            || internal("portfolio row not updated"),
        );
    }
    let mut lots = Vec::new();
    for holding in &change.holdings {
        let loaded = portfolio.and_then(|p| p.holding(holding.asset));
        let (row_changed, lots_changed) = pc::holding_changed(loaded, holding);
        let holding_id = loaded.map_or_else(
            || blu_app::ports::new_holding_id(change.portfolio_id, holding.asset),
            |h| h.id,
        );
        if row_changed {
            batch.push_one(
                holding_upsert(change.portfolio_id, holding_id, holding, now),
                || internal("holding not written"),
            );
        }
        if lots_changed {
            lots.push((holding_id, holding));
        }
    }
    batch.push_one(ledger_insert(&change.entry)?, || {
        internal("ledger entry not written")
    });
    batch.push_one(
        activity_insert(change.portfolio_id, &change.activity),
        || internal("activity row not written"),
    );
    if let Some(quote) = &change.consumed_quote {
        batch.push_one(super::quotes::consumption(quote, now), || {
            StoreError::Conflict(Conflict::TradeQuoteConsumed)
        });
    }
    if let Some(completion) = &change.idempotency {
        batch.push_one(idempotency::completion_write(completion, now), || {
            StoreError::IdempotencyClaimLost
        });
    }
    batch.execute(tx).await?;

    for (holding_id, holding) in lots {
        query("DELETE FROM fixed_income_lots WHERE holding_id = $1")
            .bind(holding_id)
            .execute(&mut *tx)
            .await?;
        for lot in &holding.lots {
            query(
                "INSERT INTO fixed_income_lots (id, portfolio_id, holding_id, units, \
                 purchased_at, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(Uuid::now_v7())
            .bind(change.portfolio_id)
            .bind(holding_id)
            .bind(lot.units.value())
            .bind(lot.purchased_at)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
    }
    Ok(())
}

fn holding_upsert(
    portfolio_id: Uuid,
    holding_id: Uuid,
    holding: &blu_domain::Holding,
    now: Timestamp,
) -> Query {
    let first = holding.quantity.is_positive().then_some(now);
    query(
        "INSERT INTO holdings (id, portfolio_id, asset_id, quantity, frozen, \
         first_purchased_at, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7) \
         ON CONFLICT (portfolio_id, asset_id) DO UPDATE SET \
         quantity = excluded.quantity, frozen = excluded.frozen, \
         first_purchased_at = COALESCE(holdings.first_purchased_at, excluded.first_purchased_at), \
         updated_at = excluded.updated_at",
    )
    .bind(holding_id)
    .bind(portfolio_id)
    .bind(holding.asset.as_str())
    .bind(holding.quantity.value())
    .bind(holding.frozen)
    .bind(first)
    .bind(now)
}

fn ledger_insert(entry: &LedgerEntry) -> StoreResult<Query> {
    let (before, after, legs, metadata) = pc::ledger_documents(entry)?;
    let uuid = |t: &Option<blu_domain::ledger::UuidText>| -> anyhow::Result<Option<Uuid>> {
        t.as_ref().map(pc::entry_uuid).transpose()
    };
    Ok(query(concat!(
        "INSERT INTO ledger (",
        ledger_columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, \
         $18, $19, $20)"
    ))
    .bind(pc::entry_uuid(&entry.id)?)
    .bind(pc::entry_uuid(&entry.portfolio_id)?)
    .bind(i64::try_from(entry.sequence_number).map_err(anyhow::Error::from)?)
    .bind(entry.entry_type.as_str())
    .bind(entry.created_at)
    .bind(before)
    .bind(after)
    .bind(entry.asset_id.map(|a| a.as_str()))
    .bind(entry.quantity.map(|q| q.value()))
    .bind(entry.amount_irr.map(|a| a.value()))
    .bind(entry.price_irr)
    .bind(entry.spread_irr.map(|a| a.value()))
    .bind(entry.boundary.as_str())
    .bind(uuid(&entry.loan_id)?)
    .bind(uuid(&entry.protection_id)?)
    .bind(&entry.message)
    .bind(legs)
    .bind(metadata)
    .bind(&entry.prev_hash)
    .bind(&entry.entry_hash))
}

/// A write the batch should have made and did not: a bug, never a business outcome.
fn internal(what: &'static str) -> StoreError {
    StoreError::Other(anyhow::anyhow!(what))
}

pub(crate) async fn insert_activity(
    tx: &mut Tx,
    portfolio_id: Uuid,
    activity: &NewActivity,
) -> StoreResult<()> {
    activity_insert(portfolio_id, activity).execute(tx).await?;
    Ok(())
}

fn activity_insert(portfolio_id: Uuid, activity: &NewActivity) -> Query {
    query(
        "INSERT INTO action_log (portfolio_id, action_type, boundary, message, amount_irr, \
         asset_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(portfolio_id)
    .bind(&activity.action_type)
    .bind(activity.boundary.as_str())
    .bind(&activity.message)
    .bind(activity.amount.map(|a| a.value()))
    .bind(activity.asset.map(|a| a.as_str()))
    .bind(activity.at)
}
