//! Backend-independent conversions of the portfolio tables: ledger rows, holdings with lots,
//! targets and activity rows. Each backend decodes its column types and hands the typed parts
//! here, so both build identical domain values.

use anyhow::{Context, anyhow};
use blu_app::ports::{ActivityRecord, HoldingRecord, NewActivity};
use blu_domain::fixed_income::Lot;
use blu_domain::ledger::{Leg, UuidText};
use blu_domain::{Allocation, AssetId, Boundary, Irr, LedgerEntry, Quantity, Snapshot, Timestamp};
use rust_decimal::Decimal;
use serde_json::Value;
use uuid::Uuid;

/// A ledger row with its columns decoded.
pub struct LedgerParts {
    pub id: Uuid,
    pub portfolio_id: Uuid,
    pub sequence_number: i64,
    pub entry_type: String,
    pub created_at: Timestamp,
    pub before_snapshot: Value,
    pub after_snapshot: Value,
    pub asset_id: Option<String>,
    pub quantity: Option<Decimal>,
    pub amount_irr: Option<Decimal>,
    pub price_irr: Option<Decimal>,
    pub spread_irr: Option<Decimal>,
    pub boundary: String,
    pub loan_id: Option<Uuid>,
    pub protection_id: Option<Uuid>,
    pub message: String,
    pub legs: Option<Value>,
    pub metadata: Option<Value>,
    pub prev_hash: String,
    pub entry_hash: String,
}

fn uuid_text(id: Uuid) -> UuidText {
    UuidText::parse(&id.hyphenated().to_string()).expect("a uuid prints as a uuid")
}

pub fn irr(value: Decimal) -> anyhow::Result<Irr> {
    Irr::exact(value).ok_or_else(|| anyhow!("stored IRR amount {value} is not whole"))
}

pub fn quantity(value: Decimal) -> anyhow::Result<Quantity> {
    Quantity::exact(value).ok_or_else(|| anyhow!("stored quantity {value} is invalid"))
}

pub fn asset(text: &str) -> anyhow::Result<AssetId> {
    text.parse()
        .map_err(|_| anyhow!("unknown stored asset {text:?}"))
}

pub fn boundary(text: &str) -> anyhow::Result<Boundary> {
    text.parse()
        .map_err(|_| anyhow!("unknown stored boundary {text:?}"))
}

impl LedgerParts {
    pub fn into_entry(self) -> anyhow::Result<LedgerEntry> {
        let snapshot = |v: Value| -> anyhow::Result<Snapshot> {
            serde_json::from_value(v).context("stored snapshot")
        };
        let legs = match self.legs {
            Some(v) => Some(serde_json::from_value::<Vec<Leg>>(v).context("stored legs")?),
            None => None,
        };
        let metadata = match self.metadata {
            Some(Value::Object(map)) => Some(map),
            Some(other) => return Err(anyhow!("stored metadata is not an object: {other}")),
            None => None,
        };
        Ok(LedgerEntry {
            id: uuid_text(self.id),
            portfolio_id: uuid_text(self.portfolio_id),
            sequence_number: u64::try_from(self.sequence_number)?,
            entry_type: self
                .entry_type
                .parse()
                .map_err(|_| anyhow!("unknown entry type {:?}", self.entry_type))?,
            created_at: self.created_at,
            before_snapshot: snapshot(self.before_snapshot)?,
            after_snapshot: snapshot(self.after_snapshot)?,
            asset_id: self.asset_id.as_deref().map(asset).transpose()?,
            quantity: self.quantity.map(quantity).transpose()?,
            amount_irr: self.amount_irr.map(irr).transpose()?,
            price_irr: self.price_irr,
            spread_irr: self.spread_irr.map(irr).transpose()?,
            boundary: boundary(&self.boundary)?,
            loan_id: self.loan_id.map(uuid_text),
            protection_id: self.protection_id.map(uuid_text),
            message: self.message,
            legs,
            metadata,
            prev_hash: self.prev_hash,
            entry_hash: self.entry_hash,
        })
    }
}

/// The JSON documents of a ledger row to write: (before, after, legs, metadata).
pub fn ledger_documents(
    entry: &LedgerEntry,
) -> anyhow::Result<(Value, Value, Option<Value>, Option<Value>)> {
    Ok((
        serde_json::to_value(&entry.before_snapshot)?,
        serde_json::to_value(&entry.after_snapshot)?,
        entry.legs.as_ref().map(serde_json::to_value).transpose()?,
        entry.metadata.clone().map(Value::Object),
    ))
}

/// The `Uuid` of a ledger entry's text id.
pub fn entry_uuid(text: &UuidText) -> anyhow::Result<Uuid> {
    Uuid::parse_str(text.as_str()).context("ledger id")
}

/// One row of the holdings ⟕ lots join.
pub struct HoldingLotRow {
    pub id: Uuid,
    pub asset_id: String,
    pub quantity: Decimal,
    pub frozen: bool,
    pub first_purchased_at: Option<Timestamp>,
    pub lot_units: Option<Decimal>,
    pub lot_purchased_at: Option<Timestamp>,
}

/// Groups join rows (ordered by holding, then lot FIFO order) into holdings in registry order.
pub fn holdings_from_rows(rows: Vec<HoldingLotRow>) -> anyhow::Result<Vec<HoldingRecord>> {
    let mut holdings: Vec<HoldingRecord> = Vec::new();
    for row in rows {
        let lot = match (row.lot_units, row.lot_purchased_at) {
            (Some(units), Some(purchased_at)) => Some(Lot {
                units: quantity(units)?,
                purchased_at,
            }),
            _ => None,
        };
        match holdings.last_mut() {
            Some(last) if last.id == row.id => last.lots.extend(lot),
            _ => holdings.push(HoldingRecord {
                id: row.id,
                asset: asset(&row.asset_id)?,
                quantity: quantity(row.quantity)?,
                frozen: row.frozen,
                first_purchased_at: row.first_purchased_at,
                lots: lot.into_iter().collect(),
            }),
        }
    }
    holdings.sort_by_key(|h| h.asset);
    for h in &mut holdings {
        h.lots.sort_by_key(|l| l.purchased_at);
    }
    Ok(holdings)
}

/// A stored target allocation (all three or none).
pub fn target(f: Option<Decimal>, g: Option<Decimal>, u: Option<Decimal>) -> Option<Allocation> {
    Some(Allocation::new(f?, g?, u?))
}

/// A risk score column.
pub fn score(value: Option<i64>) -> anyhow::Result<Option<u8>> {
    value
        .map(|v| u8::try_from(v).context("risk score"))
        .transpose()
}

/// An activity row with its columns decoded.
pub fn activity(
    id: i64,
    action_type: String,
    boundary_text: &str,
    message: String,
    amount: Option<Decimal>,
    asset_id: Option<&str>,
    at: Timestamp,
) -> anyhow::Result<ActivityRecord> {
    Ok(ActivityRecord {
        id,
        activity: NewActivity {
            action_type,
            boundary: boundary(boundary_text)?,
            message,
            amount: amount.map(irr).transpose()?,
            asset: asset_id.map(asset).transpose()?,
            at,
        },
    })
}

/// Whether a holding changed between the loaded and the new state (quantity, frozen or lots).
pub fn holding_changed(loaded: Option<&HoldingRecord>, new: &blu_domain::Holding) -> (bool, bool) {
    match loaded {
        None => (true, !new.lots.is_empty()),
        Some(old) => (
            old.quantity != new.quantity || old.frozen != new.frozen,
            old.lots != new.lots,
        ),
    }
}
