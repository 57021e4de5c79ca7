// Portfolio benchmark for Blu Markets (see README.md in this folder).
//
// 1. Creates USERS users on the timed server (BASE_URL): OTP login through the admin-only
//    development outbox, questionnaire, consent, initial funding, add funds.
// 2. For each endpoint — GET /portfolio, POST /trade/preview, POST /trade/execute — runs
//    CONNECTIONS closed-loop workers over CONNECTIONS keep-alive connections: WARMUP_SECONDS
//    unmeasured, then DURATION_SECONDS measured. Worker w acts for users w, w+C, w+2C, … in turn,
//    so two workers never queue on the same portfolio lock. Executes alternate a small BUY and a
//    SELL of the same amount per user, so cash never runs out.
//    Reports throughput, p50/p99/max latency, non-2xx responses, and the bench database's
//    pg_stat_database deltas (transactions, tuples) per request.
// 3. Database round trips per request: the same requests, one at a time, against a second server
//    (COUNT_URL) on the same database whose PostgreSQL connections go through pgproxy.js, which
//    counts wire-protocol round trips (Sync + simple Query) and the statements executed.
"use strict";
const http = require("http");
const { execFileSync } = require("child_process");

const env = (name, fallback) => process.env[name] ?? fallback;
const BASE = new URL(env("BASE_URL", "http://127.0.0.1:3910"));
const COUNT_BASE = env("COUNT_URL", "") && new URL(env("COUNT_URL", ""));
const STATS_URL = env("STATS_URL", "");
const ADMIN_TOKEN = env("ADMIN_TOKEN", "bench-admin-token-0123456789");
const USERS = Number(env("USERS", "200"));
const CONNECTIONS = Number(env("CONNECTIONS", "50"));
const DURATION = Number(env("DURATION_SECONDS", "20"));
const WARMUP = Number(env("WARMUP_SECONDS", "3"));
const SAMPLES = Number(env("COUNT_SAMPLES", "200"));
const PG_ADMIN_URL = env("PG_ADMIN_URL", "");
const DB_NAME = env("DB_NAME", "");
const TRADE_IRR = 2_000_000;

const SCORE_6 = [
  ["q_income", "inc_fixed"],
  ["q_buffer", "buf_6_12"],
  ["q_proportion", "prop_medium"],
  ["q_goal", "goal_grow"],
  ["q_horizon", "hz_3_7"],
  ["q_crash_20", "crash_hold"],
  ["q_tradeoff", "trade_moderate"],
  ["q_past_behavior", "past_calm"],
  ["q_max_loss", "loss_30"],
];

const agent = new http.Agent({ keepAlive: true, maxSockets: CONNECTIONS });

// One HTTP request; resolves to {status, body} (never rejects on an HTTP status).
function request(base, method, path, { token, body, ip, extra } = {}) {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const headers = { ...extra };
    if (payload !== undefined) headers["content-type"] = "application/json";
    if (token) headers.authorization = `Bearer ${token}`;
    if (ip) headers["x-forwarded-for"] = ip;
    const req = http.request(
      { agent, host: base.hostname, port: base.port, method, path, headers },
      (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString() }));
      },
    );
    req.on("error", reject);
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}

async function ok(promise, expected, what) {
  const res = await promise;
  if (res.status !== expected) throw new Error(`${what}: ${res.status} ${res.body}`);
  return JSON.parse(res.body);
}

async function createUser(i) {
  const phone = "+989" + String(200000000 + i).padStart(9, "0");
  const ip = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
  await ok(request(BASE, "POST", "/api/v1/auth/send-otp", { body: { phone }, ip }), 200, "send-otp");
  const outbox = await ok(
    request(BASE, "GET", `/admin/v1/sms-outbox?phone=${encodeURIComponent(phone)}&limit=1`, { token: ADMIN_TOKEN }),
    200,
    "sms-outbox",
  );
  const code = outbox.messages[0].code;
  const verified = await ok(
    request(BASE, "POST", "/api/v1/auth/verify-otp", { body: { phone, code }, ip }),
    200,
    "verify-otp",
  );
  const token = verified.tokens.accessToken;
  const answers = SCORE_6.map(([questionId, optionId]) => ({ questionId, optionId }));
  await ok(request(BASE, "POST", "/api/v1/onboarding/questionnaire", { token, body: { answers } }), 200, "questionnaire");
  const consent = { consentRisk: true, consentLoss: true, consentNoGuarantee: true };
  await ok(request(BASE, "POST", "/api/v1/onboarding/consent", { token, body: consent }), 200, "consent");
  await ok(
    request(BASE, "POST", "/api/v1/onboarding/initial-funding", { token, body: { amountIrr: 1_000_000_000 } }),
    201,
    "initial-funding",
  );
  await ok(request(BASE, "POST", "/api/v1/portfolio/add-funds", { token, body: { amountIrr: 100_000_000 } }), 200, "add-funds");
  return { token, nextSell: false };
}

// Runs fn(0) … fn(count - 1) with at most `limit` in flight; results in index order.
async function pooled(count, limit, fn) {
  const out = new Array(count);
  let next = 0;
  const lane = async () => {
    while (next < count) {
      const i = next++;
      out[i] = await fn(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, count) }, lane));
  return out;
}

// The three measured operations: each takes a user and returns [method, path, body].
const OPERATIONS = {
  "GET /api/v1/portfolio": () => ["GET", "/api/v1/portfolio"],
  "POST /api/v1/trade/preview": (user) => {
    user.nextSell = !user.nextSell;
    const action = user.nextSell ? "SELL" : "BUY";
    return ["POST", "/api/v1/trade/preview", { action, assetId: "BTC", amountIrr: TRADE_IRR }];
  },
  "POST /api/v1/trade/execute": (user) => {
    // BUY then SELL of the same amount: each pair costs the user only the two spreads.
    const action = user.nextSell ? "SELL" : "BUY";
    user.nextSell = !user.nextSell;
    const body = { action, assetId: "BTC", amountIrr: TRADE_IRR, acknowledgedWarning: true };
    return ["POST", "/api/v1/trade/execute", body];
  },
  // The same with a fresh Idempotency-Key, as a client that retries safely sends it.
  "POST /api/v1/trade/execute + Idempotency-Key": (user) => {
    const [method, path, body] = OPERATIONS["POST /api/v1/trade/execute"](user);
    return [method, path, body, { "idempotency-key": `bench-${process.pid}-${++keys}` }];
  },
};
let keys = 0;

async function load(users, operation, seconds, record) {
  const deadline = process.hrtime.bigint() + BigInt(Math.round(seconds * 1e9));
  const worker = async (w) => {
    for (let n = 0; process.hrtime.bigint() < deadline; n++) {
      const user = users[(w + n * CONNECTIONS) % users.length];
      const [method, path, body, extra] = operation(user);
      const started = process.hrtime.bigint();
      const res = await request(BASE, method, path, { token: user.token, body, extra });
      record(res, Number(process.hrtime.bigint() - started) / 1e6);
    }
  };
  await Promise.all(Array.from({ length: CONNECTIONS }, (_, w) => worker(w % users.length)));
}

const STAT_COLUMNS = ["xact_commit", "xact_rollback", "tup_returned", "tup_fetched", "tup_inserted", "tup_updated", "tup_deleted"];

const psql = (url, sql) => execFileSync("psql", [url, "-Atc", sql]).toString().trim();

// pg_stat_database of the bench database, plus per-table scans from its pg_stat_user_tables.
function databaseStats() {
  if (!PG_ADMIN_URL || !DB_NAME) return null;
  const row = psql(PG_ADMIN_URL, `SELECT ${STAT_COLUMNS.join(",")} FROM pg_stat_database WHERE datname = '${DB_NAME}'`)
    .split("|")
    .map(Number);
  const stats = Object.fromEntries(STAT_COLUMNS.map((c, i) => [c, row[i]]));
  const dbUrl = new URL(PG_ADMIN_URL);
  dbUrl.pathname = `/${DB_NAME}`;
  stats.tables = {};
  const tables = psql(dbUrl.href, "SELECT relname, seq_scan, seq_tup_read, coalesce(idx_scan, 0) FROM pg_stat_user_tables");
  for (const line of tables.split("\n").filter(Boolean)) {
    const [name, seqScan, seqRead, idxScan] = line.split("|");
    stats.tables[name] = { seq_scan: Number(seqScan), seq_tup_read: Number(seqRead), idx_scan: Number(idxScan) };
  }
  return stats;
}

// Per request: scans of each table that the phase touched.
function tableScans(before, after, requests) {
  const out = {};
  for (const [name, a] of Object.entries(after.tables)) {
    const b = before.tables[name] ?? { seq_scan: 0, seq_tup_read: 0, idx_scan: 0 };
    const delta = (k) => Number(((a[k] - b[k]) / requests).toFixed(2));
    const scans = { seq_scan: delta("seq_scan"), seq_tup_read: delta("seq_tup_read"), idx_scan: delta("idx_scan") };
    if (scans.seq_scan || scans.idx_scan) out[name] = scans;
  }
  return out;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
// A PostgreSQL 15 backend that ran a transaction less than 1 s after its last statistics flush
// flushes again only after 10 s of idleness.
const settledStats = async () => (await sleep(11_000), databaseStats());

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function measure(users, name) {
  const operation = OPERATIONS[name];
  await load(users, operation, WARMUP, () => {});
  const before = await settledStats();
  const latencies = [];
  const errors = {};
  const started = process.hrtime.bigint();
  await load(users, operation, DURATION, (res, ms) => {
    latencies.push(ms);
    if (res.status < 200 || res.status > 299) {
      const code = (() => {
        try {
          return JSON.parse(res.body).error.code;
        } catch {
          return "";
        }
      })();
      const key = `${res.status} ${code}`.trim();
      errors[key] = (errors[key] || 0) + 1;
    }
  });
  const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
  const after = await settledStats();
  latencies.sort((a, b) => a - b);
  const result = {
    endpoint: name,
    requests: latencies.length,
    seconds: Number(elapsed.toFixed(1)),
    throughput_rps: Number((latencies.length / elapsed).toFixed(1)),
    p50_ms: Number(percentile(latencies, 50).toFixed(1)),
    p99_ms: Number(percentile(latencies, 99).toFixed(1)),
    max_ms: Number(latencies[latencies.length - 1].toFixed(1)),
    errors,
  };
  if (before && after) {
    result.db_per_request = Object.fromEntries(
      STAT_COLUMNS.map((c) => [c, Number(((after[c] - before[c]) / latencies.length).toFixed(2))]),
    );
    result.table_scans_per_request = tableScans(before, after, latencies.length);
  }
  return result;
}

async function proxyStats() {
  const res = await fetch(STATS_URL);
  return res.json();
}

// Round trips per request, one request at a time against the proxied server.
async function countRoundTrips(users, name) {
  const operation = OPERATIONS[name];
  const user = users[0];
  const once = async () => {
    const [method, path, body, extra] = operation(user);
    const res = await request(COUNT_BASE, method, path, { token: user.token, body, extra });
    if (res.status < 200 || res.status > 299) throw new Error(`${name}: ${res.status} ${res.body}`);
  };
  for (let i = 0; i < 20; i++) await once(); // prepares the statements on the pooled connections
  await sleep(200);
  const before = await proxyStats();
  for (let i = 0; i < SAMPLES; i++) await once();
  const after = await proxyStats();
  const statements = Object.entries(after.statements)
    .map(([sql, n]) => [sql, (n - (before.statements[sql] || 0)) / SAMPLES])
    .filter(([, n]) => n > 0)
    .sort((a, b) => b[1] - a[1])
    .map(([sql, n]) => `${n.toFixed(2)} × ${sql.length > 110 ? sql.slice(0, 110) + "…" : sql}`);
  return {
    endpoint: name,
    samples: SAMPLES,
    round_trips_per_request: Number(((after.roundTrips - before.roundTrips) / SAMPLES).toFixed(2)),
    simple_queries_per_request: Number(((after.queries - before.queries) / SAMPLES).toFixed(2)),
    statements_per_request: Number(((after.executes - before.executes + after.queries - before.queries) / SAMPLES).toFixed(2)),
    parses_per_request: Number(((after.parses - before.parses) / SAMPLES).toFixed(2)),
    statements,
  };
}

async function main() {
  let t = Date.now();
  const users = await pooled(USERS, CONNECTIONS, createUser);
  console.log(`created, onboarded and funded ${users.length} users in ${((Date.now() - t) / 1000).toFixed(1)} s`);

  const results = [];
  for (const name of Object.keys(OPERATIONS)) {
    const result = await measure(users, name);
    console.log(JSON.stringify(result));
    results.push(result);
  }

  const counts = [];
  if (COUNT_BASE && STATS_URL) {
    for (const name of Object.keys(OPERATIONS)) {
      const count = await countRoundTrips(users, name);
      console.log(JSON.stringify(count, null, 2));
      counts.push(count);
    }
  }

  console.log("\n| Endpoint | Requests | Throughput | p50 | p99 | max | Errors | DB round trips / request | Statements / request | Transactions / request |");
  console.log("|---|---|---|---|---|---|---|---|---|---|");
  for (const r of results) {
    const c = counts.find((x) => x.endpoint === r.endpoint);
    const errors = Object.entries(r.errors).map(([k, n]) => `${n} × ${k}`).join(", ") || "0";
    const xacts = r.db_per_request ? (r.db_per_request.xact_commit + r.db_per_request.xact_rollback).toFixed(2) : "–";
    console.log(
      `| \`${r.endpoint}\` | ${r.requests} | ${r.throughput_rps} req/s | ${r.p50_ms} ms | ${r.p99_ms} ms | ${r.max_ms} ms | ${errors} | ${c ? c.round_trips_per_request : "–"} | ${c ? c.statements_per_request : "–"} | ${xacts} |`,
    );
  }
  agent.destroy();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
