-- The operator's volatility regime per asset (business-rules §8.3: LOW, NORMAL, ELEVATED, HIGH,
-- EXTREME; an asset without a row is NORMAL). Kept in the database so every instance prices with
-- the same setting. It is not tenant data: no row-level security. The API role only reads it, as
-- it reads the other reference tables; operators write it as the owning role.
CREATE TABLE volatility_regimes (
    asset_id    TEXT PRIMARY KEY REFERENCES assets (id),
    regime      TEXT NOT NULL CHECK (regime IN ('LOW', 'NORMAL', 'ELEVATED', 'HIGH', 'EXTREME')),
    reason      TEXT,
    set_at      TIMESTAMPTZ NOT NULL
);

GRANT SELECT ON volatility_regimes TO blu_app;
