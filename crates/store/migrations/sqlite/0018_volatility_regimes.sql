-- The operator's volatility regime per asset (business-rules §8.3: LOW, NORMAL, ELEVATED, HIGH,
-- EXTREME; an asset without a row is NORMAL). Mirrors postgres/0018.
CREATE TABLE volatility_regimes (
    asset_id    TEXT PRIMARY KEY REFERENCES assets (id),
    regime      TEXT NOT NULL CHECK (regime IN ('LOW', 'NORMAL', 'ELEVATED', 'HIGH', 'EXTREME')),
    reason      TEXT,
    set_at      TEXT NOT NULL
) STRICT;
