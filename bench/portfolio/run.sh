#!/usr/bin/env bash
# Portfolio benchmark: starts two `blu serve` instances on a fresh PostgreSQL database (one direct,
# timed; one behind the counting proxy pgproxy.js, for round trips) and runs bench.js.
# Usage: bench/portfolio/run.sh [debug|release]
#   env: PG_URL (server to create the database on, default postgres://postgres@127.0.0.1:5432/postgres),
#        REDIS_URL, USERS (200), CONNECTIONS (50), DURATION_SECONDS (20), WARMUP_SECONDS (3),
#        COUNT_SAMPLES (200), PORT (3910; the counted server and proxy stats use PORT+1, PORT+2),
#        PROXY_PORT (55432),
#        BLU_BIN (skip the build and use this binary).
# Needs: cargo, Node 18+, psql, PostgreSQL, Redis. The load client runs under `nice -n 10`.
set -euo pipefail
cd "$(dirname "$0")"
ROOT="$(cd ../.. && pwd)"
PROFILE="${1:-debug}"
PORT="${PORT:-3910}"
COUNT_PORT=$((PORT + 1))
STATS_PORT=$((PORT + 2))
PROXY_PORT="${PROXY_PORT:-55432}"
PG_URL="${PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379}"
export ADMIN_TOKEN="bench-admin-token-0123456789"

WORK="$(mktemp -d)"
if [ -z "${BLU_BIN:-}" ]; then
  if [ "$PROFILE" = release ]; then
    nice -n 10 cargo build --release -p blu --manifest-path "$ROOT/Cargo.toml"
  else
    nice -n 10 cargo build -p blu --manifest-path "$ROOT/Cargo.toml"
  fi
  # Copy at once: a shared CARGO_TARGET_DIR may be relinked by another build meanwhile.
  cp "${CARGO_TARGET_DIR:-$ROOT/target}/$PROFILE/blu" "$WORK/blu"
  BLU_BIN="$WORK/blu"
fi

DB_NAME="blu_bench_$(date +%s)_$$"
psql "$PG_URL" -qc "CREATE DATABASE $DB_NAME"
# The same URL with the database replaced (and TLS off, so the proxy can parse the stream).
db_url() { # $1 = host:port
  python3 - "$PG_URL" "$1" "$DB_NAME" <<'EOF'
import sys, urllib.parse as u
url, hostport, db = sys.argv[1:]
p = u.urlsplit(url)
userinfo = p.netloc.rsplit("@", 1)[0] + "@" if "@" in p.netloc else ""
print(u.urlunsplit((p.scheme, userinfo + hostport, "/" + db, "sslmode=disable", "")))
EOF
}
PG_HOSTPORT="$(python3 -c 'import sys,urllib.parse as u; p=u.urlsplit(sys.argv[1]); print(f"{p.hostname}:{p.port or 5432}")' "$PG_URL")"
DIRECT_URL="$(db_url "$PG_HOSTPORT")"
PROXIED_URL="$(db_url "127.0.0.1:$PROXY_PORT")"

PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  psql "$PG_URL" -qc "DROP DATABASE IF EXISTS $DB_NAME WITH (FORCE)" || true
  rm -rf "$WORK"
}
trap cleanup EXIT

echo '{"fxRate":1456000}' > "$WORK/prices.json"
serve() { # $1 = port, $2 = database URL, $3 = log file
  PORT="$1" DATABASE_URL="$2" DATA_DIR="$WORK" PRICE_SOURCE="fixed:$WORK/prices.json" \
    REDIS_KEY_PREFIX="bench:$$:" RUN_JOBS=false \
    JWT_ACCESS_SECRET="bench-access-secret-0123456789-abcdef" \
    JWT_REFRESH_SECRET="bench-refresh-secret-0123456789-abcdef" OTP_SECRET="bench-otp" \
    TRUSTED_PROXY_HEADER=x-forwarded-for RATE_LIMIT_MAX_REQUESTS=100000000 \
    LOG_FORMAT=json RUST_LOG=warn "$BLU_BIN" serve > "$3" 2>&1 &
  PIDS+=($!)
}
wait_up() {
  for _ in $(seq 1 150); do
    curl -sf "http://127.0.0.1:$1/health" > /dev/null && return 0
    sleep 0.2
  done
  echo "server on port $1 did not start" >&2
  return 1
}

serve "$PORT" "$DIRECT_URL" "$WORK/server.log"
SERVER_PID=${PIDS[-1]}
wait_up "$PORT"
node pgproxy.js "$PROXY_PORT" "${PG_HOSTPORT%:*}" "${PG_HOSTPORT##*:}" "$STATS_PORT" &
PIDS+=($!)
serve "$COUNT_PORT" "$PROXIED_URL" "$WORK/server-counted.log"
wait_up "$COUNT_PORT"

echo "server: $PROFILE build, pid $SERVER_PID; $(nproc) cores; load average $(cut -d' ' -f1-3 /proc/loadavg)"
BASE_URL="http://127.0.0.1:$PORT" COUNT_URL="http://127.0.0.1:$COUNT_PORT" \
  STATS_URL="http://127.0.0.1:$STATS_PORT/" PG_ADMIN_URL="$PG_URL" DB_NAME="$DB_NAME" \
  nice -n 10 node bench.js
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
if grep -q '"level":"ERROR"' "$WORK/server.log"; then
  echo "server errors:" && grep '"level":"ERROR"' "$WORK/server.log" | head -5
fi
