//! Ports of live streaming shared by every instance (api.md §12.2): session revocations that
//! must close open sockets and invalidate cached sessions (issue 12), and the per-user count of
//! open price connections.

use std::time::Duration;

use async_trait::async_trait;
use uuid::Uuid;

/// A session (or every session of a user) that has just been revoked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Revocation {
    pub user_id: Uuid,
    /// `None`: every session of the user (logout on all devices, refresh-token reuse).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<Uuid>,
}

impl Revocation {
    /// Whether a connection opened by this user and session must close.
    pub fn covers(&self, user_id: Uuid, session_id: Uuid) -> bool {
        self.user_id == user_id && self.session_id.is_none_or(|s| s == session_id)
    }
}

/// Carries revocations to every instance. `notify` never fails the caller: a lost notice is
/// caught by the periodic session check of each open socket.
#[async_trait]
pub trait Revocations: Send + Sync {
    async fn notify(&self, revocation: Revocation);
    /// Revocations announced from now on by any instance (including this one).
    fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Revocation>;
    /// Whether other instances' revocations reach this one right now: the number of the
    /// current subscription, which changes whenever it is re-established (notices published
    /// while it was down are lost), or `None` while it is down. A cache of sessions trusts
    /// itself only while this is `Some` and unchanged. In-process channels never go down.
    fn listening(&self) -> Option<u64> {
        Some(0)
    }
}

#[derive(Debug, thiserror::Error)]
#[error("connection counter unavailable: {0}")]
pub struct SlotError(pub String);

/// Counts a user's open price connections across instances and both transports. A slot
/// lives `ttl` unless refreshed, so a crashed instance's slots free themselves.
#[async_trait]
pub trait ConnectionSlots: Send + Sync {
    /// Takes a slot for `connection` unless the user already holds `max`.
    async fn acquire(
        &self,
        user_id: Uuid,
        connection: Uuid,
        max: u32,
        ttl: Duration,
    ) -> Result<bool, SlotError>;
    /// Keeps a slot alive for another `ttl`.
    async fn refresh(&self, user_id: Uuid, connection: Uuid, ttl: Duration);
    async fn release(&self, user_id: Uuid, connection: Uuid);
}
