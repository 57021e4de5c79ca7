// WebSocket fan-out benchmark for Blu Markets (see README.md in this folder).
//
// 1. Logs in CONNECTIONS / 5 users (5 price connections per user is the server's limit),
//    reading each OTP from the admin-only development outbox.
// 2. Opens CONNECTIONS raw WebSockets (subprotocol Bearer-<jwt>) and waits for each snapshot.
// 3. Reads the server's RSS (/proc/<SERVER_PID>/status) before and after connecting.
// 4. PUBLISHes TICKS price ticks on the Redis price channel (the server's price bus, exactly as
//    another instance would) and measures, per client, the time from PUBLISH to the arrival of
//    that tick's `price` message (identified by its unique BTC price).
"use strict";
const net = require("net");
const fs = require("fs");
const WebSocket = require("ws");

const env = (name, fallback) => process.env[name] ?? fallback;
const BASE = env("BASE_URL", "http://127.0.0.1:3900");
const ADMIN_TOKEN = env("ADMIN_TOKEN", "bench-admin-token-0123456789");
const CONNECTIONS = Number(env("CONNECTIONS", "5000"));
const TICKS = Number(env("TICKS", "20"));
const TICK_INTERVAL_MS = Number(env("TICK_INTERVAL_MS", "1000"));
const REDIS = new URL(env("REDIS_URL", "redis://127.0.0.1:6379"));
const PREFIX = env("REDIS_KEY_PREFIX", "bench:");
const SERVER_PID = env("SERVER_PID", "");
const PER_USER = 5;

const rssKib = () => {
  if (!SERVER_PID) return NaN;
  const status = fs.readFileSync(`/proc/${SERVER_PID}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+)/.exec(status)[1]);
};

async function post(path, body, ip) {
  const res = await fetch(BASE + path, {
    method: "POST",
    headers: { "content-type": "application/json", "x-forwarded-for": ip },
    body: JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
  return res.json();
}

async function login(i) {
  const phone = "+989" + String(100000000 + i).padStart(9, "0");
  const ip = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
  await post("/api/v1/auth/send-otp", { phone }, ip);
  const outbox = await fetch(`${BASE}/admin/v1/sms-outbox?phone=${encodeURIComponent(phone)}&limit=1`, {
    headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
  }).then((r) => r.json());
  const code = outbox.messages[0].code;
  const verified = await post("/api/v1/auth/verify-otp", { phone, code }, ip);
  return verified.tokens.accessToken;
}

async function inBatches(count, size, fn) {
  const out = [];
  for (let start = 0; start < count; start += size) {
    const batch = [];
    for (let i = start; i < Math.min(count, start + size); i++) batch.push(fn(i));
    out.push(...(await Promise.all(batch)));
  }
  return out;
}

// Minimal RESP client for PUBLISH (no dependency on a Redis package).
function redisPublisher() {
  const socket = net.connect(Number(REDIS.port || 6379), REDIS.hostname);
  socket.on("data", () => {});
  const bulk = (s) => `$${Buffer.byteLength(s)}\r\n${s}\r\n`;
  return {
    publish: (channel, message) =>
      socket.write(`*3\r\n${bulk("PUBLISH")}${bulk(channel)}${bulk(message)}`),
    close: () => socket.end(),
  };
}

const latencies = [];
const publishedAt = new Map(); // BTC price → hrtime (ns) of PUBLISH

function connect(token) {
  return new Promise((resolve, reject) => {
    const url = BASE.replace(/^http/, "ws") + "/api/v1/prices/stream";
    const ws = new WebSocket(url, [`Bearer-${token}`]);
    let ready = false;
    ws.on("message", (data) => {
      const msg = JSON.parse(data);
      if (msg.type === "fx" && !ready) {
        ready = true;
        resolve(ws);
      } else if (msg.type === "price" && msg.assetId === "BTC") {
        const sent = publishedAt.get(msg.priceUsd);
        if (sent !== undefined) latencies.push(Number(process.hrtime.bigint() - sent) / 1e6);
      }
    });
    ws.on("close", (code) => {
      if (!ready) reject(new Error(`closed ${code} before the snapshot`));
    });
    ws.on("error", reject);
  });
}

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function main() {
  const users = Math.ceil(CONNECTIONS / PER_USER);
  let t = Date.now();
  const tokens = await inBatches(users, 50, login);
  console.log(`logged in ${users} users in ${((Date.now() - t) / 1000).toFixed(1)} s`);

  const before = rssKib();
  t = Date.now();
  const sockets = await inBatches(CONNECTIONS, 200, (i) => connect(tokens[Math.floor(i / PER_USER)]));
  console.log(`opened ${sockets.length} WebSockets in ${((Date.now() - t) / 1000).toFixed(1)} s`);
  await new Promise((r) => setTimeout(r, 2000));
  const after = rssKib();

  const redis = redisPublisher();
  const channel = `${PREFIX}prices:ticks`;
  for (let i = 0; i < TICKS; i++) {
    const price = 90000 + i;
    const now = Date.now() * 1000;
    const tick = {
      at: now,
      p: [{ a: "BTC", usd: String(price), irr: String(price * 1456000), src: "bench", at: now }],
      fx: { irr: "1456000", src: "bench", at: now },
    };
    publishedAt.set(price, process.hrtime.bigint());
    redis.publish(channel, JSON.stringify(tick));
    await new Promise((r) => setTimeout(r, TICK_INTERVAL_MS));
  }
  await new Promise((r) => setTimeout(r, 2000));
  redis.close();

  const sorted = latencies.slice().sort((a, b) => a - b);
  const expected = TICKS * sockets.length;
  const result = {
    connections: sockets.length,
    ticks: TICKS,
    delivered: `${sorted.length}/${expected}`,
    p50_ms: percentile(sorted, 50)?.toFixed(2),
    p99_ms: percentile(sorted, 99)?.toFixed(2),
    max_ms: sorted[sorted.length - 1]?.toFixed(2),
    server_rss_before_mib: (before / 1024).toFixed(1),
    server_rss_after_mib: (after / 1024).toFixed(1),
    kib_per_connection: ((after - before) / sockets.length).toFixed(1),
  };
  console.log(JSON.stringify(result, null, 2));
  for (const ws of sockets) ws.terminate();
  process.exit(0);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
