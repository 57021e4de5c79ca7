//! The operator port (issue 15): named operator accounts, their sessions and one-time login
//! codes, the append-only audit trail, and the read models of the operator console.
//!
//! An audited change passes its `AuditEntry` to the store method that makes the change, which
//! writes both in one transaction: a failed change leaves no audit row, and a change never lacks
//! one. Changes outside the database (the test clock) hold an `AuditTx` open around the effect.

use async_trait::async_trait;
use blu_domain::Timestamp;
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use super::store::StoreResult;

/// What an operator may do: each role is a fixed set of permissions (`Role::permits`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Read-only view of the service (no customer data).
    Viewer,
    /// Customer data (phones masked unless revealed, which is audited).
    Support,
    /// Price, FX and volatility overrides, jobs, the test clock, ledger checks.
    Risk,
    /// Everything, including operators and the audit trail.
    Admin,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Viewer, Role::Support, Role::Risk, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Support => "support",
            Role::Risk => "risk",
            Role::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == text)
    }

    /// The permission matrix (README, "Operators").
    pub fn permits(self, permission: Permission) -> bool {
        use Permission as P;
        match self {
            Role::Admin => true,
            Role::Viewer => matches!(permission, P::ViewService | P::OwnAccount),
            Role::Support => matches!(
                permission,
                P::ViewService | P::OwnAccount | P::ReadCustomer | P::RevealPhone
            ),
            Role::Risk => matches!(
                permission,
                P::ViewService
                    | P::OwnAccount
                    | P::ManageOverrides
                    | P::RunJobs
                    | P::MoveClock
                    | P::VerifyAllLedgers
            ),
        }
    }
}

/// One right of the operator API; every `/admin/v1` route names the one it needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Permission {
    /// Readiness, jobs, prices and overrides, outbox backlog, loan bands, expiring
    /// protections, the clock.
    ViewService,
    /// Log out, change one's own password.
    OwnAccount,
    /// A customer's portfolio, holdings, loans, protections, ledger and its verification.
    ReadCustomer,
    /// A customer's phone number unmasked.
    RevealPhone,
    /// Price, FX and volatility overrides.
    ManageOverrides,
    /// "Run now".
    RunJobs,
    /// The test clock.
    MoveClock,
    /// Verification of every ledger at once.
    VerifyAllLedgers,
    /// The development SMS outbox (login codes: whoever reads it can log in as a customer).
    ReadSmsOutbox,
    /// Operator accounts.
    ManageOperators,
    /// The audit trail and its export.
    ReadAudit,
    /// Diagnostic routes (`/admin/v1/test/panic`).
    Diagnostics,
}

impl Permission {
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::ViewService => "viewService",
            Permission::OwnAccount => "ownAccount",
            Permission::ReadCustomer => "readCustomer",
            Permission::RevealPhone => "revealPhone",
            Permission::ManageOverrides => "manageOverrides",
            Permission::RunJobs => "runJobs",
            Permission::MoveClock => "moveClock",
            Permission::VerifyAllLedgers => "verifyAllLedgers",
            Permission::ReadSmsOutbox => "readSmsOutbox",
            Permission::ManageOperators => "manageOperators",
            Permission::ReadAudit => "readAudit",
            Permission::Diagnostics => "diagnostics",
        }
    }
}

/// Who acted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ActorKind {
    /// A named operator (session of the console or a bearer token of `POST /admin/v1/session`).
    Operator,
    /// The shared `ADMIN_TOKEN`, kept as a break-glass credential.
    BreakGlass,
    /// The `blu operator` command on the server.
    Cli,
}

impl ActorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ActorKind::Operator => "operator",
            ActorKind::BreakGlass => "break_glass",
            ActorKind::Cli => "cli",
        }
    }

    pub fn parse(text: &str) -> Option<ActorKind> {
        [ActorKind::Operator, ActorKind::BreakGlass, ActorKind::Cli]
            .into_iter()
            .find(|k| k.as_str() == text)
    }
}

/// One row of the audit trail, as written.
#[derive(Clone, Debug, PartialEq)]
pub struct AuditEntry {
    pub at: Timestamp,
    pub actor: String,
    pub actor_kind: ActorKind,
    pub role: Option<Role>,
    /// `price_override.set`, `job.run`, `customer.read`, `operator.add`, …
    pub action: String,
    pub target: Option<String>,
    /// `false` for a refusal (a missing permission, a failed login).
    pub allowed: bool,
    pub before: Option<Value>,
    pub after: Option<Value>,
    pub request_id: Option<String>,
    pub ip: Option<String>,
}

impl AuditEntry {
    pub fn with_before(mut self, before: Option<Value>) -> AuditEntry {
        self.before = before;
        self
    }

    pub fn with_after(mut self, after: Option<Value>) -> AuditEntry {
        self.after = after;
        self
    }

    /// A target may echo the request (a phone filter, a typed name): no control character is
    /// stored in the trail, whoever builds the entry.
    pub fn with_target(mut self, target: impl Into<String>) -> AuditEntry {
        let target: String = target.into();
        self.target = Some(if target.chars().any(char::is_control) {
            target.chars().filter(|c| !c.is_control()).collect()
        } else {
            target
        });
        self
    }
}

/// A stored audit row: its position in the trail and what was written.
#[derive(Clone, Debug, PartialEq)]
pub struct AuditRecord {
    pub seq: i64,
    pub entry: AuditEntry,
}

/// A page of the audit trail, newest first.
#[derive(Clone, Debug, Default)]
pub struct AuditQuery {
    /// Rows with `seq` below this (the cursor).
    pub before_seq: Option<i64>,
    pub actor: Option<String>,
    pub action: Option<String>,
    pub target: Option<String>,
    pub limit: u32,
}

/// An operator account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OperatorRecord {
    pub id: Uuid,
    /// Unique; any script (Persian names render right to left).
    pub name: String,
    pub role: Role,
    /// Argon2id PHC string; `None` until the operator sets a password.
    pub password_hash: Option<String>,
    pub disabled: bool,
    pub created_at: Timestamp,
}

/// A one-time login code (only its SHA-256 is stored).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoginCode {
    pub operator_id: Uuid,
    pub code_hash: String,
    pub expires_at: Timestamp,
    pub created_at: Timestamp,
}

/// A console or API session (only the token's SHA-256 is stored).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OperatorSession {
    pub id: Uuid,
    pub operator_id: Uuid,
    pub token_hash: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub last_seen_at: Timestamp,
}

/// A change to an operator account.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OperatorUpdate {
    pub role: Option<Role>,
    /// `Some(true)` disables the account and ends its sessions.
    pub disabled: Option<bool>,
    pub password_hash: Option<String>,
}

/// The customer behind a phone number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CustomerRef {
    pub user_id: Uuid,
    pub phone: String,
    pub created_at: Timestamp,
    pub portfolio_id: Option<Uuid>,
}

/// Active loans of one health band.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoanBand {
    /// `HEALTHY`, `CAUTION`, `WARNING`, `CRITICAL`.
    pub band: String,
    pub count: i64,
    pub principal_irr: Decimal,
}

/// An active protection ending soon.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExpiringProtection {
    pub id: Uuid,
    pub asset: String,
    pub expires_at: Timestamp,
    pub notional_irr: Decimal,
}

/// The due, undelivered notification outbox.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OutboxBacklog {
    pub pending: i64,
    pub oldest_due_at: Option<Timestamp>,
}

/// An open transaction holding an audit row, for a change made outside the database: the
/// caller makes the change, then commits; dropping it rolls the row back.
#[async_trait]
pub trait AuditTx: Send {
    async fn commit(self: Box<Self>) -> StoreResult<()>;
}

#[async_trait]
pub trait OperatorStore: Send + Sync {
    /// Creates an operator (and its first one-time code) with the audit row; `Conflict` when
    /// the name is taken.
    async fn create_operator(
        &self,
        operator: &OperatorRecord,
        code: Option<&LoginCode>,
        audit: &AuditEntry,
    ) -> StoreResult<()>;

    async fn operator_by_name(&self, name: &str) -> StoreResult<Option<OperatorRecord>>;

    async fn operators(&self) -> StoreResult<Vec<OperatorRecord>>;

    /// Applies the change with the audit row; disabling also revokes every session. False when
    /// no such operator exists (nothing is written).
    async fn update_operator(
        &self,
        id: Uuid,
        update: &OperatorUpdate,
        now: Timestamp,
        audit: &AuditEntry,
    ) -> StoreResult<bool>;

    /// Stores a new one-time code (older unused codes of the operator stop working).
    async fn add_login_code(&self, code: &LoginCode, audit: &AuditEntry) -> StoreResult<()>;

    /// Opens a session with the login's audit row; with `code_hash`, the code is consumed in
    /// the same transaction (false, and nothing written, when it is used, expired or unknown).
    async fn open_session(
        &self,
        session: &OperatorSession,
        code_hash: Option<&str>,
        audit: &AuditEntry,
    ) -> StoreResult<bool>;

    /// A live session (unrevoked, unexpired at `now`) of an enabled operator.
    async fn session(
        &self,
        token_hash: &str,
        now: Timestamp,
    ) -> StoreResult<Option<(OperatorSession, OperatorRecord)>>;

    /// Records activity on a session (idle expiry).
    async fn touch_session(&self, id: Uuid, now: Timestamp) -> StoreResult<()>;

    /// Ends a session with the logout's audit row.
    async fn revoke_session(&self, id: Uuid, now: Timestamp, audit: &AuditEntry)
    -> StoreResult<()>;

    /// Appends an audit row on its own (reads of customer data, refusals).
    async fn append_audit(&self, entry: &AuditEntry) -> StoreResult<()>;

    /// Opens a transaction holding the audit row (see `AuditTx`).
    async fn begin_audit(&self, entry: &AuditEntry) -> StoreResult<Box<dyn AuditTx>>;

    /// The trail, newest first.
    async fn audit_page(&self, query: &AuditQuery) -> StoreResult<Vec<AuditRecord>>;

    /// The customer of a phone number (deleted accounts are not found).
    async fn customer_by_phone(&self, phone: &str) -> StoreResult<Option<CustomerRef>>;

    /// Active loans by stored health band.
    async fn loan_bands(&self) -> StoreResult<Vec<LoanBand>>;

    /// Active protections expiring before `before`, soonest first.
    async fn expiring_protections(
        &self,
        before: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<ExpiringProtection>>;

    /// Notifications due at `now` and not delivered.
    async fn outbox_backlog(&self, now: Timestamp) -> StoreResult<OutboxBacklog>;

    /// Failed runs per job since `since`.
    async fn job_failures(&self, since: Timestamp) -> StoreResult<Vec<(String, i64)>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> AuditEntry {
        AuditEntry {
            at: Timestamp::from_seconds(0),
            actor: "Arash".into(),
            actor_kind: ActorKind::Operator,
            role: Some(Role::Support),
            action: "customer.read".into(),
            target: None,
            allowed: true,
            before: None,
            after: None,
            request_id: None,
            ip: None,
        }
    }

    #[test]
    fn an_audit_target_echoing_the_request_keeps_no_control_character() {
        let target = entry().with_target("phone\u{0}=+98\n912\u{1b}[31m").target;
        assert_eq!(target.as_deref(), Some("phone=+98912[31m"));
        let plain = entry().with_target("user 42 (تهران)").target;
        assert_eq!(plain.as_deref(), Some("user 42 (تهران)"));
    }
}
