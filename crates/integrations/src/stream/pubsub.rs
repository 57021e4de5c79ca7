//! One Redis pub/sub channel re-broadcast into a local tokio channel: a background task
//! subscribes, decodes each payload and forwards it; on a lost connection it reconnects with
//! back-off (messages published meanwhile are lost; pub/sub has no history). Whether it is
//! subscribed right now, and under which subscription, is kept in a [`Listening`] (the session
//! cache trusts itself only while subscribed, issue 12).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::broadcast;
use tokio::task::AbortHandle;

/// The subscription state of a subscriber task: 0 while not subscribed, else the number of the
/// current subscription (1, 2, … — a new number after every reconnect).
#[derive(Debug, Default)]
pub(crate) struct Listening {
    current: AtomicU64,
    count: AtomicU64,
}

impl Listening {
    pub(crate) fn get(&self) -> Option<u64> {
        match self.current.load(Ordering::Acquire) {
            0 => None,
            n => Some(n),
        }
    }

    fn subscribed(&self) {
        let n = self.count.fetch_add(1, Ordering::AcqRel) + 1;
        self.current.store(n, Ordering::Release);
    }

    fn lost(&self) {
        self.current.store(0, Ordering::Release);
    }
}

/// Subscribes to `channel` until aborted. `decode` turns a payload into an item (or `None`
/// to skip a malformed one).
pub(crate) fn spawn_subscriber<T, F>(
    client: redis::Client,
    channel: String,
    sender: broadcast::Sender<T>,
    decode: F,
) -> (AbortHandle, Arc<Listening>)
where
    T: Clone + Send + 'static,
    F: Fn(&[u8]) -> Option<T> + Send + 'static,
{
    let listening = Arc::new(Listening::default());
    let state = listening.clone();
    let task = tokio::spawn(async move {
        let mut backoff = Duration::from_millis(100);
        loop {
            match client.get_async_pubsub().await {
                Ok(mut pubsub) => match pubsub.subscribe(&channel).await {
                    Ok(()) => {
                        backoff = Duration::from_millis(100);
                        state.subscribed();
                        let mut messages = pubsub.on_message();
                        while let Some(message) = messages.next().await {
                            match decode(message.get_payload_bytes()) {
                                // No receiver yet is fine: nobody is listening.
                                Some(item) => drop(sender.send(item)),
                                None => tracing::warn!(%channel, "malformed pub/sub message"),
                            }
                        }
                        state.lost();
                        tracing::warn!(%channel, "redis subscription ended; reconnecting");
                    }
                    Err(e) => tracing::warn!(%channel, error = %e, "redis subscribe failed"),
                },
                Err(e) => tracing::warn!(%channel, error = %e, "redis pub/sub connect failed"),
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    });
    (task.abort_handle(), listening)
}
