//! Money and quantity types with the rounding rules of D1 and business-rules §0:
//! IRR amounts are whole rials rounded half-up; quantities are rounded down to 8 decimals
//! (`floor8`), except the quantity a liquidation sells, which rounds up (`ceil8`).

use std::fmt;
use std::iter::Sum;
use std::ops::{Add, AddAssign, Neg, Sub, SubAssign};

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Decimal places kept on asset quantities.
pub const QUANTITY_DP: u32 = 8;

/// Rounds half-up (away from zero on a tie) to `dp` decimal places.
pub fn round_half_up(value: Decimal, dp: u32) -> Decimal {
    value.round_dp_with_strategy(dp, RoundingStrategy::MidpointAwayFromZero)
}

/// Rounds toward negative infinity to `dp` decimal places.
pub fn floor_dp(value: Decimal, dp: u32) -> Decimal {
    value.round_dp_with_strategy(dp, RoundingStrategy::ToNegativeInfinity)
}

/// Rounds toward positive infinity to `dp` decimal places.
pub fn ceil_dp(value: Decimal, dp: u32) -> Decimal {
    value.round_dp_with_strategy(dp, RoundingStrategy::ToPositiveInfinity)
}

/// `total × part / whole` (a pro-rata share), 0 when `whole` is 0. Computed in that order for
/// exactness; when the product does not fit a decimal it falls back to `total × (part / whole)`,
/// and to 0 when even that does not fit, so no request can panic on it (D41).
pub fn pro_rata(total: Decimal, part: Decimal, whole: Decimal) -> Decimal {
    if whole.is_zero() {
        return Decimal::ZERO;
    }
    total
        .checked_mul(part)
        .and_then(|p| p.checked_div(whole))
        .or_else(|| part.checked_div(whole)?.checked_mul(total))
        .unwrap_or(Decimal::ZERO)
}

/// `value / divisor`, or `None` when the divisor is not positive or the quotient does not fit:
/// every division by a runtime value in a request path goes through here or an explicit guard
/// (D41).
pub fn checked_ratio(value: Decimal, divisor: Decimal) -> Option<Decimal> {
    if divisor <= Decimal::ZERO {
        return None;
    }
    value.checked_div(divisor)
}

/// An amount of Iranian rials, always a whole number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Irr(Decimal);

impl Irr {
    pub const ZERO: Irr = Irr(Decimal::ZERO);

    /// Rounds any decimal half-up to whole rials (the default rule for IRR amounts).
    pub fn round(value: Decimal) -> Irr {
        Irr(round_half_up(value, 0).normalize())
    }

    /// Rounds down to whole rials (used only for caps and limits).
    pub fn floor(value: Decimal) -> Irr {
        Irr(floor_dp(value, 0).normalize())
    }

    /// Rounds up to whole rials.
    pub fn ceil(value: Decimal) -> Irr {
        Irr(ceil_dp(value, 0).normalize())
    }

    pub fn new(rials: i64) -> Irr {
        Irr(Decimal::from(rials))
    }

    /// The exact value if it is already whole, otherwise `None`.
    pub fn exact(value: Decimal) -> Option<Irr> {
        (value.fract().is_zero()).then(|| Irr(value.normalize()))
    }

    pub fn value(self) -> Decimal {
        self.0
    }

    pub fn is_zero(self) -> bool {
        self.0.is_zero()
    }

    pub fn is_positive(self) -> bool {
        self.0 > Decimal::ZERO
    }

    pub fn is_negative(self) -> bool {
        self.0 < Decimal::ZERO
    }

    /// `round(self × ratio)`.
    pub fn mul_round(self, ratio: Decimal) -> Irr {
        Irr::round(self.0 * ratio)
    }

    /// Largest of zero and this amount.
    pub fn max_zero(self) -> Irr {
        if self.is_negative() { Irr::ZERO } else { self }
    }

    pub fn abs(self) -> Irr {
        Irr(self.0.abs())
    }
}

/// Display as canonical decimal text, and the arithmetic both amount types share.
macro_rules! decimal_newtype_ops {
    ($t:ident) => {
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", crate::num::canonical(self.0))
            }
        }

        impl Add for $t {
            type Output = $t;
            fn add(self, rhs: $t) -> $t {
                $t(self.0 + rhs.0)
            }
        }

        impl Sub for $t {
            type Output = $t;
            fn sub(self, rhs: $t) -> $t {
                $t(self.0 - rhs.0)
            }
        }

        impl AddAssign for $t {
            fn add_assign(&mut self, rhs: $t) {
                self.0 += rhs.0;
            }
        }

        impl SubAssign for $t {
            fn sub_assign(&mut self, rhs: $t) {
                self.0 -= rhs.0;
            }
        }

        impl Sum for $t {
            fn sum<I: Iterator<Item = $t>>(iter: I) -> $t {
                iter.fold($t::ZERO, Add::add)
            }
        }

        impl<'a> Sum<&'a $t> for $t {
            fn sum<I: Iterator<Item = &'a $t>>(iter: I) -> $t {
                iter.copied().sum()
            }
        }
    };
}

decimal_newtype_ops!(Irr);
decimal_newtype_ops!(Quantity);

impl Neg for Irr {
    type Output = Irr;
    fn neg(self) -> Irr {
        Irr(-self.0)
    }
}

impl From<Irr> for Decimal {
    fn from(value: Irr) -> Decimal {
        value.0
    }
}

impl Serialize for Irr {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        crate::num::serialize(&self.0, serializer)
    }
}

impl<'de> Deserialize<'de> for Irr {
    /// Client amounts are rounded half-up to whole rials before validation (§0).
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        crate::num::deserialize(deserializer).map(Irr::round)
    }
}

/// A quantity of an asset's units, at most 8 decimal places.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Quantity(Decimal);

impl Quantity {
    pub const ZERO: Quantity = Quantity(Decimal::ZERO);

    /// Rounds down to 8 decimal places (the rule for every bought or sold quantity).
    pub fn floor8(value: Decimal) -> Quantity {
        Quantity(floor_dp(value, QUANTITY_DP).normalize())
    }

    /// Rounds up to 8 decimal places (only the quantity a liquidation sells).
    pub fn ceil8(value: Decimal) -> Quantity {
        Quantity(ceil_dp(value, QUANTITY_DP).normalize())
    }

    /// `floor8(amount / price)`: the units an amount buys or sells at a unit price; 0 when the
    /// price is not positive or the quotient does not fit (D41).
    pub fn at_price(amount: Decimal, price: Decimal) -> Quantity {
        checked_ratio(amount, price).map_or(Quantity::ZERO, Quantity::floor8)
    }

    /// The exact value if it has at most 8 decimal places, otherwise `None`.
    pub fn exact(value: Decimal) -> Option<Quantity> {
        (value.normalize().scale() <= QUANTITY_DP).then(|| Quantity(value.normalize()))
    }

    pub fn value(self) -> Decimal {
        self.0
    }

    pub fn is_zero(self) -> bool {
        self.0.is_zero()
    }

    pub fn is_positive(self) -> bool {
        self.0 > Decimal::ZERO
    }

    /// `round(self × price)` in rials.
    pub fn value_at(self, price_irr: Decimal) -> Irr {
        Irr::round(self.0 * price_irr)
    }

    pub fn min(self, other: Quantity) -> Quantity {
        if self <= other { self } else { other }
    }
}

impl From<Quantity> for Decimal {
    fn from(value: Quantity) -> Decimal {
        value.0
    }
}

impl Serialize for Quantity {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        crate::num::serialize(&self.0, serializer)
    }
}

impl<'de> Deserialize<'de> for Quantity {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        crate::num::deserialize(deserializer).map(Quantity::floor8)
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;

    #[test]
    fn irr_rounds_half_up_to_whole_rials() {
        assert_eq!(Irr::round(dec!(5165162.5)), Irr::new(5_165_163));
        assert_eq!(Irr::round(dec!(5165162.49)), Irr::new(5_165_162));
        assert_eq!(Irr::round(dec!(-2.5)), Irr::new(-3));
        assert_eq!(Irr::floor(dec!(35490000.9)), Irr::new(35_490_000));
    }

    #[test]
    fn quantities_round_down_to_eight_places_except_ceil8() {
        assert_eq!(
            Quantity::floor8(dec!(0.000070234999)).value(),
            dec!(0.00007023)
        );
        assert_eq!(Quantity::ceil8(dec!(0.000227861)).value(), dec!(0.00022787));
        assert!(Quantity::exact(dec!(0.123456789)).is_none());
        assert_eq!(Quantity::exact(dec!(1.50)).unwrap().value(), dec!(1.5));
    }

    #[test]
    fn client_amounts_are_rounded_half_up_when_parsed() {
        let irr: Irr = serde_json::from_str("1000000.5").unwrap();
        assert_eq!(irr, Irr::new(1_000_001));
        assert_eq!(serde_json::to_string(&irr).unwrap(), "1000001");
    }
}
