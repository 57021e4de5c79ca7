-- wrk script of bench/run (issue 12 item 5): rotates the bench users' access tokens over the
-- requests of each wrk thread and builds valid bodies for the trade routes.
--   BLU_TOKENS  file with one access token per line (the users created by bench/bench.py)
--   BLU_OP      portfolio | prices | preview | execute | mixed
--   BLU_THREADS number of wrk threads (wrk's -t)
--   BLU_IDEMPOTENCY  1 (default): every execute carries a fresh Idempotency-Key
--   BLU_RUN     unique per invocation (part of the keys)
-- Thread t of T takes users t, t+T, t+2T, … in turn, so two threads never act for the same user
-- and, with more users per thread than connections, a portfolio lock rarely queues two
-- requests. Each user alternates BUY and SELL of the same amount, so cash never runs out.
-- `mixed` is the app's traffic on one connection pool: of every 20 requests 12 read the
-- portfolio, 4 the prices, 3 preview and 1 executes (the app polls its screens, trades rarely),
-- so reads as the owner and movements as the tenant role share the server's connections.
-- done() prints one JSON line that bench.py parses.

local thread_count = 0

-- Runs in wrk's main state once per thread, just before that thread's init.
function setup(thread)
  thread:set("tid", thread_count)
  thread_count = thread_count + 1
end

local op, idempotency
local mine = {}
local n = 0
local TRADE_IRR = 2000000
-- The order of `mixed`'s 20 requests (interleaved, so every stretch of the run has each kind).
local MIX = {
  "portfolio", "prices", "preview", "portfolio", "portfolio", "execute", "portfolio", "prices",
  "portfolio", "preview", "portfolio", "portfolio", "prices", "portfolio", "preview", "portfolio",
  "portfolio", "prices", "portfolio", "portfolio",
}

function init(args)
  op = os.getenv("BLU_OP") or "portfolio"
  idempotency = (os.getenv("BLU_IDEMPOTENCY") or "1") == "1"
  local nthreads = tonumber(os.getenv("BLU_THREADS") or "1")
  local all = {}
  for line in io.lines(os.getenv("BLU_TOKENS")) do
    if #line > 0 then table.insert(all, line) end
  end
  for i = tid + 1, #all, nthreads do
    table.insert(mine, { token = all[i], sell = false })
  end
  if #mine == 0 then error("no users for thread " .. tid) end
  -- Unique per wrk invocation (bench.py), so no key is ever replayed.
  run_id = os.getenv("BLU_RUN") or tostring(os.time())
end

function request()
  n = n + 1
  local user = mine[(n % #mine) + 1]
  local headers = { ["Authorization"] = "Bearer " .. user.token }
  local op = op
  -- Shifted by one each round of the users, so every user takes every kind in turn.
  if op == "mixed" then op = MIX[((n + math.floor(n / #mine)) % #MIX) + 1] end
  if op == "portfolio" then
    return wrk.format("GET", "/api/v1/portfolio", headers)
  elseif op == "prices" then
    return wrk.format("GET", "/api/v1/prices", headers)
  end
  local action = user.sell and "SELL" or "BUY"
  user.sell = not user.sell
  headers["Content-Type"] = "application/json"
  if op == "preview" then
    local body = string.format('{"action":"%s","assetId":"BTC","amountIrr":%d}', action, TRADE_IRR)
    return wrk.format("POST", "/api/v1/trade/preview", headers, body)
  end
  if idempotency then
    headers["Idempotency-Key"] = string.format("bench-%s-%d-%d", run_id, tid, n)
  end
  local body = string.format(
    '{"action":"%s","assetId":"BTC","amountIrr":%d,"acknowledgedWarning":true}', action, TRADE_IRR)
  return wrk.format("POST", "/api/v1/trade/execute", headers, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    latency.mean))
end
