//! The operator store (issue 15): operator accounts, one-time login codes, sessions, the
//! append-only audit trail and the console's read models. Written once over the driver layer;
//! operators are not tenant data, so everything runs as the owner.
//!
//! `insert_audit` is the one statement that writes an audit row; the stores of audited changes
//! (prices, volatility regimes, job claims) call it inside their own transaction.

use std::collections::BTreeMap;

use async_trait::async_trait;
use blu_app::ports::{
    ActorKind, AuditEntry, AuditQuery, AuditRecord, AuditTx, CustomerRef, ExpiringProtection,
    LoanBand, LoginCode, OperatorRecord, OperatorSession, OperatorStore, OperatorUpdate,
    OutboxBacklog, Role, StoreResult,
};
use blu_domain::Timestamp;
use rust_decimal::Decimal;
use uuid::Uuid;

use crate::Database;
use crate::driver::{Exec, FromRow, Row, Tx, query};

const INSERT_AUDIT: &str = "INSERT INTO audit_log (at, actor, actor_kind, role, action, target, \
     allowed, before, after, request_id, ip) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";

const INSERT_OPERATOR: &str = "INSERT INTO operators (id, name, role, password_hash, \
     disabled_at, created_at, updated_at) VALUES ($1, $2, $3, $4, NULL, $5, $5)";

const OPERATOR_BY_NAME: &str = "SELECT id, name, role, password_hash, disabled_at, created_at \
     FROM operators WHERE name = $1";

const OPERATORS: &str = "SELECT id, name, role, password_hash, disabled_at, created_at \
     FROM operators ORDER BY name";

/// Each field changes only when given (`$2`–`$4` NULL keep it); `$5` says whether `disabled`
/// was given, since NULL is also its "enabled" value.
const UPDATE_OPERATOR: &str = "UPDATE operators SET role = COALESCE($2, role), \
     password_hash = COALESCE($3, password_hash), \
     disabled_at = CASE WHEN $5 THEN $4 ELSE disabled_at END, updated_at = $6 WHERE id = $1";

const REVOKE_OPERATOR_SESSIONS: &str =
    "UPDATE operator_sessions SET revoked_at = $2 WHERE operator_id = $1 AND revoked_at IS NULL";

/// A new code retires the operator's unused ones.
const RETIRE_CODES: &str =
    "UPDATE operator_codes SET used_at = $2 WHERE operator_id = $1 AND used_at IS NULL";

const INSERT_CODE: &str = "INSERT INTO operator_codes (code_hash, operator_id, expires_at, \
     used_at, created_at) VALUES ($1, $2, $3, NULL, $4)";

const CONSUME_CODE: &str = "UPDATE operator_codes SET used_at = $3 WHERE code_hash = $1 AND \
     operator_id = $2 AND used_at IS NULL AND expires_at > $3";

const INSERT_SESSION: &str = "INSERT INTO operator_sessions (id, token_hash, operator_id, \
     created_at, expires_at, last_seen_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, NULL)";

const SESSION: &str = "SELECT s.id AS session_id, s.token_hash, s.operator_id, \
     s.created_at AS session_created_at, s.expires_at, s.last_seen_at, \
     o.id, o.name, o.role, o.password_hash, o.disabled_at, o.created_at \
     FROM operator_sessions s JOIN operators o ON o.id = s.operator_id \
     WHERE s.token_hash = $1 AND s.revoked_at IS NULL AND s.expires_at > $2 \
     AND o.disabled_at IS NULL";

const TOUCH_SESSION: &str = "UPDATE operator_sessions SET last_seen_at = $2 WHERE id = $1";

const REVOKE_SESSION: &str =
    "UPDATE operator_sessions SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL";

/// Newest first; each filter applies only when given.
const AUDIT_PAGE: &str = "SELECT seq, at, actor, actor_kind, role, action, target, allowed, \
     before, after, request_id, ip FROM audit_log \
     WHERE ($1 IS NULL OR seq < $1) AND ($2 IS NULL OR actor = $2) \
     AND ($3 IS NULL OR action = $3) AND ($4 IS NULL OR target = $4) \
     ORDER BY seq DESC LIMIT $5";

const CUSTOMER_BY_PHONE: &str = "SELECT u.id, u.phone, u.created_at, p.id AS portfolio_id \
     FROM users u LEFT JOIN portfolios p ON p.user_id = u.id \
     WHERE u.phone = $1 AND u.deleted_at IS NULL";

/// Summed in Rust: SQLite keeps decimals as text, and a SQL `sum` would round them.
const ACTIVE_LOANS: &str = "SELECT COALESCE(health_status, 'UNCHECKED') AS band, principal_irr \
     FROM loans WHERE status = 'ACTIVE'";

const EXPIRING: &str = "SELECT id, asset_id, expires_at, notional_irr FROM protections \
     WHERE status = 'ACTIVE' AND expires_at < $1 ORDER BY expires_at, id LIMIT $2";

const OUTBOX: &str = "SELECT count(*) AS pending, min(next_attempt_at) AS oldest FROM \
     notifications WHERE delivered_at IS NULL AND next_attempt_at <= $1";

const JOB_FAILURES: &str = "SELECT job_name, count(*) AS failed FROM job_runs \
     WHERE status = 'FAILED' AND started_at > $1 GROUP BY job_name";

/// Writes one audit row on `exec` (a transaction of the change it records, or a connection).
pub(crate) async fn insert_audit(exec: &mut impl Exec, e: &AuditEntry) -> StoreResult<()> {
    query(INSERT_AUDIT)
        .bind(e.at)
        .bind(e.actor.as_str())
        .bind(e.actor_kind.as_str())
        .bind(e.role.map(Role::as_str))
        .bind(e.action.as_str())
        .bind(e.target.as_deref())
        .bind(e.allowed)
        .bind(e.before.clone())
        .bind(e.after.clone())
        .bind(e.request_id.as_deref())
        .bind(e.ip.as_deref())
        .execute(exec)
        .await?;
    Ok(())
}

/// `insert_audit` when the change carries an audit row.
pub(crate) async fn insert_audit_opt(
    exec: &mut impl Exec,
    audit: Option<&AuditEntry>,
) -> StoreResult<()> {
    match audit {
        Some(e) => insert_audit(exec, e).await,
        None => Ok(()),
    }
}

fn role(text: &str) -> anyhow::Result<Role> {
    Role::parse(text).ok_or_else(|| anyhow::anyhow!("unknown operator role {text:?}"))
}

impl FromRow for OperatorRecord {
    fn from_row(r: Row) -> anyhow::Result<OperatorRecord> {
        Ok(OperatorRecord {
            id: r.uuid("id")?,
            name: r.text("name")?,
            role: role(&r.text("role")?)?,
            password_hash: r.opt_text("password_hash")?,
            disabled: r.opt_ts("disabled_at")?.is_some(),
            created_at: r.ts("created_at")?,
        })
    }
}

impl FromRow for AuditRecord {
    fn from_row(r: Row) -> anyhow::Result<AuditRecord> {
        let kind = r.text("actor_kind")?;
        Ok(AuditRecord {
            seq: r.int("seq")?,
            entry: AuditEntry {
                at: r.ts("at")?,
                actor: r.text("actor")?,
                actor_kind: ActorKind::parse(&kind)
                    .ok_or_else(|| anyhow::anyhow!("unknown actor kind {kind:?}"))?,
                role: r.opt_text("role")?.as_deref().map(role).transpose()?,
                action: r.text("action")?,
                target: r.opt_text("target")?,
                allowed: r.bool("allowed")?,
                before: r.opt_json("before")?,
                after: r.opt_json("after")?,
                request_id: r.opt_text("request_id")?,
                ip: r.opt_text("ip")?,
            },
        })
    }
}

struct SessionRow(OperatorSession, OperatorRecord);

impl FromRow for SessionRow {
    fn from_row(r: Row) -> anyhow::Result<SessionRow> {
        let session = OperatorSession {
            id: r.uuid("session_id")?,
            operator_id: r.uuid("operator_id")?,
            token_hash: r.text("token_hash")?,
            created_at: r.ts("session_created_at")?,
            expires_at: r.ts("expires_at")?,
            last_seen_at: r.ts("last_seen_at")?,
        };
        Ok(SessionRow(session, OperatorRecord::from_row(r)?))
    }
}

impl FromRow for CustomerRef {
    fn from_row(r: Row) -> anyhow::Result<CustomerRef> {
        Ok(CustomerRef {
            user_id: r.uuid("id")?,
            phone: r.text("phone")?,
            created_at: r.ts("created_at")?,
            portfolio_id: r.opt_uuid("portfolio_id")?,
        })
    }
}

/// One active loan, counted into its band by `loan_bands`.
impl FromRow for LoanBand {
    fn from_row(r: Row) -> anyhow::Result<LoanBand> {
        Ok(LoanBand {
            band: r.text("band")?,
            count: 1,
            principal_irr: r.dec("principal_irr")?,
        })
    }
}

impl FromRow for ExpiringProtection {
    fn from_row(r: Row) -> anyhow::Result<ExpiringProtection> {
        Ok(ExpiringProtection {
            id: r.uuid("id")?,
            asset: r.text("asset_id")?,
            expires_at: r.ts("expires_at")?,
            notional_irr: r.dec("notional_irr")?,
        })
    }
}

impl FromRow for OutboxBacklog {
    fn from_row(r: Row) -> anyhow::Result<OutboxBacklog> {
        Ok(OutboxBacklog {
            pending: r.int("pending")?,
            oldest_due_at: r.opt_ts("oldest")?,
        })
    }
}

struct JobFailures(String, i64);

impl FromRow for JobFailures {
    fn from_row(r: Row) -> anyhow::Result<JobFailures> {
        Ok(JobFailures(r.text("job_name")?, r.int("failed")?))
    }
}

/// An audit row held in an open transaction (`OperatorStore::begin_audit`).
struct HeldAudit(Tx);

#[async_trait]
impl AuditTx for HeldAudit {
    async fn commit(self: Box<Self>) -> StoreResult<()> {
        self.0.commit().await
    }
}

#[async_trait]
impl OperatorStore for Database {
    async fn create_operator(
        &self,
        operator: &OperatorRecord,
        code: Option<&LoginCode>,
        audit: &AuditEntry,
    ) -> StoreResult<()> {
        let mut tx = self.pool().begin_write().await?;
        query(INSERT_OPERATOR)
            .bind(operator.id)
            .bind(operator.name.as_str())
            .bind(operator.role.as_str())
            .bind(operator.password_hash.as_deref())
            .bind(operator.created_at)
            .execute(&mut tx)
            .await?;
        if let Some(code) = code {
            insert_code(&mut tx, code).await?;
        }
        insert_audit(&mut tx, audit).await?;
        tx.commit().await
    }

    async fn operator_by_name(&self, name: &str) -> StoreResult<Option<OperatorRecord>> {
        query(OPERATOR_BY_NAME)
            .bind(name)
            .fetch_optional(self.pool())
            .await
    }

    async fn operators(&self) -> StoreResult<Vec<OperatorRecord>> {
        query(OPERATORS).fetch_all(self.pool()).await
    }

    async fn update_operator(
        &self,
        id: Uuid,
        update: &OperatorUpdate,
        now: Timestamp,
        audit: &AuditEntry,
    ) -> StoreResult<bool> {
        let mut tx = self.pool().begin_write().await?;
        let disabled_at = update.disabled.and_then(|d| d.then_some(now));
        let changed = query(UPDATE_OPERATOR)
            .bind(id)
            .bind(update.role.map(Role::as_str))
            .bind(update.password_hash.as_deref())
            .bind(disabled_at)
            .bind(update.disabled.is_some())
            .bind(now)
            .execute(&mut tx)
            .await?;
        if changed == 0 {
            return Ok(false);
        }
        if update.disabled == Some(true) {
            query(REVOKE_OPERATOR_SESSIONS)
                .bind(id)
                .bind(now)
                .execute(&mut tx)
                .await?;
        }
        insert_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn add_login_code(&self, code: &LoginCode, audit: &AuditEntry) -> StoreResult<()> {
        let mut tx = self.pool().begin_write().await?;
        insert_code(&mut tx, code).await?;
        insert_audit(&mut tx, audit).await?;
        tx.commit().await
    }

    async fn open_session(
        &self,
        session: &OperatorSession,
        code_hash: Option<&str>,
        audit: &AuditEntry,
    ) -> StoreResult<bool> {
        let mut tx = self.pool().begin_write().await?;
        if let Some(hash) = code_hash {
            let consumed = query(CONSUME_CODE)
                .bind(hash)
                .bind(session.operator_id)
                .bind(session.created_at)
                .execute(&mut tx)
                .await?;
            if consumed == 0 {
                return Ok(false);
            }
        }
        query(INSERT_SESSION)
            .bind(session.id)
            .bind(session.token_hash.as_str())
            .bind(session.operator_id)
            .bind(session.created_at)
            .bind(session.expires_at)
            .bind(session.last_seen_at)
            .execute(&mut tx)
            .await?;
        insert_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn session(
        &self,
        token_hash: &str,
        now: Timestamp,
    ) -> StoreResult<Option<(OperatorSession, OperatorRecord)>> {
        let row: Option<SessionRow> = query(SESSION)
            .bind(token_hash)
            .bind(now)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.map(|SessionRow(s, o)| (s, o)))
    }

    async fn touch_session(&self, id: Uuid, now: Timestamp) -> StoreResult<()> {
        query(TOUCH_SESSION)
            .bind(id)
            .bind(now)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    async fn revoke_session(
        &self,
        id: Uuid,
        now: Timestamp,
        audit: &AuditEntry,
    ) -> StoreResult<()> {
        let mut tx = self.pool().begin_write().await?;
        query(REVOKE_SESSION)
            .bind(id)
            .bind(now)
            .execute(&mut tx)
            .await?;
        insert_audit(&mut tx, audit).await?;
        tx.commit().await
    }

    async fn append_audit(&self, entry: &AuditEntry) -> StoreResult<()> {
        let mut conn = self.pool().acquire().await?;
        insert_audit(&mut conn, entry).await
    }

    async fn begin_audit(&self, entry: &AuditEntry) -> StoreResult<Box<dyn AuditTx>> {
        let mut tx = self.pool().begin_write().await?;
        insert_audit(&mut tx, entry).await?;
        Ok(Box::new(HeldAudit(tx)))
    }

    async fn audit_page(&self, q: &AuditQuery) -> StoreResult<Vec<AuditRecord>> {
        query(AUDIT_PAGE)
            .bind(q.before_seq)
            .bind(q.actor.as_deref())
            .bind(q.action.as_deref())
            .bind(q.target.as_deref())
            .bind(i64::from(q.limit))
            .fetch_all(self.pool())
            .await
    }

    async fn customer_by_phone(&self, phone: &str) -> StoreResult<Option<CustomerRef>> {
        query(CUSTOMER_BY_PHONE)
            .bind(phone)
            .fetch_optional(self.pool())
            .await
    }

    async fn loan_bands(&self) -> StoreResult<Vec<LoanBand>> {
        let loans: Vec<LoanBand> = query(ACTIVE_LOANS).fetch_all(self.pool()).await?;
        let mut bands: BTreeMap<String, LoanBand> = BTreeMap::new();
        for loan in loans {
            let band = bands.entry(loan.band.clone()).or_insert(LoanBand {
                band: loan.band,
                count: 0,
                principal_irr: Decimal::ZERO,
            });
            band.count += 1;
            band.principal_irr += loan.principal_irr;
        }
        Ok(bands.into_values().collect())
    }

    async fn expiring_protections(
        &self,
        before: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<ExpiringProtection>> {
        query(EXPIRING)
            .bind(before)
            .bind(i64::from(limit))
            .fetch_all(self.pool())
            .await
    }

    async fn outbox_backlog(&self, now: Timestamp) -> StoreResult<OutboxBacklog> {
        query(OUTBOX).bind(now).fetch_one(self.pool()).await
    }

    async fn job_failures(&self, since: Timestamp) -> StoreResult<Vec<(String, i64)>> {
        let rows: Vec<JobFailures> = query(JOB_FAILURES)
            .bind(since)
            .fetch_all(self.pool())
            .await?;
        Ok(rows
            .into_iter()
            .map(|JobFailures(job, n)| (job, n))
            .collect())
    }
}

async fn insert_code(tx: &mut Tx, code: &LoginCode) -> StoreResult<()> {
    query(RETIRE_CODES)
        .bind(code.operator_id)
        .bind(code.created_at)
        .execute(&mut *tx)
        .await?;
    query(INSERT_CODE)
        .bind(code.code_hash.as_str())
        .bind(code.operator_id)
        .bind(code.expires_at)
        .bind(code.created_at)
        .execute(&mut *tx)
        .await?;
    Ok(())
}
