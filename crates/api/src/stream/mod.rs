//! Live prices (api.md §12): the raw WebSocket (`ws`) and Socket.IO (`socketio`), both fed by
//! one fan-out task per process that subscribes to the price bus. Admission (origin, token,
//! session, per-user connection slots) is shared by both transports; so are session
//! revocations, which close the sockets of a revoked session on every instance.

mod messages;
pub mod socketio;
pub mod ws;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::extract::ws::Utf8Bytes;
use axum::http::HeaderValue;
use blu_app::auth::{AuthContext, AuthError, AuthService};
use blu_app::ports::{ConnectionSlots, PriceBus, PriceCache, PriceTick, Revocation, Revocations};
use socketioxide::SocketIo;
use socketioxide::layer::SocketIoLayer;
use tokio::sync::{broadcast, mpsc, watch};
use uuid::Uuid;

use messages::{SioFxUpdate, SioPriceUpdate, TickFrames};

/// Numbers of api.md §12.3–12.4 and business-rules §11.
#[derive(Clone, Debug)]
pub struct StreamSettings {
    /// Concurrent price connections per user, both transports, every instance.
    pub max_connections_per_user: u32,
    /// Protocol ping cadence; a connection silent for a whole interval is terminated. Open
    /// sockets also re-check their session and refresh their slot at this cadence.
    pub ping_interval: Duration,
    /// Client messages allowed per window.
    pub message_limit: (usize, Duration),
    /// Larger client frames close the connection with 1009.
    pub max_client_frame: usize,
    /// Ticks buffered for one raw-WebSocket client; a client that falls further behind is
    /// disconnected rather than buffered without bound.
    pub queue_capacity: usize,
    /// Origins allowed to open a socket; empty = any (development only).
    pub allowed_origins: Vec<String>,
    pub production: bool,
}

impl Default for StreamSettings {
    fn default() -> Self {
        StreamSettings {
            max_connections_per_user: 5,
            ping_interval: Duration::from_secs(30),
            message_limit: (30, Duration::from_secs(10)),
            max_client_frame: 4 * 1024,
            queue_capacity: 64,
            allowed_origins: Vec::new(),
            production: false,
        }
    }
}

/// Everything the streams need from the rest of the process.
pub struct StreamDeps {
    pub auth: Arc<AuthService>,
    pub prices: Arc<dyn PriceCache>,
    pub bus: Arc<dyn PriceBus>,
    pub slots: Arc<dyn ConnectionSlots>,
    pub revocations: Arc<dyn Revocations>,
    pub settings: StreamSettings,
}

/// Why a connection is refused (raw WebSocket close code, Socket.IO CONNECT_ERROR code).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    Unauthorized,
    Origin,
    TooManyConnections,
    Unavailable,
}

/// A slot in the per-user connection count; released (and the gauge lowered) when dropped,
/// whatever path closes the connection.
pub(crate) struct Slot {
    pub id: Uuid,
    pub context: AuthContext,
    transport: &'static str,
    slots: Arc<dyn ConnectionSlots>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        metrics::gauge!("ws_connections", "transport" => self.transport).decrement(1.0);
        let (slots, user, id) = (self.slots.clone(), self.context.user_id, self.id);
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move { slots.release(user, id).await });
        }
    }
}

/// How long a slot lives without a refresh (refreshed every ping interval).
fn slot_ttl(settings: &StreamSettings) -> Duration {
    settings.ping_interval * 3
}

/// A sliding window over a connection's client messages.
pub(crate) struct MessageWindow {
    max: usize,
    window: Duration,
    accepted: VecDeque<Instant>,
}

impl MessageWindow {
    pub fn new((max, window): (usize, Duration)) -> MessageWindow {
        MessageWindow {
            max,
            window,
            accepted: VecDeque::new(),
        }
    }

    /// Counts a message unless the window is full (a refused message is not counted).
    pub fn admit(&mut self) -> bool {
        let now = Instant::now();
        while self
            .accepted
            .front()
            .is_some_and(|t| now.duration_since(*t) >= self.window)
        {
            self.accepted.pop_front();
        }
        if self.accepted.len() >= self.max {
            return false;
        }
        self.accepted.push_back(now);
        true
    }
}

/// A raw-WebSocket connection as the fan-out and revocations see it.
struct WsEntry {
    user_id: Uuid,
    session_id: Uuid,
    ticks: mpsc::Sender<Arc<TickFrames>>,
    close: mpsc::Sender<(u16, &'static str)>,
}

/// State shared by the hub's tasks and both transports.
pub(crate) struct Shared {
    pub auth: Arc<AuthService>,
    pub prices: Arc<dyn PriceCache>,
    pub slots: Arc<dyn ConnectionSlots>,
    pub settings: StreamSettings,
    websockets: Mutex<HashMap<Uuid, WsEntry>>,
    pub sio: Mutex<HashMap<socketioxide::socket::Sid, socketio::SioEntry>>,
    shutdown: watch::Sender<bool>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Shared {
    /// `Origin` present and not allowed → refused (a native app sends none).
    pub fn origin_allowed(&self, origin: Option<&HeaderValue>) -> bool {
        let Some(origin) = origin else {
            return true;
        };
        let allowed = &self.settings.allowed_origins;
        if allowed.is_empty() {
            return !self.settings.production;
        }
        origin
            .to_str()
            .is_ok_and(|o| allowed.iter().any(|a| a.eq_ignore_ascii_case(o)))
    }

    /// Checks the token and its session, then takes a connection slot.
    pub async fn admit(
        &self,
        token: Option<&str>,
        transport: &'static str,
    ) -> Result<Slot, Refusal> {
        let token = token.ok_or(Refusal::Unauthorized)?;
        let context = self.auth.authenticate(token).await.map_err(|e| match e {
            AuthError::Store(e) => {
                tracing::error!(error = %e, "session check failed");
                Refusal::Unavailable
            }
            _ => Refusal::Unauthorized,
        })?;
        let id = Uuid::new_v4();
        let taken = self
            .slots
            .acquire(
                context.user_id,
                id,
                self.settings.max_connections_per_user,
                slot_ttl(&self.settings),
            )
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "connection counter unavailable");
                Refusal::Unavailable
            })?;
        if !taken {
            return Err(Refusal::TooManyConnections);
        }
        metrics::gauge!("ws_connections", "transport" => transport).increment(1.0);
        Ok(Slot {
            id,
            context,
            transport,
            slots: self.slots.clone(),
        })
    }

    /// Periodic upkeep of an open connection: `false` when its session has ended.
    pub async fn still_live(&self, slot: &Slot) -> bool {
        let context = &slot.context;
        match self
            .auth
            .check_session(context.user_id, context.session_id)
            .await
        {
            Err(AuthError::Store(e)) => {
                // A database hiccup does not end live sockets; the next check decides.
                tracing::warn!(error = %e, "session re-check failed");
            }
            Err(_) => return false,
            Ok(()) => {}
        }
        self.slots
            .refresh(context.user_id, slot.id, slot_ttl(&self.settings))
            .await;
        true
    }

    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    fn register_websocket(&self, id: Uuid, entry: WsEntry) {
        lock(&self.websockets).insert(id, entry);
    }

    fn unregister_websocket(&self, id: Uuid) {
        lock(&self.websockets).remove(&id);
    }

    /// Hands a tick to every raw-WebSocket client; one whose queue is full is closed.
    fn fan_out_websockets(&self, frames: &Arc<TickFrames>) {
        for entry in lock(&self.websockets).values() {
            if let Err(mpsc::error::TrySendError::Full(_)) = entry.ticks.try_send(frames.clone()) {
                let _ = entry.close.try_send((1008, "Client too slow"));
            }
        }
    }

    fn close_websockets(&self, covers: impl Fn(&WsEntry) -> bool, code: (u16, &'static str)) {
        for entry in lock(&self.websockets).values().filter(|e| covers(e)) {
            let _ = entry.close.try_send(code);
        }
    }
}

/// The process's streaming hub. Without it (`ENABLE_PRICE_WEBSOCKET=false`) both transports
/// answer 404.
pub struct StreamHub {
    shared: Arc<Shared>,
    io: SocketIo,
    layer: SocketIoLayer,
}

impl StreamHub {
    /// Builds both transports and starts the fan-out and revocation tasks.
    pub fn start(deps: StreamDeps) -> Arc<StreamHub> {
        let shared = Arc::new(Shared {
            auth: deps.auth,
            prices: deps.prices,
            slots: deps.slots,
            settings: deps.settings,
            websockets: Mutex::new(HashMap::new()),
            sio: Mutex::new(HashMap::new()),
            shutdown: watch::channel(false).0,
        });
        let (layer, io) = socketio::build(shared.clone());
        tokio::spawn(fan_out(
            deps.bus.subscribe(),
            Arc::downgrade(&shared),
            io.clone(),
        ));
        tokio::spawn(revoke(
            deps.revocations.subscribe(),
            Arc::downgrade(&shared),
            io.clone(),
        ));
        Arc::new(StreamHub { shared, io, layer })
    }

    pub fn socketio_layer(&self) -> SocketIoLayer {
        self.layer.clone()
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Graceful shutdown: raw WebSockets close with 1012, Socket.IO sockets disconnect.
    pub async fn shutdown(&self) {
        let _ = self.shared.shutdown.send(true);
        self.io.close().await;
    }
}

/// The one fan-out task of the process: every bus tick to both transports.
async fn fan_out(
    mut ticks: broadcast::Receiver<Arc<PriceTick>>,
    shared: std::sync::Weak<Shared>,
    io: SocketIo,
) {
    loop {
        let tick = match ticks.recv().await {
            Ok(tick) => tick,
            Err(broadcast::error::RecvError::Lagged(skipped)) => {
                tracing::warn!(skipped, "price fan-out lagged; ticks skipped");
                continue;
            }
            Err(broadcast::error::RecvError::Closed) => return,
        };
        let Some(shared) = shared.upgrade() else {
            return;
        };
        shared.fan_out_websockets(&Arc::new(TickFrames::render(&tick)));
        let stopping = *shared.shutdown.borrow();
        drop(shared);
        // After a graceful shutdown closed the namespace, `io.to`/`io.emit` would panic
        // ("default namespace not found"): a tick that arrives while the server stops is
        // simply not sent to Socket.IO.
        let namespace = if stopping { None } else { io.of("/") };
        let Some(namespace) = namespace else {
            continue;
        };
        for quote in &tick.prices {
            if let Err(e) = namespace
                .clone()
                .to(socketio::room(quote.asset))
                .emit("price:update", &SioPriceUpdate::from(quote))
                .await
            {
                tracing::warn!(error = %e, "socket.io price broadcast failed");
            }
        }
        if let Some(fx) = &tick.fx
            && let Err(e) = namespace.emit("fx:update", &SioFxUpdate::from(fx)).await
        {
            tracing::warn!(error = %e, "socket.io fx broadcast failed");
        }
    }
}

/// Closes the sockets of revoked sessions (close 4001 / server disconnect).
async fn revoke(
    mut revocations: broadcast::Receiver<Revocation>,
    shared: std::sync::Weak<Shared>,
    io: SocketIo,
) {
    loop {
        let revocation = match revocations.recv().await {
            Ok(r) => r,
            Err(broadcast::error::RecvError::Lagged(_)) => continue,
            Err(broadcast::error::RecvError::Closed) => return,
        };
        let Some(shared) = shared.upgrade() else {
            return;
        };
        shared.close_websockets(
            |e| revocation.covers(e.user_id, e.session_id),
            (4001, "Session revoked"),
        );
        let sids: Vec<_> = lock(&shared.sio)
            .iter()
            .filter(|(_, e)| revocation.covers(e.slot.context.user_id, e.slot.context.session_id))
            .map(|(sid, _)| *sid)
            .collect();
        // `io.get_socket` panics once shutdown closed the namespace; `of` does not.
        let Some(namespace) = io.of("/") else {
            continue;
        };
        for sid in sids {
            if let Some(socket) = namespace.get_socket(sid) {
                let _ = socket.disconnect();
            }
        }
    }
}

/// Sends one text frame (shared by the raw WebSocket's paths).
pub(crate) fn text(message: Utf8Bytes) -> axum::extract::ws::Message {
    axum::extract::ws::Message::Text(message)
}
