//! The ledger (D28, business-rules §9.1–9.5): the permanent, hash-chained record of every
//! money-moving action of a portfolio.
//!
//! - [`EntryType`], [`LedgerEntry`], [`Leg`]: the row of §9.1.
//! - [`Snapshot`]: the one canonical before/after shape of §9.2.
//! - [`canonical`]: the canonical serialization and SHA-256 chain of §9.3.
//! - [`verify`]: the chain check and replay of §9.5.
//!
//! An action builds a [`NewEntry`] and [`NewEntry::seal`]s it against the portfolio's chain
//! head; sealing assigns the sequence number, `prevHash` and `entryHash`, so no caller computes
//! a hash by hand.

pub mod canonical;
#[cfg(test)]
mod properties;
pub mod snapshot;
pub mod verify;

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::asset::{AssetId, Layer, UnknownName};
use crate::boundary::Boundary;
use crate::money::{Irr, Quantity};
use crate::time::Timestamp;

pub use canonical::{CanonicalValue, canonical_bytes, compute_entry_hash};
pub use snapshot::{Snapshot, SnapshotHolding};
pub use verify::{ChainCheck, ReplayCheck, ReplayDifference, VerificationReport, verify};

/// `prevHash` of the first entry of every portfolio: 64 × `0` (§9.3).
pub const GENESIS_PREV_HASH: &str =
    "0000000000000000000000000000000000000000000000000000000000000000";

/// The twelve ledger entry types (§9.1), SCREAMING_SNAKE_CASE on the wire.
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
pub enum EntryType {
    PortfolioCreated,
    AddFunds,
    TradeBuy,
    TradeSell,
    Rebalance,
    LoanCreate,
    LoanRepay,
    LoanLiquidate,
    ProtectionPurchase,
    ProtectionCancel,
    ProtectionExpire,
    ProtectionPayout,
}

impl EntryType {
    /// In the order of api.md §2.5.
    pub const ALL: [EntryType; 12] = [
        EntryType::PortfolioCreated,
        EntryType::AddFunds,
        EntryType::TradeBuy,
        EntryType::TradeSell,
        EntryType::Rebalance,
        EntryType::LoanCreate,
        EntryType::LoanRepay,
        EntryType::LoanLiquidate,
        EntryType::ProtectionPurchase,
        EntryType::ProtectionCancel,
        EntryType::ProtectionExpire,
        EntryType::ProtectionPayout,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EntryType::PortfolioCreated => "PORTFOLIO_CREATED",
            EntryType::AddFunds => "ADD_FUNDS",
            EntryType::TradeBuy => "TRADE_BUY",
            EntryType::TradeSell => "TRADE_SELL",
            EntryType::Rebalance => "REBALANCE",
            EntryType::LoanCreate => "LOAN_CREATE",
            EntryType::LoanRepay => "LOAN_REPAY",
            EntryType::LoanLiquidate => "LOAN_LIQUIDATE",
            EntryType::ProtectionPurchase => "PROTECTION_PURCHASE",
            EntryType::ProtectionCancel => "PROTECTION_CANCEL",
            EntryType::ProtectionExpire => "PROTECTION_EXPIRE",
            EntryType::ProtectionPayout => "PROTECTION_PAYOUT",
        }
    }
}

impl fmt::Display for EntryType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EntryType {
    type Err = UnknownName;
    /// Case-insensitive, so `?type=trade_buy` filters work as well as the canonical spelling.
    fn from_str(s: &str) -> Result<EntryType, UnknownName> {
        EntryType::ALL
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(s))
            .ok_or(UnknownName)
    }
}

/// Direction of one leg of a rebalance or of the initial funding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum LegSide {
    Buy,
    Sell,
}

impl LegSide {
    pub fn as_str(self) -> &'static str {
        match self {
            LegSide::Buy => "BUY",
            LegSide::Sell => "SELL",
        }
    }
}

/// One executed leg (§9.1). `amountIrr` is the gross amount: a buy pays it in full, a sell
/// credits `amountIrr − spreadIrr` (§9.5).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Leg {
    pub side: LegSide,
    pub asset_id: AssetId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer: Option<Layer>,
    pub quantity: Quantity,
    #[serde(with = "crate::num")]
    pub price_irr: Decimal,
    pub amount_irr: Irr,
    pub spread_irr: Irr,
}

/// A UUID in its canonical text form: 36 characters, lower-case hex, hyphenated 8-4-4-4-12.
/// The domain has no uuid crate; this keeps ids as text but guarantees the lower-case form the
/// hash needs (§9.3: "UUIDs are lower-case"), so an upper-case id from some store cannot
/// silently change a hash.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct UuidText(String);

impl UuidText {
    /// Accepts the hyphenated form in any letter case and lower-cases it; anything else
    /// (braces, URNs, missing hyphens) is refused rather than guessed at.
    pub fn parse(text: &str) -> Option<UuidText> {
        let bytes = text.as_bytes();
        if bytes.len() != 36 {
            return None;
        }
        let well_formed = bytes.iter().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => b.is_ascii_hexdigit(),
        });
        well_formed.then(|| UuidText(text.to_ascii_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UuidText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for UuidText {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        UuidText::parse(&text).ok_or_else(|| serde::de::Error::custom("expected a UUID"))
    }
}

/// A ledger row (§9.1) as stored and hashed.
///
/// Serializes as the full LedgerEntry of api.md §2.5: camelCase, exact JSON numbers, absent
/// fields omitted, `sequenceNumber` an integer and `createdAt` with milliseconds (api.md §1.6).
/// The millisecond wire form is for display only; the hash covers the stored microseconds
/// (see [`canonical`]).
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LedgerEntry {
    #[schema(value_type = String, format = Uuid)]
    pub id: UuidText,
    #[schema(value_type = String, format = Uuid)]
    pub portfolio_id: UuidText,
    pub sequence_number: u64,
    pub entry_type: EntryType,
    #[serde(serialize_with = "serialize_millis")]
    pub created_at: Timestamp,
    pub before_snapshot: Snapshot,
    pub after_snapshot: Snapshot,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub asset_id: Option<AssetId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quantity: Option<Quantity>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amount_irr: Option<Irr>,
    #[serde(with = "crate::num::option", skip_serializing_if = "Option::is_none")]
    pub price_irr: Option<Decimal>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spread_irr: Option<Irr>,
    pub boundary: Boundary,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = Uuid)]
    pub loan_id: Option<UuidText>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = Uuid)]
    pub protection_id: Option<UuidText>,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub legs: Option<Vec<Leg>>,
    /// Facts of the movement that have no column (free-form by entry type).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Map<String, Value>>,
    pub prev_hash: String,
    pub entry_hash: String,
}

fn serialize_millis<S: Serializer>(at: &Timestamp, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&at.to_rfc3339_millis())
}

impl LedgerEntry {
    /// This entry's position in its chain, for sealing the next entry.
    pub fn head(&self) -> ChainHead {
        ChainHead {
            sequence_number: self.sequence_number,
            entry_hash: self.entry_hash.clone(),
        }
    }

    /// Recomputes the hash from the row's content (excluding the stored `entryHash`).
    pub fn recompute_hash(&self) -> String {
        compute_entry_hash(self)
    }
}

/// The last entry of a portfolio's chain: what the next entry links to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainHead {
    pub sequence_number: u64,
    pub entry_hash: String,
}

/// A ledger entry before it joins the chain: every row field except `sequenceNumber`,
/// `prevHash` and `entryHash`, which only [`NewEntry::seal`] assigns.
#[derive(Clone, Debug, PartialEq)]
pub struct NewEntry {
    pub id: UuidText,
    pub portfolio_id: UuidText,
    pub entry_type: EntryType,
    pub created_at: Timestamp,
    pub before_snapshot: Snapshot,
    pub after_snapshot: Snapshot,
    pub asset_id: Option<AssetId>,
    pub quantity: Option<Quantity>,
    pub amount_irr: Option<Irr>,
    pub price_irr: Option<Decimal>,
    pub spread_irr: Option<Irr>,
    pub boundary: Boundary,
    pub loan_id: Option<UuidText>,
    pub protection_id: Option<UuidText>,
    pub message: String,
    pub legs: Option<Vec<Leg>>,
    pub metadata: Option<Map<String, Value>>,
}

/// Why an entry cannot join a chain. Each is a programming error in the calling use case,
/// never a user error, so it has no API error code.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("the first entry of a portfolio must be PORTFOLIO_CREATED")]
    GenesisMustBeCreation,
    #[error("PORTFOLIO_CREATED can only be the first entry of a portfolio")]
    CreationMustBeGenesis,
    #[error("the chain head hash is not 64 lower-case hex digits")]
    MalformedHeadHash,
    #[error("amountIrr is never negative; the entry type gives the direction")]
    NegativeAmount,
}

impl NewEntry {
    /// A minimal entry; optional fields start absent and are set by the caller.
    // Every argument is a mandatory row field of §9.1; grouping them would only hide that.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: UuidText,
        portfolio_id: UuidText,
        entry_type: EntryType,
        created_at: Timestamp,
        before_snapshot: Snapshot,
        after_snapshot: Snapshot,
        boundary: Boundary,
        message: impl Into<String>,
    ) -> NewEntry {
        NewEntry {
            id,
            portfolio_id,
            entry_type,
            created_at,
            before_snapshot,
            after_snapshot,
            asset_id: None,
            quantity: None,
            amount_irr: None,
            price_irr: None,
            spread_irr: None,
            boundary,
            loan_id: None,
            protection_id: None,
            message: message.into(),
            legs: None,
            metadata: None,
        }
    }

    /// Joins the chain after `previous` (`None` = this is the portfolio's genesis entry):
    /// sequence = previous + 1 (or 1), `prevHash` = previous hash (or 64 zeros), and
    /// `entryHash` over the canonical document.
    ///
    /// Refuses what verification would later flag as a broken chain (a genesis entry that is
    /// not PORTFOLIO_CREATED, a second PORTFOLIO_CREATED, a negative amount), so a bad row is
    /// caught before it is written, when it can still be fixed.
    pub fn seal(self, previous: Option<&ChainHead>) -> Result<LedgerEntry, SealError> {
        let is_creation = self.entry_type == EntryType::PortfolioCreated;
        let (sequence_number, prev_hash) = match previous {
            None if !is_creation => return Err(SealError::GenesisMustBeCreation),
            None => (1, GENESIS_PREV_HASH.to_owned()),
            Some(_) if is_creation => return Err(SealError::CreationMustBeGenesis),
            Some(head) if !is_sha256_hex(&head.entry_hash) => {
                return Err(SealError::MalformedHeadHash);
            }
            Some(head) => (head.sequence_number + 1, head.entry_hash.clone()),
        };
        if self.amount_irr.is_some_and(Irr::is_negative) {
            return Err(SealError::NegativeAmount);
        }
        Ok(self.into_entry(sequence_number, prev_hash))
    }

    /// Builds the row with an explicit link and computes its hash, without the chain-shape
    /// checks of [`NewEntry::seal`]. For fixtures such as the §9.3 test vector, whose
    /// `prevHash` is a stand-in, and for tests that build deliberately broken chains.
    pub fn seal_with_link(self, sequence_number: u64, prev_hash: &str) -> LedgerEntry {
        self.into_entry(sequence_number, prev_hash.to_owned())
    }

    fn into_entry(self, sequence_number: u64, prev_hash: String) -> LedgerEntry {
        let mut entry = LedgerEntry {
            id: self.id,
            portfolio_id: self.portfolio_id,
            sequence_number,
            entry_type: self.entry_type,
            created_at: self.created_at,
            before_snapshot: self.before_snapshot,
            after_snapshot: self.after_snapshot,
            asset_id: self.asset_id,
            quantity: self.quantity,
            amount_irr: self.amount_irr,
            price_irr: self.price_irr,
            spread_irr: self.spread_irr,
            boundary: self.boundary,
            loan_id: self.loan_id,
            protection_id: self.protection_id,
            message: self.message,
            legs: self.legs,
            metadata: self.metadata,
            prev_hash,
            entry_hash: String::new(),
        };
        entry.entry_hash = compute_entry_hash(&entry);
        entry
    }
}

/// A lower-case hex SHA-256 digest.
pub(crate) fn is_sha256_hex(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_are_lower_cased_and_malformed_ones_refused() {
        let id = UuidText::parse("7B0C2F9E-0D7A-4C1E-9A51-3F2D6B8E4A10").unwrap();
        assert_eq!(id.as_str(), "7b0c2f9e-0d7a-4c1e-9a51-3f2d6b8e4a10");
        for bad in [
            "",
            "7b0c2f9e0d7a4c1e9a513f2d6b8e4a10",
            "{7b0c2f9e-0d7a-4c1e-9a51-3f2d6b8e4a1}",
            "7b0c2f9e-0d7a-4c1e-9a51-3f2d6b8e4a1g",
            "7b0c2f9e-0d7a-4c1e-9a513-f2d6b8e4a10",
        ] {
            assert!(UuidText::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn entry_types_use_screaming_snake_case_on_the_wire() {
        for t in EntryType::ALL {
            let json = serde_json::to_string(&t).unwrap();
            assert_eq!(json, format!("\"{}\"", t.as_str()));
            assert_eq!(t.as_str().parse::<EntryType>().unwrap(), t);
        }
        assert_eq!(
            "loan_liquidate".parse::<EntryType>().unwrap(),
            EntryType::LoanLiquidate
        );
        assert!("TRADE".parse::<EntryType>().is_err());
    }
}
