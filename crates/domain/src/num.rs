//! Exact decimal numbers on the wire (D2): JSON numbers printed from the exact decimal digits,
//! never through `f64`, with trailing zeros trimmed and `-0` printed as `0`.
//!
//! Use with `#[serde(with = "blu_domain::num")]` on `Decimal` fields, or
//! `#[serde(with = "blu_domain::num::option")]` on `Option<Decimal>` fields (together with
//! `skip_serializing_if = "Option::is_none"`, so absent values are omitted, never `null`).

use std::str::FromStr;

use rust_decimal::Decimal;
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serializer};

/// The canonical plain-notation text of a decimal: no exponent, no trailing fractional zeros,
/// no trailing `.`, and zero is `0` (never `-0`). Used by JSON output and ledger hashing alike.
pub fn canonical(value: Decimal) -> String {
    let normalized = value.normalize();
    if normalized.is_zero() {
        return "0".to_owned();
    }
    normalized.to_string()
}

/// Serializes a decimal as an exact JSON number.
pub fn serialize<S: Serializer>(value: &Decimal, serializer: S) -> Result<S::Ok, S::Error> {
    let number =
        serde_json::Number::from_str(&canonical(*value)).map_err(serde::ser::Error::custom)?;
    serde::Serialize::serialize(&number, serializer)
}

/// Deserializes a decimal from a JSON number (exactly, from its text) or a numeric string.
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Decimal, D::Error> {
    deserializer.deserialize_any(DecimalVisitor)
}

/// Parses decimal text as it may arrive from a client: plain or scientific notation.
/// Values that do not fit a 96-bit mantissa are refused rather than rounded silently.
pub fn parse(text: &str) -> Option<Decimal> {
    let text = text.trim();
    if text.is_empty() || text.len() > 64 {
        return None;
    }
    if text.contains(['e', 'E']) {
        return Decimal::from_scientific(text).ok();
    }
    Decimal::from_str_exact(text).ok()
}

struct DecimalVisitor;

impl<'de> Visitor<'de> for DecimalVisitor {
    type Value = Decimal;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a number")
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Decimal, E> {
        Ok(Decimal::from(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Decimal, E> {
        Ok(Decimal::from(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Decimal, E> {
        // Only reached by non-JSON deserializers; JSON numbers arrive as text (arbitrary precision).
        Decimal::from_str(&v.to_string()).map_err(|_| E::custom("number out of range"))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Decimal, E> {
        parse(v).ok_or_else(|| E::custom("expected a decimal number"))
    }

    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Decimal, A::Error> {
        // serde_json's arbitrary-precision numbers travel as a one-entry map holding the text.
        let Some((_, text)) = map.next_entry::<String, String>()? else {
            return Err(de::Error::custom("expected a number"));
        };
        parse(&text).ok_or_else(|| de::Error::custom("number out of range"))
    }
}

/// `Option<Decimal>` variant of the exact-number helpers.
pub mod option {
    use rust_decimal::Decimal;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(
        value: &Option<Decimal>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(v) => super::serialize(v, serializer),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Decimal>, D::Error> {
        #[derive(Deserialize)]
        struct Wrapper(#[serde(with = "super")] Decimal);
        Ok(Option::<Wrapper>::deserialize(deserializer)?.map(|w| w.0))
    }
}

/// A `Decimal` that (de)serializes as an exact JSON number; handy inside collections.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Num(pub Decimal);

impl serde::Serialize for Num {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serialize(&self.0, serializer)
    }
}

impl<'de> Deserialize<'de> for Num {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserialize(deserializer).map(Num)
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;

    #[test]
    fn canonical_text_trims_zeros_and_never_prints_negative_zero() {
        assert_eq!(canonical(dec!(1.2300)), "1.23");
        assert_eq!(canonical(dec!(100)), "100");
        assert_eq!(canonical(dec!(-0.000)), "0");
        assert_eq!(canonical(dec!(0.000026)), "0.000026");
        assert_eq!(canonical(dec!(5000000.00)), "5000000");
    }

    #[test]
    fn numbers_serialize_as_exact_json_numbers() {
        let json = serde_json::to_string(&Num(dec!(0.00007023000))).unwrap();
        assert_eq!(json, "0.00007023");
        let json = serde_json::to_string(&Num(dec!(79228162514.264337593543950335))).unwrap();
        assert_eq!(json, "79228162514.264337593543950335");
    }

    #[test]
    fn numbers_deserialize_exactly_from_numbers_and_strings() {
        let n: Num = serde_json::from_str("0.1").unwrap();
        assert_eq!(n.0, dec!(0.1));
        let n: Num = serde_json::from_str("\"12345678901234567.123456789\"").unwrap();
        assert_eq!(n.0, dec!(12345678901234567.123456789));
        let n: Num = serde_json::from_str("1e3").unwrap();
        assert_eq!(n.0, dec!(1000));
        assert!(serde_json::from_str::<Num>("1e400").is_err());
        assert!(serde_json::from_str::<Num>("\"abc\"").is_err());
        assert!(serde_json::from_str::<Num>("true").is_err());
    }
}
