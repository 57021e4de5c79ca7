-- The protection-expiry job writes its notification in the settlement transaction, which runs
-- under the tenant role. 0016 already lets the role insert and read its own outbox rows; this
-- migration only restates the grant so the two features stay independent.
GRANT SELECT, INSERT ON notifications TO blu_app;
