//! Raw-WebSocket fan-out load client of `bench/run` (issue 12 item 5; api.md §12.3).
//!
//! Opens `--connections` sockets to `/api/v1/prices/stream` (subprotocol `Bearer-<jwt>`, five per
//! user: the server's per-user limit), waits for each snapshot and sends `{"type":"subscribe"}`
//! as the app does on every open. Then PUBLISHes `--ticks` price ticks on the server's Redis
//! price channel, exactly as another instance's price job would, one every `--interval-ms`; each
//! tick carries a unique BTC price, so every `price` message names the tick it belongs to.
//! Latency = PUBLISH → arrival of that tick's `price` message, measured in this process (one
//! clock). Also reports the server's RSS before and after opening the sockets (memory per
//! connection) and the CPU this client and the server used while the ticks ran, so a reader can
//! tell whether the client was the bottleneck. Prints one JSON object.
//!
//! Multi-threaded (tokio, one worker per core), one task per socket: parsing is done only for
//! `price` messages, and only their `priceUsd`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, watch};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

const BASE_PRICE: u64 = 90_000;
const FX: u64 = 1_456_000;

struct Args {
    url: String,
    tokens: String,
    connections: usize,
    per_user: usize,
    ticks: usize,
    interval: Duration,
    redis: String,
    channel: String,
    server_pid: Option<u32>,
    open_concurrency: usize,
}

fn args() -> Args {
    let mut a = Args {
        url: "ws://127.0.0.1:3000/api/v1/prices/stream".into(),
        tokens: "tokens.txt".into(),
        connections: 5000,
        per_user: 5,
        ticks: 20,
        interval: Duration::from_millis(1000),
        redis: "127.0.0.1:6379".into(),
        channel: "blu:prices:ticks".into(),
        server_pid: None,
        open_concurrency: 200,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    for pair in argv.chunks(2) {
        let [flag, value] = pair else {
            panic!("flags take a value: {pair:?}");
        };
        let number = || value.parse::<usize>().expect("a number");
        match flag.as_str() {
            "--url" => a.url = value.clone(),
            "--tokens" => a.tokens = value.clone(),
            "--connections" => a.connections = number(),
            "--per-user" => a.per_user = number(),
            "--ticks" => a.ticks = number(),
            "--interval-ms" => a.interval = Duration::from_millis(number() as u64),
            "--redis" => a.redis = value.clone(),
            "--channel" => a.channel = value.clone(),
            "--server-pid" => a.server_pid = Some(number() as u32),
            "--open-concurrency" => a.open_concurrency = number(),
            other => panic!("unknown flag {other}"),
        }
    }
    a
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// utime + stime of a process, in clock ticks (100 per second on Linux).
fn cpu_ticks(pid: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_comm = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

/// Publish instants of the ticks, in nanoseconds since `origin` (0 = not yet published).
struct Ticks {
    origin: Instant,
    published: Vec<AtomicU64>,
}

impl Ticks {
    fn latency_us(&self, price_usd: u64, now: Instant) -> Option<u64> {
        let index = price_usd.checked_sub(BASE_PRICE)? as usize;
        let at = self.published.get(index)?.load(Ordering::Acquire);
        (at != 0).then(|| (now.duration_since(self.origin).as_nanos() as u64).saturating_sub(at) / 1000)
    }
}

/// The BTC `priceUsd` of a `price` message, if that is what `text` is.
fn btc_price(text: &str) -> Option<u64> {
    if !text.contains("\"type\":\"price\"") || !text.contains("\"assetId\":\"BTC\"") {
        return None;
    }
    let value: serde_json::Value = serde_json::from_str(text).ok()?;
    value.get("priceUsd")?.as_u64()
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

async fn open(url: &str, token: &str) -> Result<Socket, String> {
    let mut request = url.into_client_request().map_err(|e| e.to_string())?;
    request.headers_mut().insert(
        "sec-websocket-protocol",
        HeaderValue::from_str(&format!("Bearer-{token}")).map_err(|e| e.to_string())?,
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .map_err(|e| e.to_string())?;
    // The snapshot ends with `fx`; then subscribe as the app does and wait for the reply.
    let mut subscribed = false;
    while let Some(message) = socket.next().await {
        let Message::Text(text) = message.map_err(|e| e.to_string())? else {
            continue;
        };
        if !subscribed && text.contains("\"type\":\"fx\"") {
            socket
                .send(Message::text(r#"{"type":"subscribe"}"#))
                .await
                .map_err(|e| e.to_string())?;
            subscribed = true;
        } else if text.contains("\"type\":\"subscribed\"") {
            return Ok(socket);
        }
    }
    Err("closed before the snapshot".into())
}

/// Reads until told to stop; returns the latencies (µs) of the ticks it saw.
async fn listen(
    mut socket: Socket,
    ticks: Arc<Ticks>,
    mut stop: watch::Receiver<bool>,
    closed: Arc<AtomicUsize>,
) -> Vec<u32> {
    let mut latencies = Vec::new();
    loop {
        tokio::select! {
            message = socket.next() => match message {
                Some(Ok(Message::Text(text))) => {
                    let now = Instant::now();
                    if let Some(price) = btc_price(&text)
                        && let Some(us) = ticks.latency_us(price, now)
                    {
                        latencies.push(us.min(u32::MAX as u64) as u32);
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => {
                    closed.fetch_add(1, Ordering::Relaxed);
                    return latencies;
                }
            },
            _ = stop.changed() => {
                let _ = socket.close(None).await;
                return latencies;
            }
        }
    }
}

fn resp_bulk(s: &str) -> String {
    format!("${}\r\n{s}\r\n", s.len())
}

fn micros_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((p / 100.0) * sorted.len() as f64).floor() as usize;
    sorted[i.min(sorted.len() - 1)] as f64 / 1000.0
}

#[tokio::main]
async fn main() {
    let args = args();
    let tokens: Vec<String> = std::fs::read_to_string(&args.tokens)
        .expect("tokens file")
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    let users_needed = args.connections.div_ceil(args.per_user);
    assert!(
        tokens.len() >= users_needed,
        "{} connections need {users_needed} users, got {}",
        args.connections,
        tokens.len()
    );
    let rss_before = args.server_pid.and_then(rss_kib);

    let started = Instant::now();
    let gate = Arc::new(Semaphore::new(args.open_concurrency));
    let mut opening = Vec::with_capacity(args.connections);
    for i in 0..args.connections {
        let (gate, url, token) = (
            gate.clone(),
            args.url.clone(),
            tokens[i / args.per_user].clone(),
        );
        opening.push(tokio::spawn(async move {
            let _permit = gate.acquire_owned().await;
            open(&url, &token).await
        }));
    }
    let mut sockets = Vec::with_capacity(args.connections);
    let mut failures = std::collections::BTreeMap::<String, usize>::new();
    for task in opening {
        match task.await.expect("open task") {
            Ok(socket) => sockets.push(socket),
            Err(e) => *failures.entry(e).or_default() += 1,
        }
    }
    let open_seconds = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_after = args.server_pid.and_then(rss_kib);

    let ticks = Arc::new(Ticks {
        origin: Instant::now(),
        published: (0..args.ticks).map(|_| AtomicU64::new(0)).collect(),
    });
    let (stop, stopped) = watch::channel(false);
    let closed = Arc::new(AtomicUsize::new(0));
    let connected = sockets.len();
    let listeners: Vec<_> = sockets
        .into_iter()
        .map(|s| {
            tokio::spawn(listen(
                s,
                ticks.clone(),
                stopped.clone(),
                closed.clone(),
            ))
        })
        .collect();

    let mut redis = TcpStream::connect(&args.redis).await.expect("Redis reachable");
    let mut reply = [0u8; 64];
    let server_pid = args.server_pid.map(|p| p.to_string());
    let cpu = || {
        (
            cpu_ticks("self"),
            server_pid.as_deref().and_then(cpu_ticks),
            Instant::now(),
        )
    };
    let cpu_before = cpu();
    let mut receivers = 0i64;
    for i in 0..args.ticks {
        let price = BASE_PRICE + i as u64;
        let at = micros_now();
        let tick = format!(
            r#"{{"at":{at},"p":[{{"a":"BTC","usd":"{price}","irr":"{irr}","src":"bench","at":{at}}}],"fx":{{"irr":"{FX}","src":"bench","at":{at}}}}}"#,
            irr = price * FX
        );
        let command = format!(
            "*3\r\n{}{}{}",
            resp_bulk("PUBLISH"),
            resp_bulk(&args.channel),
            resp_bulk(&tick)
        );
        ticks.published[i].store(
            (Instant::now().duration_since(ticks.origin).as_nanos() as u64).max(1),
            Ordering::Release,
        );
        redis
            .write_all(command.as_bytes())
            .await
            .expect("PUBLISH sent");
        let n = redis.read(&mut reply).await.expect("PUBLISH answered");
        receivers = String::from_utf8_lossy(&reply[..n])
            .trim()
            .trim_start_matches(':')
            .parse()
            .unwrap_or(-1);
        tokio::time::sleep(args.interval).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let cpu_after = cpu();
    let _ = stop.send(true);
    let mut latencies = Vec::with_capacity(args.ticks * connected);
    for listener in listeners {
        latencies.extend(listener.await.expect("listener"));
    }
    latencies.sort_unstable();

    let window = cpu_after.2.duration_since(cpu_before.2).as_secs_f64();
    let pct = |a: Option<u64>, b: Option<u64>| match (a, b) {
        (Some(a), Some(b)) => ((b - a) as f64 / 100.0 / window * 100.0 * 10.0).round() / 10.0,
        _ => f64::NAN,
    };
    let per_connection = match (rss_before, rss_after) {
        (Some(b), Some(a)) if connected > 0 => {
            Some(((a as f64 - b as f64) / connected as f64 * 10.0).round() / 10.0)
        }
        _ => None,
    };
    let result = serde_json::json!({
        "connections": connected,
        "failedToOpen": failures,
        "openSeconds": (open_seconds * 10.0).round() / 10.0,
        "ticks": args.ticks,
        "redisSubscribers": receivers,
        "delivered": latencies.len(),
        "expected": args.ticks * connected,
        "closedDuringTicks": closed.load(Ordering::Relaxed),
        "p50Ms": percentile(&latencies, 50.0),
        "p99Ms": percentile(&latencies, 99.0),
        "maxMs": latencies.last().map(|&m| m as f64 / 1000.0),
        "serverRssBeforeKib": rss_before,
        "serverRssAfterKib": rss_after,
        "kibPerConnection": per_connection,
        "clientCpuPct": pct(cpu_before.0, cpu_after.0),
        "serverCpuPct": pct(cpu_before.1, cpu_after.1),
    });
    println!("{}", serde_json::to_string_pretty(&result).unwrap_or_default());
}
