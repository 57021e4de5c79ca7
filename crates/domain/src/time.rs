//! Instants as data. The domain never reads a clock: every rule takes `now` as a parameter.
//! Instants are UTC with microsecond precision (business-rules §0); a day is 86,400 s.

use std::fmt;

use rust_decimal::Decimal;

pub const MICROS_PER_SECOND: i64 = 1_000_000;
pub const SECONDS_PER_DAY: i64 = 86_400;
pub const MICROS_PER_DAY: i64 = SECONDS_PER_DAY * MICROS_PER_SECOND;

/// A UTC instant, microseconds since the Unix epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(i64);

impl Timestamp {
    pub const fn from_micros(micros: i64) -> Timestamp {
        Timestamp(micros)
    }

    pub const fn from_seconds(seconds: i64) -> Timestamp {
        Timestamp(seconds * MICROS_PER_SECOND)
    }

    pub const fn as_micros(self) -> i64 {
        self.0
    }

    pub fn plus_seconds(self, seconds: i64) -> Timestamp {
        Timestamp(self.0 + seconds * MICROS_PER_SECOND)
    }

    pub fn plus_micros(self, micros: i64) -> Timestamp {
        Timestamp(self.0.saturating_add(micros))
    }

    /// `self + duration` (saturating).
    pub fn plus_duration(self, duration: std::time::Duration) -> Timestamp {
        self.plus_micros(i64::try_from(duration.as_micros()).unwrap_or(i64::MAX))
    }

    /// The start of the period of length `interval` (counted from the epoch) containing
    /// `self`: the tick a scheduled job claims.
    pub fn floor_to(self, interval: std::time::Duration) -> Timestamp {
        let step = i64::try_from(interval.as_micros())
            .unwrap_or(i64::MAX)
            .max(1);
        Timestamp(self.0.div_euclid(step) * step)
    }

    /// `self − duration` (saturating).
    pub fn minus_duration(self, duration: std::time::Duration) -> Timestamp {
        Timestamp(
            self.0
                .saturating_sub(i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)),
        )
    }

    pub fn plus_days(self, days: i64) -> Timestamp {
        Timestamp(self.0 + days * MICROS_PER_DAY)
    }

    /// Whole microseconds from `earlier` to `self` (negative when `earlier` is later).
    pub fn micros_since(self, earlier: Timestamp) -> i64 {
        self.0 - earlier.0
    }

    /// Whole seconds from `earlier` to `self`, truncated toward zero.
    pub fn seconds_since(self, earlier: Timestamp) -> i64 {
        self.micros_since(earlier) / MICROS_PER_SECOND
    }

    /// Exact fractional days from `earlier` to `self`.
    pub fn days_since(self, earlier: Timestamp) -> Decimal {
        Decimal::from(self.micros_since(earlier)) / Decimal::from(MICROS_PER_DAY)
    }

    /// Started days from `earlier` to `self`: `ceil(elapsed / 1 day)`, 0 at the start, never
    /// negative (the loan accrual basis, business-rules §7.2).
    pub fn started_days_since(self, earlier: Timestamp) -> i64 {
        let elapsed = self.micros_since(earlier);
        if elapsed <= 0 {
            0
        } else {
            (elapsed + MICROS_PER_DAY - 1) / MICROS_PER_DAY
        }
    }

    /// RFC 3339 UTC with exactly six fractional digits (the ledger's canonical form).
    pub fn to_rfc3339_micros(self) -> String {
        self.format(6)
    }

    /// RFC 3339 UTC with milliseconds (the API's form, api.md §1.6).
    pub fn to_rfc3339_millis(self) -> String {
        self.format(3)
    }

    fn format(self, fraction_digits: u32) -> String {
        let days = self.0.div_euclid(MICROS_PER_DAY);
        let micros_of_day = self.0.rem_euclid(MICROS_PER_DAY);
        let (year, month, day) = civil_from_days(days);
        let secs = micros_of_day / MICROS_PER_SECOND;
        let fraction = micros_of_day % MICROS_PER_SECOND;
        let (h, m, s) = (secs / 3600, (secs / 60) % 60, secs % 60);
        let fraction = fraction / 10_i64.pow(6 - fraction_digits);
        format!(
            "{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{fraction:0width$}Z",
            width = fraction_digits as usize
        )
    }

    /// Parses `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`; digits beyond microseconds are
    /// truncated.
    pub fn parse_rfc3339(text: &str) -> Option<Timestamp> {
        let bytes = text.as_bytes();
        if bytes.len() < 20 || !text.is_ascii() {
            return None;
        }
        let num = |range: std::ops::Range<usize>| -> Option<i64> {
            let part = text.get(range)?;
            part.bytes()
                .all(|b| b.is_ascii_digit())
                .then(|| part.parse().ok())?
        };
        if bytes[4] != b'-' || bytes[7] != b'-' || !matches!(bytes[10], b'T' | b't' | b' ') {
            return None;
        }
        if bytes[13] != b':' || bytes[16] != b':' {
            return None;
        }
        let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
        let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
        if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
            return None;
        }
        if hour > 23 || minute > 59 || second > 59 {
            return None;
        }
        let mut rest = &text[19..];
        let mut micros = 0_i64;
        if let Some(fraction) = rest.strip_prefix('.') {
            let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return None;
            }
            let kept = &fraction[..digits.min(6)];
            micros = kept.parse::<i64>().ok()? * 10_i64.pow(6 - kept.len() as u32);
            rest = &fraction[digits..];
        }
        let offset_seconds = match rest {
            "Z" | "z" => 0,
            _ if rest.len() == 6 && (rest.starts_with('+') || rest.starts_with('-')) => {
                let sign = if rest.starts_with('-') { -1 } else { 1 };
                if rest.as_bytes()[3] != b':' {
                    return None;
                }
                let (oh, om) = (num_of(&rest[1..3])?, num_of(&rest[4..6])?);
                if oh > 23 || om > 59 {
                    return None;
                }
                sign * (oh * 3600 + om * 60)
            }
            _ => return None,
        };
        let days = days_from_civil(year, month, day);
        let seconds = days * SECONDS_PER_DAY + hour * 3600 + minute * 60 + second - offset_seconds;
        Some(Timestamp(seconds * MICROS_PER_SECOND + micros))
    }
}

fn num_of(part: &str) -> Option<i64> {
    part.bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| part.parse().ok())?
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339_millis())
    }
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_period_starts_at_the_interval_boundary_at_or_before_the_instant() {
        let t = Timestamp::parse_rfc3339("2026-01-20T12:00:47.250Z").unwrap();
        let start = t.floor_to(std::time::Duration::from_secs(30));
        assert_eq!(start.to_rfc3339_millis(), "2026-01-20T12:00:30.000Z");
        assert_eq!(start.floor_to(std::time::Duration::from_secs(30)), start);
        let before_epoch = Timestamp::from_micros(-1);
        assert_eq!(
            before_epoch.floor_to(std::time::Duration::from_secs(1)),
            Timestamp::from_seconds(-1)
        );
    }

    #[test]
    fn formats_and_parses_rfc3339_round_trip() {
        let t = Timestamp::parse_rfc3339("2026-01-20T12:00:00Z").unwrap();
        assert_eq!(t.to_rfc3339_micros(), "2026-01-20T12:00:00.000000Z");
        assert_eq!(t.to_rfc3339_millis(), "2026-01-20T12:00:00.000Z");
        let t = Timestamp::parse_rfc3339("2024-02-29T23:59:59.1234567+03:30").unwrap();
        assert_eq!(t.to_rfc3339_micros(), "2024-02-29T20:29:59.123456Z");
        assert_eq!(
            Timestamp::from_micros(0).to_rfc3339_millis(),
            "1970-01-01T00:00:00.000Z"
        );
    }

    #[test]
    fn rejects_malformed_timestamps() {
        for bad in [
            "",
            "2026-13-01T00:00:00Z",
            "2026-02-30T00:00:00Z",
            "2026-01-01",
            "x026-01-01T00:00:00Z",
            "2026-01-01T00:00:00",
        ] {
            assert!(Timestamp::parse_rfc3339(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn started_days_count_every_begun_day() {
        let start = Timestamp::parse_rfc3339("2026-01-20T12:00:00Z").unwrap();
        assert_eq!(start.started_days_since(start), 0);
        assert_eq!(start.plus_seconds(1).started_days_since(start), 1);
        assert_eq!(start.plus_days(10).started_days_since(start), 10);
        assert_eq!(
            start
                .plus_days(10)
                .plus_seconds(1)
                .started_days_since(start),
            11
        );
    }

    #[test]
    fn plus_days_lands_on_the_loan_schedule_dates() {
        let start = Timestamp::parse_rfc3339("2026-01-20T12:00:00Z").unwrap();
        assert_eq!(
            start.plus_days(15).to_rfc3339_millis(),
            "2026-02-04T12:00:00.000Z"
        );
        assert_eq!(
            start.plus_days(90).to_rfc3339_millis(),
            "2026-04-20T12:00:00.000Z"
        );
    }
}
