//! The reference data seeded by the migrations (asset registry and layer parameters), read back
//! as rows so tests can prove the seed equals `blu_domain`'s registry.

use rust_decimal::Decimal;

/// One asset of the `assets` table joined with its layer's parameters (business-rules
/// §2.1–2.3). Decimals are normalized.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AssetRow {
    pub id: String,
    pub position: i64,
    pub name: String,
    pub layer: String,
    pub category: String,
    pub layer_weight: Decimal,
    pub price_source: String,
    pub source_id: Option<String>,
    pub default_price_usd: Option<Decimal>,
    pub base_volatility: Decimal,
    pub liquidity_score: Decimal,
    pub asset_max_ltv: Decimal,
    pub effective_max_ltv: Decimal,
    pub implied_volatility: Decimal,
    pub protection_eligible: bool,
    pub protection_execution_spread: Option<Decimal>,
    pub protection_min_premium_30d: Option<Decimal>,
    pub protection_max_premium_30d: Option<Decimal>,
    pub trade_spread: Decimal,
    pub layer_ltv: Decimal,
    pub protection_monthly_rate: Decimal,
    pub protection_margin_per_day: Decimal,
}

/// The same statement on both backends (the column names are shared).
pub(crate) const ASSETS_QUERY: &str = "SELECT a.id, a.position, a.name, a.layer, a.category, \
     a.layer_weight, a.price_source, a.source_id, a.default_price_usd, a.base_volatility, \
     a.liquidity_score, a.asset_max_ltv, a.effective_max_ltv, a.implied_volatility, \
     a.protection_eligible, a.protection_execution_spread, a.protection_min_premium_30d, \
     a.protection_max_premium_30d, l.trade_spread, l.max_ltv AS layer_ltv, \
     l.protection_monthly_rate, l.protection_margin_per_day \
     FROM assets a JOIN layers l ON l.layer = a.layer ORDER BY a.position";

impl crate::driver::FromRow for AssetRow {
    fn from_row(r: crate::driver::Row) -> anyhow::Result<AssetRow> {
        Ok(AssetRow {
            id: r.text("id")?,
            position: r.int("position")?,
            name: r.text("name")?,
            layer: r.text("layer")?,
            category: r.text("category")?,
            layer_weight: r.dec("layer_weight")?,
            price_source: r.text("price_source")?,
            source_id: r.opt_text("source_id")?,
            default_price_usd: r.opt_dec("default_price_usd")?,
            base_volatility: r.dec("base_volatility")?,
            liquidity_score: r.dec("liquidity_score")?,
            asset_max_ltv: r.dec("asset_max_ltv")?,
            effective_max_ltv: r.dec("effective_max_ltv")?,
            implied_volatility: r.dec("implied_volatility")?,
            protection_eligible: r.bool("protection_eligible")?,
            protection_execution_spread: r.opt_dec("protection_execution_spread")?,
            protection_min_premium_30d: r.opt_dec("protection_min_premium_30d")?,
            protection_max_premium_30d: r.opt_dec("protection_max_premium_30d")?,
            trade_spread: r.dec("trade_spread")?,
            layer_ltv: r.dec("layer_ltv")?,
            protection_monthly_rate: r.dec("protection_monthly_rate")?,
            protection_margin_per_day: r.dec("protection_margin_per_day")?,
        })
    }
}
