-- pgbench script of bench/run (issue 12 item 5): the database work POST /api/v1/trade/execute
-- needs at the least — lock the portfolio row, update its cash, upsert the holding, append a
-- ledger row after the current head (a copy of the head's snapshots, so the row has the real
-- size) — in one transaction, for a random bench user. Runs as the database owner, so without
-- the row-level-security policies the server's role goes through.
\set n random(1, :users)
BEGIN;
SELECT p.id, p.cash_irr FROM bench_ids b JOIN portfolios p ON p.id = b.portfolio_id
WHERE b.n = :n FOR UPDATE OF p;
UPDATE portfolios SET cash_irr = cash_irr + 1, version = version + 1, updated_at = now()
WHERE id = (SELECT portfolio_id FROM bench_ids WHERE n = :n);
INSERT INTO holdings (id, portfolio_id, asset_id, quantity, created_at, updated_at)
SELECT gen_random_uuid(), portfolio_id, 'BTC', 0.00000001, now(), now() FROM bench_ids WHERE n = :n
ON CONFLICT (portfolio_id, asset_id)
DO UPDATE SET quantity = holdings.quantity + 0.00000001, updated_at = now();
INSERT INTO ledger (id, portfolio_id, sequence_number, entry_type, created_at, before_snapshot,
                    after_snapshot, asset_id, quantity, amount_irr, price_irr, spread_irr, boundary,
                    message, legs, metadata, prev_hash, entry_hash)
SELECT gen_random_uuid(), l.portfolio_id, l.sequence_number + 1, 'TRADE_BUY', now(),
       l.before_snapshot, l.after_snapshot, 'BTC', 0.00000001, 1, 1, 0, 'SAFE', 'bench', l.legs,
       l.metadata, l.entry_hash, md5(random()::text) || md5(random()::text)
FROM ledger l
WHERE l.portfolio_id = (SELECT portfolio_id FROM bench_ids WHERE n = :n)
ORDER BY l.sequence_number DESC
LIMIT 1;
COMMIT;
