//! The asset registry (business-rules §2): 15 assets in three layers, every parameter the rules
//! use. Registry order is the order of `AssetId::ALL` and is used for every tie-break.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde::{Deserialize, Serialize};

/// The three layers of a portfolio.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "UPPERCASE")]
pub enum Layer {
    Foundation,
    Growth,
    Upside,
}

impl Layer {
    pub const ALL: [Layer; 3] = [Layer::Foundation, Layer::Growth, Layer::Upside];

    pub fn as_str(self) -> &'static str {
        match self {
            Layer::Foundation => "FOUNDATION",
            Layer::Growth => "GROWTH",
            Layer::Upside => "UPSIDE",
        }
    }

    /// Position in `Layer::ALL`, for array-indexed per-layer data.
    pub fn index(self) -> usize {
        self as usize
    }

    pub fn params(self) -> &'static LayerParams {
        &LAYER_PARAMS[self.index()]
    }
}

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Layer {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Layer, UnknownName> {
        Layer::ALL
            .into_iter()
            .find(|l| l.as_str().eq_ignore_ascii_case(s))
            .ok_or(UnknownName)
    }
}

/// A name that is not in the registry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown name")]
pub struct UnknownName;

/// Per-layer parameters (business-rules §2.3).
#[derive(Debug)]
pub struct LayerParams {
    pub layer: Layer,
    /// Trade spread as a fraction, paid by the user.
    pub spread: Decimal,
    /// Layer LTV; the effective LTV is min(layer, asset) (D10).
    pub ltv: Decimal,
    /// Monthly protection rate of the LAYER_RATE premium model.
    pub protection_monthly_rate: Decimal,
    /// Profit margin per day of the Black–Scholes premium model.
    pub protection_margin_per_day: Decimal,
}

const LAYER_PARAMS: [LayerParams; 3] = [
    LayerParams {
        layer: Layer::Foundation,
        spread: dec!(0.0015),
        ltv: dec!(0.70),
        protection_monthly_rate: dec!(0.004),
        protection_margin_per_day: dec!(0.00003),
    },
    LayerParams {
        layer: Layer::Growth,
        spread: dec!(0.0030),
        ltv: dec!(0.50),
        protection_monthly_rate: dec!(0.008),
        protection_margin_per_day: dec!(0.00007),
    },
    LayerParams {
        layer: Layer::Upside,
        spread: dec!(0.0060),
        ltv: dec!(0.30),
        protection_monthly_rate: dec!(0.012),
        protection_margin_per_day: dec!(0.00010),
    },
];

/// Hard floor on the Foundation share of holdings (status, §4.3).
pub const FOUNDATION_HARD_FLOOR: Decimal = dec!(0.30);
/// Hard cap on the Upside share of holdings (status, §4.3).
pub const UPSIDE_HARD_CAP: Decimal = dec!(0.25);

/// The 15 assets, in registry order.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
pub enum AssetId {
    #[serde(rename = "USDT")]
    Usdt,
    #[serde(rename = "PAXG")]
    Paxg,
    #[serde(rename = "IRR_FIXED_INCOME")]
    IrrFixedIncome,
    #[serde(rename = "BTC")]
    Btc,
    #[serde(rename = "ETH")]
    Eth,
    #[serde(rename = "BNB")]
    Bnb,
    #[serde(rename = "XRP")]
    Xrp,
    #[serde(rename = "KAG")]
    Kag,
    #[serde(rename = "QQQ")]
    Qqq,
    #[serde(rename = "SOL")]
    Sol,
    #[serde(rename = "TON")]
    Ton,
    #[serde(rename = "LINK")]
    Link,
    #[serde(rename = "AVAX")]
    Avax,
    #[serde(rename = "MATIC")]
    Matic,
    #[serde(rename = "ARB")]
    Arb,
}

impl AssetId {
    pub const ALL: [AssetId; 15] = [
        AssetId::Usdt,
        AssetId::Paxg,
        AssetId::IrrFixedIncome,
        AssetId::Btc,
        AssetId::Eth,
        AssetId::Bnb,
        AssetId::Xrp,
        AssetId::Kag,
        AssetId::Qqq,
        AssetId::Sol,
        AssetId::Ton,
        AssetId::Link,
        AssetId::Avax,
        AssetId::Matic,
        AssetId::Arb,
    ];

    /// Position in registry order.
    pub fn index(self) -> usize {
        self as usize
    }

    pub fn asset(self) -> &'static Asset {
        &REGISTRY[self.index()]
    }

    pub fn as_str(self) -> &'static str {
        self.asset().symbol
    }

    pub fn layer(self) -> Layer {
        self.asset().layer
    }

    pub fn is_fixed_income(self) -> bool {
        self == AssetId::IrrFixedIncome
    }

    /// Assets of one layer, in registry order.
    pub fn in_layer(layer: Layer) -> impl Iterator<Item = AssetId> {
        AssetId::ALL.into_iter().filter(move |a| a.layer() == layer)
    }
}

impl fmt::Display for AssetId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AssetId {
    type Err = UnknownName;
    /// Exact, case-insensitive match on the registry symbol.
    fn from_str(s: &str) -> Result<AssetId, UnknownName> {
        AssetId::ALL
            .into_iter()
            .find(|a| a.as_str().eq_ignore_ascii_case(s))
            .ok_or(UnknownName)
    }
}

/// Where an asset's market price comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PriceSource {
    /// CoinGecko simple price, by CoinGecko id.
    CoinGecko(&'static str),
    /// Finnhub quote, by ticker symbol.
    Finnhub(&'static str),
    /// Priced internally (fixed income: 500,000 IRR per unit plus accrual).
    Internal,
}

/// Protection parameters of an eligible asset (business-rules §2.2, Black–Scholes model).
#[derive(Debug)]
pub struct ProtectionParams {
    pub execution_spread: Decimal,
    pub min_premium_30d: Decimal,
    pub max_premium_30d: Decimal,
}

/// Every registry parameter of one asset (business-rules §2.1–2.2).
#[derive(Debug)]
pub struct Asset {
    pub id: AssetId,
    pub symbol: &'static str,
    pub name: &'static str,
    pub layer: Layer,
    pub category: &'static str,
    /// Static weight inside its layer (initial funding; HRAM's starting point).
    pub layer_weight: Decimal,
    pub price_source: PriceSource,
    /// Default USD price of the simulated and fixed sources (development and tests only).
    pub default_price_usd: Option<Decimal>,
    pub base_volatility: Decimal,
    pub liquidity_score: Decimal,
    /// The PRD's per-asset LTV; the effective one is `effective_max_ltv`.
    pub asset_max_ltv: Decimal,
    /// Implied volatility used by protection pricing and greeks.
    pub implied_volatility: Decimal,
    /// Present only for protection-eligible assets (D11).
    pub protection: Option<ProtectionParams>,
}

impl Asset {
    pub fn spread(&self) -> Decimal {
        self.layer.params().spread
    }

    /// min(layer LTV, asset LTV); 0 means never collateral (D10).
    pub fn effective_max_ltv(&self) -> Decimal {
        self.asset_max_ltv.min(self.layer.params().ltv)
    }

    pub fn protection_eligible(&self) -> bool {
        self.protection.is_some()
    }
}

/// Unit principal of IRR_FIXED_INCOME.
pub const FIXED_INCOME_UNIT_IRR: Decimal = dec!(500000);
/// Simple annual interest of IRR_FIXED_INCOME.
pub const FIXED_INCOME_ANNUAL_RATE: Decimal = dec!(0.30);
/// FX of the simulated and fixed price sources (development and tests only, never production).
pub const DEFAULT_FX_IRR_PER_USD: Decimal = dec!(1456000);

/// How far an asset's USD price may stray from its registry price, either way: ×/÷ 1,000.
pub const PRICE_BOUND_FACTOR: Decimal = dec!(1000);
/// Lowest accepted USD→IRR rate (≈ 15 × today's rial).
pub const MIN_FX_IRR_PER_USD: Decimal = dec!(100000);
/// Highest accepted USD→IRR rate (≈ 70 × weaker than today's rial).
pub const MAX_FX_IRR_PER_USD: Decimal = dec!(100000000);

// Why these bounds (issue 11, D41). Every price a request or job computes with (feed, operator
// override, stored row) must stay where the arithmetic of the largest portfolio can carry it:
// - the largest portfolio: at most 10^18 IRR at the prices it was bought (more than all the
//   money in Iran; add-funds takes at most 10^11 a call);
// - a holding's value scales with priceIrr / (priceIrr when bought); with the USD price within
//   ×/÷ 10^3 of the registry price and FX within [10^5, 10^8], that ratio is at most
//   10^6 × 10^3 = 10^9, so any value stays ≤ 10^27: inside NUMERIC(28,0) (< 10^28) and far
//   inside rust_decimal (7.9 × 10^28), with room for the sums and × ratios of valuation;
// - the largest priceIrr is 97,500 × 10^3 × 10^8 ≈ 10^16 IRR per unit, inside the
//   NUMERIC(38,18) price columns (< 10^20);
// - daily returns of stored closes are then at most 10^6 in size, so the HRAM variances and
//   covariances (squares of returns, ≤ 10^12 each) cannot overflow either.
// A value outside them is refused at the door (400) and ignored (with a warning) if it is
// already stored, so no value can stop a request, a job or the server's start.

/// The accepted range of an asset's USD price: ×/÷ [`PRICE_BOUND_FACTOR`] of its registry
/// price; `None` for fixed income (priced internally, never quoted).
pub fn price_usd_bounds(asset: AssetId) -> Option<(Decimal, Decimal)> {
    let reference = asset.asset().default_price_usd?;
    Some((
        reference / PRICE_BOUND_FACTOR,
        reference * PRICE_BOUND_FACTOR,
    ))
}

/// Whether a USD price of the asset is within its bounds (and so positive).
pub fn price_usd_in_bounds(asset: AssetId, price_usd: Decimal) -> bool {
    price_usd_bounds(asset).is_some_and(|(min, max)| price_usd >= min && price_usd <= max)
}

/// Whether a USD→IRR rate is within [`MIN_FX_IRR_PER_USD`, `MAX_FX_IRR_PER_USD`].
pub fn fx_in_bounds(usd_irr: Decimal) -> bool {
    (MIN_FX_IRR_PER_USD..=MAX_FX_IRR_PER_USD).contains(&usd_irr)
}

macro_rules! asset {
    ($id:ident, $sym:literal, $name:literal, $layer:ident, $cat:literal, $w:literal, $src:expr,
     $price:expr, $vol:literal, $liq:literal, $ltv:literal, $iv:literal, $prot:expr) => {
        Asset {
            id: AssetId::$id,
            symbol: $sym,
            name: $name,
            layer: Layer::$layer,
            category: $cat,
            layer_weight: dec!($w),
            price_source: $src,
            default_price_usd: $price,
            base_volatility: dec!($vol),
            liquidity_score: dec!($liq),
            asset_max_ltv: dec!($ltv),
            implied_volatility: dec!($iv),
            protection: $prot,
        }
    };
}

const fn prot(execution_spread: Decimal, min: Decimal, max: Decimal) -> Option<ProtectionParams> {
    Some(ProtectionParams {
        execution_spread,
        min_premium_30d: min,
        max_premium_30d: max,
    })
}

use PriceSource::{CoinGecko, Finnhub, Internal};

static REGISTRY: [Asset; 15] = [
    asset!(
        Usdt,
        "USDT",
        "US Dollar",
        Foundation,
        "stablecoin",
        0.40,
        CoinGecko("tether"),
        Some(dec!(1.00)),
        0.01,
        1.00,
        0.90,
        0.02,
        None
    ),
    asset!(
        Paxg,
        "PAXG",
        "Gold",
        Foundation,
        "gold",
        0.30,
        CoinGecko("pax-gold"),
        Some(dec!(2650)),
        0.12,
        0.85,
        0.70,
        0.15,
        prot(dec!(0.002), dec!(0.025), dec!(0.030))
    ),
    asset!(
        IrrFixedIncome,
        "IRR_FIXED_INCOME",
        "Fixed Income",
        Foundation,
        "fixed_income",
        0.30,
        Internal,
        None,
        0.05,
        0.60,
        0,
        0,
        None
    ),
    asset!(
        Btc,
        "BTC",
        "Bitcoin",
        Growth,
        "crypto_large",
        0.25,
        CoinGecko("bitcoin"),
        Some(dec!(97500)),
        0.45,
        0.98,
        0.50,
        0.55,
        prot(dec!(0.003), dec!(0.050), dec!(0.080))
    ),
    asset!(
        Eth,
        "ETH",
        "Ethereum",
        Growth,
        "crypto_large",
        0.20,
        CoinGecko("ethereum"),
        Some(dec!(3200)),
        0.55,
        0.97,
        0.50,
        0.65,
        prot(dec!(0.004), dec!(0.060), dec!(0.100))
    ),
    asset!(
        Bnb,
        "BNB",
        "Binance Coin",
        Growth,
        "crypto_large",
        0.15,
        CoinGecko("binancecoin"),
        Some(dec!(680)),
        0.50,
        0.95,
        0.50,
        0.60,
        None
    ),
    asset!(
        Xrp,
        "XRP",
        "Ripple",
        Growth,
        "crypto_large",
        0.10,
        CoinGecko("ripple"),
        Some(dec!(2.20)),
        0.60,
        0.94,
        0.45,
        0.70,
        None
    ),
    asset!(
        Kag,
        "KAG",
        "Silver (Kinesis)",
        Growth,
        "silver",
        0.15,
        CoinGecko("kinesis-silver"),
        Some(dec!(30)),
        0.18,
        0.75,
        0.60,
        0.18,
        prot(dec!(0.003), dec!(0.025), dec!(0.035))
    ),
    asset!(
        Qqq,
        "QQQ",
        "NASDAQ 100",
        Growth,
        "equity_etf",
        0.15,
        Finnhub("QQQ"),
        Some(dec!(521)),
        0.20,
        0.90,
        0.60,
        0.22,
        prot(dec!(0.002), dec!(0.025), dec!(0.040))
    ),
    asset!(
        Sol,
        "SOL",
        "Solana",
        Upside,
        "alt_l1",
        0.20,
        CoinGecko("solana"),
        Some(dec!(185)),
        0.75,
        0.92,
        0.30,
        0.85,
        prot(dec!(0.005), dec!(0.080), dec!(0.120))
    ),
    asset!(
        Ton,
        "TON",
        "TON Coin",
        Upside,
        "alt_l1",
        0.18,
        CoinGecko("the-open-network"),
        Some(dec!(5.20)),
        0.65,
        0.85,
        0.30,
        0.80,
        None
    ),
    asset!(
        Link,
        "LINK",
        "Chainlink",
        Upside,
        "infrastructure",
        0.18,
        CoinGecko("chainlink"),
        Some(dec!(22)),
        0.60,
        0.90,
        0.35,
        0.75,
        None
    ),
    asset!(
        Avax,
        "AVAX",
        "Avalanche",
        Upside,
        "alt_l1",
        0.16,
        CoinGecko("avalanche-2"),
        Some(dec!(35)),
        0.70,
        0.88,
        0.30,
        0.80,
        None
    ),
    asset!(
        Matic,
        "MATIC",
        "Polygon",
        Upside,
        "l2",
        0.14,
        CoinGecko("matic-network"),
        Some(dec!(0.45)),
        0.65,
        0.88,
        0.30,
        0.75,
        None
    ),
    asset!(
        Arb,
        "ARB",
        "Arbitrum",
        Upside,
        "l2",
        0.14,
        CoinGecko("arbitrum"),
        Some(dec!(0.80)),
        0.70,
        0.85,
        0.30,
        0.85,
        None
    ),
];

/// Protection-eligible assets (D11), in registry order.
pub fn protection_eligible_assets() -> impl Iterator<Item = AssetId> {
    AssetId::ALL
        .into_iter()
        .filter(|a| a.asset().protection_eligible())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_order_matches_the_asset_ids() {
        for (i, id) in AssetId::ALL.into_iter().enumerate() {
            assert_eq!(id.index(), i);
            assert_eq!(id.asset().id, id);
        }
    }

    #[test]
    fn layer_weights_sum_to_one_in_every_layer() {
        for layer in Layer::ALL {
            let sum: Decimal = AssetId::in_layer(layer)
                .map(|a| a.asset().layer_weight)
                .sum();
            assert_eq!(sum, Decimal::ONE, "{layer}");
        }
    }

    #[test]
    fn effective_ltv_is_the_smaller_of_layer_and_asset_ltv() {
        let expected = [
            ("USDT", dec!(0.70)),
            ("PAXG", dec!(0.70)),
            ("IRR_FIXED_INCOME", dec!(0)),
            ("BTC", dec!(0.50)),
            ("ETH", dec!(0.50)),
            ("BNB", dec!(0.50)),
            ("XRP", dec!(0.45)),
            ("KAG", dec!(0.50)),
            ("QQQ", dec!(0.50)),
            ("SOL", dec!(0.30)),
            ("TON", dec!(0.30)),
            ("LINK", dec!(0.30)),
            ("AVAX", dec!(0.30)),
            ("MATIC", dec!(0.30)),
            ("ARB", dec!(0.30)),
        ];
        for (symbol, ltv) in expected {
            let id: AssetId = symbol.parse().unwrap();
            assert_eq!(id.asset().effective_max_ltv(), ltv, "{symbol}");
        }
    }

    #[test]
    fn exactly_six_assets_are_protection_eligible() {
        let eligible: Vec<_> = protection_eligible_assets().map(AssetId::as_str).collect();
        assert_eq!(eligible, ["PAXG", "BTC", "ETH", "KAG", "QQQ", "SOL"]);
    }

    #[test]
    fn asset_ids_parse_case_insensitively_and_reject_unknowns() {
        assert_eq!("btc".parse::<AssetId>(), Ok(AssetId::Btc));
        assert_eq!(
            "irr_fixed_income".parse::<AssetId>(),
            Ok(AssetId::IrrFixedIncome)
        );
        assert!("DOGE".parse::<AssetId>().is_err());
        assert_eq!(
            serde_json::to_string(&AssetId::IrrFixedIncome).unwrap(),
            "\"IRR_FIXED_INCOME\""
        );
    }

    #[test]
    fn prices_and_fx_outside_their_bounds_are_refused() {
        assert_eq!(
            price_usd_bounds(AssetId::Btc),
            Some((dec!(97.5), dec!(97500000)))
        );
        assert!(price_usd_in_bounds(AssetId::Btc, dec!(30000)));
        assert!(!price_usd_in_bounds(AssetId::Btc, dec!(100000000000000)));
        assert!(!price_usd_in_bounds(AssetId::Btc, Decimal::ZERO));
        assert!(!price_usd_in_bounds(AssetId::IrrFixedIncome, Decimal::ONE));
        assert!(fx_in_bounds(DEFAULT_FX_IRR_PER_USD));
        assert!(!fx_in_bounds(dec!(1000000000000000)));
        assert!(!fx_in_bounds(Decimal::ONE));
    }
}
