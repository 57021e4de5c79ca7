//! Fixed income held in lots (D12, business-rules §3.6): 500,000 IRR unit principal, 30% simple
//! annual interest accrued continuously (ACT/365), FIFO sells at principal + accrued.

use rust_decimal::Decimal;
use rust_decimal_macros::dec;

use crate::asset::{FIXED_INCOME_ANNUAL_RATE, FIXED_INCOME_UNIT_IRR};
use crate::money::{Irr, Quantity, checked_ratio};
use crate::time::Timestamp;

/// One purchase of fixed-income units. Lots never merge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lot {
    pub units: Quantity,
    pub purchased_at: Timestamp,
}

/// Exact (unrounded) value of `units` bought at `purchased_at`, at instant `now`.
pub fn lot_value(units: Quantity, purchased_at: Timestamp, now: Timestamp) -> Decimal {
    let days = now.days_since(purchased_at).max(Decimal::ZERO);
    units.value() * unit_value(days)
}

/// Value of one unit after `days` (fractional) of accrual.
fn unit_value(days: Decimal) -> Decimal {
    FIXED_INCOME_UNIT_IRR * (Decimal::ONE + FIXED_INCOME_ANNUAL_RATE * days / dec!(365))
}

/// Current value of one unit bought `purchased_at`.
pub fn unit_value_at(purchased_at: Timestamp, now: Timestamp) -> Decimal {
    unit_value(now.days_since(purchased_at).max(Decimal::ZERO))
}

/// Holding value = `round(Σ lot values)`.
pub fn holding_value(lots: &[Lot], now: Timestamp) -> Irr {
    Irr::round(
        lots.iter()
            .map(|l| lot_value(l.units, l.purchased_at, now))
            .sum(),
    )
}

/// Units bought with `net` rials: `floor8(net / 500,000)`.
pub fn units_for(net: Irr) -> Quantity {
    Quantity::floor8(net.value() / FIXED_INCOME_UNIT_IRR)
}

/// Principal, accrual and unit-weighted age of a fixed-income holding (API `fixedIncome`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FixedIncomeDetails {
    pub principal: Irr,
    pub accrued_interest: Irr,
    pub total: Irr,
    /// Unit-weighted days held over open lots.
    pub days_held: Decimal,
    /// 0.30 / 365.
    pub daily_rate: Decimal,
    /// `round(principal × 0.30 / 365)`.
    pub daily_accrual: Irr,
}

pub fn details(lots: &[Lot], now: Timestamp) -> FixedIncomeDetails {
    let units: Quantity = lots.iter().map(|l| l.units).sum();
    let principal = Irr::round(units.value() * FIXED_INCOME_UNIT_IRR);
    let total = holding_value(lots, now);
    let weighted: Decimal = lots
        .iter()
        .map(|l| l.units.value() * now.days_since(l.purchased_at).max(Decimal::ZERO))
        .sum();
    let days_held = checked_ratio(weighted, units.value()).unwrap_or(Decimal::ZERO);
    FixedIncomeDetails {
        principal,
        accrued_interest: total - principal,
        total,
        days_held,
        daily_rate: FIXED_INCOME_ANNUAL_RATE / dec!(365),
        daily_accrual: principal.mul_round(FIXED_INCOME_ANNUAL_RATE / dec!(365)),
    }
}

/// The outcome of a FIFO sell.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FifoSale {
    /// Units taken in total.
    pub units: Quantity,
    /// `round(Σ u × p)`: the gross value sold.
    pub gross: Irr,
    /// Lots left afterwards (empty lots removed, partly sold lots keep `purchased_at`).
    pub remaining: Vec<Lot>,
}

/// Sells `gross` rials' worth FIFO (oldest lot first). The walk moves to the next lot only when
/// the current one is fully taken.
pub fn sell_fifo(lots: &[Lot], gross: Irr, now: Timestamp) -> FifoSale {
    let mut ordered: Vec<Lot> = lots.to_vec();
    ordered.sort_by_key(|l| l.purchased_at);
    let mut remaining_amount = gross.value();
    let mut sold_units = Quantity::ZERO;
    let mut sold_value = Decimal::ZERO;
    let mut left = Vec::with_capacity(ordered.len());
    let mut walking = true;
    for lot in ordered {
        if !walking || remaining_amount <= Decimal::ZERO || lot.units.is_zero() {
            if lot.units.is_positive() {
                left.push(lot);
            }
            continue;
        }
        let per_unit = unit_value_at(lot.purchased_at, now);
        let take = Quantity::at_price(remaining_amount, per_unit).min(lot.units);
        remaining_amount -= take.value() * per_unit;
        sold_value += take.value() * per_unit;
        sold_units += take;
        let rest = lot.units - take;
        if rest.is_positive() {
            walking = false;
            left.push(Lot {
                units: rest,
                purchased_at: lot.purchased_at,
            });
        }
    }
    FifoSale {
        units: sold_units,
        gross: Irr::round(sold_value),
        remaining: left,
    }
}

/// Sells every lot.
pub fn sell_all(lots: &[Lot], now: Timestamp) -> FifoSale {
    FifoSale {
        units: lots.iter().map(|l| l.units).sum(),
        gross: holding_value(lots, now),
        remaining: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        Timestamp::parse_rfc3339(text).unwrap()
    }

    #[test]
    fn fi1_one_hundred_units_held_ninety_days() {
        let start = at("2026-01-01T00:00:00Z");
        let lots = [Lot {
            units: Quantity::floor8(dec!(100)),
            purchased_at: start,
        }];
        let d = details(&lots, start.plus_days(90));
        assert_eq!(d.principal, Irr::new(50_000_000));
        assert_eq!(d.accrued_interest, Irr::new(3_698_630));
        assert_eq!(d.total, Irr::new(53_698_630));
        assert_eq!(d.daily_accrual, Irr::new(41_096));
    }

    #[test]
    fn fi2_two_lots_sell_fifo_from_the_oldest() {
        let lots = vec![
            Lot {
                units: Quantity::floor8(dec!(30)),
                purchased_at: at("2026-01-01T00:00:00Z"),
            },
            Lot {
                units: Quantity::floor8(dec!(20)),
                purchased_at: at("2026-03-02T00:00:00Z"),
            },
        ];
        let now = at("2026-04-01T00:00:00Z");
        assert_eq!(holding_value(&lots, now), Irr::new(26_356_164));
        let sale = sell_fifo(&lots, Irr::new(10_000_000), now);
        assert_eq!(sale.units.value(), dec!(18.62244897));
        assert_eq!(sale.gross, Irr::new(10_000_000));
        assert_eq!(sale.remaining[0].units.value(), dec!(11.37755103));
        assert_eq!(sale.remaining[0].purchased_at, at("2026-01-01T00:00:00Z"));
        assert_eq!(sale.remaining[1], lots[1]);
    }
}
