//! Socket.IO (protocol v5, path `/socket.io/`, namespace `/`) with the plan's events
//! (api.md §12.4): `subscribe:prices` / `unsubscribe:prices` with acknowledgements, and
//! `price:update` per room `price:<assetId>` plus `fx:update` to everyone.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use axum::http::header::AUTHORIZATION;
use blu_domain::AssetId;
use serde_json::{Value, json};
use socketioxide::SocketIo;
use socketioxide::extract::{AckSender, SocketRef, State, TryData};
use socketioxide::handler::ConnectHandler;
use socketioxide::layer::SocketIoLayer;

use super::messages::{SioPriceUpdate, known};
use super::{MessageWindow, Refusal, Shared, Slot, lock};
use crate::extract::bearer_token;

/// One connected socket: its slot (released when the entry goes) and its state.
pub(crate) struct SioEntry {
    pub slot: Slot,
    assets: BTreeSet<AssetId>,
    window: MessageWindow,
}

pub(crate) fn build(shared: Arc<Shared>) -> (SocketIoLayer, SocketIo) {
    let (layer, io) = SocketIo::builder()
        .ping_interval(Duration::from_secs(25))
        .ping_timeout(Duration::from_secs(20))
        .max_payload(16 * 1024)
        .with_state(shared)
        .build_layer();
    io.ns("/", on_connect.with(authenticate));
    (layer, io)
}

/// A refused connection: the CONNECT_ERROR payload is `{"message", "data": {"code"}}`.
#[derive(Debug)]
struct ConnectRefused(Refusal);

impl std::fmt::Display for ConnectRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (message, code) = match self.0 {
            Refusal::TooManyConnections => ("Too many connections", "RATE_LIMITED"),
            Refusal::Unavailable => ("Service temporarily unavailable", "SERVICE_UNAVAILABLE"),
            Refusal::Unauthorized | Refusal::Origin => ("Authentication required", "UNAUTHORIZED"),
        };
        // A JSON object: the patched parser (vendor/socketioxide-parser-common) sends it as
        // the CONNECT_ERROR payload itself.
        write!(
            f,
            "{}",
            json!({ "message": message, "data": { "code": code } })
        )
    }
}

/// The handshake token: `auth.token` (a `Bearer ` prefix is tolerated), else the
/// `Authorization: Bearer` header.
fn handshake_token(socket: &SocketRef, auth: Option<&Value>) -> Option<String> {
    let from_auth = auth
        .and_then(|a| a.get("token"))
        .and_then(Value::as_str)
        .map(|t| t.trim())
        .map(|t| t.strip_prefix("Bearer ").unwrap_or(t).trim().to_owned())
        .filter(|t| !t.is_empty());
    from_auth.or_else(|| {
        let headers = &socket.req_parts().headers;
        headers
            .get(AUTHORIZATION)
            .and_then(|_| bearer_token(headers))
            .map(str::to_owned)
    })
}

async fn authenticate(
    socket: SocketRef,
    State(shared): State<Arc<Shared>>,
    TryData(auth): TryData<Value>,
) -> Result<(), ConnectRefused> {
    let token = handshake_token(&socket, auth.as_ref().ok());
    let slot = shared
        .admit(token.as_deref(), "socketio")
        .await
        .map_err(ConnectRefused)?;
    lock(&shared.sio).insert(
        socket.id,
        SioEntry {
            slot,
            assets: BTreeSet::new(),
            window: MessageWindow::new(shared.settings.message_limit),
        },
    );
    Ok(())
}

async fn on_connect(socket: SocketRef) {
    socket.on("subscribe:prices", subscribe);
    socket.on("unsubscribe:prices", unsubscribe);
    socket.on_disconnect(
        async |socket: SocketRef, State(shared): State<Arc<Shared>>| {
            lock(&shared.sio).remove(&socket.id);
        },
    );
}

/// The ids of an event argument: an array of strings, one string, or nothing (`None`).
fn requested_ids(data: Option<Value>) -> Result<Option<Vec<String>>, ()> {
    match data {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(id)) => Ok(Some(vec![id])),
        Some(Value::Array(items)) => items
            .into_iter()
            .map(|v| match v {
                Value::String(s) => Ok(s),
                _ => Err(()),
            })
            .collect::<Result<_, _>>()
            .map(Some),
        Some(_) => Err(()),
    }
}

fn refusal(code: &str, message: &str) -> Value {
    json!({ "ok": false, "error": { "code": code, "message": message } })
}

/// Applies one event to the socket's entry, or says why not.
fn with_entry<R>(
    shared: &Shared,
    socket: &SocketRef,
    apply: impl FnOnce(&mut SioEntry) -> R,
) -> Result<R, Value> {
    let mut sockets = lock(&shared.sio);
    let entry = sockets
        .get_mut(&socket.id)
        .ok_or_else(|| refusal("UNAUTHORIZED", "Not connected"))?;
    if !entry.window.admit() {
        return Err(refusal("RATE_LIMITED", "Rate limit exceeded, slow down"));
    }
    Ok(apply(entry))
}

fn ids_or_refusal(
    data: Result<Value, impl std::fmt::Debug>,
    empty_means_none: bool,
) -> Result<Option<Vec<String>>, Value> {
    let value = data.ok();
    let ids = requested_ids(value).map_err(|()| {
        refusal(
            "VALIDATION_ERROR",
            "Expected an asset id or an array of asset ids",
        )
    })?;
    Ok(if empty_means_none {
        ids
    } else {
        Some(ids.unwrap_or_default())
    })
}

fn answer(ack: AckSender, outcome: Result<Value, Value>) {
    let body = outcome.unwrap_or_else(|refused| refused);
    let _ = ack.send(&body);
}

fn ignored(ids: &[String]) -> Vec<String> {
    ids.iter()
        .filter(|id| known(std::slice::from_ref(id)).next().is_none())
        .cloned()
        .collect()
}

/// The Socket.IO room of an asset's updates.
pub(crate) fn room(asset: AssetId) -> String {
    format!("price:{}", asset.as_str())
}

fn rooms(assets: &[AssetId]) -> Vec<String> {
    assets.iter().copied().map(room).collect()
}

fn current(assets: &BTreeSet<AssetId>) -> Vec<&'static str> {
    assets.iter().map(|a| a.as_str()).collect()
}

async fn subscribe(
    socket: SocketRef,
    State(shared): State<Arc<Shared>>,
    TryData(data): TryData<Value>,
    ack: AckSender,
) {
    let outcome = ids_or_refusal(data, false).and_then(|ids| {
        let ids = ids.unwrap_or_default();
        with_entry(&shared, &socket, |entry| {
            let added: Vec<AssetId> = known(&ids).filter(|a| entry.assets.insert(*a)).collect();
            (added, current(&entry.assets), ignored(&ids))
        })
    });
    let outcome = outcome.map(|(added, assets, ignored)| {
        socket.join(rooms(&added));
        let snapshot = shared.prices.snapshot();
        for quote in added.iter().filter_map(|a| snapshot.price(*a)) {
            let _ = socket.emit("price:update", &SioPriceUpdate::from(quote));
        }
        json!({ "ok": true, "assets": assets, "ignored": ignored })
    });
    answer(ack, outcome);
}

async fn unsubscribe(
    socket: SocketRef,
    State(shared): State<Arc<Shared>>,
    TryData(data): TryData<Value>,
    ack: AckSender,
) {
    let outcome = ids_or_refusal(data, true).and_then(|ids| {
        with_entry(&shared, &socket, |entry| {
            let removed: Vec<AssetId> = match &ids {
                None => std::mem::take(&mut entry.assets).into_iter().collect(),
                Some(ids) => known(ids).filter(|a| entry.assets.remove(a)).collect(),
            };
            let ignored = ids.as_deref().map(ignored).unwrap_or_default();
            (removed, current(&entry.assets), ignored)
        })
    });
    let outcome = outcome.map(|(removed, assets, ignored)| {
        socket.leave(rooms(&removed));
        json!({ "ok": true, "assets": assets, "ignored": ignored })
    });
    answer(ack, outcome);
}
