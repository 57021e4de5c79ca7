-- The asset registry (business-rules §2.1–2.3). Must equal blu_domain's registry; a test in
-- crates/store compares every value. The same rows are in the SQLite migration.

INSERT INTO layers (layer, position, trade_spread, max_ltv, protection_monthly_rate,
                    protection_margin_per_day, min_share, max_share) VALUES
    ('FOUNDATION', 0, 0.0015, 0.70, 0.004, 0.00003, 0.30, NULL),
    ('GROWTH',     1, 0.0030, 0.50, 0.008, 0.00007, NULL, NULL),
    ('UPSIDE',     2, 0.0060, 0.30, 0.012, 0.00010, NULL, 0.25);

INSERT INTO assets (id, position, name, layer, category, layer_weight, price_source, source_id,
                    default_price_usd, base_volatility, liquidity_score, asset_max_ltv,
                    effective_max_ltv, implied_volatility, protection_eligible,
                    protection_execution_spread, protection_min_premium_30d,
                    protection_max_premium_30d) VALUES
    ('USDT',              0, 'US Dollar',        'FOUNDATION', 'stablecoin',     0.40, 'coingecko', 'tether',           1.00,  0.01, 1.00, 0.90, 0.70, 0.02, FALSE, NULL,  NULL,  NULL),
    ('PAXG',              1, 'Gold',             'FOUNDATION', 'gold',           0.30, 'coingecko', 'pax-gold',         2650,  0.12, 0.85, 0.70, 0.70, 0.15, TRUE,  0.002, 0.025, 0.030),
    ('IRR_FIXED_INCOME',  2, 'Fixed Income',     'FOUNDATION', 'fixed_income',   0.30, 'internal',  NULL,               NULL,  0.05, 0.60, 0,    0,    0,    FALSE, NULL,  NULL,  NULL),
    ('BTC',               3, 'Bitcoin',          'GROWTH',     'crypto_large',   0.25, 'coingecko', 'bitcoin',          97500, 0.45, 0.98, 0.50, 0.50, 0.55, TRUE,  0.003, 0.050, 0.080),
    ('ETH',               4, 'Ethereum',         'GROWTH',     'crypto_large',   0.20, 'coingecko', 'ethereum',         3200,  0.55, 0.97, 0.50, 0.50, 0.65, TRUE,  0.004, 0.060, 0.100),
    ('BNB',               5, 'Binance Coin',     'GROWTH',     'crypto_large',   0.15, 'coingecko', 'binancecoin',      680,   0.50, 0.95, 0.50, 0.50, 0.60, FALSE, NULL,  NULL,  NULL),
    ('XRP',               6, 'Ripple',           'GROWTH',     'crypto_large',   0.10, 'coingecko', 'ripple',           2.20,  0.60, 0.94, 0.45, 0.45, 0.70, FALSE, NULL,  NULL,  NULL),
    ('KAG',               7, 'Silver (Kinesis)', 'GROWTH',     'silver',         0.15, 'coingecko', 'kinesis-silver',   30,    0.18, 0.75, 0.60, 0.50, 0.18, TRUE,  0.003, 0.025, 0.035),
    ('QQQ',               8, 'NASDAQ 100',       'GROWTH',     'equity_etf',     0.15, 'finnhub',   'QQQ',              521,   0.20, 0.90, 0.60, 0.50, 0.22, TRUE,  0.002, 0.025, 0.040),
    ('SOL',               9, 'Solana',           'UPSIDE',     'alt_l1',         0.20, 'coingecko', 'solana',           185,   0.75, 0.92, 0.30, 0.30, 0.85, TRUE,  0.005, 0.080, 0.120),
    ('TON',              10, 'TON Coin',         'UPSIDE',     'alt_l1',         0.18, 'coingecko', 'the-open-network', 5.20,  0.65, 0.85, 0.30, 0.30, 0.80, FALSE, NULL,  NULL,  NULL),
    ('LINK',             11, 'Chainlink',        'UPSIDE',     'infrastructure', 0.18, 'coingecko', 'chainlink',        22,    0.60, 0.90, 0.35, 0.30, 0.75, FALSE, NULL,  NULL,  NULL),
    ('AVAX',             12, 'Avalanche',        'UPSIDE',     'alt_l1',         0.16, 'coingecko', 'avalanche-2',      35,    0.70, 0.88, 0.30, 0.30, 0.80, FALSE, NULL,  NULL,  NULL),
    ('MATIC',            13, 'Polygon',          'UPSIDE',     'l2',             0.14, 'coingecko', 'matic-network',    0.45,  0.65, 0.88, 0.30, 0.30, 0.75, FALSE, NULL,  NULL,  NULL),
    ('ARB',              14, 'Arbitrum',         'UPSIDE',     'l2',             0.14, 'coingecko', 'arbitrum',         0.80,  0.70, 0.85, 0.30, 0.30, 0.85, FALSE, NULL,  NULL,  NULL);
