-- Operators, their sessions and one-time login codes, and the append-only audit trail
-- (issue 15). Not tenant data: written and read as the owning role; the API's tenant role
-- (blu_app) gets no rights on them. Mirrors sqlite/0030.

CREATE TABLE operators (
    id              UUID PRIMARY KEY,
    -- Any script (Persian names); unique as typed.
    name            TEXT NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 64),
    role            TEXT NOT NULL CHECK (role IN ('viewer', 'support', 'risk', 'admin')),
    -- Argon2id PHC string; NULL until the operator sets a password (first login by code).
    password_hash   TEXT,
    disabled_at     TIMESTAMPTZ,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL
);

-- One-time login codes: SHA-256 of the code, single use, expiring.
CREATE TABLE operator_codes (
    code_hash       TEXT PRIMARY KEY,
    operator_id     UUID NOT NULL REFERENCES operators (id) ON DELETE CASCADE,
    expires_at      TIMESTAMPTZ NOT NULL,
    used_at         TIMESTAMPTZ,
    created_at      TIMESTAMPTZ NOT NULL
);

CREATE INDEX operator_codes_operator_idx ON operator_codes (operator_id);

-- Console and API sessions: SHA-256 of the token.
CREATE TABLE operator_sessions (
    id              UUID PRIMARY KEY,
    token_hash      TEXT NOT NULL UNIQUE,
    operator_id     UUID NOT NULL REFERENCES operators (id) ON DELETE CASCADE,
    created_at      TIMESTAMPTZ NOT NULL,
    expires_at      TIMESTAMPTZ NOT NULL,
    last_seen_at    TIMESTAMPTZ NOT NULL,
    revoked_at      TIMESTAMPTZ
);

CREATE INDEX operator_sessions_operator_idx ON operator_sessions (operator_id);

-- Who did what, when: every operator change (in the transaction of the change), every read of
-- customer data and every refusal. Rows are never changed or deleted.
CREATE TABLE audit_log (
    seq             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at              TIMESTAMPTZ NOT NULL,
    actor           TEXT NOT NULL,
    actor_kind      TEXT NOT NULL CHECK (actor_kind IN ('operator', 'break_glass', 'cli')),
    role            TEXT CHECK (role IN ('viewer', 'support', 'risk', 'admin')),
    action          TEXT NOT NULL,
    target          TEXT,
    allowed         BOOLEAN NOT NULL,
    before          JSONB,
    after           JSONB,
    request_id      TEXT,
    ip              TEXT
);

CREATE INDEX audit_log_actor_idx ON audit_log (actor, seq);
CREATE INDEX audit_log_action_idx ON audit_log (action, seq);
CREATE INDEX audit_log_target_idx ON audit_log (target, seq);

CREATE FUNCTION audit_log_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit rows are append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change();
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change();
