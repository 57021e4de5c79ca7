//! Who is acting on the operator API (issue 15): a named operator, the break-glass
//! `ADMIN_TOKEN`, or the `blu operator` command. Every audit row is made from an `Actor`.

use uuid::Uuid;

use crate::ports::{ActorKind, AuditEntry, Permission, Role, real_now};

/// The authenticated caller of an operator action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    pub name: String,
    pub kind: ActorKind,
    pub role: Role,
    /// The operator's account (`None` for break-glass and the command line).
    pub operator_id: Option<Uuid>,
    /// The console or API session the request came with.
    pub session_id: Option<Uuid>,
    pub request_id: Option<String>,
    pub ip: Option<String>,
}

/// Name under which the shared admin token appears in the audit trail.
pub const BREAK_GLASS_NAME: &str = "ADMIN_TOKEN";

impl Actor {
    /// The holder of the shared `ADMIN_TOKEN`: every right, audited as break-glass.
    pub fn break_glass(request_id: Option<String>, ip: Option<String>) -> Actor {
        Actor {
            name: BREAK_GLASS_NAME.to_owned(),
            kind: ActorKind::BreakGlass,
            role: Role::Admin,
            operator_id: None,
            session_id: None,
            request_id,
            ip,
        }
    }

    /// Someone with shell access to the server running `blu operator …`.
    pub fn command_line(user: &str) -> Actor {
        Actor {
            name: format!("cli:{user}"),
            kind: ActorKind::Cli,
            role: Role::Admin,
            operator_id: None,
            session_id: None,
            request_id: None,
            ip: None,
        }
    }

    pub fn can(&self, permission: Permission) -> bool {
        self.role.permits(permission)
    }

    /// An audit row of an allowed action by this actor, now.
    pub fn audit(&self, action: &str) -> AuditEntry {
        AuditEntry {
            at: real_now(),
            actor: self.name.clone(),
            actor_kind: self.kind,
            role: Some(self.role),
            action: action.to_owned(),
            target: None,
            allowed: true,
            before: None,
            after: None,
            request_id: self.request_id.clone(),
            ip: self.ip.clone(),
        }
    }

    /// An audit row of a refused action by this actor.
    pub fn refusal(&self, action: &str) -> AuditEntry {
        AuditEntry {
            allowed: false,
            ..self.audit(action)
        }
    }
}
