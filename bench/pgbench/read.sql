-- pgbench script of bench/run (issue 12 item 5): the database work GET /api/v1/portfolio needs at
-- the least — one portfolio row joined with its holdings (15 per funded portfolio), looked up by
-- a random bench user. bench_ids (n → portfolio id) is created by bench.py; :users is passed with
-- -D users=N.
\set n random(1, :users)
SELECT p.id, p.cash_irr, p.status, p.version, h.asset_id, h.quantity, h.frozen, h.first_purchased_at
FROM bench_ids b
JOIN portfolios p ON p.id = b.portfolio_id
JOIN holdings h ON h.portfolio_id = p.id
WHERE b.n = :n;
