#!/usr/bin/env bash
# Starts a `blu` server (SQLite, Redis price bus) and runs bench.js against it.
# Usage: bench/ws/run.sh [debug|release]   (env: CONNECTIONS, TICKS, PORT, REDIS_URL)
set -euo pipefail
cd "$(dirname "$0")"
PROFILE="${1:-debug}"
PORT="${PORT:-3900}"
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379}"
export REDIS_KEY_PREFIX="bench:$$:"
export ADMIN_TOKEN="bench-admin-token-0123456789"
ulimit -n "$(ulimit -Hn)"

if [ "$PROFILE" = release ]; then
  cargo build --release -p blu --manifest-path ../../Cargo.toml
else
  cargo build -p blu --manifest-path ../../Cargo.toml
fi
BIN="$(cd ../.. && pwd)/target/$PROFILE/blu"
[ -d node_modules/ws ] || npm install --no-audit --no-fund --silent

DATA_DIR="$(mktemp -d)"
echo '{"fxRate":1456000}' > "$DATA_DIR/prices.json"
PORT="$PORT" DATA_DIR="$DATA_DIR" PRICE_SOURCE="fixed:$DATA_DIR/prices.json" \
  JWT_ACCESS_SECRET="bench-access-secret-0123456789-abcdef" \
  JWT_REFRESH_SECRET="bench-refresh-secret-0123456789-abcdef" OTP_SECRET="bench-otp" \
  TRUSTED_PROXY_HEADER=x-forwarded-for RATE_LIMIT_MAX_REQUESTS=100000000 \
  RUST_LOG=warn "$BIN" serve > "$DATA_DIR/server.log" 2>&1 &
SERVER_PID=$!
trap 'kill $SERVER_PID 2>/dev/null; rm -rf "$DATA_DIR"' EXIT
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$PORT/health" > /dev/null && break
  sleep 0.2
done
echo "server $PROFILE build, pid $SERVER_PID, $(nproc) cores"
SERVER_PID=$SERVER_PID BASE_URL="http://127.0.0.1:$PORT" node bench.js
