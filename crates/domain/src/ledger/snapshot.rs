//! The canonical snapshot (business-rules §9.2, pitfall 48): one shape for the before and after
//! state of every entry type, so verification can compare any two entries.

use serde::{Deserialize, Serialize};

use crate::allocation::{Allocation, PortfolioStatus};
use crate::asset::AssetId;
use crate::money::{Irr, Quantity};
use crate::portfolio::Valuation;

/// Decimal places of the snapshot's allocation fractions (§9.2, api.md §1.3).
pub const SNAPSHOT_ALLOCATION_DP: u32 = 6;

/// The state of a portfolio at one instant, as the ledger records it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    pub cash_irr: Irr,
    pub holdings_value_irr: Irr,
    pub total_value_irr: Irr,
    /// Shares of the holdings value (cash excluded, D13), half-up to 6 dp.
    pub allocation: Allocation,
    pub status: PortfolioStatus,
    /// Registry order, quantity > 0 only.
    pub holdings: Vec<SnapshotHolding>,
}

/// One open holding inside a snapshot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotHolding {
    pub asset_id: AssetId,
    pub quantity: Quantity,
    pub frozen: bool,
    pub value_irr: Irr,
}

impl Snapshot {
    /// The state before PORTFOLIO_CREATED: zeros, an all-zero allocation, BALANCED, no
    /// holdings.
    pub fn empty() -> Snapshot {
        Snapshot {
            cash_irr: Irr::ZERO,
            holdings_value_irr: Irr::ZERO,
            total_value_irr: Irr::ZERO,
            allocation: Allocation::ZERO,
            status: PortfolioStatus::Balanced,
            holdings: Vec::new(),
        }
    }

    /// Captures a valuation. The status comes from the single status function (D13) applied
    /// to the full-precision allocation, so a snapshot never disagrees with the API's status;
    /// only the recorded fractions are rounded.
    pub fn capture(valuation: &Valuation, target: &Allocation) -> Snapshot {
        Snapshot::from_parts(valuation, valuation.status(target).status)
    }

    /// Captures a valuation with a status the caller already computed for the same valuation.
    pub fn from_parts(valuation: &Valuation, status: PortfolioStatus) -> Snapshot {
        let mut holdings: Vec<SnapshotHolding> = valuation
            .holdings
            .iter()
            .filter(|h| h.quantity.is_positive())
            .map(|h| SnapshotHolding {
                asset_id: h.asset,
                quantity: h.quantity,
                frozen: h.frozen,
                value_irr: h.value,
            })
            .collect();
        holdings.sort_by_key(|h| h.asset_id);
        Snapshot {
            cash_irr: valuation.cash,
            holdings_value_irr: valuation.holdings_value,
            total_value_irr: valuation.total_value(),
            allocation: valuation.allocation().rounded(SNAPSHOT_ALLOCATION_DP),
            status,
            holdings,
        }
    }

    /// The recorded quantity of `asset` (zero when the snapshot has no holding of it).
    pub fn quantity_of(&self, asset: AssetId) -> Quantity {
        self.holdings
            .iter()
            .filter(|h| h.asset_id == asset)
            .map(|h| h.quantity)
            .sum()
    }

    /// Quantities indexed by `AssetId::index()`, for comparing two states asset by asset.
    pub fn quantities(&self) -> [Quantity; 15] {
        let mut quantities = [Quantity::ZERO; 15];
        for h in &self.holdings {
            quantities[h.asset_id.index()] += h.quantity;
        }
        quantities
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;
    use crate::portfolio::{Holding, PortfolioState, PriceBook, value_portfolio};
    use crate::time::Timestamp;

    #[test]
    fn a_snapshot_lists_open_holdings_in_registry_order_with_six_place_fractions() {
        let now = Timestamp::from_seconds(1_800_000_000);
        let state = PortfolioState {
            cash: Irr::new(1_000),
            holdings: vec![
                Holding::new(AssetId::Sol, Quantity::floor8(dec!(0.1))),
                Holding::new(AssetId::Btc, Quantity::ZERO),
                Holding::new(AssetId::Usdt, Quantity::floor8(dec!(10))),
                Holding::new(AssetId::Eth, Quantity::floor8(dec!(0.01))),
            ],
        };
        let valuation = value_portfolio(&state, &PriceBook::defaults(), now);
        let target = Allocation::new(dec!(0.5), dec!(0.35), dec!(0.15));
        let snapshot = Snapshot::capture(&valuation, &target);
        let order: Vec<AssetId> = snapshot.holdings.iter().map(|h| h.asset_id).collect();
        assert_eq!(order, [AssetId::Usdt, AssetId::Eth, AssetId::Sol]);
        assert_eq!(snapshot.cash_irr, Irr::new(1_000));
        assert_eq!(
            snapshot.total_value_irr,
            snapshot.cash_irr + snapshot.holdings_value_irr
        );
        for share in snapshot.allocation.values() {
            assert!(share.scale() <= SNAPSHOT_ALLOCATION_DP, "{share}");
        }
        assert_eq!(snapshot.quantity_of(AssetId::Btc), Quantity::ZERO);
        assert_eq!(snapshot.status, valuation.status(&target).status);
    }

    #[test]
    fn the_empty_snapshot_is_all_zero_and_balanced() {
        let empty = Snapshot::empty();
        assert_eq!(empty.total_value_irr, Irr::ZERO);
        assert_eq!(empty.allocation, Allocation::ZERO);
        assert_eq!(empty.status, PortfolioStatus::Balanced);
        assert!(empty.holdings.is_empty());
    }

    #[test]
    fn snapshots_serialize_with_exact_numbers_and_round_trip() {
        let snapshot = Snapshot {
            cash_irr: Irr::new(5_000_000),
            holdings_value_irr: Irr::new(20_000_000),
            total_value_irr: Irr::new(25_000_000),
            allocation: Allocation::new(dec!(1), dec!(0), dec!(0)),
            status: PortfolioStatus::AttentionRequired,
            holdings: vec![SnapshotHolding {
                asset_id: AssetId::Usdt,
                quantity: Quantity::floor8(dec!(13.73626373)),
                frozen: false,
                value_irr: Irr::new(20_000_000),
            }],
        };
        let json = serde_json::to_string(&snapshot).unwrap();
        assert_eq!(
            json,
            r#"{"cashIrr":5000000,"holdingsValueIrr":20000000,"totalValueIrr":25000000,"allocation":{"FOUNDATION":1,"GROWTH":0,"UPSIDE":0},"status":"ATTENTION_REQUIRED","holdings":[{"assetId":"USDT","quantity":13.73626373,"frozen":false,"valueIrr":20000000}]}"#
        );
        let back: Snapshot = serde_json::from_str(&json).unwrap();
        assert_eq!(back, snapshot);
    }
}
