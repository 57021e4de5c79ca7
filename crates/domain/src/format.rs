//! Compact IRR formatting for server text (business-rules §9.6 "Compact IRR", appendix choice 13):
//! activity messages say "Bought BTC (10M IRR)", never the full digits.

use rust_decimal::Decimal;
use rust_decimal_macros::dec;

use crate::money::{Irr, round_half_up};

/// Units in ascending order of size; a value uses the largest unit it reaches.
const UNITS: [(Decimal, &str); 3] = [
    (dec!(1000), "K"),
    (dec!(1000000), "M"),
    (dec!(1000000000), "B"),
];

/// Formats an amount of rials compactly: `950`, `1K`, `1.5K`, `2.3M`, `1.2B`, `100B`.
///
/// The unit is picked by size (≥ 1e9 `B`, ≥ 1e6 `M`, ≥ 1e3 `K`, else the plain integer); the
/// quotient is rounded half-up to one decimal, promoted to the next unit when the rounding
/// reaches 1000 (so 999,950 reads `1M`, not `1000K`), and a trailing `.0` is dropped.
/// Negative amounts keep their sign in front (no server message uses one today, but a sign
/// must never be lost in money text).
pub fn compact_irr(amount: Irr) -> String {
    let value = amount.value();
    if value.is_sign_negative() && !value.is_zero() {
        return format!("-{}", compact_irr(-amount));
    }
    let Some(mut unit) = UNITS.iter().rposition(|(size, _)| value >= *size) else {
        return crate::num::canonical(value);
    };
    let mut scaled = round_half_up(value / UNITS[unit].0, 1);
    if scaled >= dec!(1000) && unit + 1 < UNITS.len() {
        unit += 1;
        scaled = round_half_up(value / UNITS[unit].0, 1);
    }
    format!("{}{}", crate::num::canonical(scaled), UNITS[unit].1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_example_of_business_rules_9_6_formats_exactly() {
        let cases = [
            (950, "950"),
            (1_000, "1K"),
            (1_034, "1K"),
            (1_500, "1.5K"),
            (999_950, "1M"),
            (1_999_999, "2M"),
            (2_250_000, "2.3M"),
            (5_375_000, "5.4M"),
            (30_000_000, "30M"),
            (1_234_567_890, "1.2B"),
            (100_000_000_000, "100B"),
        ];
        for (amount, text) in cases {
            assert_eq!(compact_irr(Irr::new(amount)), text, "{amount}");
        }
    }

    #[test]
    fn small_amounts_print_as_plain_integers() {
        assert_eq!(compact_irr(Irr::ZERO), "0");
        assert_eq!(compact_irr(Irr::new(999)), "999");
    }

    #[test]
    fn a_rounding_that_reaches_a_thousand_is_promoted_to_the_next_unit() {
        assert_eq!(compact_irr(Irr::new(999_949)), "999.9K");
        assert_eq!(compact_irr(Irr::new(999_950_000)), "1B");
        // B is the largest unit, so it keeps counting past a thousand.
        assert_eq!(compact_irr(Irr::new(1_234_000_000_000)), "1234B");
    }

    #[test]
    fn a_negative_amount_keeps_its_sign() {
        assert_eq!(compact_irr(Irr::new(-1_500)), "-1.5K");
    }
}
