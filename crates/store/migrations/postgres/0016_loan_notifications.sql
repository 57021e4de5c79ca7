-- The loan-health job writes its notification rows inside the owner's tenant transaction
-- (business-rules §7.8), so the application role may insert (and read back) its own rows.
GRANT SELECT, INSERT ON notifications TO blu_app;
ALTER TABLE notifications ENABLE ROW LEVEL SECURITY;
CREATE POLICY notifications_tenant ON notifications TO blu_app
    USING (user_id = blu_current_user_id())
    WITH CHECK (user_id = blu_current_user_id());
