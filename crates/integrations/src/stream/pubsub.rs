//! One Redis pub/sub channel re-broadcast into a local tokio channel: a background task
//! subscribes, decodes each payload and forwards it; on a lost connection it reconnects with
//! back-off (messages published meanwhile are lost; pub/sub has no history).

use std::time::Duration;

use futures::StreamExt;
use tokio::sync::broadcast;
use tokio::task::AbortHandle;

/// Subscribes to `channel` until aborted. `decode` turns a payload into an item (or `None`
/// to skip a malformed one).
pub(crate) fn spawn_subscriber<T, F>(
    client: redis::Client,
    channel: String,
    sender: broadcast::Sender<T>,
    decode: F,
) -> AbortHandle
where
    T: Clone + Send + 'static,
    F: Fn(&[u8]) -> Option<T> + Send + 'static,
{
    tokio::spawn(async move {
        let mut backoff = Duration::from_millis(100);
        loop {
            match client.get_async_pubsub().await {
                Ok(mut pubsub) => match pubsub.subscribe(&channel).await {
                    Ok(()) => {
                        backoff = Duration::from_millis(100);
                        let mut messages = pubsub.on_message();
                        while let Some(message) = messages.next().await {
                            match decode(message.get_payload_bytes()) {
                                // No receiver yet is fine: nobody is listening.
                                Some(item) => drop(sender.send(item)),
                                None => tracing::warn!(%channel, "malformed pub/sub message"),
                            }
                        }
                        tracing::warn!(%channel, "redis subscription ended; reconnecting");
                    }
                    Err(e) => tracing::warn!(%channel, error = %e, "redis subscribe failed"),
                },
                Err(e) => tracing::warn!(%channel, error = %e, "redis pub/sub connect failed"),
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    })
    .abort_handle()
}
