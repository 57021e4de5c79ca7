//! Canonical serialization and the hash chain (business-rules §9.3, D28, pitfall 47).
//!
//! The hashed document must come out byte-identical from PostgreSQL, SQLite and any future
//! store, so nothing here relies on serde_json's map ordering or number formatting: entries are
//! converted into a small value tree ([`CanonicalValue`]) and written by our own writer:
//! keys sorted by code point, no whitespace, RFC 8785 string escaping, and every number written
//! as a JSON *string* holding its canonical decimal (`num::canonical`), so `1.50`, `1.5` and
//! `15e-1` all hash alike.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use rust_decimal::Decimal;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::snapshot::{Snapshot, SnapshotHolding};
use super::{LedgerEntry, Leg};
use crate::allocation::Allocation;
use crate::asset::Layer;
use crate::num;

/// Version of the hashed document format, written as `"v":"1"`. A future format change bumps
/// it so old entries keep verifying under the rules they were written with.
pub const DOCUMENT_VERSION: &str = "1";

/// A JSON value in canonical form. Numbers do not appear: the canonical form writes them as
/// strings, so they are converted when the tree is built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CanonicalValue {
    Null,
    Bool(bool),
    String(String),
    Array(Vec<CanonicalValue>),
    /// `BTreeMap<String, _>` iterates in byte order of the UTF-8 keys, which is code-point
    /// order, exactly the order §9.3 asks for.
    Object(BTreeMap<String, CanonicalValue>),
}

impl CanonicalValue {
    /// A number: the string of its canonical decimal.
    pub fn number(value: Decimal) -> CanonicalValue {
        CanonicalValue::String(num::canonical(value))
    }

    pub fn string(value: impl Into<String>) -> CanonicalValue {
        CanonicalValue::String(value.into())
    }

    /// Converts any JSON value (e.g. entry metadata). JSON numbers become strings of their
    /// canonical decimal, computed from the number's exact text (serde_json keeps it under
    /// `arbitrary_precision`), so no float ever touches a hashed number.
    pub fn from_json(value: &Value) -> CanonicalValue {
        match value {
            Value::Null => CanonicalValue::Null,
            Value::Bool(b) => CanonicalValue::Bool(*b),
            Value::Number(n) => {
                let text = n.to_string();
                // Only a number beyond any decimal the domain produces (|exponent| > 4096) lacks
                // a canonical form; its own text is then the most faithful thing to hash.
                CanonicalValue::String(canonical_number_text(&text).unwrap_or(text))
            }
            Value::String(s) => CanonicalValue::String(s.clone()),
            Value::Array(items) => {
                CanonicalValue::Array(items.iter().map(CanonicalValue::from_json).collect())
            }
            Value::Object(map) => CanonicalValue::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), CanonicalValue::from_json(v)))
                    .collect(),
            ),
        }
    }

    /// The canonical text of this value.
    pub fn to_canonical_string(&self) -> String {
        let mut out = String::new();
        self.write(&mut out);
        out
    }

    fn write(&self, out: &mut String) {
        match self {
            CanonicalValue::Null => out.push_str("null"),
            CanonicalValue::Bool(true) => out.push_str("true"),
            CanonicalValue::Bool(false) => out.push_str("false"),
            CanonicalValue::String(s) => write_string(s, out),
            CanonicalValue::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.write(out);
                }
                out.push(']');
            }
            CanonicalValue::Object(map) => {
                out.push('{');
                for (i, (key, value)) in map.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_string(key, out);
                    out.push(':');
                    value.write(out);
                }
                out.push('}');
            }
        }
    }
}

/// Writes a JSON string with RFC 8785 escaping: only `"`, `\` and control characters are
/// escaped, with the short forms where JSON has them and lower-case `\u00xx` otherwise;
/// everything else (including non-ASCII and U+007F) is written raw.
fn write_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c < ' ' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// The canonical decimal text of a JSON number's text (`-?int(.frac)?([eE][+-]?exp)?`), with
/// the same rules as `num::canonical`: plain notation, no exponent, no leading zeros, no
/// trailing fractional zeros, zero is `0`. Works on the digits, so it is exact for numbers of
/// any size. `None` for text that is not a number or whose exponent exceeds ±4096.
pub fn canonical_number_text(text: &str) -> Option<String> {
    const MAX_EXPONENT: i64 = 4096;
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(at) => {
            let exp_text = &unsigned[at + 1..];
            let digits = exp_text.strip_prefix(['+', '-']).unwrap_or(exp_text);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            (&unsigned[..at], exp_text.parse::<i64>().ok()?)
        }
        None => (unsigned, 0),
    };
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if int_part.is_empty() || !all_digits(int_part) || !all_digits(frac_part) {
        return None;
    }
    if mantissa.contains('.') && frac_part.is_empty() {
        return None;
    }
    if exponent.abs() > MAX_EXPONENT {
        return None;
    }
    // value = 0.<digits> × 10^point
    let digits = format!("{int_part}{frac_part}");
    let leading = digits.bytes().take_while(|&b| b == b'0').count();
    let digits = digits[leading..].trim_end_matches('0');
    if digits.is_empty() {
        return Some("0".to_owned());
    }
    let point = int_part.len() as i64 - leading as i64 + exponent;
    let len = digits.len() as i64;
    let mut out = String::with_capacity(digits.len() + 4);
    if negative {
        out.push('-');
    }
    if point <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-point) as usize));
        out.push_str(digits);
    } else if point >= len {
        out.push_str(digits);
        out.extend(std::iter::repeat_n('0', (point - len) as usize));
    } else {
        out.push_str(&digits[..point as usize]);
        out.push('.');
        out.push_str(&digits[point as usize..]);
    }
    Some(out)
}

/// The hashed document of an entry (§9.3): every row field except `entryHash`, plus
/// `"v":"1"`; absent fields omitted.
pub fn hashed_document(entry: &LedgerEntry) -> CanonicalValue {
    let mut doc = BTreeMap::new();
    let mut put = |key: &str, value: CanonicalValue| {
        doc.insert(key.to_owned(), value);
    };
    put("v", CanonicalValue::string(DOCUMENT_VERSION));
    put("id", CanonicalValue::string(entry.id.as_str()));
    put(
        "portfolioId",
        CanonicalValue::string(entry.portfolio_id.as_str()),
    );
    put(
        "sequenceNumber",
        CanonicalValue::number(Decimal::from(entry.sequence_number)),
    );
    put(
        "entryType",
        CanonicalValue::string(entry.entry_type.as_str()),
    );
    put(
        "createdAt",
        CanonicalValue::string(entry.created_at.to_rfc3339_micros()),
    );
    put("beforeSnapshot", snapshot_value(&entry.before_snapshot));
    put("afterSnapshot", snapshot_value(&entry.after_snapshot));
    if let Some(asset) = entry.asset_id {
        put("assetId", CanonicalValue::string(asset.as_str()));
    }
    if let Some(q) = entry.quantity {
        put("quantity", CanonicalValue::number(q.value()));
    }
    if let Some(a) = entry.amount_irr {
        put("amountIrr", CanonicalValue::number(a.value()));
    }
    if let Some(p) = entry.price_irr {
        put("priceIrr", CanonicalValue::number(p));
    }
    if let Some(s) = entry.spread_irr {
        put("spreadIrr", CanonicalValue::number(s.value()));
    }
    put("boundary", CanonicalValue::string(entry.boundary.as_str()));
    if let Some(loan) = &entry.loan_id {
        put("loanId", CanonicalValue::string(loan.as_str()));
    }
    if let Some(protection) = &entry.protection_id {
        put("protectionId", CanonicalValue::string(protection.as_str()));
    }
    put("message", CanonicalValue::string(entry.message.as_str()));
    if let Some(legs) = &entry.legs {
        put(
            "legs",
            CanonicalValue::Array(legs.iter().map(leg_value).collect()),
        );
    }
    if let Some(metadata) = &entry.metadata {
        put(
            "metadata",
            CanonicalValue::from_json(&Value::Object(metadata.clone())),
        );
    }
    put("prevHash", CanonicalValue::string(entry.prev_hash.as_str()));
    CanonicalValue::Object(doc)
}

fn object<const N: usize>(fields: [(&str, CanonicalValue); N]) -> CanonicalValue {
    CanonicalValue::Object(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

fn snapshot_value(snapshot: &Snapshot) -> CanonicalValue {
    object([
        ("cashIrr", CanonicalValue::number(snapshot.cash_irr.value())),
        (
            "holdingsValueIrr",
            CanonicalValue::number(snapshot.holdings_value_irr.value()),
        ),
        (
            "totalValueIrr",
            CanonicalValue::number(snapshot.total_value_irr.value()),
        ),
        ("allocation", allocation_value(&snapshot.allocation)),
        ("status", CanonicalValue::string(snapshot.status.as_str())),
        (
            "holdings",
            CanonicalValue::Array(snapshot.holdings.iter().map(holding_value).collect()),
        ),
    ])
}

fn allocation_value(allocation: &Allocation) -> CanonicalValue {
    CanonicalValue::Object(
        Layer::ALL
            .into_iter()
            .map(|l| {
                (
                    l.as_str().to_owned(),
                    CanonicalValue::number(allocation.get(l)),
                )
            })
            .collect(),
    )
}

fn holding_value(holding: &SnapshotHolding) -> CanonicalValue {
    object([
        ("assetId", CanonicalValue::string(holding.asset_id.as_str())),
        ("quantity", CanonicalValue::number(holding.quantity.value())),
        ("frozen", CanonicalValue::Bool(holding.frozen)),
        (
            "valueIrr",
            CanonicalValue::number(holding.value_irr.value()),
        ),
    ])
}

fn leg_value(leg: &Leg) -> CanonicalValue {
    let mut fields = BTreeMap::new();
    fields.insert("side".to_owned(), CanonicalValue::string(leg.side.as_str()));
    fields.insert(
        "assetId".to_owned(),
        CanonicalValue::string(leg.asset_id.as_str()),
    );
    if let Some(layer) = leg.layer {
        fields.insert("layer".to_owned(), CanonicalValue::string(layer.as_str()));
    }
    fields.insert(
        "quantity".to_owned(),
        CanonicalValue::number(leg.quantity.value()),
    );
    fields.insert("priceIrr".to_owned(), CanonicalValue::number(leg.price_irr));
    fields.insert(
        "amountIrr".to_owned(),
        CanonicalValue::number(leg.amount_irr.value()),
    );
    fields.insert(
        "spreadIrr".to_owned(),
        CanonicalValue::number(leg.spread_irr.value()),
    );
    CanonicalValue::Object(fields)
}

/// The canonical UTF-8 bytes that are hashed for `entry` (its stored `entryHash` is ignored).
pub fn canonical_bytes(entry: &LedgerEntry) -> Vec<u8> {
    hashed_document(entry).to_canonical_string().into_bytes()
}

/// `lowercase hex SHA-256(canonical bytes)`.
pub fn compute_entry_hash(entry: &LedgerEntry) -> String {
    hex::encode(Sha256::digest(canonical_bytes(entry)))
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;
    use crate::allocation::Allocation;
    use crate::asset::AssetId;
    use crate::boundary::Boundary;
    use crate::ledger::{EntryType, NewEntry, UuidText};
    use crate::money::{Irr, Quantity};
    use crate::portfolio::{Holding, PortfolioState, PriceBook, value_portfolio};
    use crate::time::Timestamp;

    const VECTOR_BYTES: &str = r#"{"afterSnapshot":{"allocation":{"FOUNDATION":"1","GROWTH":"0","UPSIDE":"0"},"cashIrr":"5000000","holdings":[{"assetId":"USDT","frozen":false,"quantity":"13.73626373","valueIrr":"20000000"}],"holdingsValueIrr":"20000000","status":"ATTENTION_REQUIRED","totalValueIrr":"25000000"},"amountIrr":"5000000","beforeSnapshot":{"allocation":{"FOUNDATION":"1","GROWTH":"0","UPSIDE":"0"},"cashIrr":"0","holdings":[{"assetId":"USDT","frozen":false,"quantity":"13.73626373","valueIrr":"20000000"}],"holdingsValueIrr":"20000000","status":"ATTENTION_REQUIRED","totalValueIrr":"20000000"},"boundary":"SAFE","createdAt":"2026-01-20T12:00:00.000000Z","entryType":"ADD_FUNDS","id":"7b0c2f9e-0d7a-4c1e-9a51-3f2d6b8e4a10","message":"Added 5M IRR cash","portfolioId":"5f1d7c3a-9b2e-4e8f-a6d4-2c0b9e7f1a35","prevHash":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","sequenceNumber":"2","v":"1"}"#;
    const VECTOR_HASH: &str = "5d86f18778f70c6669340f53d1df4dd107b9b397e3c6214b17ab08292f4de4ec";

    /// The §9.3 ADD_FUNDS entry, with snapshots captured from real valuations (USDT
    /// 13.73626373 at the default price and FX, target 0.50/0.35/0.15), not typed in.
    fn vector_entry() -> LedgerEntry {
        let at = Timestamp::parse_rfc3339("2026-01-20T12:00:00Z").unwrap();
        let target = Allocation::new(dec!(0.50), dec!(0.35), dec!(0.15));
        let prices = PriceBook::defaults();
        let mut state = PortfolioState {
            cash: Irr::ZERO,
            holdings: vec![Holding::new(
                AssetId::Usdt,
                Quantity::floor8(dec!(13.73626373)),
            )],
        };
        let before = Snapshot::capture(&value_portfolio(&state, &prices, at), &target);
        state.cash += Irr::new(5_000_000);
        let after = Snapshot::capture(&value_portfolio(&state, &prices, at), &target);
        let mut entry = NewEntry::new(
            UuidText::parse("7b0c2f9e-0d7a-4c1e-9a51-3f2d6b8e4a10").unwrap(),
            UuidText::parse("5f1d7c3a-9b2e-4e8f-a6d4-2c0b9e7f1a35").unwrap(),
            EntryType::AddFunds,
            at,
            before,
            after,
            Boundary::Safe,
            "Added 5M IRR cash",
        );
        entry.amount_irr = Some(Irr::new(5_000_000));
        entry.seal_with_link(2, &"a".repeat(64))
    }

    #[test]
    fn the_business_rules_9_3_test_vector_serializes_byte_for_byte_and_hashes_as_specified() {
        let entry = vector_entry();
        assert_eq!(
            String::from_utf8(canonical_bytes(&entry)).unwrap(),
            VECTOR_BYTES
        );
        assert_eq!(compute_entry_hash(&entry), VECTOR_HASH);
        assert_eq!(entry.entry_hash, VECTOR_HASH);
    }

    #[test]
    fn the_hash_ignores_the_stored_entry_hash() {
        let mut entry = vector_entry();
        entry.entry_hash = "f".repeat(64);
        assert_eq!(compute_entry_hash(&entry), VECTOR_HASH);
    }

    #[test]
    fn the_hash_covers_microseconds_that_the_wire_form_drops() {
        let mut entry = vector_entry();
        entry.created_at = Timestamp::from_micros(entry.created_at.as_micros() + 1);
        assert_ne!(compute_entry_hash(&entry), VECTOR_HASH);
    }

    #[test]
    fn strings_escape_only_quotes_backslashes_and_control_characters() {
        let value = CanonicalValue::string("q\"b\\n\n\r\t\u{8}\u{c}\u{0}\u{1f}\u{7f}é€😀/");
        assert_eq!(
            value.to_canonical_string(),
            "\"q\\\"b\\\\n\\n\\r\\t\\b\\f\\u0000\\u001f\u{7f}é€😀/\""
        );
    }

    #[test]
    fn object_keys_sort_by_code_point_and_numbers_become_canonical_strings() {
        let json: Value = serde_json::from_str(
            r#"{"b":1.50,"a":[true,null,-0.0],"B":1e3,"é":"x","aa":{"z":0.000026,"y":2.5E-7}}"#,
        )
        .unwrap();
        assert_eq!(
            CanonicalValue::from_json(&json).to_canonical_string(),
            r#"{"B":"1000","a":[true,null,"0"],"aa":{"y":"0.00000025","z":"0.000026"},"b":"1.5","é":"x"}"#
        );
    }

    #[test]
    fn number_text_is_canonicalized_exactly() {
        let cases = [
            ("0", "0"),
            ("-0", "0"),
            ("-0.000", "0"),
            ("0e10", "0"),
            ("100", "100"),
            ("1.2300", "1.23"),
            ("-12.5", "-12.5"),
            ("1e3", "1000"),
            ("1.5E+2", "150"),
            ("15e-1", "1.5"),
            ("2.6e-5", "0.000026"),
            (
                "123456789012345678901234567890.5",
                "123456789012345678901234567890.5",
            ),
            ("0.1e1", "1"),
        ];
        for (text, canonical) in cases {
            assert_eq!(
                canonical_number_text(text).as_deref(),
                Some(canonical),
                "{text}"
            );
        }
        for bad in ["", "-", "1.", ".5", "1e", "abc", "1e99999", "1.2.3"] {
            assert_eq!(canonical_number_text(bad), None, "{bad}");
        }
    }
}
