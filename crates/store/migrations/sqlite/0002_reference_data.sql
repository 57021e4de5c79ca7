-- Decimals are TEXT literals (normalized) so nothing passes through REAL.
-- The asset registry (business-rules §2.1–2.3). Must equal blu_domain's registry; a test in
-- crates/store compares every value. The same rows are in the PostgreSQL migration.

INSERT INTO layers (layer, position, trade_spread, max_ltv, protection_monthly_rate,
                    protection_margin_per_day, min_share, max_share) VALUES
    ('FOUNDATION', 0, '0.0015', '0.7', '0.004', '0.00003', '0.3', NULL),
    ('GROWTH', 1, '0.003', '0.5', '0.008', '0.00007', NULL, NULL),
    ('UPSIDE', 2, '0.006', '0.3', '0.012', '0.0001', NULL, '0.25');

INSERT INTO assets (id, position, name, layer, category, layer_weight, price_source, source_id,
                    default_price_usd, base_volatility, liquidity_score, asset_max_ltv,
                    effective_max_ltv, implied_volatility, protection_eligible,
                    protection_execution_spread, protection_min_premium_30d,
                    protection_max_premium_30d) VALUES
    ('USDT', 0, 'US Dollar', 'FOUNDATION', 'stablecoin', '0.4', 'coingecko', 'tether', '1', '0.01', '1', '0.9', '0.7', '0.02', 0, NULL, NULL, NULL),
    ('PAXG', 1, 'Gold', 'FOUNDATION', 'gold', '0.3', 'coingecko', 'pax-gold', '2650', '0.12', '0.85', '0.7', '0.7', '0.15', 1, '0.002', '0.025', '0.03'),
    ('IRR_FIXED_INCOME', 2, 'Fixed Income', 'FOUNDATION', 'fixed_income', '0.3', 'internal', NULL, NULL, '0.05', '0.6', '0', '0', '0', 0, NULL, NULL, NULL),
    ('BTC', 3, 'Bitcoin', 'GROWTH', 'crypto_large', '0.25', 'coingecko', 'bitcoin', '97500', '0.45', '0.98', '0.5', '0.5', '0.55', 1, '0.003', '0.05', '0.08'),
    ('ETH', 4, 'Ethereum', 'GROWTH', 'crypto_large', '0.2', 'coingecko', 'ethereum', '3200', '0.55', '0.97', '0.5', '0.5', '0.65', 1, '0.004', '0.06', '0.1'),
    ('BNB', 5, 'Binance Coin', 'GROWTH', 'crypto_large', '0.15', 'coingecko', 'binancecoin', '680', '0.5', '0.95', '0.5', '0.5', '0.6', 0, NULL, NULL, NULL),
    ('XRP', 6, 'Ripple', 'GROWTH', 'crypto_large', '0.1', 'coingecko', 'ripple', '2.2', '0.6', '0.94', '0.45', '0.45', '0.7', 0, NULL, NULL, NULL),
    ('KAG', 7, 'Silver (Kinesis)', 'GROWTH', 'silver', '0.15', 'coingecko', 'kinesis-silver', '30', '0.18', '0.75', '0.6', '0.5', '0.18', 1, '0.003', '0.025', '0.035'),
    ('QQQ', 8, 'NASDAQ 100', 'GROWTH', 'equity_etf', '0.15', 'finnhub', 'QQQ', '521', '0.2', '0.9', '0.6', '0.5', '0.22', 1, '0.002', '0.025', '0.04'),
    ('SOL', 9, 'Solana', 'UPSIDE', 'alt_l1', '0.2', 'coingecko', 'solana', '185', '0.75', '0.92', '0.3', '0.3', '0.85', 1, '0.005', '0.08', '0.12'),
    ('TON', 10, 'TON Coin', 'UPSIDE', 'alt_l1', '0.18', 'coingecko', 'the-open-network', '5.2', '0.65', '0.85', '0.3', '0.3', '0.8', 0, NULL, NULL, NULL),
    ('LINK', 11, 'Chainlink', 'UPSIDE', 'infrastructure', '0.18', 'coingecko', 'chainlink', '22', '0.6', '0.9', '0.35', '0.3', '0.75', 0, NULL, NULL, NULL),
    ('AVAX', 12, 'Avalanche', 'UPSIDE', 'alt_l1', '0.16', 'coingecko', 'avalanche-2', '35', '0.7', '0.88', '0.3', '0.3', '0.8', 0, NULL, NULL, NULL),
    ('MATIC', 13, 'Polygon', 'UPSIDE', 'l2', '0.14', 'coingecko', 'matic-network', '0.45', '0.65', '0.88', '0.3', '0.3', '0.75', 0, NULL, NULL, NULL),
    ('ARB', 14, 'Arbitrum', 'UPSIDE', 'l2', '0.14', 'coingecko', 'arbitrum', '0.8', '0.7', '0.85', '0.3', '0.3', '0.85', 0, NULL, NULL, NULL);
