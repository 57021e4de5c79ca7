-- Blu Markets schema, PostgreSQL. The SQLite schema (migrations/sqlite) has the same tables and
-- columns; only the types differ.
--
-- Column types:
--   IRR amounts   NUMERIC(28,0)   whole rials (D1); 28 digits is rust_decimal's full precision.
--   quantities    NUMERIC(28,8)   rounded down to 8 dp (D1).
--   prices/ratios NUMERIC(38,18)  prices in USD and IRR, fractions, LTVs, percentages.
--   greeks        NUMERIC         unconstrained: stored exactly as computed (≥ 10 significant
--                                 digits, business-rules §8.4; gamma is ~1e-5).
--   instants      TIMESTAMPTZ     µs precision, the domain's Timestamp resolution.
-- NUMERIC(p,s) pads the scale on read (1.5 comes back as 1.50000000); the store normalizes every
-- decimal it reads, so both backends return the same digits.

-- ---------------------------------------------------------------------------------------------
-- Reference data
-- ---------------------------------------------------------------------------------------------

CREATE TABLE layers (
    layer                       TEXT PRIMARY KEY CHECK (layer IN ('FOUNDATION', 'GROWTH', 'UPSIDE')),
    position                    SMALLINT NOT NULL UNIQUE,
    trade_spread                NUMERIC(38,18) NOT NULL CHECK (trade_spread >= 0),
    max_ltv                     NUMERIC(38,18) NOT NULL CHECK (max_ltv >= 0 AND max_ltv <= 1),
    protection_monthly_rate     NUMERIC(38,18) NOT NULL CHECK (protection_monthly_rate >= 0),
    protection_margin_per_day   NUMERIC(38,18) NOT NULL CHECK (protection_margin_per_day >= 0),
    -- Hard limits on the layer's share of holdings (status, business-rules §4.3).
    min_share                   NUMERIC(38,18) CHECK (min_share >= 0 AND min_share <= 1),
    max_share                   NUMERIC(38,18) CHECK (max_share >= 0 AND max_share <= 1)
);

CREATE TABLE assets (
    id                          TEXT PRIMARY KEY,
    -- Registry order (business-rules §2.1), used for every tie-break.
    position                    SMALLINT NOT NULL UNIQUE,
    name                        TEXT NOT NULL,
    layer                       TEXT NOT NULL REFERENCES layers (layer),
    category                    TEXT NOT NULL,
    layer_weight                NUMERIC(38,18) NOT NULL CHECK (layer_weight > 0 AND layer_weight <= 1),
    price_source                TEXT NOT NULL CHECK (price_source IN ('coingecko', 'finnhub', 'internal')),
    -- CoinGecko id or Finnhub symbol; NULL for internal pricing. The live id is configuration
    -- (MATIC); this is the default.
    source_id                   TEXT,
    -- Development and test price only; NULL for fixed income (priced per unit internally).
    default_price_usd           NUMERIC(38,18) CHECK (default_price_usd > 0),
    base_volatility             NUMERIC(38,18) NOT NULL CHECK (base_volatility >= 0),
    liquidity_score             NUMERIC(38,18) NOT NULL CHECK (liquidity_score >= 0 AND liquidity_score <= 1),
    asset_max_ltv               NUMERIC(38,18) NOT NULL CHECK (asset_max_ltv >= 0 AND asset_max_ltv <= 1),
    -- min(layer LTV, asset LTV) (D10); 0 = never collateral.
    effective_max_ltv           NUMERIC(38,18) NOT NULL CHECK (effective_max_ltv >= 0 AND effective_max_ltv <= 1),
    implied_volatility          NUMERIC(38,18) NOT NULL CHECK (implied_volatility >= 0),
    protection_eligible         BOOLEAN NOT NULL,
    protection_execution_spread NUMERIC(38,18),
    protection_min_premium_30d  NUMERIC(38,18),
    protection_max_premium_30d  NUMERIC(38,18),
    active                      BOOLEAN NOT NULL DEFAULT TRUE,
    created_at                  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at                  TIMESTAMPTZ NOT NULL DEFAULT now(),
    CHECK ((price_source = 'internal') = (source_id IS NULL)),
    -- Eligible assets carry their Black–Scholes parameters, ineligible ones none.
    CHECK (protection_eligible = (protection_execution_spread IS NOT NULL)
       AND protection_eligible = (protection_min_premium_30d IS NOT NULL)
       AND protection_eligible = (protection_max_premium_30d IS NOT NULL))
);

-- ---------------------------------------------------------------------------------------------
-- Users and authentication
-- ---------------------------------------------------------------------------------------------

CREATE TABLE users (
    id                      UUID PRIMARY KEY,
    -- +989XXXXXXXXX; deleting an account anonymises it (the ledger keeps the portfolio).
    phone                   TEXT NOT NULL CHECK (length(phone) BETWEEN 1 AND 64),
    phone_verified          BOOLEAN NOT NULL DEFAULT FALSE,

    risk_score              INTEGER CHECK (risk_score BETWEEN 1 AND 10),
    risk_tier               TEXT CHECK (risk_tier IN ('LOW', 'MEDIUM', 'HIGH')),
    risk_profile_name       TEXT,
    -- Target allocation as fractions that sum to exactly 1 (D3, business-rules §1.6).
    target_foundation       NUMERIC(38,18) CHECK (target_foundation >= 0 AND target_foundation <= 1),
    target_growth           NUMERIC(38,18) CHECK (target_growth >= 0 AND target_growth <= 1),
    target_upside           NUMERIC(38,18) CHECK (target_upside >= 0 AND target_upside <= 1),
    questionnaire_version   TEXT,
    -- [{questionId, optionId}] as scored, and the score breakdown.
    questionnaire_answers   JSONB,
    risk_breakdown          JSONB,
    risk_scored_at          TIMESTAMPTZ,

    consent_risk            BOOLEAN NOT NULL DEFAULT FALSE,
    consent_loss            BOOLEAN NOT NULL DEFAULT FALSE,
    consent_no_guarantee    BOOLEAN NOT NULL DEFAULT FALSE,
    consent_at              TIMESTAMPTZ,

    language                TEXT NOT NULL DEFAULT 'fa' CHECK (language IN ('fa', 'en')),
    notifications_enabled   BOOLEAN NOT NULL DEFAULT TRUE,
    notification_token      TEXT CHECK (length(notification_token) <= 512),

    deleted_at              TIMESTAMPTZ,
    created_at              TIMESTAMPTZ NOT NULL,
    updated_at              TIMESTAMPTZ NOT NULL,
    last_login_at           TIMESTAMPTZ,

    CONSTRAINT users_targets_complete CHECK (
        (target_foundation IS NULL AND target_growth IS NULL AND target_upside IS NULL)
        OR (target_foundation IS NOT NULL AND target_growth IS NOT NULL AND target_upside IS NOT NULL)),
    CONSTRAINT users_targets_sum_to_one CHECK (
        target_foundation IS NULL OR target_foundation + target_growth + target_upside = 1),
    CONSTRAINT users_scored_together CHECK ((risk_score IS NULL) = (risk_tier IS NULL))
);

-- A phone belongs to one active account; an anonymised (deleted) account frees it.
CREATE UNIQUE INDEX users_phone_active_key ON users (phone) WHERE deleted_at IS NULL;

CREATE TABLE sessions (
    id                              UUID PRIMARY KEY,
    user_id                         UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- SHA-256 hex of the current refresh token, and of the one the last rotation retired.
    refresh_token_hash              TEXT NOT NULL CHECK (length(refresh_token_hash) = 64),
    previous_refresh_token_hash     TEXT CHECK (length(previous_refresh_token_hash) = 64),
    generation                      BIGINT NOT NULL DEFAULT 0 CHECK (generation >= 0),
    rotated_at                      TIMESTAMPTZ NOT NULL,
    expires_at                      TIMESTAMPTZ NOT NULL,
    revoked_at                      TIMESTAMPTZ,
    user_agent                      TEXT,
    ip                              TEXT,
    created_at                      TIMESTAMPTZ NOT NULL
);

CREATE INDEX sessions_user_idx ON sessions (user_id) WHERE revoked_at IS NULL;
CREATE INDEX sessions_expires_idx ON sessions (expires_at);
CREATE INDEX sessions_revoked_idx ON sessions (revoked_at) WHERE revoked_at IS NOT NULL;

CREATE TABLE otp_codes (
    id              UUID PRIMARY KEY,
    phone           TEXT NOT NULL,
    -- HMAC-SHA256 hex of phone ‖ code; the code itself is never stored (D31).
    code_hash       TEXT NOT NULL CHECK (length(code_hash) = 64),
    attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    consumed        BOOLEAN NOT NULL DEFAULT FALSE,
    expires_at      TIMESTAMPTZ NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL
);

CREATE INDEX otp_codes_phone_idx ON otp_codes (phone, created_at DESC) WHERE NOT consumed;
CREATE INDEX otp_codes_expires_idx ON otp_codes (expires_at);

CREATE TABLE biometric_devices (
    id              UUID PRIMARY KEY,
    user_id         UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    device_id       TEXT NOT NULL UNIQUE CHECK (length(device_id) BETWEEN 1 AND 255),
    -- Base64 SPKI of a P-256 key (api.md PUT /profile/settings).
    public_key      TEXT NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    last_used_at    TIMESTAMPTZ
);

CREATE INDEX biometric_devices_user_idx ON biometric_devices (user_id);

-- Step 1 of POST /auth/biometric issues a challenge valid 60 s; step 2 consumes it once. Stored
-- here so any instance can verify it.
CREATE TABLE biometric_challenges (
    id              UUID PRIMARY KEY,
    device_id       TEXT NOT NULL REFERENCES biometric_devices (device_id) ON DELETE CASCADE,
    challenge_hash  TEXT NOT NULL UNIQUE CHECK (length(challenge_hash) = 64),
    expires_at      TIMESTAMPTZ NOT NULL,
    consumed_at     TIMESTAMPTZ,
    created_at      TIMESTAMPTZ NOT NULL
);

CREATE INDEX biometric_challenges_expires_idx ON biometric_challenges (expires_at);

-- ---------------------------------------------------------------------------------------------
-- Portfolios (tenant data)
-- ---------------------------------------------------------------------------------------------

CREATE TABLE portfolios (
    id                  UUID PRIMARY KEY,
    -- One portfolio per user. RESTRICT: accounts are anonymised, never deleted, and the ledger
    -- must outlive them.
    user_id             UUID NOT NULL UNIQUE REFERENCES users (id) ON DELETE RESTRICT,
    cash_irr            NUMERIC(28,0) NOT NULL DEFAULT 0 CONSTRAINT portfolios_cash_non_negative CHECK (cash_irr >= 0),
    status              TEXT NOT NULL DEFAULT 'BALANCED'
                        CHECK (status IN ('BALANCED', 'SLIGHTLY_OFF', 'ATTENTION_REQUIRED')),
    last_rebalance_at   TIMESTAMPTZ,
    drift_detected_at   TIMESTAMPTZ,
    -- Denormalised metrics written by the status-refresh job and money-moving use cases.
    holdings_value_irr  NUMERIC(28,0) CHECK (holdings_value_irr >= 0),
    total_value_irr     NUMERIC(28,0) CHECK (total_value_irr >= 0),
    share_foundation    NUMERIC(38,18) CHECK (share_foundation >= 0 AND share_foundation <= 1),
    share_growth        NUMERIC(38,18) CHECK (share_growth >= 0 AND share_growth <= 1),
    share_upside        NUMERIC(38,18) CHECK (share_upside >= 0 AND share_upside <= 1),
    max_drift_pp        NUMERIC(38,18) CHECK (max_drift_pp >= 0),
    metrics_at          TIMESTAMPTZ,
    -- Bumped by every write, for optimistic checks and cache keys.
    version             BIGINT NOT NULL DEFAULT 0,
    created_at          TIMESTAMPTZ NOT NULL,
    updated_at          TIMESTAMPTZ NOT NULL
);

CREATE INDEX portfolios_status_idx ON portfolios (status);

CREATE TABLE holdings (
    id                  UUID PRIMARY KEY,
    portfolio_id        UUID NOT NULL REFERENCES portfolios (id) ON DELETE CASCADE,
    asset_id            TEXT NOT NULL REFERENCES assets (id),
    -- For IRR_FIXED_INCOME: Σ units of the open lots.
    quantity            NUMERIC(28,8) NOT NULL DEFAULT 0 CONSTRAINT holdings_quantity_non_negative CHECK (quantity >= 0),
    -- Locked as loan collateral.
    frozen              BOOLEAN NOT NULL DEFAULT FALSE,
    first_purchased_at  TIMESTAMPTZ,
    created_at          TIMESTAMPTZ NOT NULL,
    updated_at          TIMESTAMPTZ NOT NULL,
    CONSTRAINT holdings_portfolio_asset_key UNIQUE (portfolio_id, asset_id)
);

CREATE INDEX holdings_asset_idx ON holdings (asset_id);

CREATE TABLE fixed_income_lots (
    id              UUID PRIMARY KEY,
    portfolio_id    UUID NOT NULL REFERENCES portfolios (id) ON DELETE CASCADE,
    holding_id      UUID NOT NULL REFERENCES holdings (id) ON DELETE CASCADE,
    units           NUMERIC(28,8) NOT NULL CHECK (units > 0),
    purchased_at    TIMESTAMPTZ NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL
);

-- FIFO sells walk lots oldest first (business-rules §3.6).
CREATE INDEX fixed_income_lots_fifo_idx ON fixed_income_lots (holding_id, purchased_at, id);
CREATE INDEX fixed_income_lots_portfolio_idx ON fixed_income_lots (portfolio_id);

CREATE TABLE loans (
    id                      UUID PRIMARY KEY,
    portfolio_id            UUID NOT NULL REFERENCES portfolios (id) ON DELETE RESTRICT,
    collateral_asset_id     TEXT NOT NULL REFERENCES assets (id),
    -- The holding's whole quantity when the loan was created.
    collateral_quantity     NUMERIC(28,8) NOT NULL CHECK (collateral_quantity > 0),
    collateral_value_irr    NUMERIC(28,0) NOT NULL CHECK (collateral_value_irr >= 0),
    principal_irr           NUMERIC(28,0) NOT NULL CHECK (principal_irr > 0),
    interest_rate           NUMERIC(38,18) NOT NULL CHECK (interest_rate >= 0),
    duration_months         INTEGER NOT NULL CHECK (duration_months IN (3, 6)),
    total_interest_irr      NUMERIC(28,0) NOT NULL CHECK (total_interest_irr >= 0),
    total_due_irr           NUMERIC(28,0) NOT NULL,
    start_at                TIMESTAMPTZ NOT NULL,
    due_at                  TIMESTAMPTZ NOT NULL,
    max_ltv                 NUMERIC(38,18) NOT NULL CHECK (max_ltv > 0 AND max_ltv <= 1),
    current_ltv             NUMERIC(38,18) CHECK (current_ltv >= 0),
    health_status           TEXT CHECK (health_status IN ('HEALTHY', 'CAUTION', 'WARNING', 'CRITICAL')),
    health_checked_at       TIMESTAMPTZ,
    principal_paid_irr      NUMERIC(28,0) NOT NULL DEFAULT 0 CHECK (principal_paid_irr >= 0),
    interest_paid_irr       NUMERIC(28,0) NOT NULL DEFAULT 0 CHECK (interest_paid_irr >= 0),
    paid_irr                NUMERIC(28,0) NOT NULL DEFAULT 0 CHECK (paid_irr >= 0),
    installments_paid       INTEGER NOT NULL DEFAULT 0 CHECK (installments_paid BETWEEN 0 AND 6),
    status                  TEXT NOT NULL DEFAULT 'ACTIVE' CHECK (status IN ('ACTIVE', 'REPAID', 'LIQUIDATED')),
    repaid_at               TIMESTAMPTZ,
    liquidated_at           TIMESTAMPTZ,
    liquidation_reason      TEXT CHECK (liquidation_reason IN ('LTV', 'MATURITY_DEFAULT')),
    shortfall_irr           NUMERIC(28,0) CHECK (shortfall_irr >= 0),
    interest_forgiven_irr   NUMERIC(28,0) CHECK (interest_forgiven_irr >= 0),
    version                 BIGINT NOT NULL DEFAULT 0,
    created_at              TIMESTAMPTZ NOT NULL,
    updated_at              TIMESTAMPTZ NOT NULL,
    CHECK (total_due_irr = principal_irr + total_interest_irr),
    CHECK (principal_paid_irr <= principal_irr),
    CHECK (due_at > start_at),
    CHECK (status <> 'REPAID' OR repaid_at IS NOT NULL),
    CHECK (status <> 'LIQUIDATED' OR (liquidated_at IS NOT NULL AND liquidation_reason IS NOT NULL))
);

-- One ACTIVE loan per collateral asset (D22).
CREATE UNIQUE INDEX loans_one_active_per_collateral ON loans (portfolio_id, collateral_asset_id)
    WHERE status = 'ACTIVE';
CREATE INDEX loans_portfolio_idx ON loans (portfolio_id, created_at DESC);
CREATE INDEX loans_active_due_idx ON loans (due_at) WHERE status = 'ACTIVE';

CREATE TABLE loan_installments (
    id                  UUID PRIMARY KEY,
    loan_id             UUID NOT NULL REFERENCES loans (id) ON DELETE CASCADE,
    number              INTEGER NOT NULL CHECK (number BETWEEN 1 AND 6),
    due_at              TIMESTAMPTZ NOT NULL,
    principal_irr       NUMERIC(28,0) NOT NULL CHECK (principal_irr >= 0),
    interest_irr        NUMERIC(28,0) NOT NULL CHECK (interest_irr >= 0),
    total_irr           NUMERIC(28,0) NOT NULL,
    paid_irr            NUMERIC(28,0) NOT NULL DEFAULT 0 CHECK (paid_irr >= 0),
    principal_paid_irr  NUMERIC(28,0) NOT NULL DEFAULT 0 CHECK (principal_paid_irr >= 0),
    interest_paid_irr   NUMERIC(28,0) NOT NULL DEFAULT 0 CHECK (interest_paid_irr >= 0),
    status              TEXT NOT NULL DEFAULT 'PENDING' CHECK (status IN ('PENDING', 'PARTIAL', 'PAID')),
    paid_at             TIMESTAMPTZ,
    created_at          TIMESTAMPTZ NOT NULL,
    updated_at          TIMESTAMPTZ NOT NULL,
    CONSTRAINT loan_installments_loan_number_key UNIQUE (loan_id, number),
    CHECK (total_irr = principal_irr + interest_irr),
    CHECK (principal_paid_irr <= principal_irr),
    CHECK (status <> 'PAID' OR paid_at IS NOT NULL)
);

CREATE INDEX loan_installments_open_due_idx ON loan_installments (due_at) WHERE status <> 'PAID';

CREATE TABLE protections (
    id                          UUID PRIMARY KEY,
    portfolio_id                UUID NOT NULL REFERENCES portfolios (id) ON DELETE RESTRICT,
    holding_id                  UUID REFERENCES holdings (id) ON DELETE SET NULL,
    asset_id                    TEXT NOT NULL REFERENCES assets (id),
    coverage_pct                NUMERIC(38,18) NOT NULL CHECK (coverage_pct >= 0.1 AND coverage_pct <= 1),
    protected_quantity          NUMERIC(28,8) NOT NULL CHECK (protected_quantity > 0),
    notional_irr                NUMERIC(28,0) NOT NULL CHECK (notional_irr > 0),
    notional_usd                NUMERIC(38,18) NOT NULL CHECK (notional_usd > 0),
    strike_usd                  NUMERIC(38,18) NOT NULL CHECK (strike_usd > 0),
    strike_irr                  NUMERIC(38,18) NOT NULL CHECK (strike_irr > 0),
    duration_days               INTEGER NOT NULL CHECK (duration_days IN (30, 60, 90, 120, 150, 180)),
    start_at                    TIMESTAMPTZ NOT NULL,
    expires_at                  TIMESTAMPTZ NOT NULL,
    premium_irr                 NUMERIC(28,0) NOT NULL CHECK (premium_irr >= 0),
    premium_usd                 NUMERIC(38,18) NOT NULL CHECK (premium_usd >= 0),
    premium_pct                 NUMERIC(38,18) NOT NULL CHECK (premium_pct >= 0),
    pricing_model               TEXT NOT NULL CHECK (pricing_model IN ('LAYER_RATE', 'BLACK_SCHOLES')),
    implied_volatility          NUMERIC(38,18) NOT NULL CHECK (implied_volatility >= 0),
    volatility_regime           TEXT NOT NULL CHECK (volatility_regime IN ('LOW', 'NORMAL', 'ELEVATED', 'HIGH', 'EXTREME')),
    greek_delta                 NUMERIC NOT NULL,
    greek_gamma                 NUMERIC NOT NULL,
    greek_vega                  NUMERIC NOT NULL,
    greek_theta                 NUMERIC NOT NULL,
    greek_rho                   NUMERIC NOT NULL,
    quote_id                    TEXT,
    status                      TEXT NOT NULL DEFAULT 'ACTIVE'
                                CHECK (status IN ('ACTIVE', 'EXERCISED', 'EXPIRED', 'CANCELLED')),
    cancelled_at                TIMESTAMPTZ,
    -- Settlement at the first fresh price after expiry (D27).
    settled_at                  TIMESTAMPTZ,
    settlement_price_usd        NUMERIC(38,18),
    settlement_fx_rate          NUMERIC(38,18),
    settlement_held_quantity    NUMERIC(28,8),
    payout_usd                  NUMERIC(38,18) CHECK (payout_usd >= 0),
    payout_irr                  NUMERIC(28,0) CHECK (payout_irr >= 0),
    created_at                  TIMESTAMPTZ NOT NULL,
    updated_at                  TIMESTAMPTZ NOT NULL,
    CHECK (expires_at > start_at),
    CHECK (status <> 'CANCELLED' OR cancelled_at IS NOT NULL),
    CHECK (status NOT IN ('EXERCISED', 'EXPIRED') OR (settled_at IS NOT NULL AND payout_irr IS NOT NULL))
);

-- One ACTIVE protection per holding (business-rules §8.1).
CREATE UNIQUE INDEX protections_one_active_per_asset ON protections (portfolio_id, asset_id)
    WHERE status = 'ACTIVE';
CREATE INDEX protections_portfolio_idx ON protections (portfolio_id, created_at DESC);
CREATE INDEX protections_active_expiry_idx ON protections (expires_at) WHERE status = 'ACTIVE';

CREATE TABLE trade_quotes (
    id              TEXT PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 128),
    user_id         UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    portfolio_id    UUID NOT NULL REFERENCES portfolios (id) ON DELETE CASCADE,
    asset_id        TEXT NOT NULL REFERENCES assets (id),
    side            TEXT NOT NULL CHECK (side IN ('BUY', 'SELL')),
    amount_irr      NUMERIC(28,0) NOT NULL CHECK (amount_irr >= 0),
    quantity        NUMERIC(28,8) NOT NULL CHECK (quantity >= 0),
    price_usd       NUMERIC(38,18),
    price_irr       NUMERIC(38,18) NOT NULL CHECK (price_irr > 0),
    fx_rate         NUMERIC(38,18),
    spread_irr      NUMERIC(28,0) NOT NULL CHECK (spread_irr >= 0),
    -- Everything else the preview computed (boundary, after-allocation, friction).
    terms           JSONB NOT NULL,
    state           TEXT NOT NULL DEFAULT 'AVAILABLE'
                    CHECK (state IN ('AVAILABLE', 'RESERVED', 'CONSUMED', 'EXPIRED')),
    reserved_at     TIMESTAMPTZ,
    consumed_at     TIMESTAMPTZ,
    expires_at      TIMESTAMPTZ NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL
);

CREATE INDEX trade_quotes_user_idx ON trade_quotes (user_id);
CREATE INDEX trade_quotes_expires_idx ON trade_quotes (expires_at);

CREATE TABLE protection_quotes (
    id                  TEXT PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 128),
    user_id             UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    portfolio_id        UUID NOT NULL REFERENCES portfolios (id) ON DELETE CASCADE,
    holding_id          UUID NOT NULL REFERENCES holdings (id) ON DELETE CASCADE,
    asset_id            TEXT NOT NULL REFERENCES assets (id),
    coverage_pct        NUMERIC(38,18) NOT NULL CHECK (coverage_pct >= 0.1 AND coverage_pct <= 1),
    duration_days       INTEGER NOT NULL CHECK (duration_days IN (30, 60, 90, 120, 150, 180)),
    premium_irr         NUMERIC(28,0) NOT NULL CHECK (premium_irr >= 0),
    -- Every pricing output (§8.3–8.4): notional, strike, premium, model, IV, regime, greeks.
    terms               JSONB NOT NULL,
    state               TEXT NOT NULL DEFAULT 'AVAILABLE'
                        CHECK (state IN ('AVAILABLE', 'RESERVED', 'CONSUMED', 'EXPIRED')),
    reserved_at         TIMESTAMPTZ,
    consumed_at         TIMESTAMPTZ,
    expires_at          TIMESTAMPTZ NOT NULL,
    created_at          TIMESTAMPTZ NOT NULL
);

CREATE INDEX protection_quotes_user_idx ON protection_quotes (user_id);
CREATE INDEX protection_quotes_holding_idx ON protection_quotes (holding_id) WHERE state = 'AVAILABLE';
CREATE INDEX protection_quotes_expires_idx ON protection_quotes (expires_at);

-- The immutable, hash-chained ledger (D28, business-rules §9). No foreign key here cascades:
-- rows outlive everything they mention.
CREATE TABLE ledger (
    id                  UUID PRIMARY KEY,
    portfolio_id        UUID NOT NULL REFERENCES portfolios (id) ON DELETE RESTRICT,
    sequence_number     BIGINT NOT NULL CHECK (sequence_number >= 1),
    entry_type          TEXT NOT NULL CHECK (entry_type IN (
                            'PORTFOLIO_CREATED', 'ADD_FUNDS', 'TRADE_BUY', 'TRADE_SELL', 'REBALANCE',
                            'LOAN_CREATE', 'LOAN_REPAY', 'LOAN_LIQUIDATE', 'PROTECTION_PURCHASE',
                            'PROTECTION_CANCEL', 'PROTECTION_PAYOUT', 'PROTECTION_EXPIRE')),
    created_at          TIMESTAMPTZ NOT NULL,
    before_snapshot     JSONB NOT NULL,
    after_snapshot      JSONB NOT NULL,
    asset_id            TEXT REFERENCES assets (id) ON DELETE RESTRICT,
    quantity            NUMERIC(28,8) CHECK (quantity >= 0),
    amount_irr          NUMERIC(28,0) CHECK (amount_irr >= 0),
    price_irr           NUMERIC(38,18) CHECK (price_irr >= 0),
    spread_irr          NUMERIC(28,0) CHECK (spread_irr >= 0),
    boundary            TEXT NOT NULL CHECK (boundary IN ('SAFE', 'DRIFT', 'STRUCTURAL', 'STRESS')),
    loan_id             UUID REFERENCES loans (id) ON DELETE RESTRICT,
    protection_id       UUID REFERENCES protections (id) ON DELETE RESTRICT,
    message             TEXT NOT NULL,
    legs                JSONB,
    metadata            JSONB,
    prev_hash           TEXT NOT NULL CHECK (prev_hash ~ '^[0-9a-f]{64}$'),
    entry_hash          TEXT NOT NULL CHECK (entry_hash ~ '^[0-9a-f]{64}$'),
    CONSTRAINT ledger_portfolio_sequence_key UNIQUE (portfolio_id, sequence_number)
);

CREATE INDEX ledger_portfolio_created_idx ON ledger (portfolio_id, created_at DESC);
CREATE INDEX ledger_entry_type_idx ON ledger (entry_type);

-- Raises, never silently ignores (business-rules §9.4; the plan's DO INSTEAD NOTHING rule hid
-- failed writes). Applies to every role, the owner included.
CREATE FUNCTION ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger rows are immutable: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER ledger_no_update BEFORE UPDATE ON ledger
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_no_delete BEFORE DELETE ON ledger
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_no_truncate BEFORE TRUNCATE ON ledger
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();

-- Activity feed: the latest 50 per portfolio are kept by the cleanup job; ids are integers on
-- the wire and the keyset-pagination cursor.
CREATE TABLE action_log (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    portfolio_id    UUID NOT NULL REFERENCES portfolios (id) ON DELETE CASCADE,
    action_type     TEXT NOT NULL,
    boundary        TEXT NOT NULL CHECK (boundary IN ('SAFE', 'DRIFT', 'STRUCTURAL', 'STRESS')),
    message         TEXT NOT NULL,
    amount_irr      NUMERIC(28,0) CHECK (amount_irr >= 0),
    asset_id        TEXT REFERENCES assets (id),
    created_at      TIMESTAMPTZ NOT NULL
);

CREATE INDEX action_log_portfolio_idx ON action_log (portfolio_id, id DESC);

-- ---------------------------------------------------------------------------------------------
-- Prices
-- ---------------------------------------------------------------------------------------------

-- Current price per asset (business-rules §2.4). A failed fetch keeps the old row: it goes
-- stale, it is never repriced at a guess.
CREATE TABLE prices (
    asset_id        TEXT PRIMARY KEY REFERENCES assets (id),
    price_usd       NUMERIC(38,18) NOT NULL CHECK (price_usd > 0),
    price_irr       NUMERIC(38,18) NOT NULL CHECK (price_irr > 0),
    fx_rate         NUMERIC(38,18) NOT NULL CHECK (fx_rate > 0),
    fx_source       TEXT NOT NULL,
    -- coingecko, finnhub, internal, manual (admin override) or fallback.
    source          TEXT NOT NULL,
    fetched_at      TIMESTAMPTZ NOT NULL,
    fx_fetched_at   TIMESTAMPTZ NOT NULL,
    change_24h_pct  NUMERIC(38,18),
    updated_at      TIMESTAMPTZ NOT NULL
);

-- The last good FX rate with its own timestamp (never replaced by a constant in production).
CREATE TABLE fx_rates (
    pair            TEXT PRIMARY KEY CHECK (pair = 'USD_IRR'),
    rate            NUMERIC(38,18) NOT NULL CHECK (rate > 0),
    source          TEXT NOT NULL,
    fetched_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL
);

-- One close per asset and UTC day (HRAM input, business-rules §6.3).
CREATE TABLE price_history (
    asset_id        TEXT NOT NULL REFERENCES assets (id),
    day             DATE NOT NULL,
    close_usd       NUMERIC(38,18) NOT NULL CHECK (close_usd > 0),
    close_irr       NUMERIC(38,18) CHECK (close_irr > 0),
    updated_at      TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (asset_id, day)
);

-- Optional intraday points for charts; trimmed by retention.
CREATE TABLE price_points (
    asset_id        TEXT NOT NULL REFERENCES assets (id),
    at              TIMESTAMPTZ NOT NULL,
    price_usd       NUMERIC(38,18) NOT NULL CHECK (price_usd > 0),
    price_irr       NUMERIC(38,18) CHECK (price_irr > 0),
    PRIMARY KEY (asset_id, at)
);

-- Admin overrides (api.md §13.1): subject is an asset id, or 'FX' for the USD→IRR rate.
CREATE TABLE price_overrides (
    subject         TEXT PRIMARY KEY,
    asset_id        TEXT REFERENCES assets (id),
    -- priceUsd for an asset, usdIrr for FX.
    value           NUMERIC(38,18) NOT NULL CHECK (value > 0),
    change_24h_pct  NUMERIC(38,18),
    reason          TEXT,
    expires_at      TIMESTAMPTZ,
    created_at      TIMESTAMPTZ NOT NULL,
    CHECK ((subject = 'FX' AND asset_id IS NULL)
        OR (asset_id = subject AND asset_id <> 'IRR_FIXED_INCOME'))
);

-- ---------------------------------------------------------------------------------------------
-- Idempotency, notifications, jobs
-- ---------------------------------------------------------------------------------------------

CREATE TABLE idempotency_keys (
    user_id         UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    key             TEXT NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    method          TEXT NOT NULL,
    path            TEXT NOT NULL,
    -- SHA-256 hex of method, path and the canonical body (api.md §1.11).
    fingerprint     TEXT NOT NULL,
    state           TEXT NOT NULL DEFAULT 'IN_PROGRESS' CHECK (state IN ('IN_PROGRESS', 'COMPLETED')),
    status_code     INTEGER CHECK (status_code BETWEEN 100 AND 599),
    -- Replayed byte for byte.
    response_body   BYTEA,
    created_at      TIMESTAMPTZ NOT NULL,
    completed_at    TIMESTAMPTZ,
    CONSTRAINT idempotency_keys_pkey PRIMARY KEY (user_id, key),
    CHECK (state <> 'COMPLETED' OR (status_code IS NOT NULL AND response_body IS NOT NULL AND completed_at IS NOT NULL))
);

CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);

-- Outbox: delivered at most once per (kind, entity, dedupe key) (business-rules §10).
CREATE TABLE notifications (
    id              UUID PRIMARY KEY,
    user_id         UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind            TEXT NOT NULL,
    entity_id       TEXT NOT NULL,
    dedupe_key      TEXT NOT NULL,
    title           TEXT NOT NULL,
    body            TEXT NOT NULL,
    data            JSONB,
    attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    last_error      TEXT,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    delivered_at    TIMESTAMPTZ,
    CONSTRAINT notifications_dedupe_key UNIQUE (kind, entity_id, dedupe_key)
);

CREATE INDEX notifications_pending_idx ON notifications (next_attempt_at) WHERE delivered_at IS NULL;
CREATE INDEX notifications_user_idx ON notifications (user_id, created_at DESC);

-- One row per job tick: the primary key makes a tick claimable once across all workers (D30).
CREATE TABLE job_runs (
    job_name            TEXT NOT NULL,
    scheduled_at        TIMESTAMPTZ NOT NULL,
    run_id              UUID NOT NULL UNIQUE,
    status              TEXT NOT NULL CHECK (status IN ('RUNNING', 'SUCCEEDED', 'FAILED')),
    attempts            INTEGER NOT NULL DEFAULT 1 CHECK (attempts >= 1),
    -- A crashed worker's lease expires and another worker retries the tick.
    lease_owner         TEXT,
    lease_expires_at    TIMESTAMPTZ,
    started_at          TIMESTAMPTZ NOT NULL,
    finished_at         TIMESTAMPTZ,
    result              JSONB,
    error               TEXT,
    PRIMARY KEY (job_name, scheduled_at)
);

CREATE INDEX job_runs_running_idx ON job_runs (lease_expires_at) WHERE status = 'RUNNING';
CREATE INDEX job_runs_recent_idx ON job_runs (job_name, started_at DESC);
