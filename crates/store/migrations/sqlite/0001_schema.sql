-- Blu Markets schema, SQLite: the same tables and columns as migrations/postgres, with these
-- representations (STRICT tables, so SQLite never converts a value behind our back):
--   decimals   TEXT holding the normalized decimal ("0.3", "100000000000000"). Never NUMERIC or
--              REAL: SQLite's type affinity would round them (stack-notes §0). Sign checks cast to
--              REAL, which is exact enough for a sign.
--   uuids      TEXT, lower-case hyphenated.
--   instants   TEXT, RFC 3339 UTC with six fractional digits ("2026-01-20T12:00:00.000000Z"):
--              fixed width, so string order is time order and comparisons work in SQL.
--   booleans   INTEGER 0/1.   JSON   TEXT (json_valid).   days   TEXT "YYYY-MM-DD".

-- ---------------------------------------------------------------------------------------------
-- Reference data
-- ---------------------------------------------------------------------------------------------

CREATE TABLE layers (
    layer                       TEXT PRIMARY KEY CHECK (layer IN ('FOUNDATION', 'GROWTH', 'UPSIDE')),
    position                    INTEGER NOT NULL UNIQUE,
    trade_spread                TEXT NOT NULL CHECK (CAST(trade_spread AS REAL) >= 0),
    max_ltv                     TEXT NOT NULL CHECK (CAST(max_ltv AS REAL) BETWEEN 0 AND 1),
    protection_monthly_rate     TEXT NOT NULL CHECK (CAST(protection_monthly_rate AS REAL) >= 0),
    protection_margin_per_day   TEXT NOT NULL CHECK (CAST(protection_margin_per_day AS REAL) >= 0),
    min_share                   TEXT CHECK (CAST(min_share AS REAL) BETWEEN 0 AND 1),
    max_share                   TEXT CHECK (CAST(max_share AS REAL) BETWEEN 0 AND 1)
) STRICT;

CREATE TABLE assets (
    id                          TEXT PRIMARY KEY,
    position                    INTEGER NOT NULL UNIQUE,
    name                        TEXT NOT NULL,
    layer                       TEXT NOT NULL REFERENCES layers (layer),
    category                    TEXT NOT NULL,
    layer_weight                TEXT NOT NULL CHECK (CAST(layer_weight AS REAL) > 0 AND CAST(layer_weight AS REAL) <= 1),
    price_source                TEXT NOT NULL CHECK (price_source IN ('coingecko', 'finnhub', 'internal')),
    source_id                   TEXT,
    default_price_usd           TEXT CHECK (CAST(default_price_usd AS REAL) > 0),
    base_volatility             TEXT NOT NULL CHECK (CAST(base_volatility AS REAL) >= 0),
    liquidity_score             TEXT NOT NULL CHECK (CAST(liquidity_score AS REAL) BETWEEN 0 AND 1),
    asset_max_ltv               TEXT NOT NULL CHECK (CAST(asset_max_ltv AS REAL) BETWEEN 0 AND 1),
    effective_max_ltv           TEXT NOT NULL CHECK (CAST(effective_max_ltv AS REAL) BETWEEN 0 AND 1),
    implied_volatility          TEXT NOT NULL CHECK (CAST(implied_volatility AS REAL) >= 0),
    protection_eligible         INTEGER NOT NULL CHECK (protection_eligible IN (0, 1)),
    protection_execution_spread TEXT,
    protection_min_premium_30d  TEXT,
    protection_max_premium_30d  TEXT,
    active                      INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    created_at                  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000Z'),
    updated_at                  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000Z'),
    CHECK ((price_source = 'internal') = (source_id IS NULL)),
    CHECK (protection_eligible = (protection_execution_spread IS NOT NULL)
       AND protection_eligible = (protection_min_premium_30d IS NOT NULL)
       AND protection_eligible = (protection_max_premium_30d IS NOT NULL))
) STRICT;

-- ---------------------------------------------------------------------------------------------
-- Users and authentication
-- ---------------------------------------------------------------------------------------------

CREATE TABLE users (
    id                      TEXT PRIMARY KEY,
    phone                   TEXT NOT NULL CHECK (length(phone) BETWEEN 1 AND 64),
    phone_verified          INTEGER NOT NULL DEFAULT 0 CHECK (phone_verified IN (0, 1)),

    risk_score              INTEGER CHECK (risk_score BETWEEN 1 AND 10),
    risk_tier               TEXT CHECK (risk_tier IN ('LOW', 'MEDIUM', 'HIGH')),
    risk_profile_name       TEXT,
    target_foundation       TEXT CHECK (CAST(target_foundation AS REAL) BETWEEN 0 AND 1),
    target_growth           TEXT CHECK (CAST(target_growth AS REAL) BETWEEN 0 AND 1),
    target_upside           TEXT CHECK (CAST(target_upside AS REAL) BETWEEN 0 AND 1),
    questionnaire_version   TEXT,
    questionnaire_answers   TEXT CHECK (json_valid(questionnaire_answers)),
    risk_breakdown          TEXT CHECK (json_valid(risk_breakdown)),
    risk_scored_at          TEXT,

    consent_risk            INTEGER NOT NULL DEFAULT 0 CHECK (consent_risk IN (0, 1)),
    consent_loss            INTEGER NOT NULL DEFAULT 0 CHECK (consent_loss IN (0, 1)),
    consent_no_guarantee    INTEGER NOT NULL DEFAULT 0 CHECK (consent_no_guarantee IN (0, 1)),
    consent_at              TEXT,

    language                TEXT NOT NULL DEFAULT 'fa' CHECK (language IN ('fa', 'en')),
    notifications_enabled   INTEGER NOT NULL DEFAULT 1 CHECK (notifications_enabled IN (0, 1)),
    notification_token      TEXT CHECK (length(notification_token) <= 512),

    deleted_at              TEXT,
    created_at              TEXT NOT NULL,
    updated_at              TEXT NOT NULL,
    last_login_at           TEXT,

    CONSTRAINT users_targets_complete CHECK (
        (target_foundation IS NULL AND target_growth IS NULL AND target_upside IS NULL)
        OR (target_foundation IS NOT NULL AND target_growth IS NOT NULL AND target_upside IS NOT NULL)),
    -- REAL arithmetic cannot test "= 1" exactly; the tolerance is far below the 0.01 steps of
    -- the allocation table, and PostgreSQL checks the exact sum.
    CONSTRAINT users_targets_sum_to_one CHECK (
        target_foundation IS NULL
        OR abs(CAST(target_foundation AS REAL) + CAST(target_growth AS REAL) + CAST(target_upside AS REAL) - 1) < 1e-9),
    CONSTRAINT users_scored_together CHECK ((risk_score IS NULL) = (risk_tier IS NULL))
) STRICT;

CREATE UNIQUE INDEX users_phone_active_key ON users (phone) WHERE deleted_at IS NULL;

CREATE TABLE sessions (
    id                              TEXT PRIMARY KEY,
    user_id                         TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    refresh_token_hash              TEXT NOT NULL CHECK (length(refresh_token_hash) = 64),
    previous_refresh_token_hash     TEXT CHECK (length(previous_refresh_token_hash) = 64),
    generation                      INTEGER NOT NULL DEFAULT 0 CHECK (generation >= 0),
    rotated_at                      TEXT NOT NULL,
    expires_at                      TEXT NOT NULL,
    revoked_at                      TEXT,
    user_agent                      TEXT,
    ip                              TEXT,
    created_at                      TEXT NOT NULL
) STRICT;

CREATE INDEX sessions_user_idx ON sessions (user_id) WHERE revoked_at IS NULL;
CREATE INDEX sessions_expires_idx ON sessions (expires_at);
CREATE INDEX sessions_revoked_idx ON sessions (revoked_at) WHERE revoked_at IS NOT NULL;

CREATE TABLE otp_codes (
    id              TEXT PRIMARY KEY,
    phone           TEXT NOT NULL,
    code_hash       TEXT NOT NULL CHECK (length(code_hash) = 64),
    attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    consumed        INTEGER NOT NULL DEFAULT 0 CHECK (consumed IN (0, 1)),
    expires_at      TEXT NOT NULL,
    created_at      TEXT NOT NULL
) STRICT;

CREATE INDEX otp_codes_phone_idx ON otp_codes (phone, created_at DESC) WHERE NOT consumed;
CREATE INDEX otp_codes_expires_idx ON otp_codes (expires_at);

CREATE TABLE biometric_devices (
    id              TEXT PRIMARY KEY,
    user_id         TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    device_id       TEXT NOT NULL UNIQUE CHECK (length(device_id) BETWEEN 1 AND 255),
    public_key      TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    last_used_at    TEXT
) STRICT;

CREATE INDEX biometric_devices_user_idx ON biometric_devices (user_id);

CREATE TABLE biometric_challenges (
    id              TEXT PRIMARY KEY,
    device_id       TEXT NOT NULL REFERENCES biometric_devices (device_id) ON DELETE CASCADE,
    challenge_hash  TEXT NOT NULL UNIQUE CHECK (length(challenge_hash) = 64),
    expires_at      TEXT NOT NULL,
    consumed_at     TEXT,
    created_at      TEXT NOT NULL
) STRICT;

CREATE INDEX biometric_challenges_expires_idx ON biometric_challenges (expires_at);

-- ---------------------------------------------------------------------------------------------
-- Portfolios (tenant data)
-- ---------------------------------------------------------------------------------------------

CREATE TABLE portfolios (
    id                  TEXT PRIMARY KEY,
    user_id             TEXT NOT NULL UNIQUE REFERENCES users (id) ON DELETE RESTRICT,
    cash_irr            TEXT NOT NULL DEFAULT '0' CONSTRAINT portfolios_cash_non_negative CHECK (CAST(cash_irr AS REAL) >= 0),
    status              TEXT NOT NULL DEFAULT 'BALANCED'
                        CHECK (status IN ('BALANCED', 'SLIGHTLY_OFF', 'ATTENTION_REQUIRED')),
    last_rebalance_at   TEXT,
    drift_detected_at   TEXT,
    holdings_value_irr  TEXT CHECK (CAST(holdings_value_irr AS REAL) >= 0),
    total_value_irr     TEXT CHECK (CAST(total_value_irr AS REAL) >= 0),
    share_foundation    TEXT CHECK (CAST(share_foundation AS REAL) BETWEEN 0 AND 1),
    share_growth        TEXT CHECK (CAST(share_growth AS REAL) BETWEEN 0 AND 1),
    share_upside        TEXT CHECK (CAST(share_upside AS REAL) BETWEEN 0 AND 1),
    max_drift_pp        TEXT CHECK (CAST(max_drift_pp AS REAL) >= 0),
    metrics_at          TEXT,
    version             INTEGER NOT NULL DEFAULT 0,
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL
) STRICT;

CREATE INDEX portfolios_status_idx ON portfolios (status);

CREATE TABLE holdings (
    id                  TEXT PRIMARY KEY,
    portfolio_id        TEXT NOT NULL REFERENCES portfolios (id) ON DELETE CASCADE,
    asset_id            TEXT NOT NULL REFERENCES assets (id),
    quantity            TEXT NOT NULL DEFAULT '0' CONSTRAINT holdings_quantity_non_negative CHECK (CAST(quantity AS REAL) >= 0),
    frozen              INTEGER NOT NULL DEFAULT 0 CHECK (frozen IN (0, 1)),
    first_purchased_at  TEXT,
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL,
    CONSTRAINT holdings_portfolio_asset_key UNIQUE (portfolio_id, asset_id)
) STRICT;

CREATE INDEX holdings_asset_idx ON holdings (asset_id);

CREATE TABLE fixed_income_lots (
    id              TEXT PRIMARY KEY,
    portfolio_id    TEXT NOT NULL REFERENCES portfolios (id) ON DELETE CASCADE,
    holding_id      TEXT NOT NULL REFERENCES holdings (id) ON DELETE CASCADE,
    units           TEXT NOT NULL CHECK (CAST(units AS REAL) > 0),
    purchased_at    TEXT NOT NULL,
    created_at      TEXT NOT NULL
) STRICT;

CREATE INDEX fixed_income_lots_fifo_idx ON fixed_income_lots (holding_id, purchased_at, id);
CREATE INDEX fixed_income_lots_portfolio_idx ON fixed_income_lots (portfolio_id);

CREATE TABLE loans (
    id                      TEXT PRIMARY KEY,
    portfolio_id            TEXT NOT NULL REFERENCES portfolios (id) ON DELETE RESTRICT,
    collateral_asset_id     TEXT NOT NULL REFERENCES assets (id),
    collateral_quantity     TEXT NOT NULL CHECK (CAST(collateral_quantity AS REAL) > 0),
    collateral_value_irr    TEXT NOT NULL CHECK (CAST(collateral_value_irr AS REAL) >= 0),
    principal_irr           TEXT NOT NULL CHECK (CAST(principal_irr AS REAL) > 0),
    interest_rate           TEXT NOT NULL CHECK (CAST(interest_rate AS REAL) >= 0),
    duration_months         INTEGER NOT NULL CHECK (duration_months IN (3, 6)),
    total_interest_irr      TEXT NOT NULL CHECK (CAST(total_interest_irr AS REAL) >= 0),
    total_due_irr           TEXT NOT NULL,
    start_at                TEXT NOT NULL,
    due_at                  TEXT NOT NULL,
    max_ltv                 TEXT NOT NULL CHECK (CAST(max_ltv AS REAL) > 0 AND CAST(max_ltv AS REAL) <= 1),
    current_ltv             TEXT CHECK (CAST(current_ltv AS REAL) >= 0),
    health_status           TEXT CHECK (health_status IN ('HEALTHY', 'CAUTION', 'WARNING', 'CRITICAL')),
    health_checked_at       TEXT,
    principal_paid_irr      TEXT NOT NULL DEFAULT '0' CHECK (CAST(principal_paid_irr AS REAL) >= 0),
    interest_paid_irr       TEXT NOT NULL DEFAULT '0' CHECK (CAST(interest_paid_irr AS REAL) >= 0),
    paid_irr                TEXT NOT NULL DEFAULT '0' CHECK (CAST(paid_irr AS REAL) >= 0),
    installments_paid       INTEGER NOT NULL DEFAULT 0 CHECK (installments_paid BETWEEN 0 AND 6),
    status                  TEXT NOT NULL DEFAULT 'ACTIVE' CHECK (status IN ('ACTIVE', 'REPAID', 'LIQUIDATED')),
    repaid_at               TEXT,
    liquidated_at           TEXT,
    liquidation_reason      TEXT CHECK (liquidation_reason IN ('LTV', 'MATURITY_DEFAULT')),
    shortfall_irr           TEXT CHECK (CAST(shortfall_irr AS REAL) >= 0),
    interest_forgiven_irr   TEXT CHECK (CAST(interest_forgiven_irr AS REAL) >= 0),
    version                 INTEGER NOT NULL DEFAULT 0,
    created_at              TEXT NOT NULL,
    updated_at              TEXT NOT NULL,
    CHECK (due_at > start_at),
    CHECK (status <> 'REPAID' OR repaid_at IS NOT NULL),
    CHECK (status <> 'LIQUIDATED' OR (liquidated_at IS NOT NULL AND liquidation_reason IS NOT NULL))
) STRICT;

CREATE UNIQUE INDEX loans_one_active_per_collateral ON loans (portfolio_id, collateral_asset_id)
    WHERE status = 'ACTIVE';
CREATE INDEX loans_portfolio_idx ON loans (portfolio_id, created_at DESC);
CREATE INDEX loans_active_due_idx ON loans (due_at) WHERE status = 'ACTIVE';

CREATE TABLE loan_installments (
    id                  TEXT PRIMARY KEY,
    loan_id             TEXT NOT NULL REFERENCES loans (id) ON DELETE CASCADE,
    number              INTEGER NOT NULL CHECK (number BETWEEN 1 AND 6),
    due_at              TEXT NOT NULL,
    principal_irr       TEXT NOT NULL CHECK (CAST(principal_irr AS REAL) >= 0),
    interest_irr        TEXT NOT NULL CHECK (CAST(interest_irr AS REAL) >= 0),
    total_irr           TEXT NOT NULL,
    paid_irr            TEXT NOT NULL DEFAULT '0' CHECK (CAST(paid_irr AS REAL) >= 0),
    principal_paid_irr  TEXT NOT NULL DEFAULT '0' CHECK (CAST(principal_paid_irr AS REAL) >= 0),
    interest_paid_irr   TEXT NOT NULL DEFAULT '0' CHECK (CAST(interest_paid_irr AS REAL) >= 0),
    status              TEXT NOT NULL DEFAULT 'PENDING' CHECK (status IN ('PENDING', 'PARTIAL', 'PAID')),
    paid_at             TEXT,
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL,
    CONSTRAINT loan_installments_loan_number_key UNIQUE (loan_id, number),
    CHECK (status <> 'PAID' OR paid_at IS NOT NULL)
) STRICT;

CREATE INDEX loan_installments_open_due_idx ON loan_installments (due_at) WHERE status <> 'PAID';

CREATE TABLE protections (
    id                          TEXT PRIMARY KEY,
    portfolio_id                TEXT NOT NULL REFERENCES portfolios (id) ON DELETE RESTRICT,
    holding_id                  TEXT REFERENCES holdings (id) ON DELETE SET NULL,
    asset_id                    TEXT NOT NULL REFERENCES assets (id),
    coverage_pct                TEXT NOT NULL CHECK (CAST(coverage_pct AS REAL) >= 0.1 AND CAST(coverage_pct AS REAL) <= 1),
    protected_quantity          TEXT NOT NULL CHECK (CAST(protected_quantity AS REAL) > 0),
    notional_irr                TEXT NOT NULL CHECK (CAST(notional_irr AS REAL) > 0),
    notional_usd                TEXT NOT NULL CHECK (CAST(notional_usd AS REAL) > 0),
    strike_usd                  TEXT NOT NULL CHECK (CAST(strike_usd AS REAL) > 0),
    strike_irr                  TEXT NOT NULL CHECK (CAST(strike_irr AS REAL) > 0),
    duration_days               INTEGER NOT NULL CHECK (duration_days IN (30, 60, 90, 120, 150, 180)),
    start_at                    TEXT NOT NULL,
    expires_at                  TEXT NOT NULL,
    premium_irr                 TEXT NOT NULL CHECK (CAST(premium_irr AS REAL) >= 0),
    premium_usd                 TEXT NOT NULL CHECK (CAST(premium_usd AS REAL) >= 0),
    premium_pct                 TEXT NOT NULL CHECK (CAST(premium_pct AS REAL) >= 0),
    pricing_model               TEXT NOT NULL CHECK (pricing_model IN ('LAYER_RATE', 'BLACK_SCHOLES')),
    implied_volatility          TEXT NOT NULL CHECK (CAST(implied_volatility AS REAL) >= 0),
    volatility_regime           TEXT NOT NULL CHECK (volatility_regime IN ('LOW', 'NORMAL', 'ELEVATED', 'HIGH', 'EXTREME')),
    greek_delta                 TEXT NOT NULL,
    greek_gamma                 TEXT NOT NULL,
    greek_vega                  TEXT NOT NULL,
    greek_theta                 TEXT NOT NULL,
    greek_rho                   TEXT NOT NULL,
    quote_id                    TEXT,
    status                      TEXT NOT NULL DEFAULT 'ACTIVE'
                                CHECK (status IN ('ACTIVE', 'EXERCISED', 'EXPIRED', 'CANCELLED')),
    cancelled_at                TEXT,
    settled_at                  TEXT,
    settlement_price_usd        TEXT,
    settlement_fx_rate          TEXT,
    settlement_held_quantity    TEXT,
    payout_usd                  TEXT CHECK (CAST(payout_usd AS REAL) >= 0),
    payout_irr                  TEXT CHECK (CAST(payout_irr AS REAL) >= 0),
    created_at                  TEXT NOT NULL,
    updated_at                  TEXT NOT NULL,
    CHECK (expires_at > start_at),
    CHECK (status <> 'CANCELLED' OR cancelled_at IS NOT NULL),
    CHECK (status NOT IN ('EXERCISED', 'EXPIRED') OR (settled_at IS NOT NULL AND payout_irr IS NOT NULL))
) STRICT;

CREATE UNIQUE INDEX protections_one_active_per_asset ON protections (portfolio_id, asset_id)
    WHERE status = 'ACTIVE';
CREATE INDEX protections_portfolio_idx ON protections (portfolio_id, created_at DESC);
CREATE INDEX protections_active_expiry_idx ON protections (expires_at) WHERE status = 'ACTIVE';

CREATE TABLE trade_quotes (
    id              TEXT PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 128),
    user_id         TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    portfolio_id    TEXT NOT NULL REFERENCES portfolios (id) ON DELETE CASCADE,
    asset_id        TEXT NOT NULL REFERENCES assets (id),
    side            TEXT NOT NULL CHECK (side IN ('BUY', 'SELL')),
    amount_irr      TEXT NOT NULL CHECK (CAST(amount_irr AS REAL) >= 0),
    quantity        TEXT NOT NULL CHECK (CAST(quantity AS REAL) >= 0),
    price_usd       TEXT,
    price_irr       TEXT NOT NULL CHECK (CAST(price_irr AS REAL) > 0),
    fx_rate         TEXT,
    spread_irr      TEXT NOT NULL CHECK (CAST(spread_irr AS REAL) >= 0),
    terms           TEXT NOT NULL CHECK (json_valid(terms)),
    state           TEXT NOT NULL DEFAULT 'AVAILABLE'
                    CHECK (state IN ('AVAILABLE', 'RESERVED', 'CONSUMED', 'EXPIRED')),
    reserved_at     TEXT,
    consumed_at     TEXT,
    expires_at      TEXT NOT NULL,
    created_at      TEXT NOT NULL
) STRICT;

CREATE INDEX trade_quotes_user_idx ON trade_quotes (user_id);
CREATE INDEX trade_quotes_expires_idx ON trade_quotes (expires_at);

CREATE TABLE protection_quotes (
    id                  TEXT PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 128),
    user_id             TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    portfolio_id        TEXT NOT NULL REFERENCES portfolios (id) ON DELETE CASCADE,
    holding_id          TEXT NOT NULL REFERENCES holdings (id) ON DELETE CASCADE,
    asset_id            TEXT NOT NULL REFERENCES assets (id),
    coverage_pct        TEXT NOT NULL CHECK (CAST(coverage_pct AS REAL) >= 0.1 AND CAST(coverage_pct AS REAL) <= 1),
    duration_days       INTEGER NOT NULL CHECK (duration_days IN (30, 60, 90, 120, 150, 180)),
    premium_irr         TEXT NOT NULL CHECK (CAST(premium_irr AS REAL) >= 0),
    terms               TEXT NOT NULL CHECK (json_valid(terms)),
    state               TEXT NOT NULL DEFAULT 'AVAILABLE'
                        CHECK (state IN ('AVAILABLE', 'RESERVED', 'CONSUMED', 'EXPIRED')),
    reserved_at         TEXT,
    consumed_at         TEXT,
    expires_at          TEXT NOT NULL,
    created_at          TEXT NOT NULL
) STRICT;

CREATE INDEX protection_quotes_user_idx ON protection_quotes (user_id);
CREATE INDEX protection_quotes_holding_idx ON protection_quotes (holding_id) WHERE state = 'AVAILABLE';
CREATE INDEX protection_quotes_expires_idx ON protection_quotes (expires_at);

CREATE TABLE ledger (
    id                  TEXT PRIMARY KEY,
    portfolio_id        TEXT NOT NULL REFERENCES portfolios (id) ON DELETE RESTRICT,
    sequence_number     INTEGER NOT NULL CHECK (sequence_number >= 1),
    entry_type          TEXT NOT NULL CHECK (entry_type IN (
                            'PORTFOLIO_CREATED', 'ADD_FUNDS', 'TRADE_BUY', 'TRADE_SELL', 'REBALANCE',
                            'LOAN_CREATE', 'LOAN_REPAY', 'LOAN_LIQUIDATE', 'PROTECTION_PURCHASE',
                            'PROTECTION_CANCEL', 'PROTECTION_PAYOUT', 'PROTECTION_EXPIRE')),
    created_at          TEXT NOT NULL,
    before_snapshot     TEXT NOT NULL CHECK (json_valid(before_snapshot)),
    after_snapshot      TEXT NOT NULL CHECK (json_valid(after_snapshot)),
    asset_id            TEXT REFERENCES assets (id) ON DELETE RESTRICT,
    quantity            TEXT CHECK (CAST(quantity AS REAL) >= 0),
    amount_irr          TEXT CHECK (CAST(amount_irr AS REAL) >= 0),
    price_irr           TEXT CHECK (CAST(price_irr AS REAL) >= 0),
    spread_irr          TEXT CHECK (CAST(spread_irr AS REAL) >= 0),
    boundary            TEXT NOT NULL CHECK (boundary IN ('SAFE', 'DRIFT', 'STRUCTURAL', 'STRESS')),
    loan_id             TEXT REFERENCES loans (id) ON DELETE RESTRICT,
    protection_id       TEXT REFERENCES protections (id) ON DELETE RESTRICT,
    message             TEXT NOT NULL,
    legs                TEXT CHECK (json_valid(legs)),
    metadata            TEXT CHECK (json_valid(metadata)),
    prev_hash           TEXT NOT NULL CHECK (length(prev_hash) = 64 AND NOT prev_hash GLOB '*[^0-9a-f]*'),
    entry_hash          TEXT NOT NULL CHECK (length(entry_hash) = 64 AND NOT entry_hash GLOB '*[^0-9a-f]*'),
    CONSTRAINT ledger_portfolio_sequence_key UNIQUE (portfolio_id, sequence_number)
) STRICT;

CREATE INDEX ledger_portfolio_created_idx ON ledger (portfolio_id, created_at DESC);
CREATE INDEX ledger_entry_type_idx ON ledger (entry_type);

-- Ledger rows are immutable (business-rules §9.4): refuse with an error, never ignore.
CREATE TRIGGER ledger_no_update BEFORE UPDATE ON ledger
BEGIN
    SELECT RAISE(ABORT, 'ledger rows are immutable: UPDATE refused');
END;

CREATE TRIGGER ledger_no_delete BEFORE DELETE ON ledger
BEGIN
    SELECT RAISE(ABORT, 'ledger rows are immutable: DELETE refused');
END;

-- AUTOINCREMENT: ids of trimmed rows are never reused, so activity cursors stay valid.
CREATE TABLE action_log (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    portfolio_id    TEXT NOT NULL REFERENCES portfolios (id) ON DELETE CASCADE,
    action_type     TEXT NOT NULL,
    boundary        TEXT NOT NULL CHECK (boundary IN ('SAFE', 'DRIFT', 'STRUCTURAL', 'STRESS')),
    message         TEXT NOT NULL,
    amount_irr      TEXT CHECK (CAST(amount_irr AS REAL) >= 0),
    asset_id        TEXT REFERENCES assets (id),
    created_at      TEXT NOT NULL
) STRICT;

CREATE INDEX action_log_portfolio_idx ON action_log (portfolio_id, id DESC);

-- ---------------------------------------------------------------------------------------------
-- Prices
-- ---------------------------------------------------------------------------------------------

CREATE TABLE prices (
    asset_id        TEXT PRIMARY KEY REFERENCES assets (id),
    price_usd       TEXT NOT NULL CHECK (CAST(price_usd AS REAL) > 0),
    price_irr       TEXT NOT NULL CHECK (CAST(price_irr AS REAL) > 0),
    fx_rate         TEXT NOT NULL CHECK (CAST(fx_rate AS REAL) > 0),
    fx_source       TEXT NOT NULL,
    source          TEXT NOT NULL,
    fetched_at      TEXT NOT NULL,
    fx_fetched_at   TEXT NOT NULL,
    change_24h_pct  TEXT,
    updated_at      TEXT NOT NULL
) STRICT;

CREATE TABLE fx_rates (
    pair            TEXT PRIMARY KEY CHECK (pair = 'USD_IRR'),
    rate            TEXT NOT NULL CHECK (CAST(rate AS REAL) > 0),
    source          TEXT NOT NULL,
    fetched_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
) STRICT;

CREATE TABLE price_history (
    asset_id        TEXT NOT NULL REFERENCES assets (id),
    day             TEXT NOT NULL CHECK (length(day) = 10),
    close_usd       TEXT NOT NULL CHECK (CAST(close_usd AS REAL) > 0),
    close_irr       TEXT CHECK (CAST(close_irr AS REAL) > 0),
    updated_at      TEXT NOT NULL,
    PRIMARY KEY (asset_id, day)
) STRICT;

CREATE TABLE price_points (
    asset_id        TEXT NOT NULL REFERENCES assets (id),
    at              TEXT NOT NULL,
    price_usd       TEXT NOT NULL CHECK (CAST(price_usd AS REAL) > 0),
    price_irr       TEXT CHECK (CAST(price_irr AS REAL) > 0),
    PRIMARY KEY (asset_id, at)
) STRICT;

CREATE TABLE price_overrides (
    subject         TEXT PRIMARY KEY,
    asset_id        TEXT REFERENCES assets (id),
    value           TEXT NOT NULL CHECK (CAST(value AS REAL) > 0),
    change_24h_pct  TEXT,
    reason          TEXT,
    expires_at      TEXT,
    created_at      TEXT NOT NULL,
    CHECK ((subject = 'FX' AND asset_id IS NULL)
        OR (asset_id = subject AND asset_id <> 'IRR_FIXED_INCOME'))
) STRICT;

-- ---------------------------------------------------------------------------------------------
-- Idempotency, notifications, jobs
-- ---------------------------------------------------------------------------------------------

CREATE TABLE idempotency_keys (
    user_id         TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    key             TEXT NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    method          TEXT NOT NULL,
    path            TEXT NOT NULL,
    fingerprint     TEXT NOT NULL,
    state           TEXT NOT NULL DEFAULT 'IN_PROGRESS' CHECK (state IN ('IN_PROGRESS', 'COMPLETED')),
    status_code     INTEGER CHECK (status_code BETWEEN 100 AND 599),
    response_body   BLOB,
    created_at      TEXT NOT NULL,
    completed_at    TEXT,
    CONSTRAINT idempotency_keys_pkey PRIMARY KEY (user_id, key),
    CHECK (state <> 'COMPLETED' OR (status_code IS NOT NULL AND response_body IS NOT NULL AND completed_at IS NOT NULL))
) STRICT;

CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);

CREATE TABLE notifications (
    id              TEXT PRIMARY KEY,
    user_id         TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind            TEXT NOT NULL,
    entity_id       TEXT NOT NULL,
    dedupe_key      TEXT NOT NULL,
    title           TEXT NOT NULL,
    body            TEXT NOT NULL,
    data            TEXT CHECK (json_valid(data)),
    attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    last_error      TEXT,
    next_attempt_at TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    delivered_at    TEXT,
    CONSTRAINT notifications_dedupe_key UNIQUE (kind, entity_id, dedupe_key)
) STRICT;

CREATE INDEX notifications_pending_idx ON notifications (next_attempt_at) WHERE delivered_at IS NULL;
CREATE INDEX notifications_user_idx ON notifications (user_id, created_at DESC);

CREATE TABLE job_runs (
    job_name            TEXT NOT NULL,
    scheduled_at        TEXT NOT NULL,
    run_id              TEXT NOT NULL UNIQUE,
    status              TEXT NOT NULL CHECK (status IN ('RUNNING', 'SUCCEEDED', 'FAILED')),
    attempts            INTEGER NOT NULL DEFAULT 1 CHECK (attempts >= 1),
    lease_owner         TEXT,
    lease_expires_at    TEXT,
    started_at          TEXT NOT NULL,
    finished_at         TEXT,
    result              TEXT CHECK (json_valid(result)),
    error               TEXT,
    PRIMARY KEY (job_name, scheduled_at)
) STRICT;

CREATE INDEX job_runs_running_idx ON job_runs (lease_expires_at) WHERE status = 'RUNNING';
CREATE INDEX job_runs_recent_idx ON job_runs (job_name, started_at DESC);
