//! Live prices over the raw WebSocket (`/api/v1/prices/stream`, api.md §12.3) and Socket.IO
//! (§12.4, driven by the official npm `socket.io-client`), on one instance and across two
//! instances sharing Redis.

use std::process::Stdio;
use std::sync::OnceLock;
use std::time::Duration;

use blu_app::ports::{FxQuote, PriceQuote, PriceTick};
use blu_domain::{AssetId, Timestamp};
use futures::{SinkExt, StreamExt};
use reqwest::StatusCode;
use rust_decimal_macros::dec;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use uuid::Uuid;

use crate::helpers::{
    TestApp, assert_error, random_phone, redis_url, spawn_from, spawn_with, test_vars,
};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

const WAIT: Duration = Duration::from_secs(5);

/// A fixed price file: BTC 97,500 USD (+1.2 pp), ETH 3,200 USD, FX 1,456,000.
fn fixed_prices() -> String {
    let path = std::env::temp_dir().join(format!("blu-prices-{}.json", Uuid::new_v4().simple()));
    std::fs::write(
        &path,
        r#"{"fxRate":1456000,"prices":{"BTC":97500,"ETH":3200},"change24hPct":{"BTC":1.2}}"#,
    )
    .unwrap();
    format!("fixed:{}", path.display())
}

async fn spawn_streaming(extra: &[(&str, &str)]) -> TestApp {
    let source = fixed_prices();
    let mut vars = vec![("PRICE_SOURCE", source.as_str())];
    vars.extend_from_slice(extra);
    spawn_with(&vars).await
}

fn ws_url(app: &TestApp) -> String {
    format!(
        "{}/api/v1/prices/stream",
        app.address.replacen("http", "ws", 1)
    )
}

/// Opens a raw WebSocket with extra request headers; returns the socket and the response's
/// `Sec-WebSocket-Protocol`.
async fn open(url: &str, headers: &[(&str, &str)]) -> (Ws, Option<String>) {
    let mut request = url.into_client_request().unwrap();
    for (name, value) in headers {
        request.headers_mut().insert(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    let (socket, response) = tokio_tungstenite::connect_async(request)
        .await
        .expect("the upgrade completes");
    let protocol = response
        .headers()
        .get("sec-websocket-protocol")
        .map(|v| v.to_str().unwrap().to_owned());
    (socket, protocol)
}

/// The per-user maximum of open connections.
async fn open_five(app: &TestApp, token: &str) -> Vec<Ws> {
    let mut sockets = Vec::new();
    for _ in 0..5 {
        let mut socket = open_with_token(app, token).await;
        assert_eq!(next_json(&mut socket).await["type"], "connected");
        sockets.push(socket);
    }
    sockets
}

async fn open_with_token(app: &TestApp, token: &str) -> Ws {
    let protocol = format!("Bearer-{token}");
    open(&ws_url(app), &[("sec-websocket-protocol", &protocol)])
        .await
        .0
}

/// The next JSON text message (pings are answered by the client library).
async fn next_json(socket: &mut Ws) -> Value {
    loop {
        let message = tokio::time::timeout(WAIT, socket.next())
            .await
            .expect("a message arrives in time")
            .expect("the socket is open")
            .expect("a valid frame");
        match message {
            Message::Text(text) => return serde_json::from_str(text.as_str()).unwrap(),
            Message::Close(frame) => panic!("closed unexpectedly: {frame:?}"),
            _ => continue,
        }
    }
}

/// Reads until the server closes; returns the close code.
async fn close_code(socket: &mut Ws) -> u16 {
    loop {
        let message = tokio::time::timeout(WAIT, socket.next())
            .await
            .expect("the server closes in time");
        match message {
            Some(Ok(Message::Close(Some(frame)))) => return u16::from(frame.code),
            Some(Ok(Message::Close(None))) | None => panic!("closed without a code"),
            Some(Ok(_)) => continue,
            Some(Err(e)) => panic!("socket error before the close frame: {e}"),
        }
    }
}

/// A server with fixed prices and one logged-in client past its greeting.
async fn greeted_client() -> (TestApp, Ws) {
    let app = spawn_streaming(&[]).await;
    let session = app.login(&random_phone()).await;
    let mut socket = open_with_token(&app, &session.access).await;
    skip_greeting(&mut socket).await;
    (app, socket)
}

/// Connected, then the snapshot (`prices`, `fx`).
async fn skip_greeting(socket: &mut Ws) {
    assert_eq!(next_json(socket).await["type"], "connected");
    assert_eq!(next_json(socket).await["type"], "prices");
    assert_eq!(next_json(socket).await["type"], "fx");
}

async fn send_json(socket: &mut Ws, value: Value) {
    socket
        .send(Message::Text(value.to_string().into()))
        .await
        .unwrap();
}

fn quote(asset: AssetId, usd: rust_decimal::Decimal, fx: rust_decimal::Decimal) -> PriceQuote {
    PriceQuote {
        asset,
        price_usd: usd,
        price_irr: usd * fx,
        change_24h_pct: Some(dec!(2.5)),
        source: "coingecko".into(),
        fetched_at: Timestamp::from_micros(1_768_910_400_000_000),
    }
}

/// BTC 97,600 and ETH 3,250 at FX 1,460,000.
fn tick() -> PriceTick {
    let fx = dec!(1460000);
    PriceTick {
        prices: vec![
            quote(AssetId::Btc, dec!(97600), fx),
            quote(AssetId::Eth, dec!(3250), fx),
        ],
        fx: Some(FxQuote {
            usd_irr: fx,
            source: "bonbast".into(),
            fetched_at: Timestamp::from_micros(1_768_910_380_000_000),
        }),
        at: Timestamp::from_micros(1_768_910_405_000_000),
    }
}

async fn publish(app: &TestApp) {
    app.price_bus.publish(&tick()).await.expect("published");
}

#[tokio::test]
async fn the_subprotocol_is_echoed_and_the_snapshot_follows_connected() {
    let app = spawn_streaming(&[]).await;
    let session = app.login(&random_phone()).await;
    let offered = format!("Bearer-{}", session.access);
    let (mut socket, echoed) = open(&ws_url(&app), &[("sec-websocket-protocol", &offered)]).await;
    assert_eq!(echoed.as_deref(), Some(offered.as_str()));

    let connected = next_json(&mut socket).await;
    assert_eq!(connected["type"], "connected");
    assert!(connected["message"].is_string());
    assert!(connected["timestamp"].as_str().unwrap().ends_with('Z'));

    let prices = next_json(&mut socket).await;
    assert_eq!(prices["type"], "prices");
    let btc = prices["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["assetId"] == "BTC")
        .expect("BTC in the snapshot");
    // 97,500 × 1,456,000 = 141,960,000,000 rials; numbers are JSON numbers.
    assert_eq!(btc["priceUsd"], json!(97500));
    assert_eq!(btc["priceIrr"], json!(141960000000_u64));
    assert_eq!(btc["change24hPct"], json!(1.2));
    assert_eq!(btc["source"], "fixed");
    let eth = prices["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["assetId"] == "ETH")
        .unwrap();
    assert!(
        eth.get("change24hPct").is_none(),
        "unknown change omitted: {eth}"
    );

    let fx = next_json(&mut socket).await;
    assert_eq!(fx["type"], "fx");
    assert_eq!(fx["usdIrr"], json!(1456000));
    assert_eq!(fx["source"], "fixed");
}

#[tokio::test]
async fn an_authorization_header_also_authenticates_and_no_subprotocol_is_returned() {
    let app = spawn_streaming(&[]).await;
    let session = app.login(&random_phone()).await;
    let bearer = format!("Bearer {}", session.access);
    let (mut socket, echoed) = open(&ws_url(&app), &[("authorization", &bearer)]).await;
    assert_eq!(echoed, None);
    assert_eq!(next_json(&mut socket).await["type"], "connected");
}

#[tokio::test]
async fn a_tick_reaches_a_subscribe_all_client_as_price_messages_then_fx_then_prices() {
    let (app, mut socket) = greeted_client().await;
    send_json(&mut socket, json!({"type": "subscribe"})).await;
    assert_eq!(
        next_json(&mut socket).await,
        json!({"type": "subscribed", "assets": "all"})
    );
    publish(&app).await;
    let btc = next_json(&mut socket).await;
    // 97,600 × 1,460,000 = 142,496,000,000.
    assert_eq!(
        btc,
        json!({"type": "price", "assetId": "BTC", "priceUsd": 97600, "priceIrr": 142496000000_u64,
               "change24hPct": 2.5, "source": "coingecko", "timestamp": "2026-01-20T12:00:00.000Z"})
    );
    assert_eq!(next_json(&mut socket).await["assetId"], "ETH");
    assert_eq!(
        next_json(&mut socket).await,
        json!({"type": "fx", "usdIrr": 1460000, "source": "bonbast", "timestamp": "2026-01-20T11:59:40.000Z"})
    );
    let prices = next_json(&mut socket).await;
    assert_eq!(prices["type"], "prices");
    assert_eq!(prices["timestamp"], "2026-01-20T12:00:05.000Z");
    assert_eq!(prices["data"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn subscribing_to_some_assets_filters_ticks_and_unsubscribing_stops_them() {
    let (app, mut socket) = greeted_client().await;

    send_json(
        &mut socket,
        json!({"type": "subscribe", "assets": ["BTC", "NOPE"]}),
    )
    .await;
    assert_eq!(
        next_json(&mut socket).await,
        json!({"type": "subscribed", "assets": ["BTC"]})
    );
    publish(&app).await;
    assert_eq!(next_json(&mut socket).await["assetId"], "BTC");
    // No ETH, and no `prices` for a client that left subscribe-all: fx comes next.
    assert_eq!(next_json(&mut socket).await["type"], "fx");

    send_json(
        &mut socket,
        json!({"type": "unsubscribe", "assets": ["BTC"]}),
    )
    .await;
    assert_eq!(
        next_json(&mut socket).await,
        json!({"type": "unsubscribed", "assets": ["BTC"]})
    );
    publish(&app).await;
    assert_eq!(next_json(&mut socket).await["type"], "fx");
    // The next tick again starts with fx: nothing subscribed, no price messages.
    publish(&app).await;
    assert_eq!(next_json(&mut socket).await["type"], "fx");
}

#[tokio::test]
async fn invalid_json_binary_frames_and_unknown_types_get_a_validation_error() {
    let (_app, mut socket) = greeted_client().await;
    let expected =
        json!({"type": "error", "message": "Invalid message format", "code": "VALIDATION_ERROR"});
    socket
        .send(Message::Text("{not json".into()))
        .await
        .unwrap();
    assert_eq!(next_json(&mut socket).await, expected);
    socket
        .send(Message::Binary(vec![1, 2, 3].into()))
        .await
        .unwrap();
    assert_eq!(next_json(&mut socket).await, expected);
    send_json(&mut socket, json!({"type": "dance"})).await;
    assert_eq!(next_json(&mut socket).await, expected);
}

#[tokio::test]
async fn the_thirty_first_message_in_ten_seconds_is_refused_as_rate_limited() {
    let (_app, mut socket) = greeted_client().await;
    for _ in 0..30 {
        send_json(&mut socket, json!({"type": "subscribe"})).await;
        assert_eq!(next_json(&mut socket).await["type"], "subscribed");
    }
    send_json(&mut socket, json!({"type": "subscribe", "assets": ["BTC"]})).await;
    assert_eq!(
        next_json(&mut socket).await,
        json!({"type": "error", "code": "RATE_LIMITED", "message": "Rate limit exceeded, slow down"})
    );
}

#[tokio::test]
async fn a_frame_over_four_kib_closes_the_connection_with_1009() {
    let (_app, mut socket) = greeted_client().await;
    let big = json!({"type": "subscribe", "assets": ["x".repeat(5000)]});
    send_json(&mut socket, big).await;
    assert_eq!(close_code(&mut socket).await, 1009);
}

#[tokio::test]
async fn a_bad_missing_or_url_token_is_closed_with_4001_after_the_upgrade() {
    let app = spawn_streaming(&[]).await;
    let url = ws_url(&app);
    let (mut garbage, _) = open(&url, &[("sec-websocket-protocol", "Bearer-not.a.jwt")]).await;
    assert_eq!(close_code(&mut garbage).await, 4001);
    let (mut anonymous, _) = open(&url, &[]).await;
    assert_eq!(close_code(&mut anonymous).await, 4001);
    let session = app.login(&random_phone()).await;
    let (mut in_url, _) = open(&format!("{url}?token={}", session.access), &[]).await;
    assert_eq!(close_code(&mut in_url).await, 4001);
}

#[tokio::test]
async fn an_origin_off_the_allow_list_is_closed_with_4003_and_a_listed_one_connects() {
    let app = spawn_streaming(&[("CORS_ORIGINS", "https://app.blumarkets.ir")]).await;
    let session = app.login(&random_phone()).await;
    let protocol = format!("Bearer-{}", session.access);
    let (mut foreign, _) = open(
        &ws_url(&app),
        &[
            ("sec-websocket-protocol", &protocol),
            ("origin", "https://evil.example"),
        ],
    )
    .await;
    assert_eq!(close_code(&mut foreign).await, 4003);
    let (mut listed, _) = open(
        &ws_url(&app),
        &[
            ("sec-websocket-protocol", &protocol),
            ("origin", "https://app.blumarkets.ir"),
        ],
    )
    .await;
    assert_eq!(next_json(&mut listed).await["type"], "connected");
}

#[tokio::test]
async fn a_sixth_connection_is_closed_with_4429_and_a_closed_one_frees_its_slot() {
    let app = spawn_streaming(&[]).await;
    let session = app.login(&random_phone()).await;
    let mut open_sockets = open_five(&app, &session.access).await;
    let mut sixth = open_with_token(&app, &session.access).await;
    assert_eq!(close_code(&mut sixth).await, 4429);

    let mut first = open_sockets.remove(0);
    first.close(None).await.unwrap();
    drop(first);
    // The slot is released when the server sees the close; retry briefly.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let mut again = open_with_token(&app, &session.access).await;
        let message = tokio::time::timeout(WAIT, again.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        match message {
            Message::Text(text) => {
                assert!(text.as_str().contains("connected"));
                break;
            }
            Message::Close(_) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            other => panic!("slot never freed: {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_plain_get_is_426_upgrade_required() {
    let app = spawn_streaming(&[]).await;
    let response = app.get("/api/v1/prices/stream").await;
    assert_error(response, StatusCode::UPGRADE_REQUIRED, "UPGRADE_REQUIRED").await;
}

#[tokio::test]
async fn with_streaming_disabled_both_transports_are_404() {
    let app = spawn_streaming(&[("ENABLE_PRICE_WEBSOCKET", "false")]).await;
    assert_error(
        app.get("/api/v1/prices/stream").await,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    )
    .await;
    let polling = app.get("/socket.io/?EIO=4&transport=polling").await;
    assert_eq!(polling.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn logging_out_closes_the_sessions_sockets_with_4001() {
    let app = spawn_streaming(&[]).await;
    let session = app.login(&random_phone()).await;
    let other = app.login(&random_phone()).await;
    let mut socket = open_with_token(&app, &session.access).await;
    let mut bystander = open_with_token(&app, &other.access).await;
    skip_greeting(&mut socket).await;
    skip_greeting(&mut bystander).await;
    let logout = app
        .post_auth("/api/v1/auth/logout", &session.access, json!({}))
        .await;
    assert_eq!(logout.status(), StatusCode::OK);
    assert_eq!(close_code(&mut socket).await, 4001);
    // Another user's socket stays open and keeps receiving ticks.
    publish(&app).await;
    assert_eq!(next_json(&mut bystander).await["type"], "price");
}

/// Two instances sharing database and Redis; `None` without Redis (cross-instance fan-out
/// needs it; without it each process is alone by design).
async fn two_instances() -> Option<(TestApp, TestApp)> {
    redis_url()?;
    let source = fixed_prices();
    let vars = test_vars(&[("PRICE_SOURCE", source.as_str())]).await;
    Some((spawn_from(vars.clone()).await, spawn_from(vars).await))
}

/// Publishes on `from` until `read` yields (the other instance's Redis subscriber connects in
/// the background, and pub/sub keeps no history).
async fn publish_until<F, Fut>(from: &TestApp, mut read: F) -> Value
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<Value>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        publish(from).await;
        if let Some(value) = read().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no cross-instance delivery"
        );
    }
}

#[tokio::test]
async fn with_redis_a_tick_published_on_one_instance_reaches_a_websocket_on_the_other() {
    let Some((a, b)) = two_instances().await else {
        return;
    };
    let session = a.login(&random_phone()).await;
    let socket = std::sync::Arc::new(tokio::sync::Mutex::new(
        open_with_token(&b, &session.access).await,
    ));
    skip_greeting(&mut *socket.lock().await).await;
    let received = publish_until(&a, || {
        let socket = socket.clone();
        async move {
            let mut socket = socket.lock().await;
            let next = tokio::time::timeout(Duration::from_millis(200), socket.next()).await;
            match next {
                Ok(Some(Ok(Message::Text(t)))) => serde_json::from_str(t.as_str()).ok(),
                _ => None,
            }
        }
    })
    .await;
    assert_eq!(received["type"], "price");
    assert_eq!(received["assetId"], "BTC");
}

#[tokio::test]
async fn with_redis_a_logout_on_one_instance_closes_the_socket_on_the_other() {
    let Some((a, b)) = two_instances().await else {
        return;
    };
    let session = a.login(&random_phone()).await;
    let mut socket = open_with_token(&b, &session.access).await;
    skip_greeting(&mut socket).await;
    // Give b's revocation subscriber time to connect (pub/sub keeps no history).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let logout = a
        .post_auth("/api/v1/auth/logout", &session.access, json!({}))
        .await;
    assert_eq!(logout.status(), StatusCode::OK);
    assert_eq!(close_code(&mut socket).await, 4001);
}

// ---- Socket.IO through the official JavaScript client ----

/// Installs the npm client once per test run (cached in `tests/socketio/node_modules`).
fn socketio_client_dir() -> std::path::PathBuf {
    static READY: OnceLock<std::path::PathBuf> = OnceLock::new();
    READY
        .get_or_init(|| {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/socketio");
            let node = std::process::Command::new("node").arg("--version").output();
            assert!(
                node.is_ok_and(|o| o.status.success()),
                "Socket.IO tests need `node` and `npm` on PATH (Node 18+)"
            );
            if !dir.join("node_modules/socket.io-client").exists() {
                let status = std::process::Command::new("npm")
                    .args(["install", "--no-audit", "--no-fund", "--silent"])
                    .current_dir(&dir)
                    .status()
                    .expect("Socket.IO tests need `npm` on PATH");
                assert!(status.success(), "npm install of socket.io-client failed");
            }
            dir
        })
        .clone()
}

/// A running `client.js`: write commands, read events.
struct SioClient {
    child: tokio::process::Child,
    lines: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
    stdin: tokio::process::ChildStdin,
    next_id: u64,
}

impl SioClient {
    async fn connect(app: &TestApp, token: Option<&str>) -> SioClient {
        let dir = socketio_client_dir();
        let mut child = tokio::process::Command::new("node")
            .arg(dir.join("client.js"))
            .arg(&app.address)
            .arg(token.unwrap_or("-"))
            .current_dir(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("node starts");
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let stdin = child.stdin.take().unwrap();
        SioClient {
            child,
            lines,
            stdin,
            next_id: 0,
        }
    }

    async fn next(&mut self) -> Value {
        let line = tokio::time::timeout(Duration::from_secs(10), self.lines.next_line())
            .await
            .expect("an event in time")
            .unwrap()
            .expect("the client is running");
        serde_json::from_str(&line).unwrap()
    }

    /// The next event with this name, skipping others.
    async fn next_named(&mut self, event: &str) -> Value {
        loop {
            let value = self.next().await;
            if value["event"] == event {
                return value;
            }
        }
    }

    async fn emit(&mut self, event: &str, args: Value) -> u64 {
        self.next_id += 1;
        let line = json!({"id": self.next_id, "emit": event, "args": args}).to_string() + "\n";
        self.stdin.write_all(line.as_bytes()).await.unwrap();
        self.next_id
    }
}

impl Drop for SioClient {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

#[tokio::test]
async fn socketio_connects_with_a_token_and_a_subscription_gets_the_current_price_at_once() {
    let app = spawn_streaming(&[]).await;
    let session = app.login(&random_phone()).await;
    let mut client = SioClient::connect(&app, Some(&session.access)).await;
    assert_eq!(client.next().await["event"], "connect");
    client
        .emit("subscribe:prices", json!([["BTC", "FOO"]]))
        .await;
    let update = client.next_named("price:update").await;
    assert_eq!(
        update["args"][0],
        json!({"assetId": "BTC", "priceUSD": 97500, "priceIRR": 141960000000_u64,
               "change24h": 1.2, "timestamp": update["args"][0]["timestamp"]})
    );
    let ack = client.next_named("ack").await;
    assert_eq!(
        ack["data"],
        json!({"ok": true, "assets": ["BTC"], "ignored": ["FOO"]})
    );
}

#[tokio::test]
async fn socketio_ticks_reach_subscribed_rooms_and_fx_reaches_everyone() {
    let app = spawn_streaming(&[]).await;
    let session = app.login(&random_phone()).await;
    let mut client = SioClient::connect(&app, Some(&format!("Bearer {}", session.access))).await;
    assert_eq!(client.next().await["event"], "connect");
    client.emit("subscribe:prices", json!(["ETH"])).await;
    client.next_named("ack").await;
    publish(&app).await;
    let update = client.next_named("price:update").await;
    // Only ETH: the socket is not in room price:BTC.
    assert_eq!(update["args"][0]["assetId"], "ETH");
    assert_eq!(update["args"][0]["priceIRR"], json!(4745000000_u64));
    let fx = client.next_named("fx:update").await;
    assert_eq!(
        fx["args"][0],
        json!({"usdIrr": 1460000, "source": "bonbast", "timestamp": "2026-01-20T11:59:40.000Z"})
    );

    client.emit("unsubscribe:prices", json!([])).await;
    let ack = client.next_named("ack").await;
    assert_eq!(
        ack["data"],
        json!({"ok": true, "assets": [], "ignored": []})
    );
    publish(&app).await;
    let after = client.next().await;
    assert_eq!(
        after["event"], "fx:update",
        "no price:update after unsubscribing: {after}"
    );
}

#[tokio::test]
async fn socketio_refuses_a_bad_token_with_connect_error_unauthorized() {
    let app = spawn_streaming(&[]).await;
    let mut bad = SioClient::connect(&app, Some("garbage")).await;
    assert_eq!(
        bad.next().await,
        json!({"event": "connect_error", "message": "Authentication required",
               "data": {"code": "UNAUTHORIZED"}})
    );
    let mut anonymous = SioClient::connect(&app, None).await;
    assert_eq!(anonymous.next().await["data"]["code"], "UNAUTHORIZED");
}

#[tokio::test]
async fn socketio_counts_toward_the_same_five_connection_limit_as_websockets() {
    let app = spawn_streaming(&[]).await;
    let session = app.login(&random_phone()).await;
    let _sockets = open_five(&app, &session.access).await;
    let mut client = SioClient::connect(&app, Some(&session.access)).await;
    assert_eq!(client.next().await["data"], json!({"code": "RATE_LIMITED"}));
}

#[tokio::test]
async fn socketio_refuses_engine_io_version_3_with_400() {
    let app = spawn_streaming(&[]).await;
    let response = app.get("/socket.io/?EIO=3&transport=polling").await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let current = app.get("/socket.io/?EIO=4&transport=polling").await;
    assert_eq!(current.status(), StatusCode::OK, "protocol v5 handshakes");
}

#[tokio::test]
async fn with_redis_a_tick_published_on_one_instance_reaches_a_socketio_client_on_the_other() {
    let Some((a, b)) = two_instances().await else {
        return;
    };
    let session = a.login(&random_phone()).await;
    let mut client = SioClient::connect(&b, Some(&session.access)).await;
    assert_eq!(client.next().await["event"], "connect");
    client.emit("subscribe:prices", json!(["BTC"])).await;
    client.next_named("ack").await;
    let client = std::sync::Arc::new(tokio::sync::Mutex::new(client));
    let received = publish_until(&a, || {
        let client = client.clone();
        async move {
            let mut client = client.lock().await;
            let line = tokio::time::timeout(Duration::from_millis(200), client.lines.next_line())
                .await
                .ok()?
                .ok()??;
            let value: Value = serde_json::from_str(&line).ok()?;
            (value["event"] == "price:update").then_some(value)
        }
    })
    .await;
    assert_eq!(received["args"][0]["assetId"], "BTC");
    assert_eq!(received["args"][0]["priceUSD"], json!(97600));
}
