#!/usr/bin/env python3
"""The benchmark of issue 12 item 5, run by `bench/run` (see bench/README.md).

One run measures the server and the database's own limit side by side:

1. PostgreSQL + Redis: a fresh database `blu_bench_*`; `blu serve` on it; USERS users created
   through the real API (OTP from the admin development outbox, questionnaire, consent, initial
   funding, add funds); wrk (Debian's) with bench/wrk/load.lua for GET /portfolio, GET /prices,
   POST /trade/preview and POST /trade/execute; then pgbench with bench/pgbench/read.sql
   (portfolio ⋈ holdings) and write.sql (lock, cash update, holding upsert, ledger insert) on the
   same database — the limit each database route is compared with.
2. SQLite (the embedded default, no Redis): the same four wrk runs.
3. Raw-WebSocket fan-out: bench/ws-load (Rust, multi-threaded) against `blu serve` on SQLite with
   the Redis price bus.

During every measured phase it samples, from /proc, the CPU of the server, of PostgreSQL (the
bench database's backends plus the background processes) and of the load client, and the whole
host's busy share (other work on the machine shows up there). Prints a markdown table.

Stdlib only. Environment: see bench/README.md.
"""

import concurrent.futures
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
ENV = os.environ.get


def env_int(name, default):
    return int(ENV(name, str(default)))


BLU_BIN = ENV("BLU_BIN") or sys.exit("BLU_BIN is required (bench/run sets it)")
WS_LOAD_BIN = ENV("WS_LOAD_BIN", "")
PG_URL = ENV("PG_URL", "postgres://postgres@127.0.0.1:5432/postgres")
REDIS_URL = ENV("REDIS_URL", "redis://127.0.0.1:6379")
PARTS = [p.strip() for p in ENV("PARTS", "pg,sqlite,ws").split(",") if p.strip()]
USERS = env_int("USERS", 200)
CONNECTIONS = env_int("CONNECTIONS", 50)
THREADS = env_int("THREADS", 2)
DURATION = env_int("DURATION_SECONDS", 20)
# A directory: each measured wrk phase is also sampled by `perf record -a -g` into it.
PROFILE_DIR = os.environ.get("PROFILE_DIR")
WARMUP = env_int("WARMUP_SECONDS", 3)
PGBENCH_CLIENTS = env_int("PGBENCH_CLIENTS", 20)
PORT = env_int("PORT", 3920)
IDEMPOTENCY = ENV("EXECUTE_IDEMPOTENCY", "1")
WS_CONNECTIONS = env_int("WS_CONNECTIONS", 5000)
WS_TICKS = env_int("WS_TICKS", 20)
ROUTES = [r.strip() for r in ENV("ROUTES", "portfolio,prices,preview,execute,mixed").split(",")]
ADMIN_TOKEN = "bench-admin-token-0123456789"
CLK_TCK = os.sysconf("SC_CLK_TCK")

ROUTE_NAMES = {
    "portfolio": "GET /api/v1/portfolio",
    "prices": "GET /api/v1/prices",
    "preview": "POST /api/v1/trade/preview",
    "execute": "POST /api/v1/trade/execute",
    "mixed": "mixed: 12 portfolio, 4 prices, 3 preview, 1 execute in 20",
}
# Which pgbench script is the limit of each route.
LIMITS = {"portfolio": "read", "execute": "write"}
# pgbench scripts run after the routes, on the same database (bench/pgbench/*.sql).
PGBENCH_SCRIPTS = {
    "read": "pgbench read: portfolio ⋈ holdings",
    "write": "pgbench write: lock, cash, holding upsert, ledger insert",
    "execute": "pgbench execute: the route's own statements ("
               + ("claim, " if IDEMPOTENCY == "1" else "no key, ") + "RLS, lock, view, batch)",
}
# Sentences printed under the table.
NOTES = []

SCORE_6 = [
    ("q_income", "inc_fixed"),
    ("q_buffer", "buf_6_12"),
    ("q_proportion", "prop_medium"),
    ("q_goal", "goal_grow"),
    ("q_horizon", "hz_3_7"),
    ("q_crash_20", "crash_hold"),
    ("q_tradeoff", "trade_moderate"),
    ("q_past_behavior", "past_calm"),
    ("q_max_loss", "loss_30"),
]


def log(*args):
    print(*args, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- HTTP set-up through the API


def call(base, method, path, body=None, token=None, ip=None, expect=200):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method)
    if data is not None:
        request.add_header("content-type", "application/json")
    if token:
        request.add_header("authorization", f"Bearer {token}")
    if ip:
        request.add_header("x-forwarded-for", ip)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, text = response.status, response.read()
    except urllib.error.HTTPError as e:
        status, text = e.code, e.read()
    if status != expect:
        raise RuntimeError(f"{method} {path}: {status} {text[:300]!r}")
    return json.loads(text) if text else None


def create_user(base, i, funded):
    phone = "+989" + str(300000000 + i).rjust(9, "0")
    ip = f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"
    call(base, "POST", "/api/v1/auth/send-otp", {"phone": phone}, ip=ip)
    query = urllib.parse.urlencode({"phone": phone, "limit": 1})
    outbox = call(base, "GET", f"/admin/v1/sms-outbox?{query}", token=ADMIN_TOKEN)
    code = outbox["messages"][0]["code"]
    verified = call(base, "POST", "/api/v1/auth/verify-otp", {"phone": phone, "code": code}, ip=ip)
    token = verified["tokens"]["accessToken"]
    if funded:
        answers = [{"questionId": q, "optionId": o} for q, o in SCORE_6]
        call(base, "POST", "/api/v1/onboarding/questionnaire", {"answers": answers}, token)
        consent = {"consentRisk": True, "consentLoss": True, "consentNoGuarantee": True}
        call(base, "POST", "/api/v1/onboarding/consent", consent, token)
        call(base, "POST", "/api/v1/onboarding/initial-funding", {"amountIrr": 1_000_000_000},
             token, expect=201)
        call(base, "POST", "/api/v1/portfolio/add-funds", {"amountIrr": 100_000_000}, token)
    return token


def create_users(base, count, funded, workdir, name):
    started = time.time()
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        tokens = list(pool.map(lambda i: create_user(base, i, funded), range(count)))
    path = os.path.join(workdir, f"{name}.tokens")
    with open(path, "w") as f:
        f.write("\n".join(tokens) + "\n")
    log(f"  {count} users ({'funded' if funded else 'logged in'}) in {time.time() - started:.1f} s")
    return path


# ---------------------------------------------------------------- processes and CPU from /proc


def cpu_ticks(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2:].split()
    return int(fields[11]) + int(fields[12])


def host_busy():
    """(busy, steal, total) jiffies of the whole host from /proc/stat. Steal — time the
    hypervisor gave this VM's CPUs to someone else — is not busy: it is counted apart, because
    a phase measured while it was high says more about the neighbours than about the server."""
    with open("/proc/stat") as f:
        # user nice system idle iowait irq softirq steal [guest guest_nice: inside user, nice]
        values = [int(v) for v in f.readline().split()[1:9]]
    idle, steal = values[3] + values[4], values[7]
    return sum(values) - idle - steal, steal, sum(values)


def psql(url, sql):
    return subprocess.run(["psql", url, "-Atqc", sql], check=True, capture_output=True,
                          text=True).stdout.strip()


def postgres_pids(database):
    """The bench database's backends and PostgreSQL's background processes."""
    if not database:
        return []
    rows = psql(PG_URL, "SELECT pid FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND "
                        f"(datname = '{database}' OR (datname IS NULL AND "
                        "backend_type <> 'client backend'))")
    return [int(p) for p in rows.split()]


class CpuWindow:
    """CPU used between start() and stop() by the server, PostgreSQL and the load client, as a
    share of one core, plus the host's busy share of all cores."""

    def __init__(self, server_pid, database):
        self.server_pid, self.database = server_pid, database

    def start(self, client_pid):
        self.client_pid = client_pid
        self.t0 = time.time()
        self.host0 = host_busy()
        self.server0 = cpu_ticks(self.server_pid)
        self.client0 = cpu_ticks(client_pid)
        self.pg0 = {p: cpu_ticks(p) for p in postgres_pids(self.database)}

    def stop(self):
        elapsed = time.time() - self.t0
        host1 = host_busy()
        server1 = cpu_ticks(self.server_pid)
        client1 = cpu_ticks(self.client_pid)
        pg = 0
        for pid in set(self.pg0) | set(postgres_pids(self.database)):
            now = cpu_ticks(pid)
            if now is None:
                continue
            # A backend that was not there at the start (pgbench still connecting on a busy
            # host) started inside the window: all of its CPU counts.
            start = self.pg0[pid] if pid in self.pg0 else 0
            pg += now - (now if start is None else start)

        def share(a, b):
            return None if a is None or b is None else 100.0 * (b - a) / CLK_TCK / elapsed

        busy = host1[0] - self.host0[0]
        steal = host1[1] - self.host0[1]
        total = host1[2] - self.host0[2]
        return {
            "server": share(self.server0, server1),
            "pg": 100.0 * pg / CLK_TCK / elapsed if self.database else None,
            "client": share(self.client0, client1),
            "host": 100.0 * busy / total * os.cpu_count() if total else None,
            "steal": 100.0 * steal / total * os.cpu_count() if total else None,
        }


def measured(command, env, window, seconds, profile=None):
    """Runs `command`, measuring CPU from 1 s after its start until 1 s before its end. With
    `profile` (a file name), `perf record` samples the whole host (server, PostgreSQL, load
    client) with call graphs over the same window."""
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    time.sleep(1)
    window.start(process.pid)
    perf = None
    if profile:
        perf = subprocess.Popen(["perf", "record", "-a", "-g", "-F", "199", "-o", profile,
                                 "--", "sleep", str(max(1, seconds - 2))],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(max(1, seconds - 2))
    cpu = window.stop()
    if perf:
        perf.wait()
    out, err = process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"{command[0]} failed: {err[-2000:]}")
    return out, cpu


class Server:
    def __init__(self, name, workdir, extra):
        self.log_path = os.path.join(workdir, f"{name}.log")
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
        env.update({
            "PORT": str(PORT),
            "DATA_DIR": os.path.join(workdir, f"{name}-data"),
            "PRICE_SOURCE": f"fixed:{os.path.join(workdir, 'prices.json')}",
            # Nothing runs the price job during the bench; keep the pinned prices fresh.
            "PRICE_MAX_AGE_SECONDS": "86400",
            "RUN_JOBS": "false",
            "ADMIN_TOKEN": ADMIN_TOKEN,
            "JWT_ACCESS_SECRET": "bench-access-secret-0123456789-abcdef",
            "JWT_REFRESH_SECRET": "bench-refresh-secret-0123456789-abcdef",
            "OTP_SECRET": "bench-otp",
            "TRUSTED_PROXY_HEADER": "x-forwarded-for",
            "RATE_LIMIT_MAX_REQUESTS": "1000000000",
            "LOG_FORMAT": "json",
            "RUST_LOG": "warn",
        })
        env.update(extra)
        os.makedirs(env["DATA_DIR"], exist_ok=True)
        self.base = f"http://127.0.0.1:{PORT}"
        with open(self.log_path, "w") as log_file:
            self.process = subprocess.Popen([BLU_BIN, "serve"], env=env, stdout=log_file,
                                            stderr=subprocess.STDOUT)
        for _ in range(300):
            try:
                urllib.request.urlopen(self.base + "/health", timeout=1).read()
                return
            except (urllib.error.URLError, ConnectionError, OSError):
                if self.process.poll() is not None:
                    break
                time.sleep(0.2)
        raise RuntimeError(f"server {name} did not start; see {self.log_path}")

    @property
    def pid(self):
        return self.process.pid

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
        errors = [line for line in open(self.log_path) if '"level":"ERROR"' in line]
        if errors:
            log(f"  server log has {len(errors)} ERROR lines, first: {errors[0].strip()[:300]}")


# ---------------------------------------------------------------- load generators


def wrk(server, route, tokens, database, seconds, measure=True):
    env = dict(os.environ, BLU_TOKENS=tokens, BLU_OP=route, BLU_THREADS=str(THREADS),
               BLU_IDEMPOTENCY=IDEMPOTENCY, BLU_RUN=uuid.uuid4().hex[:12])
    command = ["wrk", "-t", str(THREADS), "-c", str(CONNECTIONS), "-d", f"{seconds}s",
               "--timeout", "10s", "-s", os.path.join(HERE, "wrk", "load.lua"), server.base]
    if not measure:
        subprocess.run(command, env=env, check=True, capture_output=True)
        return None
    profile = None
    if PROFILE_DIR:
        os.makedirs(PROFILE_DIR, exist_ok=True)
        profile = os.path.join(PROFILE_DIR, f"{'pg' if database else 'sqlite'}-{route}.perf.data")
    out, cpu = measured(command, env, CpuWindow(server.pid, database), seconds, profile)
    line = [l for l in out.splitlines() if l.startswith("{")][-1]
    r = json.loads(line)
    errors = r["connect"] + r["read"] + r["write"] + r["status"] + r["timeout"]
    return {
        "rps": r["requests"] / (r["duration_us"] / 1e6),
        "p50": r["p50_us"] / 1000,
        "p99": r["p99_us"] / 1000,
        "errors": errors,
        "requests": r["requests"],
        "cpu": cpu,
    }


def pgbench_script(script, workdir):
    """The path of a pgbench script. Without idempotency keys, execute.sql loses its key-only
    lines (between `-- key-begin` and `-- key-end`), as the route loses its claim."""
    path = os.path.join(HERE, "pgbench", f"{script}.sql")
    if script != "execute" or IDEMPOTENCY == "1":
        return path
    kept, skipping = [], False
    for line in open(path):
        if line.startswith(("-- key-begin", "-- key-end")):
            skipping = line.startswith("-- key-begin")
            continue
        if not skipping:
            kept.append(line)
    path = os.path.join(workdir, "execute-without-key.sql")
    with open(path, "w") as f:
        f.writelines(kept)
    return path


def pgbench(db_url, database, script, seconds, workdir):
    prefix = os.path.join(workdir, f"pgbench-{script}")
    for old in glob.glob(prefix + "*"):
        os.remove(old)
    command = ["pgbench", "-n", "-M", "prepared", "-c", str(PGBENCH_CLIENTS), "-j", str(THREADS),
               "-T", str(seconds), "-D", f"users={USERS}", "-l", f"--log-prefix={prefix}",
               "-f", pgbench_script(script, workdir), db_url]
    out, cpu = measured(command, os.environ.copy(), CpuWindow(None, database), seconds)
    tps = failed = None
    for line in out.splitlines():
        if line.startswith("tps = "):
            tps = float(line.split()[2])
        if line.startswith("number of failed transactions"):
            failed = int(line.split(":")[1].split()[0])
    latencies = []
    for path in glob.glob(prefix + "*"):
        with open(path) as f:
            latencies.extend(int(line.split()[2]) for line in f if line.strip())
    latencies.sort()

    def pct(p):
        return latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))] / 1000

    return {"rps": tps, "p50": pct(50), "p99": pct(99), "errors": failed or 0, "cpu": cpu}


# ---------------------------------------------------------------- the parts


def database_url(database):
    parts = urllib.parse.urlsplit(PG_URL)
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, "/" + database, "", ""))


def run_http(backend, workdir, rows):
    database = None
    extra = {}
    if backend == "pg":
        database = f"blu_bench_{int(time.time())}_{os.getpid()}"
        psql(PG_URL, f"CREATE DATABASE {database}")
        extra = {"DATABASE_URL": database_url(database), "REDIS_URL": REDIS_URL,
                 "REDIS_KEY_PREFIX": f"bench:{uuid.uuid4().hex[:8]}:"}
    label = "PostgreSQL + Redis" if backend == "pg" else "SQLite (embedded default)"
    log(f"{label}:")
    server = None
    try:
        server = Server(backend, workdir, extra)
        tokens = create_users(server.base, USERS, True, workdir, backend)
        limits = {}
        if database:
            url = database_url(database)
            # Read by pgbench/execute.sql inside the tenant transaction, as the server's role.
            psql(url, "CREATE TABLE bench_ids AS SELECT (row_number() OVER (ORDER BY id))::int AS n,"
                      " id AS portfolio_id, user_id FROM portfolios;"
                      " ALTER TABLE bench_ids ADD PRIMARY KEY (n);"
                      " GRANT SELECT ON bench_ids TO blu_app; ANALYZE")
            holdings = psql(url, "SELECT round(avg(c), 1) FROM (SELECT count(*) c FROM holdings "
                                 "GROUP BY portfolio_id) h")
            log(f"  holdings per portfolio: {holdings}")
        for route in ROUTES:
            wrk(server, route, tokens, database, WARMUP, measure=False)
            result = wrk(server, route, tokens, database, DURATION)
            log(f"  {ROUTE_NAMES[route]}: {result['rps']:.0f} req/s")
            rows.append((label, ROUTE_NAMES[route], result, LIMITS.get(route) if database else None))
        if database:
            for script in PGBENCH_SCRIPTS:
                limits[script] = pgbench(database_url(database), database, script, DURATION,
                                         workdir)
                log(f"  pgbench {script}: {limits[script]['rps']:.0f} tps")
                rows.append((label, PGBENCH_SCRIPTS[script], limits[script], None))
            executed = [r for l, n, r, _ in rows if l == label and n == ROUTE_NAMES["execute"]]
            if executed:
                share = 100 * executed[0]["rps"] / limits["execute"]["rps"]
                NOTES.append(f"{label}: POST /api/v1/trade/execute ran at {share:.0f} % of "
                             "pgbench execute (the same statements without the server).")
        for i, (l, name, result, limit) in enumerate(rows):
            if l == label and isinstance(limit, str):
                rows[i] = (l, name, result, limits.get(limit))
    finally:
        if server:
            server.stop()
        if database and os.environ.get("KEEP_DATABASE") == "1":
            log(f"  kept for inspection: {database_url(database)}")
        elif database:
            psql(PG_URL, f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")


def run_ws(workdir):
    if not WS_LOAD_BIN:
        raise RuntimeError("WS_LOAD_BIN is required for the ws part (bench/run builds it)")
    log("WebSocket fan-out (SQLite + Redis price bus):")
    prefix = f"bench:{uuid.uuid4().hex[:8]}:"
    server = Server("ws", workdir, {"REDIS_URL": REDIS_URL, "REDIS_KEY_PREFIX": prefix})
    try:
        users = -(-WS_CONNECTIONS // 5)
        tokens = create_users(server.base, users, False, workdir, "ws")
        command = [WS_LOAD_BIN, "--url", f"ws://127.0.0.1:{PORT}/api/v1/prices/stream",
                   "--tokens", tokens, "--connections", str(WS_CONNECTIONS), "--ticks",
                   str(WS_TICKS), "--redis", urllib.parse.urlsplit(REDIS_URL).netloc or
                   "127.0.0.1:6379", "--channel", f"{prefix}prices:ticks", "--server-pid",
                   str(server.pid)]
        result = json.loads(subprocess.run(command, check=True, capture_output=True,
                                           text=True).stdout)
        log("  " + json.dumps(result))
        return result
    finally:
        server.stop()


# ---------------------------------------------------------------- report


def fmt(value, digits=0):
    if value is None:
        return "—"
    return f"{value:,.{digits}f}"


def table(rows):
    lines = [
        "| Backend | Route | req/s (tps) | p50 ms | p99 ms | errors | pgbench limit | ratio | "
        "CPU % server / PG / client / host | steal % |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for label, name, r, limit in rows:
        c = r["cpu"]
        cpu = " / ".join(fmt(c[k]) for k in ("server", "pg", "client", "host"))
        ratio = f"{100 * r['rps'] / limit['rps']:.0f} %" if limit else "—"
        lines.append(f"| {label} | {name} | {fmt(r['rps'])} | {fmt(r['p50'], 1)} | "
                     f"{fmt(r['p99'], 1)} | {r['errors']} | "
                     f"{fmt(limit['rps']) if limit else '—'} | {ratio} | {cpu} | "
                     f"{fmt(c.get('steal'))} |")
    return "\n".join(lines)


def ws_table(r):
    rss = "—"
    if r.get("serverRssBeforeKib") and r.get("serverRssAfterKib"):
        rss = f"{r['serverRssBeforeKib'] / 1024:.1f} → {r['serverRssAfterKib'] / 1024:.1f} MiB"
    return "\n".join([
        "| Connections | Delivered | p50 ms | p99 ms | max ms | Server RSS | KiB / connection | "
        "CPU % server / client (ticks) |",
        "|---|---|---|---|---|---|---|---|",
        f"| {r['connections']:,} | {r['delivered']:,} / {r['expected']:,} | {fmt(r['p50Ms'], 1)} | "
        f"{fmt(r['p99Ms'], 1)} | {fmt(r['maxMs'], 1)} | {rss} | {fmt(r['kibPerConnection'], 1)} | "
        f"{fmt(r['serverCpuPct'])} / {fmt(r['clientCpuPct'])} |",
    ])


def main():
    commit = subprocess.run(["git", "-C", HERE, "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", HERE, "status", "--porcelain", "--", "crates"],
                           capture_output=True, text=True).stdout.strip()
    load_before = open("/proc/loadavg").read().split()[:3]
    workdir = tempfile.mkdtemp(prefix="blu-bench-")
    with open(os.path.join(workdir, "prices.json"), "w") as f:
        f.write('{"fxRate":1456000}')
    rows, ws = [], None
    try:
        for part in PARTS:
            if part in ("pg", "sqlite"):
                run_http(part, workdir, rows)
            elif part == "ws":
                ws = run_ws(workdir)
            else:
                raise RuntimeError(f"unknown part {part}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    load_after = open("/proc/loadavg").read().split()[:3]
    print(f"Commit {commit}{' (with uncommitted changes in crates/)' if dirty else ''}; "
          f"{os.cpu_count()} cores; load average {' '.join(load_before)} before, "
          f"{' '.join(load_after)} after.")
    if rows:
        print(f"wrk: {THREADS} threads, {CONNECTIONS} connections, {DURATION} s after {WARMUP} s "
              f"of warm-up, {USERS} users; pgbench: {PGBENCH_CLIENTS} clients, {THREADS} "
              f"threads, prepared statements, {DURATION} s; execute with Idempotency-Key: "
              f"{'yes' if IDEMPOTENCY == '1' else 'no'}.")
        print("CPU: share of one core; host = busy share of all cores × cores (everything on "
              "the machine); steal = CPU time the hypervisor gave to other VMs (same scale): a phase "
              "with steal well above 0 measured the neighbours too.\n")
        print(table(rows))
        for note in NOTES:
            print(f"\n{note}")
        print()
    if ws:
        print(ws_table(ws))


if __name__ == "__main__":
    main()
