//! `GET /api/v1/prices/stream`: the raw WebSocket the mobile app uses (api.md §12.3).
//!
//! The upgrade always completes first and refusals are close frames, so clients see the code:
//! 4001 (no/bad/expired token, revoked session, token in the query string), 4003 (an `Origin`
//! not on the allow-list), 4429 (over the per-user connection limit), 1013 (the connection
//! counter or session store is unreachable).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::http::header::ORIGIN;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use blu_app::ports::real_now;
use futures::SinkExt;
use tokio::sync::mpsc;
use tokio::time::{MissedTickBehavior, interval_at, timeout};

use super::messages::{self, ClientMessage, ServerMessage, Subscription, TickFrames};
use super::{MessageWindow, Refusal, Shared, Slot, WsEntry, text};
use crate::error::ApiError;
use crate::extract::bearer_token;
use crate::state::AppState;

/// A frame the client does not read within this time ends the connection.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// The transport can carry larger frames than the contract allows, so an oversized frame is
/// answered with close 1009 rather than a dropped connection.
const TRANSPORT_MAX_FRAME: usize = 64 * 1024;
const SUBPROTOCOL_PREFIX: &str = "Bearer-";
/// Per-connection transport buffers. The library defaults (128 KiB each way) would cost
/// ~140 KiB per idle connection; our messages are a few hundred bytes.
const READ_BUFFER: usize = 8 * 1024;
const WRITE_BUFFER: usize = 8 * 1024;

/// Live prices over a raw WebSocket. Authenticate with the subprotocol `Bearer-<accessToken>`
/// (echoed back exactly) or `Authorization: Bearer`; never in the URL.
#[utoipa::path(get, path = "/prices/stream", tag = "prices", operation_id = "v1.prices.stream",
    responses(
        (status = 101, description = "Switching protocols; messages per api.md §12.3"),
        (status = 404, body = crate::openapi::ErrorBody, description = "Streaming disabled"),
        (status = 426, body = crate::openapi::ErrorBody, description = "Not a WebSocket upgrade")))]
pub async fn stream(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let Some(hub) = state.stream.clone() else {
        return ApiError::from_status(StatusCode::NOT_FOUND).into_response();
    };
    let Ok(mut upgrade) = upgrade else {
        return ApiError::from_status(StatusCode::UPGRADE_REQUIRED).into_response();
    };
    let shared = hub.shared().clone();
    let offered = upgrade
        .requested_protocols()
        .find(|p| p.to_str().is_ok_and(|p| p.starts_with(SUBPROTOCOL_PREFIX)))
        .cloned();
    let token = offered
        .as_ref()
        .and_then(|p| p.to_str().ok())
        .map(|p| p[SUBPROTOCOL_PREFIX.len()..].to_owned())
        .or_else(|| bearer_token(&headers).map(str::to_owned));
    if let Some(protocol) = offered {
        upgrade.set_selected_protocol(protocol);
    }
    let admission = if !shared.origin_allowed(headers.get(ORIGIN)) {
        Err(Refusal::Origin)
    } else if token_in_query(&uri) {
        Err(Refusal::Unauthorized)
    } else {
        shared.admit(token.as_deref(), "websocket").await
    };
    upgrade
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .max_frame_size(TRANSPORT_MAX_FRAME)
        .max_message_size(TRANSPORT_MAX_FRAME)
        .on_upgrade(move |socket| async move {
            match admission {
                Ok(slot) => run(socket, shared, slot).await,
                Err(refusal) => {
                    let (code, reason) = close_code(refusal);
                    close(socket, code, reason).await;
                }
            }
        })
}

fn close_code(refusal: Refusal) -> (u16, &'static str) {
    match refusal {
        Refusal::Unauthorized => (4001, "Authentication required"),
        Refusal::Origin => (4003, "Origin not allowed"),
        Refusal::TooManyConnections => (4429, "Too many connections"),
        Refusal::Unavailable => (1013, "Try again later"),
    }
}

/// Tokens in URLs end up in logs, so a query-string token is refused outright.
fn token_in_query(uri: &Uri) -> bool {
    uri.query().is_some_and(|q| {
        q.split('&').any(|pair| {
            let key = pair.split('=').next().unwrap_or("");
            [
                "token",
                "access_token",
                "accesstoken",
                "jwt",
                "authorization",
            ]
            .iter()
            .any(|k| key.eq_ignore_ascii_case(k))
        })
    })
}

async fn close(mut socket: WebSocket, code: u16, reason: &'static str) {
    let frame = CloseFrame {
        code,
        reason: Utf8Bytes::from_static(reason),
    };
    let _ = timeout(SEND_TIMEOUT, socket.send(Message::Close(Some(frame)))).await;
}

/// Sends one frame; `false` when the client is gone or does not read.
async fn send(socket: &mut WebSocket, message: Message) -> bool {
    matches!(
        timeout(SEND_TIMEOUT, socket.send(message)).await,
        Ok(Ok(()))
    )
}

/// Sends a tick's frames (a `price` per subscribed asset, `fx`, `prices`) with one flush: one
/// write to the socket per tick instead of one per frame, which is most of a tick's cost when
/// it goes to thousands of sockets (issue 12). `false` when the client is gone or does not read.
async fn send_together(socket: &mut WebSocket, frames: impl Iterator<Item = Message>) -> bool {
    let sent = timeout(SEND_TIMEOUT, async {
        for frame in frames {
            socket.feed(frame).await?;
        }
        socket.flush().await
    })
    .await;
    matches!(sent, Ok(Ok(())))
}

/// Removes the connection from the fan-out however the task ends.
struct Registration<'a> {
    shared: &'a Shared,
    id: uuid::Uuid,
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        self.shared.unregister_websocket(self.id);
    }
}

/// How the connection loop ended.
enum End {
    /// Close with this code.
    Close(u16, &'static str),
    /// The client left or stopped answering: drop the transport.
    Gone,
}

async fn run(mut socket: WebSocket, shared: Arc<Shared>, slot: Slot) {
    let settings = shared.settings.clone();
    let (ticks_tx, mut ticks) = mpsc::channel::<Arc<TickFrames>>(settings.queue_capacity);
    let (close_tx, mut close_rx) = mpsc::channel(1);
    shared.register_websocket(
        slot.id,
        WsEntry {
            user_id: slot.context.user_id,
            session_id: slot.context.session_id,
            ticks: ticks_tx,
            close: close_tx,
        },
    );
    let _registration = Registration {
        shared: &shared,
        id: slot.id,
    };
    let mut shutdown = shared.shutdown_signal();

    let mut greeting = vec![messages::connected(real_now())];
    greeting.extend(messages::snapshot_messages(&shared.prices.snapshot()));
    for message in greeting {
        if !send(&mut socket, text(message)).await {
            return;
        }
    }

    let mut subscription = Subscription::All;
    let mut window = MessageWindow::new(settings.message_limit);
    let mut ping = interval_at(
        tokio::time::Instant::now() + settings.ping_interval,
        settings.ping_interval,
    );
    ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut awaiting_pong = false;

    let end = loop {
        tokio::select! {
            biased;
            () = async { drop(shutdown.wait_for(|stopping| *stopping).await) } => {
                break End::Close(1012, "Service restart");
            }
            Some((code, reason)) = close_rx.recv() => break End::Close(code, reason),
            incoming = socket.recv() => {
                let Some(Ok(message)) = incoming else {
                    break End::Gone;
                };
                let payload = match message {
                    Message::Text(t) => Some(t.as_bytes().to_vec()),
                    Message::Binary(b) => {
                        if b.len() > settings.max_client_frame {
                            break End::Close(1009, "Message too big");
                        }
                        None
                    }
                    Message::Pong(_) => {
                        awaiting_pong = false;
                        continue;
                    }
                    Message::Ping(_) => continue,
                    Message::Close(_) => break End::Gone,
                };
                if payload.as_ref().is_some_and(|p| p.len() > settings.max_client_frame) {
                    break End::Close(1009, "Message too big");
                }
                let reply = if !window.admit() {
                    ServerMessage::rate_limited()
                } else {
                    handle(payload.as_deref(), &mut subscription)
                };
                if !send(&mut socket, text(reply.text())).await {
                    break End::Gone;
                }
            }
            Some(frames) = ticks.recv() => {
                let frames = frames.for_subscription(&subscription).map(|f| text(f.clone()));
                if !send_together(&mut socket, frames).await {
                    break End::Gone;
                }
            }
            _ = ping.tick() => {
                if awaiting_pong {
                    break End::Gone;
                }
                awaiting_pong = true;
                if !send(&mut socket, Message::Ping(Default::default())).await {
                    break End::Gone;
                }
                if !shared.still_live(&slot).await {
                    break End::Close(4001, "Session revoked");
                }
            }
        }
    };
    if let End::Close(code, reason) = end {
        close(socket, code, reason).await;
    }
}

/// One client message → its reply. Binary frames (`None`), invalid JSON and unknown types are
/// `VALIDATION_ERROR`.
fn handle(payload: Option<&[u8]>, subscription: &mut Subscription) -> ServerMessage {
    let Some(message) = payload.and_then(|p| serde_json::from_slice::<ClientMessage>(p).ok())
    else {
        return ServerMessage::invalid();
    };
    let ids = message.assets.as_deref();
    match message.kind.as_str() {
        "subscribe" => ServerMessage::Subscribed {
            assets: subscription.subscribe(ids),
        },
        "unsubscribe" => ServerMessage::Unsubscribed {
            assets: subscription.unsubscribe(ids),
        },
        _ => ServerMessage::invalid(),
    }
}
