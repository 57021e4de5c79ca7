// A line-oriented driver around the official socket.io-client, for the Rust tests.
// Usage: node client.js <url> [token]   (token "-" = none; SIO_OPTIONS env = extra JSON options)
// stdout: one JSON object per line: {"event":"connect"}, {"event":"connect_error","message","data"},
//         {"event":"<name>","args":[...]} for every server event, {"event":"ack","id","data"},
//         {"event":"disconnect","reason"}.
// stdin:  one JSON object per line: {"id":1,"emit":"subscribe:prices","args":[["BTC"]]};
//         an "args" array is spread into emit, then an acknowledgement callback is added.
"use strict";
const { io } = require("socket.io-client");
const readline = require("readline");

const [url, token] = process.argv.slice(2);
const extra = process.env.SIO_OPTIONS ? JSON.parse(process.env.SIO_OPTIONS) : {};
const options = { transports: ["websocket"], reconnection: false, ...extra };
if (token && token !== "-") options.auth = { token };

const out = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");
const socket = io(url, options);

socket.on("connect", () => out({ event: "connect" }));
socket.on("connect_error", (err) => {
  out({ event: "connect_error", message: err.message, data: err.data });
  process.exit(0);
});
socket.on("disconnect", (reason) => {
  out({ event: "disconnect", reason });
  process.exit(0);
});
socket.onAny((event, ...args) => out({ event, args }));

readline.createInterface({ input: process.stdin }).on("line", (line) => {
  const cmd = JSON.parse(line);
  socket.emit(cmd.emit, ...(cmd.args || []), (data) => out({ event: "ack", id: cmd.id, data }));
});
process.stdin.on("end", () => process.exit(0));
