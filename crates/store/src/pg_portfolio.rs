//! PostgreSQL implementation of the portfolio port. Money movements run in the tenant
//! transaction (`SET LOCAL ROLE blu_app`, row-level security) and lock the portfolio row with
//! `SELECT … FOR UPDATE`; reads and operator queries use the pool.

use async_trait::async_trait;
use blu_app::ports::{
    AccountClosure, ActivityRecord, HoldingRecord, IdempotencyClaim, IdempotencyCompletion,
    IdempotencyRequest, LedgerQuery, NewActivity, OnboardingRecord, PortfolioChange,
    PortfolioRecord, PortfolioStore, PortfolioTx, ProfileRecord, RiskUpdate, Settings,
    SettingsUpdate, StoreError, StoreResult, TradeQuote,
};
use blu_domain::ledger::ChainHead;
use blu_domain::trade::TradeAction;
use blu_domain::{LedgerEntry, PortfolioState, Timestamp};
use sqlx::postgres::PgRow;
use sqlx::types::Json;
use sqlx::{PgConnection, Postgres, Row, Transaction};
use uuid::Uuid;

use crate::biometric_sql as bio;
use crate::codec::{PgRowExt, to_datetime};
use crate::error::map_sqlx;
use crate::idempotency_sql as idem;
use crate::pg::PgStore;
use crate::portfolio_codec::{self as pc, HoldingLotRow, LedgerParts};

fn other(e: anyhow::Error) -> StoreError {
    StoreError::Other(e)
}

fn dt(t: Timestamp) -> StoreResult<chrono::DateTime<chrono::Utc>> {
    to_datetime(t).map_err(other)
}

macro_rules! portfolio_select {
    () => {
        "SELECT p.id, p.user_id, p.cash_irr, p.last_rebalance_at, p.created_at, \
         u.risk_score::BIGINT AS risk_score, u.target_foundation, u.target_growth, u.target_upside, \
         (SELECT count(*) FROM loans l WHERE l.portfolio_id = p.id AND l.status = 'ACTIVE') AS active_loans, \
         (SELECT coalesce(sum(l.principal_irr - l.principal_paid_irr), 0) FROM loans l \
            WHERE l.portfolio_id = p.id AND l.status = 'ACTIVE') AS outstanding, \
         (SELECT count(*) FROM protections x WHERE x.portfolio_id = p.id AND x.status = 'ACTIVE') AS active_protections, \
         h.sequence_number AS head_sequence, h.entry_hash AS head_hash \
         FROM portfolios p JOIN users u ON u.id = p.user_id \
         LEFT JOIN LATERAL (SELECT sequence_number, entry_hash FROM ledger \
            WHERE portfolio_id = p.id ORDER BY sequence_number DESC LIMIT 1) h ON TRUE \
         WHERE p.user_id = $1 AND u.deleted_at IS NULL"
    };
}

/// Takes the portfolio lock. A statement of its own: under READ COMMITTED a `FOR UPDATE` that
/// waited re-reads only the locked row, so the ledger head and holdings are read by the next
/// statements, whose snapshot starts after the lock was granted.
const PORTFOLIO_LOCK: &str = "SELECT id FROM portfolios WHERE user_id = $1 FOR UPDATE";
const PORTFOLIO_READ: &str = portfolio_select!();

const HOLDINGS_SELECT: &str = "SELECT h.id, h.asset_id, h.quantity, h.frozen, \
     h.first_purchased_at, l.units, l.purchased_at \
     FROM holdings h LEFT JOIN fixed_income_lots l ON l.holding_id = h.id \
     WHERE h.portfolio_id = $1 ORDER BY h.id, l.purchased_at, l.id";

macro_rules! ledger_columns {
    () => {
        "id, portfolio_id, sequence_number, entry_type, created_at, before_snapshot, \
         after_snapshot, asset_id, quantity, amount_irr, price_irr, spread_irr, boundary, loan_id, \
         protection_id, message, legs, metadata, prev_hash, entry_hash"
    };
}

/// The target allocation columns of a users row.
fn target_row(r: &PgRow) -> anyhow::Result<Option<blu_domain::Allocation>> {
    Ok(pc::target(
        r.opt_dec("target_foundation")?,
        r.opt_dec("target_growth")?,
        r.opt_dec("target_upside")?,
    ))
}

fn settings_row(r: &PgRow) -> anyhow::Result<Settings> {
    Ok(Settings {
        language: r.try_get("language")?,
        notifications_enabled: r.try_get("notifications_enabled")?,
        notification_token: r.try_get("notification_token")?,
        biometric_enabled: r.try_get("biometric_enabled")?,
    })
}

fn ledger_row(r: &PgRow) -> StoreResult<LedgerEntry> {
    let g = || -> anyhow::Result<LedgerEntry> {
        LedgerParts {
            id: r.try_get("id")?,
            portfolio_id: r.try_get("portfolio_id")?,
            sequence_number: r.try_get("sequence_number")?,
            entry_type: r.try_get("entry_type")?,
            created_at: r.ts("created_at")?,
            before_snapshot: r.try_get("before_snapshot")?,
            after_snapshot: r.try_get("after_snapshot")?,
            asset_id: r.try_get("asset_id")?,
            quantity: r.opt_dec("quantity")?,
            amount_irr: r.opt_dec("amount_irr")?,
            price_irr: r.opt_dec("price_irr")?,
            spread_irr: r.opt_dec("spread_irr")?,
            boundary: r.try_get("boundary")?,
            loan_id: r.try_get("loan_id")?,
            protection_id: r.try_get("protection_id")?,
            message: r.try_get("message")?,
            legs: r.try_get("legs")?,
            metadata: r.try_get("metadata")?,
            prev_hash: r.try_get("prev_hash")?,
            entry_hash: r.try_get("entry_hash")?,
        }
        .into_entry()
    };
    g().map_err(other)
}

async fn load_holdings(
    conn: &mut PgConnection,
    portfolio_id: Uuid,
) -> StoreResult<Vec<HoldingRecord>> {
    let rows = sqlx::query(HOLDINGS_SELECT)
        .bind(portfolio_id)
        .fetch_all(conn)
        .await
        .map_err(map_sqlx)?;
    let g = || -> anyhow::Result<Vec<HoldingRecord>> {
        let parts = rows
            .iter()
            .map(|r| {
                Ok(HoldingLotRow {
                    id: r.try_get("id")?,
                    asset_id: r.try_get("asset_id")?,
                    quantity: r.dec("quantity")?,
                    frozen: r.try_get("frozen")?,
                    first_purchased_at: r.opt_ts("first_purchased_at")?,
                    lot_units: r.opt_dec("units")?,
                    lot_purchased_at: r.opt_ts("purchased_at")?,
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        pc::holdings_from_rows(parts)
    };
    g().map_err(other)
}

async fn load_portfolio(
    conn: &mut PgConnection,
    user_id: Uuid,
    lock: bool,
) -> StoreResult<Option<PortfolioRecord>> {
    if lock {
        let locked = sqlx::query(PORTFOLIO_LOCK)
            .bind(user_id)
            .fetch_optional(&mut *conn)
            .await
            .map_err(map_sqlx)?;
        if locked.is_none() {
            return Ok(None);
        }
    }
    let row = sqlx::query(PORTFOLIO_READ)
        .bind(user_id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(map_sqlx)?;
    let Some(r) = row else { return Ok(None) };
    let g = || -> anyhow::Result<PortfolioRecord> {
        let head_sequence: Option<i64> = r.try_get("head_sequence")?;
        let head_hash: Option<String> = r.try_get("head_hash")?;
        Ok(PortfolioRecord {
            id: r.try_get("id")?,
            user_id: r.try_get("user_id")?,
            cash: pc::irr(r.dec("cash_irr")?)?,
            last_rebalance_at: r.opt_ts("last_rebalance_at")?,
            created_at: r.ts("created_at")?,
            risk_score: pc::score(r.try_get("risk_score")?)?,
            target: target_row(&r)?,
            holdings: Vec::new(),
            head: match (head_sequence, head_hash) {
                (Some(s), Some(h)) => Some(ChainHead {
                    sequence_number: u64::try_from(s)?,
                    entry_hash: h,
                }),
                _ => None,
            },
            active_loans: r.try_get("active_loans")?,
            active_protections: r.try_get("active_protections")?,
            outstanding_loan_principal: pc::irr(r.dec("outstanding")?)?,
        })
    };
    let mut record = g().map_err(other)?;
    record.holdings = load_holdings(conn, record.id).await?;
    Ok(Some(record))
}

/// A locked portfolio on PostgreSQL.
struct PgPortfolioTx {
    tx: Transaction<'static, Postgres>,
    user_id: Uuid,
    onboarding: OnboardingRecord,
    portfolio: Option<PortfolioRecord>,
}

#[async_trait]
impl PortfolioTx for PgPortfolioTx {
    fn onboarding(&self) -> &OnboardingRecord {
        &self.onboarding
    }

    fn portfolio(&self) -> Option<&PortfolioRecord> {
        self.portfolio.as_ref()
    }

    async fn quote(&mut self, id: &str) -> StoreResult<Option<TradeQuote>> {
        let row = sqlx::query(
            "SELECT id, user_id, portfolio_id, asset_id, side, amount_irr, quantity, price_usd, \
             price_irr, fx_rate, spread_irr, terms, state, expires_at, created_at \
             FROM trade_quotes WHERE id = $1 AND user_id = $2",
        )
        .bind(id)
        .bind(self.user_id)
        .fetch_optional(&mut *self.tx)
        .await
        .map_err(map_sqlx)?;
        row.map(|r| quote_row(&r)).transpose()
    }

    async fn loans(&mut self) -> StoreResult<Vec<blu_app::ports::LoanRecord>> {
        match self.portfolio.as_ref().map(|p| p.id) {
            Some(id) => crate::pg_loans::load_loans(&mut self.tx, id).await,
            None => Ok(Vec::new()),
        }
    }

    async fn protections(&mut self) -> StoreResult<Vec<blu_app::ports::ProtectionRecord>> {
        match &self.portfolio {
            Some(p) => crate::pg_protection::load(&mut self.tx, p.id).await,
            None => Ok(Vec::new()),
        }
    }

    async fn commit_loan_health(
        self: Box<Self>,
        updates: Vec<blu_app::ports::LoanHealthWrite>,
    ) -> StoreResult<()> {
        let mut tx = self.tx;
        crate::pg_loans::write_health(&mut tx, &updates).await?;
        tx.commit().await.map_err(map_sqlx)
    }

    async fn reserve_protection_quote(
        &mut self,
        id: &str,
        now: Timestamp,
    ) -> StoreResult<Option<blu_app::ports::ProtectionQuoteRecord>> {
        crate::pg_protection::reserve_quote(&mut self.tx, self.user_id, id, now).await
    }

    async fn commit(self: Box<Self>, change: PortfolioChange) -> StoreResult<()> {
        let PgPortfolioTx {
            mut tx,
            user_id,
            portfolio,
            ..
        } = *self;
        apply(&mut tx, user_id, portfolio.as_ref(), &change).await?;
        tx.commit().await.map_err(map_sqlx)
    }

    async fn close_account(self: Box<Self>, closure: AccountClosure) -> StoreResult<()> {
        let PgPortfolioTx {
            mut tx,
            user_id,
            portfolio,
            ..
        } = *self;
        for change in &closure.cancellations {
            apply(&mut tx, user_id, portfolio.as_ref(), change).await?;
        }
        let now = dt(closure.now)?;
        sqlx::query(
            "UPDATE users SET phone = $2, deleted_at = $3, notification_token = NULL, \
             questionnaire_answers = NULL, updated_at = $3 WHERE id = $1",
        )
        .bind(user_id)
        .bind(&closure.anonymised_phone)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(map_sqlx)?;
        // Sessions are not a tenant table: revoke them as the owner after the role reset.
        sqlx::query("RESET ROLE")
            .execute(&mut *tx)
            .await
            .map_err(map_sqlx)?;
        sqlx::query(
            "UPDATE sessions SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL",
        )
        .bind(user_id)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(map_sqlx)?;
        // Enrolled device keys go with the account (a closed account cannot log in anyway).
        sqlx::query(bio::REMOVE_USER_DEVICES)
            .bind(user_id)
            .execute(&mut *tx)
            .await
            .map_err(map_sqlx)?;
        tx.commit().await.map_err(map_sqlx)
    }
}

/// Writes one movement inside the locked transaction: portfolio row, holdings and lots, loans,
/// protections, the sealed ledger entry, the activity row, the consumed quote and the
/// idempotency record. The caller commits.
async fn apply(
    conn: &mut PgConnection,
    user_id: Uuid,
    portfolio: Option<&PortfolioRecord>,
    change: &PortfolioChange,
) -> StoreResult<()> {
    let now = dt(change.now)?;
    if change.create {
        sqlx::query(
            "INSERT INTO portfolios (id, user_id, cash_irr, status, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $5)",
        )
        .bind(change.portfolio_id)
        .bind(user_id)
        .bind(change.cash.value())
        .bind(change.status.as_str())
        .bind(now)
        .execute(&mut *conn)
        .await
        .map_err(map_sqlx)?;
    } else {
        sqlx::query(
            "UPDATE portfolios SET cash_irr = $2, status = $3, version = version + 1, \
             updated_at = $4 WHERE id = $1",
        )
        .bind(change.portfolio_id)
        .bind(change.cash.value())
        .bind(change.status.as_str())
        .bind(now)
        .execute(&mut *conn)
        .await
        .map_err(map_sqlx)?;
    }
    if change.rebalanced {
        sqlx::query("UPDATE portfolios SET last_rebalance_at = $2 WHERE id = $1")
            .bind(change.portfolio_id)
            .bind(now)
            .execute(&mut *conn)
            .await
            .map_err(map_sqlx)?;
    }
    for holding in &change.holdings {
        let loaded = portfolio.and_then(|p| p.holding(holding.asset));
        let (row_changed, lots_changed) = pc::holding_changed(loaded, holding);
        let holding_id = loaded.map_or_else(
            || blu_app::ports::new_holding_id(change.portfolio_id, holding.asset),
            |h| h.id,
        );
        if row_changed {
            let first = holding.quantity.is_positive().then_some(now);
            sqlx::query(
                "INSERT INTO holdings (id, portfolio_id, asset_id, quantity, frozen, \
                 first_purchased_at, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $7) \
                 ON CONFLICT (portfolio_id, asset_id) DO UPDATE SET \
                 quantity = excluded.quantity, frozen = excluded.frozen, \
                 first_purchased_at = COALESCE(holdings.first_purchased_at, excluded.first_purchased_at), \
                 updated_at = excluded.updated_at",
            )
            .bind(holding_id)
            .bind(change.portfolio_id)
            .bind(holding.asset.as_str())
            .bind(holding.quantity.value())
            .bind(holding.frozen)
            .bind(first)
            .bind(now)
            .execute(&mut *conn)
            .await
            .map_err(map_sqlx)?;
        }
        if lots_changed {
            sqlx::query("DELETE FROM fixed_income_lots WHERE holding_id = $1")
                .bind(holding_id)
                .execute(&mut *conn)
                .await
                .map_err(map_sqlx)?;
            for lot in &holding.lots {
                sqlx::query(
                    "INSERT INTO fixed_income_lots (id, portfolio_id, holding_id, units, \
                     purchased_at, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(Uuid::now_v7())
                .bind(change.portfolio_id)
                .bind(holding_id)
                .bind(lot.units.value())
                .bind(dt(lot.purchased_at)?)
                .bind(now)
                .execute(&mut *conn)
                .await
                .map_err(map_sqlx)?;
            }
        }
    }
    crate::pg_loans::write_loans(&mut *conn, &change.loans, change.now).await?;
    crate::pg_protection::write(&mut *conn, &change.protections, change.now).await?;
    insert_ledger(&mut *conn, &change.entry).await?;
    insert_activity(&mut *conn, change.portfolio_id, &change.activity).await?;
    if let Some(quote_id) = &change.consumed_quote {
        let done = sqlx::query(
            "UPDATE trade_quotes SET state = 'CONSUMED', consumed_at = $2 \
             WHERE id = $1 AND state = 'AVAILABLE'",
        )
        .bind(quote_id)
        .bind(now)
        .execute(&mut *conn)
        .await
        .map_err(map_sqlx)?;
        if done.rows_affected() != 1 {
            return Err(StoreError::Conflict("trade_quotes_consumed".into()));
        }
    }
    if let Some(completion) = &change.idempotency {
        complete(&mut *conn, completion, now).await?;
    }
    Ok(())
}

async fn insert_ledger(conn: &mut PgConnection, entry: &LedgerEntry) -> StoreResult<()> {
    let (before, after, legs, metadata) = pc::ledger_documents(entry).map_err(other)?;
    let uuid = |t: &Option<blu_domain::ledger::UuidText>| -> StoreResult<Option<Uuid>> {
        t.as_ref().map(pc::entry_uuid).transpose().map_err(other)
    };
    sqlx::query(concat!(
        "INSERT INTO ledger (",
        ledger_columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, \
         $18, $19, $20)"
    ))
    .bind(pc::entry_uuid(&entry.id).map_err(other)?)
    .bind(pc::entry_uuid(&entry.portfolio_id).map_err(other)?)
    .bind(i64::try_from(entry.sequence_number).map_err(|e| other(e.into()))?)
    .bind(entry.entry_type.as_str())
    .bind(dt(entry.created_at)?)
    .bind(Json(before))
    .bind(Json(after))
    .bind(entry.asset_id.map(|a| a.as_str()))
    .bind(entry.quantity.map(|q| q.value()))
    .bind(entry.amount_irr.map(|a| a.value()))
    .bind(entry.price_irr)
    .bind(entry.spread_irr.map(|a| a.value()))
    .bind(entry.boundary.as_str())
    .bind(uuid(&entry.loan_id)?)
    .bind(uuid(&entry.protection_id)?)
    .bind(&entry.message)
    .bind(legs.map(Json))
    .bind(metadata.map(Json))
    .bind(&entry.prev_hash)
    .bind(&entry.entry_hash)
    .execute(conn)
    .await
    .map_err(map_sqlx)?;
    Ok(())
}

async fn insert_activity(
    conn: &mut PgConnection,
    portfolio_id: Uuid,
    activity: &NewActivity,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO action_log (portfolio_id, action_type, boundary, message, amount_irr, \
         asset_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(portfolio_id)
    .bind(&activity.action_type)
    .bind(activity.boundary.as_str())
    .bind(&activity.message)
    .bind(activity.amount.map(|a| a.value()))
    .bind(activity.asset.map(|a| a.as_str()))
    .bind(dt(activity.at)?)
    .execute(conn)
    .await
    .map_err(map_sqlx)?;
    Ok(())
}

async fn complete(
    conn: &mut PgConnection,
    completion: &IdempotencyCompletion,
    now: chrono::DateTime<chrono::Utc>,
) -> StoreResult<()> {
    let done = sqlx::query(idem::COMPLETE)
        .bind(completion.user_id)
        .bind(&completion.key)
        .bind(i32::from(completion.status))
        .bind(&completion.body)
        .bind(now)
        .bind(completion.claim)
        .execute(conn)
        .await
        .map_err(map_sqlx)?;
    if done.rows_affected() != 1 {
        return Err(StoreError::IdempotencyClaimLost);
    }
    Ok(())
}

fn quote_row(r: &PgRow) -> StoreResult<TradeQuote> {
    let g = || -> anyhow::Result<TradeQuote> {
        let terms: serde_json::Value = r.try_get("terms")?;
        let side: String = r.try_get("side")?;
        let state: String = r.try_get("state")?;
        Ok(TradeQuote {
            id: r.try_get("id")?,
            user_id: r.try_get("user_id")?,
            portfolio_id: r.try_get("portfolio_id")?,
            asset: pc::asset(&r.try_get::<String, _>("asset_id")?)?,
            action: side
                .parse::<TradeAction>()
                .map_err(|_| anyhow::anyhow!("side {side}"))?,
            amount: pc::irr(r.dec("amount_irr")?)?,
            sell_all: terms["sellAll"].as_bool().unwrap_or(false),
            quantity: pc::quantity(r.dec("quantity")?)?,
            price_usd: r.opt_dec("price_usd")?,
            price_irr: r.dec("price_irr")?,
            fx_rate: r.opt_dec("fx_rate")?,
            spread: pc::irr(r.dec("spread_irr")?)?,
            consumed: state != "AVAILABLE",
            expires_at: r.ts("expires_at")?,
            created_at: r.ts("created_at")?,
        })
    };
    g().map_err(other)
}

fn activity_row(r: &PgRow) -> StoreResult<ActivityRecord> {
    let g = || -> anyhow::Result<ActivityRecord> {
        pc::activity(
            r.try_get("id")?,
            r.try_get("action_type")?,
            &r.try_get::<String, _>("boundary")?,
            r.try_get("message")?,
            r.opt_dec("amount_irr")?,
            r.try_get::<Option<String>, _>("asset_id")?.as_deref(),
            r.ts("created_at")?,
        )
    };
    g().map_err(other)
}

#[async_trait]
impl PortfolioStore for PgStore {
    async fn lock(&self, user_id: Uuid) -> StoreResult<Option<Box<dyn PortfolioTx>>> {
        let mut tx = self.tenant_tx(user_id).await?;
        let portfolio = load_portfolio(&mut tx, user_id, true).await?;
        let onboarding = match &portfolio {
            Some(p) => OnboardingRecord {
                risk_score: p.risk_score,
                target: p.target,
                consents_given: true,
            },
            None => {
                let row = sqlx::query(
                    "SELECT risk_score::BIGINT AS risk_score, target_foundation, target_growth, \
                     target_upside, consent_risk AND consent_loss AND consent_no_guarantee AS consents \
                     FROM users WHERE id = $1 AND deleted_at IS NULL FOR UPDATE",
                )
                .bind(user_id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(map_sqlx)?;
                let Some(r) = row else { return Ok(None) };
                let g = || -> anyhow::Result<OnboardingRecord> {
                    Ok(OnboardingRecord {
                        risk_score: pc::score(r.try_get("risk_score")?)?,
                        target: target_row(&r)?,
                        consents_given: r.try_get("consents")?,
                    })
                };
                g().map_err(other)?
            }
        };
        Ok(Some(Box::new(PgPortfolioTx {
            tx,
            user_id,
            onboarding,
            portfolio,
        })))
    }

    async fn portfolio(&self, user_id: Uuid) -> StoreResult<Option<PortfolioRecord>> {
        let mut conn = self.pg_pool().acquire().await.map_err(map_sqlx)?;
        load_portfolio(&mut conn, user_id, false).await
    }

    async fn save_quote(&self, quote: &TradeQuote) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO trade_quotes (id, user_id, portfolio_id, asset_id, side, amount_irr, \
             quantity, price_usd, price_irr, fx_rate, spread_irr, terms, expires_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        )
        .bind(&quote.id)
        .bind(quote.user_id)
        .bind(quote.portfolio_id)
        .bind(quote.asset.as_str())
        .bind(quote.action.as_str())
        .bind(quote.amount.value())
        .bind(quote.quantity.value())
        .bind(quote.price_usd)
        .bind(quote.price_irr)
        .bind(quote.fx_rate)
        .bind(quote.spread.value())
        .bind(Json(serde_json::json!({ "sellAll": quote.sell_all })))
        .bind(dt(quote.expires_at)?)
        .bind(dt(quote.created_at)?)
        .execute(self.pg_pool())
        .await
        .map_err(map_sqlx)?;
        Ok(())
    }

    async fn ledger_page(
        &self,
        user_id: Uuid,
        query: &LedgerQuery,
    ) -> StoreResult<Vec<LedgerEntry>> {
        let before = query
            .before_sequence
            .map(|s| i64::try_from(s).unwrap_or(i64::MAX));
        let from = query.from.map(dt).transpose()?;
        let to = query.to.map(dt).transpose()?;
        let rows = sqlx::query(concat!(
            "SELECT ",
            ledger_columns!(),
            " FROM ledger WHERE portfolio_id = (SELECT id FROM portfolios WHERE user_id = $1) \
             AND ($2::TEXT IS NULL OR entry_type = $2) \
             AND ($3::TIMESTAMPTZ IS NULL OR created_at >= $3) \
             AND ($4::TIMESTAMPTZ IS NULL OR created_at <= $4) \
             AND ($5::BIGINT IS NULL OR sequence_number < $5) \
             ORDER BY sequence_number DESC LIMIT $6"
        ))
        .bind(user_id)
        .bind(query.entry_type.map(|t| t.as_str()))
        .bind(from)
        .bind(to)
        .bind(before)
        .bind(i64::from(query.limit))
        .fetch_all(self.read_pool())
        .await
        .map_err(map_sqlx)?;
        rows.iter().map(ledger_row).collect()
    }

    async fn ledger_entry(&self, user_id: Uuid, id: Uuid) -> StoreResult<Option<LedgerEntry>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            ledger_columns!(),
            " FROM ledger WHERE id = $2 \
             AND portfolio_id = (SELECT id FROM portfolios WHERE user_id = $1)"
        ))
        .bind(user_id)
        .bind(id)
        .fetch_optional(self.read_pool())
        .await
        .map_err(map_sqlx)?;
        row.as_ref().map(ledger_row).transpose()
    }

    async fn verification_input(
        &self,
        portfolio_id: Uuid,
    ) -> StoreResult<Option<(Vec<LedgerEntry>, PortfolioState)>> {
        // One snapshot of the ledger and the balances (REPEATABLE READ), so a movement
        // committing in between cannot show up as a difference; on the read replica when there
        // is one (a standby's snapshot is as consistent).
        let mut tx = self.read_pool().begin().await.map_err(map_sqlx)?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .execute(&mut *tx)
            .await
            .map_err(map_sqlx)?;
        let row = sqlx::query("SELECT cash_irr FROM portfolios WHERE id = $1")
            .bind(portfolio_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(map_sqlx)?;
        let Some(row) = row else { return Ok(None) };
        let cash = row.dec("cash_irr").and_then(pc::irr).map_err(other)?;
        let holdings = load_holdings(&mut tx, portfolio_id).await?;
        let rows = sqlx::query(concat!(
            "SELECT ",
            ledger_columns!(),
            " FROM ledger WHERE portfolio_id = $1 ORDER BY sequence_number"
        ))
        .bind(portfolio_id)
        .fetch_all(&mut *tx)
        .await
        .map_err(map_sqlx)?;
        tx.commit().await.map_err(map_sqlx)?;
        let entries = rows
            .iter()
            .map(ledger_row)
            .collect::<StoreResult<Vec<_>>>()?;
        let record = PortfolioRecord {
            id: portfolio_id,
            user_id: Uuid::nil(),
            cash,
            last_rebalance_at: None,
            created_at: Timestamp::from_micros(0),
            risk_score: None,
            target: None,
            holdings,
            head: None,
            active_loans: 0,
            active_protections: 0,
            outstanding_loan_principal: blu_domain::Irr::ZERO,
        };
        Ok(Some((entries, record.state())))
    }

    async fn portfolio_ids(&self) -> StoreResult<Vec<Uuid>> {
        let rows = sqlx::query("SELECT id FROM portfolios ORDER BY created_at, id")
            .fetch_all(self.read_pool())
            .await
            .map_err(map_sqlx)?;
        rows.iter()
            .map(|r| r.try_get("id").map_err(|e| other(e.into())))
            .collect()
    }

    async fn activity_page(
        &self,
        user_id: Uuid,
        before_id: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<ActivityRecord>> {
        let rows = sqlx::query(
            "SELECT id, action_type, boundary, message, amount_irr, asset_id, created_at \
             FROM action_log WHERE portfolio_id = (SELECT id FROM portfolios WHERE user_id = $1) \
             AND ($2::BIGINT IS NULL OR id < $2) ORDER BY id DESC LIMIT $3",
        )
        .bind(user_id)
        .bind(before_id)
        .bind(i64::from(limit))
        .fetch_all(self.read_pool())
        .await
        .map_err(map_sqlx)?;
        rows.iter().map(activity_row).collect()
    }

    async fn save_risk(
        &self,
        user_id: Uuid,
        update: &RiskUpdate,
        activity: &NewActivity,
    ) -> StoreResult<bool> {
        let mut tx = self.tenant_tx(user_id).await?;
        let [f, g, u] = update.target.values();
        sqlx::query(
            "UPDATE users SET risk_score = $2, risk_tier = $3, risk_profile_name = $4, \
             target_foundation = $5, target_growth = $6, target_upside = $7, \
             questionnaire_version = $8, questionnaire_answers = $9, risk_breakdown = $10, \
             risk_scored_at = $11, updated_at = $11 WHERE id = $1",
        )
        .bind(user_id)
        .bind(i32::from(update.score))
        .bind(&update.tier)
        .bind(&update.profile_name)
        .bind(f)
        .bind(g)
        .bind(u)
        .bind(&update.version)
        .bind(Json(&update.answers))
        .bind(Json(&update.breakdown))
        .bind(dt(update.at)?)
        .execute(&mut *tx)
        .await
        .map_err(map_sqlx)?;
        let portfolio: Option<Uuid> =
            sqlx::query_scalar("SELECT id FROM portfolios WHERE user_id = $1")
                .bind(user_id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(map_sqlx)?;
        if let Some(portfolio_id) = portfolio {
            insert_activity(&mut tx, portfolio_id, activity).await?;
        }
        tx.commit().await.map_err(map_sqlx)?;
        Ok(portfolio.is_some())
    }

    async fn save_consent(&self, user_id: Uuid, now: Timestamp) -> StoreResult<Option<Timestamp>> {
        let row = sqlx::query(
            "UPDATE users SET consent_risk = TRUE, consent_loss = TRUE, \
             consent_no_guarantee = TRUE, consent_at = COALESCE(consent_at, $2), updated_at = $2 \
             WHERE id = $1 AND risk_score IS NOT NULL AND deleted_at IS NULL RETURNING consent_at",
        )
        .bind(user_id)
        .bind(dt(now)?)
        .fetch_optional(self.pg_pool())
        .await
        .map_err(map_sqlx)?;
        row.map(|r| r.ts("consent_at").map_err(other)).transpose()
    }

    async fn profile(&self, user_id: Uuid) -> StoreResult<Option<ProfileRecord>> {
        let row = sqlx::query(
            "SELECT u.id, u.phone, u.created_at, u.last_login_at, u.risk_score::BIGINT AS risk_score, \
             u.target_foundation, u.target_growth, u.target_upside, u.consent_risk, u.consent_loss, \
             u.consent_no_guarantee, u.consent_at, u.language, u.notifications_enabled, \
             u.notification_token, \
             EXISTS (SELECT 1 FROM biometric_devices b WHERE b.user_id = u.id) AS biometric_enabled, \
             EXISTS (SELECT 1 FROM portfolios p WHERE p.user_id = u.id) AS has_portfolio \
             FROM users u WHERE u.id = $1 AND u.deleted_at IS NULL",
        )
        .bind(user_id)
        .fetch_optional(self.pg_pool())
        .await
        .map_err(map_sqlx)?;
        let Some(r) = row else { return Ok(None) };
        let g = || -> anyhow::Result<ProfileRecord> {
            Ok(ProfileRecord {
                id: r.try_get("id")?,
                phone: r.try_get("phone")?,
                created_at: r.ts("created_at")?,
                last_login_at: r.opt_ts("last_login_at")?,
                risk_score: pc::score(r.try_get("risk_score")?)?,
                target: target_row(&r)?,
                consent_risk: r.try_get("consent_risk")?,
                consent_loss: r.try_get("consent_loss")?,
                consent_no_guarantee: r.try_get("consent_no_guarantee")?,
                consented_at: r.opt_ts("consent_at")?,
                has_portfolio: r.try_get("has_portfolio")?,
                settings: settings_row(&r)?,
            })
        };
        g().map(Some).map_err(other)
    }

    async fn update_settings(
        &self,
        user_id: Uuid,
        update: &SettingsUpdate,
        now: Timestamp,
    ) -> StoreResult<Option<Settings>> {
        let mut tx = self.pg_pool().begin().await.map_err(map_sqlx)?;
        let updated = sqlx::query(bio::UPDATE_USER_SETTINGS)
            .bind(user_id)
            .bind(&update.language)
            .bind(update.notifications_enabled)
            .bind(&update.notification_token)
            .bind(dt(now)?)
            .execute(&mut *tx)
            .await
            .map_err(map_sqlx)?;
        if updated.rows_affected() == 0 {
            return Ok(None);
        }
        if update.remove_biometrics {
            sqlx::query(bio::REMOVE_USER_DEVICES)
                .bind(user_id)
                .execute(&mut *tx)
                .await
                .map_err(map_sqlx)?;
        }
        if let Some(device) = &update.biometric {
            sqlx::query(bio::DROP_DEVICE_CHALLENGES)
                .bind(user_id)
                .bind(&device.device_id)
                .execute(&mut *tx)
                .await
                .map_err(map_sqlx)?;
            sqlx::query(bio::ENROL)
                .bind(Uuid::new_v4())
                .bind(user_id)
                .bind(&device.device_id)
                .bind(&device.public_key)
                .bind(dt(now)?)
                .execute(&mut *tx)
                .await
                .map_err(map_sqlx)?;
        }
        let row = sqlx::query(bio::SETTINGS)
            .bind(user_id)
            .fetch_one(&mut *tx)
            .await
            .map_err(map_sqlx)?;
        tx.commit().await.map_err(map_sqlx)?;
        settings_row(&row).map(Some).map_err(other)
    }

    async fn claim_idempotency(
        &self,
        request: &IdempotencyRequest,
    ) -> StoreResult<IdempotencyClaim> {
        let mut tx = self.pg_pool().begin().await.map_err(map_sqlx)?;
        sqlx::query(idem::FREE_KEY_PG)
            .bind(request.user_id)
            .bind(&request.key)
            .bind(dt(request.expired_before)?)
            .bind(dt(request.abandoned_before)?)
            .execute(&mut *tx)
            .await
            .map_err(map_sqlx)?;
        let inserted = sqlx::query(idem::INSERT)
            .bind(request.user_id)
            .bind(&request.key)
            .bind(&request.method)
            .bind(&request.path)
            .bind(&request.fingerprint)
            .bind(dt(request.now)?)
            .bind(request.claim)
            .bind(self.claim_owner())
            .execute(&mut *tx)
            .await
            .map_err(map_sqlx)?;
        let claim = if inserted.rows_affected() == 1 {
            IdempotencyClaim::Started
        } else {
            let r = sqlx::query(idem::SELECT)
                .bind(request.user_id)
                .bind(&request.key)
                .fetch_one(&mut *tx)
                .await
                .map_err(map_sqlx)?;
            let fingerprint: String = r.try_get("fingerprint").map_err(|e| other(e.into()))?;
            let state: String = r.try_get("state").map_err(|e| other(e.into()))?;
            if fingerprint != request.fingerprint {
                IdempotencyClaim::Mismatch
            } else if state == "COMPLETED" {
                let status: i32 = r.try_get("status_code").map_err(|e| other(e.into()))?;
                IdempotencyClaim::Replay {
                    status: u16::try_from(status).map_err(|e| other(e.into()))?,
                    body: r.try_get("response_body").map_err(|e| other(e.into()))?,
                }
            } else {
                IdempotencyClaim::InProgress
            }
        };
        tx.commit().await.map_err(map_sqlx)?;
        Ok(claim)
    }

    async fn complete_idempotency(
        &self,
        completion: &IdempotencyCompletion,
        now: Timestamp,
    ) -> StoreResult<()> {
        let mut conn = self.pg_pool().acquire().await.map_err(map_sqlx)?;
        complete(&mut conn, completion, dt(now)?).await
    }

    async fn loans(&self, user_id: Uuid) -> StoreResult<Vec<blu_app::ports::LoanRecord>> {
        crate::pg_loans::user_loans(self, user_id).await
    }

    async fn active_loan_users(&self) -> StoreResult<Vec<Uuid>> {
        crate::pg_loans::active_loan_users(self).await
    }

    async fn release_idempotency(&self, user_id: Uuid, key: &str, claim: Uuid) -> StoreResult<()> {
        sqlx::query(idem::RELEASE)
            .bind(user_id)
            .bind(key)
            .bind(claim)
            .execute(self.pg_pool())
            .await
            .map_err(map_sqlx)?;
        Ok(())
    }

    async fn release_abandoned_idempotency(&self) -> StoreResult<u64> {
        // Nothing to do: the claim statement itself recognises a dead owner (its advisory
        // lock is gone), and other instances' live claims must stay.
        Ok(0)
    }
}
