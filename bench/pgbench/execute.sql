-- pgbench script of bench/run: what POST /api/v1/trade/execute with an Idempotency-Key asks of
-- the database, statement for statement as the server sends them (captured with
-- log_statement = all, docs/benchmarks.md): the claim (its own transaction, no flush wait); the
-- tenant transaction (BEGIN, role blu_app and the user setting in one round trip), so every
-- statement goes through row-level security; the lock; the 15-holding portfolio view; the
-- writes as one statement (portfolio row, holding upsert, ledger row after the head with
-- snapshots of the real size, activity row, idempotency completion); COMMIT. Where the server
-- binds a value it already holds (user, portfolio, head), this script looks it up in a
-- subquery: a little more work than the server asks, so the limit is, if anything, low.
-- With EXECUTE_IDEMPOTENCY=0 (the app's executes: no key) bench.py runs it without the lines
-- between "key-begin" and "key-end": no claim, no completion.
\set n random(1, :users)
\set k random(1, 9000000000000000000)
-- key-begin
INSERT INTO idempotency_keys (user_id, key, method, path, fingerprint, created_at, claim_id, owner)
SELECT v.* FROM (VALUES ((SELECT user_id FROM bench_ids WHERE n = :n), 'pgb-' || :k, 'POST',
  '/api/v1/trade/execute', md5(:k::text), now(), md5(:k::text)::uuid, 1)) AS v
CROSS JOIN (SELECT set_config('synchronous_commit', 'off', true)) AS no_flush_wait
ON CONFLICT (user_id, key) DO NOTHING;
-- key-end
\startpipeline
BEGIN;
SELECT set_config('app.user_id', (SELECT user_id::text FROM bench_ids WHERE n = :n), true),
       set_config('role', 'blu_app', true);
\endpipeline
SELECT id FROM portfolios WHERE user_id = (SELECT user_id FROM bench_ids WHERE n = :n) FOR UPDATE;
WITH p AS MATERIALIZED (SELECT p.id, p.user_id, p.cash_irr, p.last_rebalance_at, p.created_at,
    u.risk_score, u.target_foundation, u.target_growth, u.target_upside,
    (SELECT count(*) FROM loans l WHERE l.portfolio_id = p.id AND l.status = 'ACTIVE') AS active_loans,
    (SELECT coalesce(sum(l.principal_irr - l.principal_paid_irr), 0) FROM loans l
      WHERE l.portfolio_id = p.id AND l.status = 'ACTIVE') AS outstanding,
    (SELECT count(*) FROM protections x WHERE x.portfolio_id = p.id AND x.status = 'ACTIVE') AS active_protections,
    h.sequence_number AS head_sequence, h.entry_hash AS head_hash
  FROM portfolios p JOIN users u ON u.id = p.user_id
  LEFT JOIN LATERAL (SELECT sequence_number, entry_hash FROM ledger WHERE portfolio_id = p.id
                     ORDER BY sequence_number DESC LIMIT 1) h ON TRUE
  WHERE p.user_id = (SELECT user_id FROM bench_ids WHERE n = :n) AND u.deleted_at IS NULL)
SELECT p.*, h.id AS holding_id, h.asset_id, h.quantity, h.frozen, h.first_purchased_at, l.units,
       l.purchased_at
FROM p LEFT JOIN holdings h ON h.portfolio_id = p.id LEFT JOIN fixed_income_lots l ON l.holding_id = h.id
ORDER BY h.id, l.purchased_at, l.id;
WITH w0 AS (UPDATE portfolios SET cash_irr = cash_irr + 1, status = 'BALANCED', version = version + 1,
              updated_at = now(), last_rebalance_at = CASE WHEN false THEN now() ELSE last_rebalance_at END
            WHERE id = (SELECT portfolio_id FROM bench_ids WHERE n = :n) RETURNING 1),
     w1 AS (INSERT INTO holdings (id, portfolio_id, asset_id, quantity, frozen, first_purchased_at,
              created_at, updated_at)
            SELECT gen_random_uuid(), portfolio_id, 'BTC', 0.00000001, false, now(), now(), now()
            FROM bench_ids WHERE n = :n
            ON CONFLICT (portfolio_id, asset_id) DO UPDATE SET quantity = holdings.quantity + 0.00000001,
              frozen = excluded.frozen,
              first_purchased_at = COALESCE(holdings.first_purchased_at, excluded.first_purchased_at),
              updated_at = excluded.updated_at RETURNING 1),
     w2 AS (INSERT INTO ledger (id, portfolio_id, sequence_number, entry_type, created_at,
              before_snapshot, after_snapshot, asset_id, quantity, amount_irr, price_irr, spread_irr,
              boundary, loan_id, protection_id, message, legs, metadata, prev_hash, entry_hash)
            SELECT gen_random_uuid(), l.portfolio_id, l.sequence_number + 1, 'TRADE_BUY', now(),
              l.after_snapshot, l.after_snapshot, 'BTC', 0.00000001, 2000000, 141960000000, 6000,
              'SAFE', NULL, NULL, 'Bought BTC (2M IRR)', l.legs, l.metadata, l.entry_hash,
              md5(random()::text) || md5(random()::text)
            FROM ledger l WHERE l.portfolio_id = (SELECT portfolio_id FROM bench_ids WHERE n = :n)
            ORDER BY l.sequence_number DESC LIMIT 1 RETURNING 1),
     w3 AS (INSERT INTO action_log (portfolio_id, action_type, boundary, message, amount_irr,
              asset_id, created_at)
            SELECT portfolio_id, 'TRADE_BUY', 'SAFE', 'Bought BTC (2M IRR)', 2000000, 'BTC', now()
            FROM bench_ids WHERE n = :n RETURNING 1)
-- key-begin
     , w4 AS (UPDATE idempotency_keys SET state = 'COMPLETED', status_code = 200,
              response_body = convert_to(repeat('x', 400), 'UTF8'), completed_at = now()
            WHERE user_id = (SELECT user_id FROM bench_ids WHERE n = :n) AND key = 'pgb-' || :k
              AND claim_id = md5(:k::text)::uuid AND state = 'IN_PROGRESS' RETURNING 1)
-- key-end
SELECT
-- key-begin
       (SELECT count(*) FROM w4) AS n4,
-- key-end
       (SELECT count(*) FROM w0) AS n0, (SELECT count(*) FROM w1) AS n1,
       (SELECT count(*) FROM w2) AS n2, (SELECT count(*) FROM w3) AS n3;
COMMIT;
