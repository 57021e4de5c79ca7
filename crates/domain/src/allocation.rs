//! Layer shares, drift and the single status function (D13, business-rules §4.2–4.3).

use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};

use crate::asset::{FOUNDATION_HARD_FLOOR, Layer, UPSIDE_HARD_CAP};
use crate::money::{Irr, round_half_up};

/// Three fractions keyed by layer (D3). Serializes as `{"FOUNDATION":…,"GROWTH":…,"UPSIDE":…}`
/// with exact numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Allocation([Decimal; 3]);

impl Allocation {
    pub const ZERO: Allocation = Allocation([Decimal::ZERO; 3]);

    pub const fn new(foundation: Decimal, growth: Decimal, upside: Decimal) -> Allocation {
        Allocation([foundation, growth, upside])
    }

    /// Shares of each layer in the total of the values; all zero when the total is zero.
    pub fn from_values(values: [Irr; 3]) -> Allocation {
        let total: Decimal = values.iter().map(|v| v.value()).sum();
        if total.is_zero() {
            return Allocation::ZERO;
        }
        Allocation(values.map(|v| v.value().checked_div(total).unwrap_or(Decimal::ZERO)))
    }

    pub fn get(&self, layer: Layer) -> Decimal {
        self.0[layer.index()]
    }

    pub fn set(&mut self, layer: Layer, value: Decimal) {
        self.0[layer.index()] = value;
    }

    pub fn values(&self) -> [Decimal; 3] {
        self.0
    }

    /// Each share rounded half-up to `dp` places (ratios on the wire use 6, api.md §1.3).
    pub fn rounded(&self, dp: u32) -> Allocation {
        Allocation(self.0.map(|v| round_half_up(v, dp).normalize()))
    }

    /// Drift of one layer in percentage points: `abs(current − target) × 100`.
    pub fn drift_pp(&self, target: &Allocation, layer: Layer) -> Decimal {
        (self.get(layer) - target.get(layer)).abs() * dec!(100)
    }

    /// The largest layer drift in pp (reported as `driftPct`).
    pub fn max_drift_pp(&self, target: &Allocation) -> Decimal {
        Layer::ALL
            .iter()
            .map(|&l| self.drift_pp(target, l))
            .max()
            .unwrap_or_default()
    }

    /// The sum of layer drifts in pp (used by movesToward and gap analysis).
    pub fn total_drift_pp(&self, target: &Allocation) -> Decimal {
        Layer::ALL.iter().map(|&l| self.drift_pp(target, l)).sum()
    }

    /// `Σ_L abs(self_L − target_L)` as a fraction (the movesToward measure, §5.6).
    pub fn distance(&self, target: &Allocation) -> Decimal {
        Layer::ALL
            .iter()
            .map(|&l| (self.get(l) - target.get(l)).abs())
            .sum()
    }
}

impl Serialize for Allocation {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(3))?;
        for layer in Layer::ALL {
            map.serialize_entry(layer.as_str(), &crate::num::Num(self.get(layer)))?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Allocation {
    /// Accepts UPPERCASE, lowercase or Title-case keys; values above 1 are read as percentages
    /// (api.md §1.5).
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = std::collections::BTreeMap::<String, crate::num::Num>::deserialize(deserializer)?;
        let mut allocation = Allocation::ZERO;
        let mut seen = [false; 3];
        for (key, value) in raw {
            let layer: Layer = key
                .parse()
                .map_err(|_| serde::de::Error::custom("unknown layer"))?;
            let value = if value.0 > Decimal::ONE {
                value.0 / dec!(100)
            } else {
                value.0
            };
            allocation.set(layer, value);
            seen[layer.index()] = true;
        }
        if seen.contains(&false) {
            return Err(serde::de::Error::custom(
                "allocation needs FOUNDATION, GROWTH and UPSIDE",
            ));
        }
        Ok(allocation)
    }
}

/// Portfolio status (D13).
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
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PortfolioStatus {
    Balanced,
    SlightlyOff,
    AttentionRequired,
}

impl PortfolioStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PortfolioStatus::Balanced => "BALANCED",
            PortfolioStatus::SlightlyOff => "SLIGHTLY_OFF",
            PortfolioStatus::AttentionRequired => "ATTENTION_REQUIRED",
        }
    }

    /// User copy (business-rules §4.3).
    pub fn message(self) -> &'static str {
        match self {
            PortfolioStatus::Balanced => "Portfolio is on target",
            PortfolioStatus::SlightlyOff => "Portfolio has drifted slightly from target",
            PortfolioStatus::AttentionRequired => "Portfolio has drifted significantly from target",
        }
    }
}

impl std::str::FromStr for PortfolioStatus {
    type Err = crate::asset::UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            PortfolioStatus::Balanced,
            PortfolioStatus::SlightlyOff,
            PortfolioStatus::AttentionRequired,
        ]
        .into_iter()
        .find(|v| v.as_str().eq_ignore_ascii_case(s))
        .ok_or(crate::asset::UnknownName)
    }
}

/// Drift above this (pp) is at least SLIGHTLY_OFF.
pub const SLIGHT_DRIFT_PP: Decimal = dec!(5);
/// Drift above this (pp) is ATTENTION_REQUIRED; it also waives the rebalance cooldown.
pub const MAJOR_DRIFT_PP: Decimal = dec!(10);

/// The result of the status function with its issue codes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusReport {
    pub status: PortfolioStatus,
    pub max_drift_pp: Decimal,
    pub total_drift_pp: Decimal,
    /// `{LAYER}_BELOW_TARGET`, `{LAYER}_ABOVE_TARGET`, `FOUNDATION_BELOW_HARD_FLOOR`,
    /// `UPSIDE_ABOVE_HARD_CAP`.
    pub issues: Vec<String>,
}

/// The single status function (D13): used by the API, trade preview, rebalance, the status job
/// and ledger snapshots. `current` are shares of the holdings value (cash excluded).
pub fn portfolio_status(
    current: &Allocation,
    target: &Allocation,
    has_holdings: bool,
) -> StatusReport {
    if !has_holdings {
        return StatusReport {
            status: PortfolioStatus::Balanced,
            max_drift_pp: Decimal::ZERO,
            total_drift_pp: Decimal::ZERO,
            issues: Vec::new(),
        };
    }
    let max_drift_pp = current.max_drift_pp(target);
    let mut issues = Vec::new();
    for layer in Layer::ALL {
        if current.drift_pp(target, layer) > SLIGHT_DRIFT_PP {
            let side = if current.get(layer) < target.get(layer) {
                "BELOW"
            } else {
                "ABOVE"
            };
            issues.push(format!("{}_{side}_TARGET", layer.as_str()));
        }
    }
    let below_floor = current.get(Layer::Foundation) < FOUNDATION_HARD_FLOOR;
    let above_cap = current.get(Layer::Upside) > UPSIDE_HARD_CAP;
    if below_floor {
        issues.push("FOUNDATION_BELOW_HARD_FLOOR".to_owned());
    }
    if above_cap {
        issues.push("UPSIDE_ABOVE_HARD_CAP".to_owned());
    }
    let status = if below_floor || above_cap || max_drift_pp > MAJOR_DRIFT_PP {
        PortfolioStatus::AttentionRequired
    } else if max_drift_pp > SLIGHT_DRIFT_PP {
        PortfolioStatus::SlightlyOff
    } else {
        PortfolioStatus::Balanced
    };
    StatusReport {
        status,
        max_drift_pp,
        total_drift_pp: current.total_drift_pp(target),
        issues,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alloc(f: Decimal, g: Decimal, u: Decimal) -> Allocation {
        Allocation::new(f, g, u)
    }

    #[test]
    fn status_table_of_business_rules_4_3() {
        let t = alloc(dec!(0.50), dec!(0.35), dec!(0.15));
        let cases = [
            (
                alloc(dec!(0.52), dec!(0.36), dec!(0.12)),
                dec!(3),
                PortfolioStatus::Balanced,
            ),
            (
                alloc(dec!(0.45), dec!(0.40), dec!(0.15)),
                dec!(5),
                PortfolioStatus::Balanced,
            ),
            (
                alloc(dec!(0.44), dec!(0.40), dec!(0.16)),
                dec!(6),
                PortfolioStatus::SlightlyOff,
            ),
            (
                alloc(dec!(0.40), dec!(0.45), dec!(0.15)),
                dec!(10),
                PortfolioStatus::SlightlyOff,
            ),
            (
                alloc(dec!(0.38), dec!(0.44), dec!(0.18)),
                dec!(12),
                PortfolioStatus::AttentionRequired,
            ),
        ];
        for (current, drift, status) in cases {
            let report = portfolio_status(&current, &t, true);
            assert_eq!(report.max_drift_pp, drift);
            assert_eq!(report.status, status, "{current:?}");
        }
        let aggressive = alloc(dec!(0.35), dec!(0.40), dec!(0.25));
        let report = portfolio_status(
            &alloc(dec!(0.33), dec!(0.41), dec!(0.26)),
            &aggressive,
            true,
        );
        assert_eq!(report.status, PortfolioStatus::AttentionRequired);
        assert!(report.issues.contains(&"UPSIDE_ABOVE_HARD_CAP".to_owned()));
    }

    #[test]
    fn a_portfolio_without_holdings_is_balanced() {
        let t = alloc(dec!(0.50), dec!(0.35), dec!(0.15));
        assert_eq!(
            portfolio_status(&Allocation::ZERO, &t, false).status,
            PortfolioStatus::Balanced
        );
    }

    #[test]
    fn allocations_serialize_with_uppercase_keys_and_fractions() {
        let json = serde_json::to_string(&alloc(dec!(0.55), dec!(0.35), dec!(0.10))).unwrap();
        assert_eq!(json, r#"{"FOUNDATION":0.55,"GROWTH":0.35,"UPSIDE":0.1}"#);
        let parsed: Allocation =
            serde_json::from_str(r#"{"foundation":55,"Growth":35,"UPSIDE":10}"#).unwrap();
        assert_eq!(parsed, alloc(dec!(0.55), dec!(0.35), dec!(0.10)));
    }
}
