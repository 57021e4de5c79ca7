-- The protection-expiry job writes its notification in the settlement transaction, which runs
-- under the tenant role: the role may insert (and, for ON CONFLICT, see) the user's own outbox
-- rows (business-rules §10).
GRANT SELECT, INSERT ON notifications TO blu_app;
ALTER TABLE notifications ENABLE ROW LEVEL SECURITY;
CREATE POLICY notifications_tenant_own ON notifications TO blu_app
    USING (user_id = blu_current_user_id())
    WITH CHECK (user_id = blu_current_user_id());
