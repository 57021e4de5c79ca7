//! How a money movement answers (D29, api.md §1.11). The use case that computes a movement also
//! serializes its answer and commits both in the movement's one transaction, so the HTTP layer
//! hands in the request's claimed `Idempotency-Key` and gets back the bytes to send: it never
//! holds the portfolio lock or an open unit of work itself.

use serde::Serialize;
use uuid::Uuid;

use super::{PortfolioError, PortfolioResult, Prepared};
use crate::ports::{IdempotencyCompletion, StoreError};

/// An `Idempotency-Key` a request holds: claimed before the handler ran, completed only by the
/// claim that holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimedKey {
    pub user_id: Uuid,
    pub key: String,
    /// The claim this request holds; completing a claim that was taken over rolls the movement
    /// back (`StoreError::IdempotencyClaimLost`).
    pub claim: Uuid,
}

/// How a money movement answers: the HTTP status of its success, and the key (if the request
/// sent one) under which that answer is stored with the movement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub key: Option<ClaimedKey>,
}

/// The answer of a committed movement: its status and exactly the JSON bytes stored under the
/// key, so a replay is byte for byte the first answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Replied {
    pub status: u16,
    pub body: Vec<u8>,
    /// The answer was stored under an idempotency key in the movement's transaction.
    pub stored: bool,
}

impl<T: Serialize> Prepared<T> {
    /// Serializes the outcome and commits the movement with it stored under the reply's key.
    pub(crate) async fn reply(self, reply: Reply) -> PortfolioResult<Replied> {
        let body = serde_json::to_vec(&self.outcome).map_err(|e| {
            PortfolioError::Store(StoreError::Other(anyhow::anyhow!(
                "serializing an answer: {e}"
            )))
        })?;
        let stored = reply.key.is_some();
        let completion = reply.key.map(|key| IdempotencyCompletion {
            user_id: key.user_id,
            key: key.key,
            claim: key.claim,
            status: reply.status,
            body: body.clone(),
        });
        self.commit(completion).await?;
        Ok(Replied {
            status: reply.status,
            body,
            stored,
        })
    }
}
