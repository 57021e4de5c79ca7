-- Operators, their sessions and one-time login codes, and the append-only audit trail
-- (issue 15). Mirrors postgres/0030.

CREATE TABLE operators (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 64),
    role            TEXT NOT NULL CHECK (role IN ('viewer', 'support', 'risk', 'admin')),
    password_hash   TEXT,
    disabled_at     TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
) STRICT;

CREATE TABLE operator_codes (
    code_hash       TEXT PRIMARY KEY,
    operator_id     TEXT NOT NULL REFERENCES operators (id) ON DELETE CASCADE,
    expires_at      TEXT NOT NULL,
    used_at         TEXT,
    created_at      TEXT NOT NULL
) STRICT;

CREATE INDEX operator_codes_operator_idx ON operator_codes (operator_id);

CREATE TABLE operator_sessions (
    id              TEXT PRIMARY KEY,
    token_hash      TEXT NOT NULL UNIQUE,
    operator_id     TEXT NOT NULL REFERENCES operators (id) ON DELETE CASCADE,
    created_at      TEXT NOT NULL,
    expires_at      TEXT NOT NULL,
    last_seen_at    TEXT NOT NULL,
    revoked_at      TEXT
) STRICT;

CREATE INDEX operator_sessions_operator_idx ON operator_sessions (operator_id);

CREATE TABLE audit_log (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    at              TEXT NOT NULL,
    actor           TEXT NOT NULL,
    actor_kind      TEXT NOT NULL CHECK (actor_kind IN ('operator', 'break_glass', 'cli')),
    role            TEXT CHECK (role IN ('viewer', 'support', 'risk', 'admin')),
    action          TEXT NOT NULL,
    target          TEXT,
    allowed         INTEGER NOT NULL CHECK (allowed IN (0, 1)),
    before          TEXT,
    after           TEXT,
    request_id      TEXT,
    ip              TEXT
) STRICT;

CREATE INDEX audit_log_actor_idx ON audit_log (actor, seq);
CREATE INDEX audit_log_action_idx ON audit_log (action, seq);
CREATE INDEX audit_log_target_idx ON audit_log (target, seq);

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit rows are append-only: UPDATE refused');
END;

CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit rows are append-only: DELETE refused');
END;
