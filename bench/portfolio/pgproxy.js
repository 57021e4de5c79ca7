// A counting TCP proxy between `blu` and PostgreSQL (see README.md in this folder).
//
// It forwards bytes unchanged in both directions and parses the frontend (client → server)
// message stream of the PostgreSQL wire protocol to count database round trips: every Sync ('S',
// end of an extended-protocol query) and every simple Query ('Q') makes the client wait for the
// server's ReadyForQuery, so round trips = Sync + Query. It also attributes each Execute ('E') to
// the SQL of the prepared statement it runs (Parse 'P' → name → SQL, Bind 'B' → statement), giving
// a per-statement breakdown.
//
// Usage: node pgproxy.js <listenPort> <pgHost> <pgPort> <statsPort>
//   GET http://127.0.0.1:<statsPort>/ → {"roundTrips":…, "syncs":…, "queries":…, "statements":{sql: n}}
// The server must connect with sslmode=disable (a TLS stream cannot be parsed).
"use strict";
const net = require("net");
const http = require("http");

const [listenPort, pgHost, pgPort, statsPort] = process.argv.slice(2);
const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;

const stats = { roundTrips: 0, syncs: 0, queries: 0, executes: 0, parses: 0, statements: {} };
// A Sync after neither Execute nor Parse only asks "are you there?": sqlx's connection check when
// a connection leaves the pool (`test_before_acquire`).
const PING = "(Sync alone: connection check on pool acquire)";
const PREPARE = "(Parse/Describe + Sync: statement preparation)";
const normalise = (sql) => sql.replace(/\s+/g, " ").trim();
const countStatement = (sql) => {
  const key = normalise(sql);
  stats.statements[key] = (stats.statements[key] || 0) + 1;
};
const cstring = (buf, at) => {
  const end = buf.indexOf(0, at);
  return [buf.toString("utf8", at, end), end + 1];
};

function frontendParser() {
  let pending = Buffer.alloc(0);
  let startup = true; // the first messages have no type byte
  const prepared = new Map(); // statement name → SQL (per connection)
  let boundSql = "";
  let executes = 0; // since the last Sync
  let parses = 0;
  const handle = (type, body) => {
    switch (type) {
      case "P": {
        const [name, next] = cstring(body, 0);
        prepared.set(name, cstring(body, next)[0]);
        stats.parses++;
        parses++;
        break;
      }
      case "B": {
        const [, next] = cstring(body, 0);
        boundSql = prepared.get(cstring(body, next)[0]) ?? "?";
        break;
      }
      case "E":
        stats.executes++;
        executes++;
        countStatement(boundSql);
        break;
      case "S":
        stats.syncs++;
        stats.roundTrips++;
        if (executes === 0) countStatement(parses > 0 ? PREPARE : PING);
        executes = 0;
        parses = 0;
        break;
      case "Q":
        stats.queries++;
        stats.roundTrips++;
        countStatement(cstring(body, 0)[0]);
        break;
    }
  };
  return (chunk) => {
    pending = Buffer.concat([pending, chunk]);
    for (;;) {
      if (startup) {
        if (pending.length < 8) return;
        const length = pending.readInt32BE(0);
        if (pending.length < length) return;
        const code = pending.readInt32BE(4);
        startup = code === SSL_REQUEST || code === GSSENC_REQUEST;
        pending = pending.subarray(length);
      } else {
        if (pending.length < 5) return;
        const length = pending.readInt32BE(1);
        if (pending.length < 1 + length) return;
        handle(String.fromCharCode(pending[0]), pending.subarray(5, 1 + length));
        pending = pending.subarray(1 + length);
      }
    }
  };
}

net
  .createServer((client) => {
    const server = net.connect(Number(pgPort), pgHost);
    const parse = frontendParser();
    client.on("data", (chunk) => {
      parse(chunk);
      server.write(chunk);
    });
    server.on("data", (chunk) => client.write(chunk));
    const close = () => {
      client.destroy();
      server.destroy();
    };
    client.on("close", close);
    server.on("close", close);
    client.on("error", close);
    server.on("error", close);
  })
  .listen(Number(listenPort), "127.0.0.1");

http
  .createServer((_req, res) => {
    res.setHeader("content-type", "application/json");
    res.end(JSON.stringify(stats));
  })
  .listen(Number(statsPort), "127.0.0.1");
