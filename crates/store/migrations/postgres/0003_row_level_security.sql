-- Tenant isolation (architecture.md, seed plan §2.3). The API runs each tenant transaction as
--     SET LOCAL ROLE blu_app; SELECT set_config('app.user_id', '<uuid>', true);
-- (PgStore::tenant_tx). Policies then hide every row that is not the user's. Background jobs run
-- as the owning (migrating) role, to which RLS does not apply.

-- Roles are cluster-wide while this migration runs once per database: several databases on one
-- server (test databases, staging next to production) may create the role concurrently, so a
-- duplicate is tolerated rather than an error.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'blu_app') THEN
        BEGIN
            CREATE ROLE blu_app NOLOGIN;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;
        END;
    END IF;
END
$$;

-- The migrating user must be able to SET ROLE blu_app. Superusers can already; a concurrent
-- grant from another database is tolerated, but only if the membership really exists afterwards.
DO $$
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM pg_auth_members m
        JOIN pg_roles r ON r.oid = m.roleid
        JOIN pg_roles u ON u.oid = m.member
        WHERE r.rolname = 'blu_app' AND u.rolname = current_user
    ) AND NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        BEGIN
            EXECUTE format('GRANT blu_app TO %I', current_user);
        EXCEPTION WHEN OTHERS THEN
            IF NOT pg_has_role(current_user, 'blu_app', 'MEMBER') THEN
                RAISE;
            END IF;
        END;
    END IF;
END
$$;

-- The user id of the current tenant transaction, NULL outside one (so policies match nothing).
CREATE FUNCTION blu_current_user_id() RETURNS uuid LANGUAGE sql STABLE AS $$
    SELECT NULLIF(current_setting('app.user_id', true), '')::uuid
$$;

GRANT USAGE ON SCHEMA public TO blu_app;
GRANT EXECUTE ON FUNCTION blu_current_user_id() TO blu_app;

-- Reference data: read-only for the API role (trades and valuations read prices in the tenant
-- transaction).
GRANT SELECT ON layers, assets, prices, fx_rates, price_history, price_points, price_overrides
    TO blu_app;

-- The user's own row: profile, questionnaire, consent and settings are tenant writes too.
GRANT SELECT, UPDATE ON users TO blu_app;
ALTER TABLE users ENABLE ROW LEVEL SECURITY;
CREATE POLICY users_tenant ON users TO blu_app
    USING (id = blu_current_user_id())
    WITH CHECK (id = blu_current_user_id());

GRANT SELECT, INSERT, UPDATE, DELETE ON
    portfolios, holdings, fixed_income_lots, loans, loan_installments, protections, action_log,
    trade_quotes, protection_quotes, idempotency_keys
    TO blu_app;
-- The ledger is append-only for the application (business-rules §9.4).
GRANT SELECT, INSERT ON ledger TO blu_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO blu_app;
-- Sequences of later migrations too (tables, by contrast, are granted one by one).
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO blu_app;

ALTER TABLE portfolios ENABLE ROW LEVEL SECURITY;
CREATE POLICY portfolios_tenant ON portfolios TO blu_app
    USING (user_id = blu_current_user_id())
    WITH CHECK (user_id = blu_current_user_id());

-- Tables keyed by portfolio: the row's portfolio must be the user's. The subquery reads
-- portfolios under the same role, so it is itself restricted; the explicit user test keeps the
-- policy correct on its own.
ALTER TABLE holdings ENABLE ROW LEVEL SECURITY;
CREATE POLICY holdings_tenant ON holdings TO blu_app
    USING (portfolio_id IN (SELECT id FROM portfolios WHERE user_id = blu_current_user_id()))
    WITH CHECK (portfolio_id IN (SELECT id FROM portfolios WHERE user_id = blu_current_user_id()));

ALTER TABLE fixed_income_lots ENABLE ROW LEVEL SECURITY;
CREATE POLICY fixed_income_lots_tenant ON fixed_income_lots TO blu_app
    USING (portfolio_id IN (SELECT id FROM portfolios WHERE user_id = blu_current_user_id()))
    WITH CHECK (portfolio_id IN (SELECT id FROM portfolios WHERE user_id = blu_current_user_id()));

ALTER TABLE loans ENABLE ROW LEVEL SECURITY;
CREATE POLICY loans_tenant ON loans TO blu_app
    USING (portfolio_id IN (SELECT id FROM portfolios WHERE user_id = blu_current_user_id()))
    WITH CHECK (portfolio_id IN (SELECT id FROM portfolios WHERE user_id = blu_current_user_id()));

ALTER TABLE loan_installments ENABLE ROW LEVEL SECURITY;
CREATE POLICY loan_installments_tenant ON loan_installments TO blu_app
    USING (loan_id IN (SELECT l.id FROM loans l JOIN portfolios p ON p.id = l.portfolio_id
                       WHERE p.user_id = blu_current_user_id()))
    WITH CHECK (loan_id IN (SELECT l.id FROM loans l JOIN portfolios p ON p.id = l.portfolio_id
                            WHERE p.user_id = blu_current_user_id()));

ALTER TABLE protections ENABLE ROW LEVEL SECURITY;
CREATE POLICY protections_tenant ON protections TO blu_app
    USING (portfolio_id IN (SELECT id FROM portfolios WHERE user_id = blu_current_user_id()))
    WITH CHECK (portfolio_id IN (SELECT id FROM portfolios WHERE user_id = blu_current_user_id()));

ALTER TABLE ledger ENABLE ROW LEVEL SECURITY;
CREATE POLICY ledger_tenant ON ledger TO blu_app
    USING (portfolio_id IN (SELECT id FROM portfolios WHERE user_id = blu_current_user_id()))
    WITH CHECK (portfolio_id IN (SELECT id FROM portfolios WHERE user_id = blu_current_user_id()));

ALTER TABLE action_log ENABLE ROW LEVEL SECURITY;
CREATE POLICY action_log_tenant ON action_log TO blu_app
    USING (portfolio_id IN (SELECT id FROM portfolios WHERE user_id = blu_current_user_id()))
    WITH CHECK (portfolio_id IN (SELECT id FROM portfolios WHERE user_id = blu_current_user_id()));

-- Tables keyed by user.
ALTER TABLE trade_quotes ENABLE ROW LEVEL SECURITY;
CREATE POLICY trade_quotes_tenant ON trade_quotes TO blu_app
    USING (user_id = blu_current_user_id())
    WITH CHECK (user_id = blu_current_user_id());

ALTER TABLE protection_quotes ENABLE ROW LEVEL SECURITY;
CREATE POLICY protection_quotes_tenant ON protection_quotes TO blu_app
    USING (user_id = blu_current_user_id())
    WITH CHECK (user_id = blu_current_user_id());

ALTER TABLE idempotency_keys ENABLE ROW LEVEL SECURITY;
CREATE POLICY idempotency_keys_tenant ON idempotency_keys TO blu_app
    USING (user_id = blu_current_user_id())
    WITH CHECK (user_id = blu_current_user_id());
