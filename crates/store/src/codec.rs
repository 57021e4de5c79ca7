//! Conversions between domain values and their column representations.
//!
//! PostgreSQL: decimals are `NUMERIC` (bound as `Decimal`), instants `TIMESTAMPTZ` (chrono),
//! uuids `UUID`. SQLite: everything is TEXT in one canonical form per type (see the SQLite
//! migration). Every decimal read from either backend is normalized, because `NUMERIC(p,s)`
//! pads the scale (`1.5` comes back as `1.50000000`) and the ledger hashes decimal text.

use anyhow::{Context, anyhow};
use blu_domain::Timestamp;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use uuid::Uuid;

/// A domain instant as a chrono instant (PostgreSQL binding).
pub fn to_datetime(t: Timestamp) -> anyhow::Result<DateTime<Utc>> {
    DateTime::from_timestamp_micros(t.as_micros())
        .ok_or_else(|| anyhow!("timestamp out of range: {} µs", t.as_micros()))
}

/// A chrono instant as a domain instant (TIMESTAMPTZ has µs resolution, like `Timestamp`).
pub fn from_datetime(t: DateTime<Utc>) -> Timestamp {
    Timestamp::from_micros(t.timestamp_micros())
}

/// The SQLite text of an instant: fixed-width RFC 3339 UTC with six fractional digits, so
/// string order is time order.
pub fn ts_text(t: Timestamp) -> String {
    t.to_rfc3339_micros()
}

/// Parses the SQLite text of an instant.
pub fn parse_ts_text(text: &str) -> anyhow::Result<Timestamp> {
    Timestamp::parse_rfc3339(text).ok_or_else(|| anyhow!("malformed stored timestamp {text:?}"))
}

/// The SQLite text of a decimal: normalized plain notation (`0.3`, `100000000000000`).
pub fn dec_text(d: Decimal) -> String {
    d.normalize().to_string()
}

/// Parses the SQLite text of a decimal.
pub fn parse_dec_text(text: &str) -> anyhow::Result<Decimal> {
    text.parse::<Decimal>()
        .map(|d| d.normalize())
        .with_context(|| format!("malformed stored decimal {text:?}"))
}

/// The SQLite text of a uuid: lower-case hyphenated.
pub fn uuid_text(id: Uuid) -> String {
    id.hyphenated().to_string()
}

/// Parses the SQLite text of a uuid.
pub fn parse_uuid_text(text: &str) -> anyhow::Result<Uuid> {
    Uuid::parse_str(text).with_context(|| format!("malformed stored uuid {text:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn timestamp_text_is_fixed_width_and_sorts_like_time() {
        let a = Timestamp::parse_rfc3339("2026-01-20T12:00:00Z").unwrap();
        let b = a.plus_seconds(1);
        let c = Timestamp::from_micros(a.as_micros() + 1);
        assert_eq!(ts_text(a), "2026-01-20T12:00:00.000000Z");
        assert_eq!(ts_text(a).len(), 27);
        assert!(ts_text(a) < ts_text(c) && ts_text(c) < ts_text(b));
        assert_eq!(parse_ts_text(&ts_text(c)).unwrap(), c);
    }

    #[test]
    fn decimal_text_is_normalized_and_round_trips() {
        assert_eq!(dec_text(dec!(1.50000000)), "1.5");
        assert_eq!(dec_text(dec!(100000000000000)), "100000000000000");
        assert_eq!(dec_text(dec!(0.00000001)), "0.00000001");
        assert_eq!(dec_text(dec!(-0.0)), "0");
        let x = dec!(79228162514.264337593543950335);
        assert_eq!(parse_dec_text(&dec_text(x)).unwrap(), x);
    }

    #[test]
    fn chrono_conversion_keeps_microseconds() {
        let t = Timestamp::from_micros(1_768_910_400_123_456);
        assert_eq!(from_datetime(to_datetime(t).unwrap()), t);
    }
}
