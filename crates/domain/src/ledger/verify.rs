//! Ledger verification and replay (business-rules §9.5, D28, pitfall 47; report shape of
//! api.md §13.3).
//!
//! Checks 1–4 (sequence, hash links, continuity, per-type deltas) judge the chain: the report
//! names the first entry that fails any of them and why. Check 5 replays the chain against the
//! portfolio's current balances and lists every difference. Both always run, so one report shows
//! a forged chain and a drifted balance at once.
//!
//! Beyond the §9.5 table, check 4 also refuses a negative `amountIrr` (§9.1), a non-zero amount
//! on PROTECTION_CANCEL / PROTECTION_EXPIRE (§9.1 records 0) and a REBALANCE whose amount is not
//! Σ leg amounts (§9.1), because no cash rule reads those amounts. A LOAN_LIQUIDATE's gross
//! amount is still read by no rule (its cash effect is the metadata excess), so a re-hashed
//! forgery of that one number is caught only by the hash chain, not by the deltas.

use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::Value;

use super::snapshot::Snapshot;
use super::{EntryType, GENESIS_PREV_HASH, LedgerEntry, LegSide};
use crate::asset::AssetId;
use crate::money::{Irr, Quantity};
use crate::portfolio::PortfolioState;

/// Metadata key of the cash returned to the user by a liquidation (§9.5, LOAN_LIQUIDATE).
pub const EXCESS_METADATA_KEY: &str = "excessIrr";

/// The result of verifying one portfolio's ledger (api.md §13.3, without `portfolioId`, which
/// the caller adds since it knows the portfolio even when the ledger is empty).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VerificationReport {
    pub entry_count: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub head_sequence: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub head_hash: Option<String>,
    pub chain: ChainCheck,
    pub replay: ReplayCheck,
}

impl VerificationReport {
    /// True when both the chain is intact and the replay matches the current state.
    pub fn is_ok(&self) -> bool {
        self.chain.valid && self.replay.matches
    }
}

/// Checks 1–4: the first failing sequence number and its reason.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChainCheck {
    pub valid: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_invalid_sequence: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Check 5: the last `after` snapshot against the current state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReplayCheck {
    pub matches: bool,
    pub differences: Vec<ReplayDifference>,
}

/// One field where the ledger (`expected`) and the current state (`actual`) disagree, e.g.
/// `cashIrr` or `holdings.BTC.quantity`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReplayDifference {
    pub field: String,
    #[serde(with = "crate::num")]
    pub expected: Decimal,
    #[serde(with = "crate::num")]
    pub actual: Decimal,
}

/// Verifies a portfolio's entries, given in the order the store returns them (ascending
/// sequence), against its current state.
///
/// `firstInvalidSequence` is the *position* (1-based) at which the chain first breaks: for a
/// deleted entry it is the sequence number that went missing, for two swapped entries the
/// first of the two places. An empty ledger has a (vacuously) valid chain and is replayed
/// against the empty snapshot, so a portfolio holding money with no ledger is reported.
pub fn verify(entries: &[LedgerEntry], current: &PortfolioState) -> VerificationReport {
    let mut chain = ChainCheck {
        valid: true,
        first_invalid_sequence: None,
        reason: None,
    };
    for (index, entry) in entries.iter().enumerate() {
        let position = index as u64 + 1;
        let previous = index.checked_sub(1).map(|i| &entries[i]);
        if let Err(reason) = check_entry(position, entry, previous, &entries[0]) {
            chain = ChainCheck {
                valid: false,
                first_invalid_sequence: Some(position),
                reason: Some(reason),
            };
            break;
        }
    }
    let empty = Snapshot::empty();
    let last_after = entries.last().map_or(&empty, |e| &e.after_snapshot);
    let differences = replay_differences(last_after, current);
    VerificationReport {
        entry_count: entries.len() as u64,
        head_sequence: entries.last().map(|e| e.sequence_number),
        head_hash: entries.last().map(|e| e.entry_hash.clone()),
        chain,
        replay: ReplayCheck {
            matches: differences.is_empty(),
            differences,
        },
    }
}

/// Checks 1–4 for one entry. `first` is the portfolio's first entry, whose portfolio id every
/// entry must share.
fn check_entry(
    position: u64,
    entry: &LedgerEntry,
    previous: Option<&LedgerEntry>,
    first: &LedgerEntry,
) -> Result<(), String> {
    // 1. Sequence and the place of PORTFOLIO_CREATED.
    if entry.sequence_number != position {
        return Err(format!(
            "sequence gap: expected {position}, found {}",
            entry.sequence_number
        ));
    }
    if entry.portfolio_id != first.portfolio_id {
        return Err("entry belongs to another portfolio".to_owned());
    }
    let is_creation = entry.entry_type == EntryType::PortfolioCreated;
    if position == 1 && !is_creation {
        return Err("first entry is not PORTFOLIO_CREATED".to_owned());
    }
    if position > 1 && is_creation {
        return Err("PORTFOLIO_CREATED after the first entry".to_owned());
    }
    // 2. Links and hashes.
    let expected_prev = previous.map_or(GENESIS_PREV_HASH, |p| p.entry_hash.as_str());
    if entry.prev_hash != expected_prev {
        return Err("prevHash does not link to the previous entry".to_owned());
    }
    if entry.recompute_hash() != entry.entry_hash {
        return Err("hash mismatch".to_owned());
    }
    // 3. Continuity with the previous entry (the empty snapshot before the first).
    let empty = Snapshot::empty();
    let before_expected = previous.map_or(&empty, |p| &p.after_snapshot);
    if entry.before_snapshot.cash_irr != before_expected.cash_irr {
        return Err(format!(
            "before cashIrr {} does not continue the previous after {}",
            entry.before_snapshot.cash_irr, before_expected.cash_irr
        ));
    }
    let before_quantities = entry.before_snapshot.quantities();
    let expected_quantities = before_expected.quantities();
    for asset in AssetId::ALL {
        let (found, wanted) = (
            before_quantities[asset.index()],
            expected_quantities[asset.index()],
        );
        if found != wanted {
            return Err(format!(
                "before quantity of {asset} {found} does not continue the previous after {wanted}"
            ));
        }
    }
    // 4. Per-type deltas.
    check_deltas(entry)
}

/// The expected change of one entry: cash delta and per-asset quantity deltas.
struct Delta {
    cash: Irr,
    quantities: [Decimal; 15],
}

/// Check 4: `after` must equal `before` plus the change the entry type implies (§9.5 table).
fn check_deltas(entry: &LedgerEntry) -> Result<(), String> {
    if entry.amount_irr.is_some_and(Irr::is_negative) {
        return Err("negative amountIrr".to_owned());
    }
    let delta = expected_delta(entry)?;
    // PORTFOLIO_CREATED states the after state absolutely ("after.cash = amount − Σ legs");
    // continuity has already pinned its before to the empty snapshot, so both readings agree.
    let (base_cash, base_quantities) = if entry.entry_type == EntryType::PortfolioCreated {
        (Irr::ZERO, [Quantity::ZERO; 15])
    } else {
        (
            entry.before_snapshot.cash_irr,
            entry.before_snapshot.quantities(),
        )
    };
    let expected_cash = base_cash + delta.cash;
    if entry.after_snapshot.cash_irr != expected_cash {
        return Err(format!(
            "after cashIrr {} does not match {}: expected {expected_cash}",
            entry.after_snapshot.cash_irr, entry.entry_type
        ));
    }
    let after_quantities = entry.after_snapshot.quantities();
    for asset in AssetId::ALL {
        let i = asset.index();
        let expected = base_quantities[i].value() + delta.quantities[i];
        let found = after_quantities[i].value();
        if found != expected {
            return Err(format!(
                "after quantity of {asset} {} does not match {}: expected {}",
                crate::num::canonical(found),
                entry.entry_type,
                crate::num::canonical(expected)
            ));
        }
    }
    Ok(())
}

fn expected_delta(entry: &LedgerEntry) -> Result<Delta, String> {
    let mut delta = Delta {
        cash: Irr::ZERO,
        quantities: [Decimal::ZERO; 15],
    };
    match entry.entry_type {
        EntryType::PortfolioCreated | EntryType::Rebalance => {
            let legs = entry.legs.as_deref().unwrap_or_default();
            if entry.entry_type == EntryType::PortfolioCreated {
                delta.cash = amount(entry)?;
            } else {
                // §9.1: a rebalance's amountIrr is Σ sells + Σ buys (gross). The cash rule only
                // reads the legs, so without this check the row amount could say anything.
                let gross: Irr = legs.iter().map(|l| l.amount_irr).sum();
                if amount(entry)? != gross {
                    return Err(format!(
                        "REBALANCE amountIrr {} is not the sum of its legs {gross}",
                        amount(entry)?
                    ));
                }
            }
            for leg in legs {
                let q = &mut delta.quantities[leg.asset_id.index()];
                match leg.side {
                    LegSide::Buy => {
                        delta.cash -= leg.amount_irr;
                        *q += leg.quantity.value();
                    }
                    LegSide::Sell => {
                        delta.cash += leg.amount_irr - leg.spread_irr;
                        *q -= leg.quantity.value();
                    }
                }
            }
        }
        EntryType::AddFunds | EntryType::LoanCreate | EntryType::ProtectionPayout => {
            delta.cash = amount(entry)?;
        }
        EntryType::LoanRepay | EntryType::ProtectionPurchase => {
            delta.cash = -amount(entry)?;
        }
        EntryType::TradeBuy => {
            delta.cash = -amount(entry)?;
            let (asset, q) = asset_quantity(entry)?;
            delta.quantities[asset.index()] += q.value();
        }
        EntryType::TradeSell => {
            let spread = entry.spread_irr.ok_or("missing spreadIrr")?;
            delta.cash = amount(entry)? - spread;
            let (asset, q) = asset_quantity(entry)?;
            delta.quantities[asset.index()] -= q.value();
        }
        EntryType::LoanLiquidate => {
            delta.cash = excess(entry)?;
            let (asset, q) = asset_quantity(entry)?;
            delta.quantities[asset.index()] -= q.value();
        }
        EntryType::ProtectionCancel | EntryType::ProtectionExpire => {
            // §9.1 records these with amount 0; any other amount would be unexplained money.
            if entry.amount_irr.is_some_and(|a| !a.is_zero()) {
                return Err(format!("{} must have amountIrr 0", entry.entry_type));
            }
        }
    }
    Ok(delta)
}

fn amount(entry: &LedgerEntry) -> Result<Irr, String> {
    entry
        .amount_irr
        .ok_or_else(|| format!("{} without amountIrr", entry.entry_type))
}

fn asset_quantity(entry: &LedgerEntry) -> Result<(AssetId, Quantity), String> {
    match (entry.asset_id, entry.quantity) {
        (Some(asset), Some(q)) => Ok((asset, q)),
        _ => Err(format!("{} without assetId and quantity", entry.entry_type)),
    }
}

/// The liquidation's excess, from metadata `excessIrr` (a JSON number or numeric string).
/// Absent is an error rather than zero: a liquidation row must say where the money went.
fn excess(entry: &LedgerEntry) -> Result<Irr, String> {
    let missing = || format!("LOAN_LIQUIDATE without metadata {EXCESS_METADATA_KEY}");
    let value = entry
        .metadata
        .as_ref()
        .and_then(|m| m.get(EXCESS_METADATA_KEY))
        .ok_or_else(missing)?;
    let parsed = match value {
        Value::Number(n) => crate::num::parse(&n.to_string()),
        Value::String(s) => crate::num::parse(s),
        _ => None,
    };
    let excess = parsed
        .and_then(Irr::exact)
        .ok_or_else(|| format!("metadata {EXCESS_METADATA_KEY} is not a whole rial amount"))?;
    if excess.is_negative() {
        return Err(format!("negative metadata {EXCESS_METADATA_KEY}"));
    }
    Ok(excess)
}

/// Check 5: cash and each asset's quantity (fixed income: Σ lot units), registry order.
fn replay_differences(last_after: &Snapshot, current: &PortfolioState) -> Vec<ReplayDifference> {
    let mut differences = Vec::new();
    if last_after.cash_irr != current.cash {
        differences.push(ReplayDifference {
            field: "cashIrr".to_owned(),
            expected: last_after.cash_irr.value(),
            actual: current.cash.value(),
        });
    }
    let expected = last_after.quantities();
    let mut actual = [Decimal::ZERO; 15];
    for holding in &current.holdings {
        let quantity: Decimal = if holding.asset.is_fixed_income() {
            holding.lots.iter().map(|l| l.units.value()).sum()
        } else {
            holding.quantity.value()
        };
        actual[holding.asset.index()] += quantity;
    }
    for asset in AssetId::ALL {
        let i = asset.index();
        if expected[i].value() != actual[i] {
            differences.push(ReplayDifference {
                field: format!("holdings.{asset}.quantity"),
                expected: expected[i].value(),
                actual: actual[i],
            });
        }
    }
    differences
}
