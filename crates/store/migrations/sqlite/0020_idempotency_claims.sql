-- Issue 10: an IN_PROGRESS idempotency record names its claim (a fresh id per request), so only
-- that request may complete or release it. One process serves a SQLite file, so every
-- IN_PROGRESS record found when `blu serve` starts is a dead process's and is released then.
-- `owner` is kept for the PostgreSQL schema's shape (always NULL here).
ALTER TABLE idempotency_keys ADD COLUMN claim_id TEXT;
ALTER TABLE idempotency_keys ADD COLUMN owner INTEGER CHECK (owner > 0);
