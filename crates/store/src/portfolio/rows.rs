//! Reads of the portfolio tables (api.md §4, business-rules §2): the portfolio with its
//! target, counters and ledger head, its holdings with their fixed-income lots, and the row
//! mappers of ledger entries, quotes, activity and settings.

use blu_app::ports::{
    ActivityRecord, HoldingRecord, OnboardingRecord, PortfolioRecord, Settings, TradeQuote,
};
use blu_domain::ledger::ChainHead;
use blu_domain::trade::TradeAction;
use blu_domain::{Irr, LedgerEntry};
use uuid::Uuid;

use super::codec::{self as pc, HoldingLotRow, LedgerParts};
use crate::driver::{Exec, FromRow, Row, Sql, for_update, placeholders, query, query_text};
use blu_app::ports::StoreResult;

/// The portfolio with everything a use case needs to decide. PostgreSQL sums the outstanding
/// principal in SQL; SQLite would sum TEXT decimals through floating point, so there the sum is
/// taken in Rust (`load_portfolio`).
macro_rules! portfolio_select_postgres {
    () => {
        "SELECT p.id, p.user_id, p.cash_irr, p.last_rebalance_at, p.created_at, \
         u.risk_score, u.target_foundation, u.target_growth, u.target_upside, \
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

macro_rules! portfolio_select_sqlite {
    () => {
        "SELECT p.id, p.user_id, p.cash_irr, p.last_rebalance_at, \
         p.created_at, u.risk_score, u.target_foundation, u.target_growth, u.target_upside, \
         (SELECT count(*) FROM loans l WHERE l.portfolio_id = p.id AND l.status = 'ACTIVE') AS active_loans, \
         NULL AS outstanding, \
         (SELECT count(*) FROM protections x WHERE x.portfolio_id = p.id AND x.status = 'ACTIVE') AS active_protections, \
         (SELECT sequence_number FROM ledger WHERE portfolio_id = p.id ORDER BY sequence_number DESC LIMIT 1) AS head_sequence, \
         (SELECT entry_hash FROM ledger WHERE portfolio_id = p.id ORDER BY sequence_number DESC LIMIT 1) AS head_hash \
         FROM portfolios p JOIN users u ON u.id = p.user_id \
         WHERE p.user_id = $1 AND u.deleted_at IS NULL"
    };
}

/// The holdings (with their fixed-income lots, FIFO order) beside the portfolio row `p`: one
/// row per lot, or per holding without lots, or one row without a holding.
macro_rules! with_holdings {
    ($portfolio:expr) => {
        concat!(
            // MATERIALIZED: the counters and the ledger head are computed once, not once per
            // holding row (inlined, PostgreSQL ran the sub-selects for each of the 15 rows).
            "WITH p AS MATERIALIZED (",
            $portfolio,
            ") SELECT p.*, h.id AS holding_id, h.asset_id, h.quantity, h.frozen, \
             h.first_purchased_at, l.units, l.purchased_at \
             FROM p LEFT JOIN holdings h ON h.portfolio_id = p.id \
             LEFT JOIN fixed_income_lots l ON l.holding_id = h.id \
             ORDER BY h.id, l.purchased_at, l.id"
        )
    };
}

/// The portfolio and its holdings in one statement (issue 12: one round trip for the
/// portfolio view, and one fewer in every money movement).
const PORTFOLIO_VIEW: Sql = Sql {
    postgres: with_holdings!(portfolio_select_postgres!()),
    sqlite: with_holdings!(portfolio_select_sqlite!()),
};

/// Takes the portfolio lock. A statement of its own: under READ COMMITTED a `FOR UPDATE` that
/// waited re-reads only the locked row, so the ledger head and holdings are read by the next
/// statements, whose snapshot starts after the lock was granted. On SQLite the write
/// transaction already holds the lock.
const PORTFOLIO_LOCK: Sql = for_update!("SELECT id FROM portfolios WHERE user_id = $1");

/// What onboarding needs of a user without a portfolio (locked: two first fundings of the
/// same user serialise here).
pub(super) const ONBOARDING_SELECT: Sql = for_update!(
    "SELECT risk_score, target_foundation, target_growth, target_upside, \
     consent_risk AND consent_loss AND consent_no_guarantee AS consents \
     FROM users WHERE id = $1 AND deleted_at IS NULL"
);

const HOLDINGS_SELECT: &str = "SELECT h.id AS holding_id, h.asset_id, h.quantity, h.frozen, \
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
pub(crate) use ledger_columns;

pub(super) const QUOTE_SELECT: &str = "SELECT id, user_id, portfolio_id, asset_id, side, \
     amount_irr, quantity, price_usd, price_irr, fx_rate, spread_irr, terms, state, expires_at, \
     created_at FROM trade_quotes WHERE id = $1 AND user_id = $2";

/// The target allocation columns of a users row.
pub(super) fn target_row(r: &Row) -> anyhow::Result<Option<blu_domain::Allocation>> {
    Ok(pc::target(
        r.opt_dec("target_foundation")?,
        r.opt_dec("target_growth")?,
        r.opt_dec("target_upside")?,
    ))
}

/// The settings columns of a users row (with `biometric_enabled`).
pub(super) fn settings(r: &Row) -> anyhow::Result<Settings> {
    Ok(Settings {
        language: r.text("language")?,
        notifications_enabled: r.bool("notifications_enabled")?,
        notification_token: r.opt_text("notification_token")?,
        biometric_enabled: r.bool("biometric_enabled")?,
    })
}

impl FromRow for Settings {
    fn from_row(r: Row) -> anyhow::Result<Settings> {
        settings(&r)
    }
}

impl FromRow for OnboardingRecord {
    fn from_row(r: Row) -> anyhow::Result<OnboardingRecord> {
        Ok(OnboardingRecord {
            risk_score: pc::score(r.opt_int("risk_score")?)?,
            target: target_row(&r)?,
            consents_given: r.bool("consents")?,
        })
    }
}

/// A ledger row, as the chain hashed it.
pub(crate) struct LedgerRow(pub LedgerEntry);

impl FromRow for LedgerRow {
    fn from_row(r: Row) -> anyhow::Result<LedgerRow> {
        LedgerParts {
            id: r.uuid("id")?,
            portfolio_id: r.uuid("portfolio_id")?,
            sequence_number: r.int("sequence_number")?,
            entry_type: r.text("entry_type")?,
            created_at: r.ts("created_at")?,
            before_snapshot: r.json("before_snapshot")?,
            after_snapshot: r.json("after_snapshot")?,
            asset_id: r.opt_text("asset_id")?,
            quantity: r.opt_dec("quantity")?,
            amount_irr: r.opt_dec("amount_irr")?,
            price_irr: r.opt_dec("price_irr")?,
            spread_irr: r.opt_dec("spread_irr")?,
            boundary: r.text("boundary")?,
            loan_id: r.opt_uuid("loan_id")?,
            protection_id: r.opt_uuid("protection_id")?,
            message: r.text("message")?,
            legs: r.opt_json("legs")?,
            metadata: r.opt_json("metadata")?,
            prev_hash: r.text("prev_hash")?,
            entry_hash: r.text("entry_hash")?,
        }
        .into_entry()
        .map(LedgerRow)
    }
}

pub(super) fn entries(rows: Vec<LedgerRow>) -> Vec<LedgerEntry> {
    rows.into_iter().map(|LedgerRow(e)| e).collect()
}

impl FromRow for TradeQuote {
    fn from_row(r: Row) -> anyhow::Result<TradeQuote> {
        let terms = r.json("terms")?;
        let side = r.text("side")?;
        Ok(TradeQuote {
            id: r.text("id")?,
            user_id: r.uuid("user_id")?,
            portfolio_id: r.uuid("portfolio_id")?,
            asset: pc::asset(&r.text("asset_id")?)?,
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
            consumed: r.text("state")? != "AVAILABLE",
            expires_at: r.ts("expires_at")?,
            created_at: r.ts("created_at")?,
        })
    }
}

impl FromRow for ActivityRecord {
    fn from_row(r: Row) -> anyhow::Result<ActivityRecord> {
        pc::activity(
            r.int("id")?,
            r.text("action_type")?,
            &r.text("boundary")?,
            r.text("message")?,
            r.opt_dec("amount_irr")?,
            r.opt_text("asset_id")?.as_deref(),
            r.ts("created_at")?,
        )
    }
}

impl FromRow for HoldingLotRow {
    fn from_row(r: Row) -> anyhow::Result<HoldingLotRow> {
        holding_lot(&r)
    }
}

fn holding_lot(r: &Row) -> anyhow::Result<HoldingLotRow> {
    Ok(HoldingLotRow {
        id: r.uuid("holding_id")?,
        asset_id: r.text("asset_id")?,
        quantity: r.dec("quantity")?,
        frozen: r.bool("frozen")?,
        first_purchased_at: r.opt_ts("first_purchased_at")?,
        lot_units: r.opt_dec("units")?,
        lot_purchased_at: r.opt_ts("purchased_at")?,
    })
}

/// A portfolio row without its holdings, and the outstanding principal if the database
/// summed it.
struct PortfolioRow(PortfolioRecord, Option<Irr>);

impl PortfolioRow {
    fn read(r: &Row) -> anyhow::Result<PortfolioRow> {
        let head = match (r.opt_int("head_sequence")?, r.opt_text("head_hash")?) {
            (Some(s), Some(h)) => Some(ChainHead {
                sequence_number: u64::try_from(s)?,
                entry_hash: h,
            }),
            _ => None,
        };
        let outstanding = r.opt_dec("outstanding")?.map(pc::irr).transpose()?;
        Ok(PortfolioRow(
            PortfolioRecord {
                id: r.uuid("id")?,
                user_id: r.uuid("user_id")?,
                cash: pc::irr(r.dec("cash_irr")?)?,
                last_rebalance_at: r.opt_ts("last_rebalance_at")?,
                created_at: r.ts("created_at")?,
                risk_score: pc::score(r.opt_int("risk_score")?)?,
                target: target_row(r)?,
                holdings: Vec::new(),
                head,
                active_loans: r.int("active_loans")?,
                active_protections: r.int("active_protections")?,
                outstanding_loan_principal: outstanding.unwrap_or(Irr::ZERO),
            },
            outstanding,
        ))
    }
}

/// Unpaid principal of one active loan.
struct Unpaid(Irr);

impl FromRow for Unpaid {
    fn from_row(r: Row) -> anyhow::Result<Unpaid> {
        Ok(Unpaid(
            pc::irr(r.dec("principal_irr")?)? - pc::irr(r.dec("principal_paid_irr")?)?,
        ))
    }
}

pub(super) async fn load_holdings(
    conn: &mut impl Exec,
    portfolio_id: Uuid,
) -> StoreResult<Vec<HoldingRecord>> {
    let rows: Vec<HoldingLotRow> = query(HOLDINGS_SELECT)
        .bind(portfolio_id)
        .fetch_all(conn.on())
        .await?;
    pc::holdings_from_rows(rows).map_err(Into::into)
}

/// The portfolio of `user_id` with its holdings, after taking its lock (a money movement,
/// inside its transaction). Unlocked reads go through `load_portfolios`.
pub(super) async fn lock_portfolio(
    tx: &mut impl Exec,
    user_id: Uuid,
) -> StoreResult<Option<PortfolioRecord>> {
    let locked: Option<Row> = query(tx.dialect().pick(&PORTFOLIO_LOCK))
        .bind(user_id)
        .fetch_optional(tx.on())
        .await?;
    if locked.is_none() {
        return Ok(None);
    }
    Ok(load_portfolios(tx, &[user_id]).await?.pop().flatten())
}

/// The portfolios of several users, with their holdings, in one statement (issue 12: reads
/// that arrive together are grouped), in the order asked; `None` for a user without one.
/// Each portfolio is read whole from the statement's one snapshot.
pub(super) async fn load_portfolios(
    conn: &mut impl Exec,
    user_ids: &[Uuid],
) -> StoreResult<Vec<Option<PortfolioRecord>>> {
    let dialect = conn.dialect();
    let mut view = match user_ids.len() {
        0 => return Ok(Vec::new()),
        1 => query(dialect.pick(&PORTFOLIO_VIEW)),
        n => query_text(dialect.pick(&PORTFOLIO_VIEW).replacen(
            ONE_USER,
            &format!("p.user_id IN ({})", placeholders(n)),
            1,
        )),
    };
    for user_id in user_ids {
        view = view.bind(*user_id);
    }
    let rows: Vec<Row> = view.fetch_all(conn.on()).await?;
    // Rows come grouped by nothing in particular across users; within a user, in order.
    let mut by_user: Vec<(Uuid, Vec<Row>)> = Vec::new();
    for row in rows {
        let user_id = row.uuid("user_id")?;
        match by_user.iter_mut().find(|(u, _)| *u == user_id) {
            Some((_, mine)) => mine.push(row),
            None => by_user.push((user_id, vec![row])),
        }
    }
    let mut records = Vec::with_capacity(user_ids.len());
    for user_id in user_ids {
        let record = match by_user.iter().find(|(u, _)| u == user_id) {
            Some((_, rows)) => Some(portfolio_of(conn, rows).await?),
            None => None,
        };
        records.push(record);
    }
    Ok(records)
}

/// `p.user_id = $1` in the text of `PORTFOLIO_VIEW`, widened to a list for a group.
const ONE_USER: &str = "p.user_id = $1";

/// One portfolio from its rows of `PORTFOLIO_VIEW` (at least one).
async fn portfolio_of(conn: &mut impl Exec, rows: &[Row]) -> StoreResult<PortfolioRecord> {
    let PortfolioRow(mut record, summed) = PortfolioRow::read(&rows[0])?;
    let lots = rows
        .iter()
        .filter_map(|r| match r.opt_uuid("holding_id") {
            Ok(None) => None,
            Ok(Some(_)) => Some(holding_lot(r)),
            Err(e) => Some(Err(e)),
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    record.holdings = pc::holdings_from_rows(lots)?;
    if summed.is_none() && record.active_loans > 0 {
        let unpaid: Vec<Unpaid> = query(
            "SELECT principal_irr, principal_paid_irr FROM loans \
             WHERE portfolio_id = $1 AND status = 'ACTIVE'",
        )
        .bind(record.id)
        .fetch_all(conn.on())
        .await?;
        for Unpaid(amount) in unpaid {
            record.outstanding_loan_principal += amount;
        }
    }
    Ok(record)
}
