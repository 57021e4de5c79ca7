-- Issue 10: an IN_PROGRESS idempotency record names the claim (a fresh id per request) and the
-- process that holds it. The process holds a session advisory lock (blu_claim_owner, see
-- crates/store/src/pg.rs) for its lifetime, so a record whose owner died is taken over at once
-- instead of after a timer; and only the claim named may complete or release the record.
ALTER TABLE idempotency_keys
    ADD COLUMN claim_id UUID,
    ADD COLUMN owner INTEGER CHECK (owner > 0);
