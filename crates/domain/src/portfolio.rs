//! Portfolio state, the price book, and valuation (business-rules §4.1). One consistent read:
//! a request loads holdings and prices once and values everything from this snapshot.

use rust_decimal::Decimal;

use crate::allocation::{Allocation, StatusReport, portfolio_status};
use crate::asset::{AssetId, DEFAULT_FX_IRR_PER_USD, Layer};
use crate::fixed_income::{self, Lot};
use crate::money::{Irr, Quantity};
use crate::time::Timestamp;

/// One holding. Fixed income carries its lots; its quantity is the sum of lot units.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Holding {
    pub asset: AssetId,
    pub quantity: Quantity,
    /// Locked as loan collateral (D18).
    pub frozen: bool,
    /// IRR_FIXED_INCOME only; empty otherwise.
    pub lots: Vec<Lot>,
}

impl Holding {
    pub fn new(asset: AssetId, quantity: Quantity) -> Holding {
        Holding {
            asset,
            quantity,
            frozen: false,
            lots: Vec::new(),
        }
    }
}

/// The money state of a portfolio: cash and holdings (at most one per asset).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct PortfolioState {
    pub cash: Irr,
    pub holdings: Vec<Holding>,
}

impl PortfolioState {
    pub fn holding(&self, asset: AssetId) -> Option<&Holding> {
        self.holdings.iter().find(|h| h.asset == asset)
    }

    pub fn holding_mut(&mut self, asset: AssetId) -> Option<&mut Holding> {
        self.holdings.iter_mut().find(|h| h.asset == asset)
    }

    /// The holding of `asset`, created empty (unfrozen) if absent.
    pub fn holding_entry(&mut self, asset: AssetId) -> &mut Holding {
        if let Some(i) = self.holdings.iter().position(|h| h.asset == asset) {
            return &mut self.holdings[i];
        }
        self.holdings.push(Holding::new(asset, Quantity::ZERO));
        self.holdings.last_mut().expect("just pushed")
    }

    /// Holdings with a positive quantity, in registry order.
    pub fn open_holdings(&self) -> impl Iterator<Item = &Holding> {
        let mut open: Vec<&Holding> = self
            .holdings
            .iter()
            .filter(|h| h.quantity.is_positive())
            .collect();
        open.sort_by_key(|h| h.asset);
        open.into_iter()
    }
}

/// A market price of one asset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AssetPrice {
    pub price_usd: Decimal,
    /// `price_usd × fx`.
    pub price_irr: Decimal,
}

/// Prices of every market asset plus the FX rate, as of one read. Fixed income is priced
/// internally and never appears here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PriceBook {
    pub fx_rate: Decimal,
    prices: [Option<AssetPrice>; 15],
}

impl PriceBook {
    pub fn new(fx_rate: Decimal) -> PriceBook {
        PriceBook {
            fx_rate,
            prices: [None; 15],
        }
    }

    /// The registry's default USD prices at FX 1,456,000 (development and tests only).
    pub fn defaults() -> PriceBook {
        let mut book = PriceBook::new(DEFAULT_FX_IRR_PER_USD);
        for asset in AssetId::ALL {
            if let Some(usd) = asset.asset().default_price_usd {
                book.set_usd(asset, usd);
            }
        }
        book
    }

    /// Sets a USD price; the IRR price is `usd × fx` at this book's FX.
    pub fn set_usd(&mut self, asset: AssetId, price_usd: Decimal) {
        self.prices[asset.index()] = Some(AssetPrice {
            price_usd,
            price_irr: price_usd * self.fx_rate,
        });
    }

    pub fn get(&self, asset: AssetId) -> Option<AssetPrice> {
        self.prices[asset.index()]
    }

    pub fn price_irr(&self, asset: AssetId) -> Option<Decimal> {
        self.get(asset).map(|p| p.price_irr)
    }
}

/// The value of one holding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HoldingValue {
    pub asset: AssetId,
    pub quantity: Quantity,
    pub frozen: bool,
    pub value: Irr,
    /// False when a market asset has no price at all (valued at 0).
    pub priced: bool,
}

/// A portfolio valued at one instant from one price book.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Valuation {
    pub cash: Irr,
    /// Open holdings in registry order.
    pub holdings: Vec<HoldingValue>,
    pub layer_values: [Irr; 3],
    pub holdings_value: Irr,
}

impl Valuation {
    pub fn total_value(&self) -> Irr {
        self.cash + self.holdings_value
    }

    pub fn layer_value(&self, layer: Layer) -> Irr {
        self.layer_values[layer.index()]
    }

    /// Layer shares of the holdings value (cash excluded, D13).
    pub fn allocation(&self) -> Allocation {
        Allocation::from_values(self.layer_values)
    }

    pub fn has_holdings(&self) -> bool {
        !self.holdings_value.is_zero()
    }

    pub fn status(&self, target: &Allocation) -> StatusReport {
        portfolio_status(&self.allocation(), target, self.has_holdings())
    }

    pub fn value_of(&self, asset: AssetId) -> Irr {
        self.holdings
            .iter()
            .find(|h| h.asset == asset)
            .map(|h| h.value)
            .unwrap_or(Irr::ZERO)
    }
}

/// Value of one holding: `round(q × priceIrr)`, fixed income per its lots.
pub fn holding_value(holding: &Holding, prices: &PriceBook, now: Timestamp) -> Option<Irr> {
    if holding.asset.is_fixed_income() {
        return Some(fixed_income::holding_value(&holding.lots, now));
    }
    prices
        .price_irr(holding.asset)
        .map(|p| holding.quantity.value_at(p))
}

/// Values every open holding at the book's prices (fixed income with accrual to `now`).
pub fn value_portfolio(state: &PortfolioState, prices: &PriceBook, now: Timestamp) -> Valuation {
    let mut layer_values = [Irr::ZERO; 3];
    let holdings: Vec<HoldingValue> = state
        .open_holdings()
        .map(|h| {
            let value = holding_value(h, prices, now);
            let priced = value.is_some();
            let value = value.unwrap_or(Irr::ZERO);
            layer_values[h.asset.layer().index()] += value;
            HoldingValue {
                asset: h.asset,
                quantity: h.quantity,
                frozen: h.frozen,
                value,
                priced,
            }
        })
        .collect();
    let holdings_value = layer_values.iter().sum();
    Valuation {
        cash: state.cash,
        holdings,
        layer_values,
        holdings_value,
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;

    #[test]
    fn default_prices_convert_at_the_development_fx() {
        let book = PriceBook::defaults();
        assert_eq!(book.price_irr(AssetId::Btc), Some(dec!(141960000000)));
        assert_eq!(book.price_irr(AssetId::Paxg), Some(dec!(3858400000)));
        assert_eq!(book.price_irr(AssetId::Matic), Some(dec!(655200)));
        assert_eq!(book.get(AssetId::IrrFixedIncome), None);
    }

    #[test]
    fn valuation_excludes_cash_from_layer_shares() {
        let now = Timestamp::from_seconds(1_800_000_000);
        let state = PortfolioState {
            cash: Irr::new(5_000_000),
            holdings: vec![Holding::new(
                AssetId::Usdt,
                Quantity::floor8(dec!(13.73626373)),
            )],
        };
        let v = value_portfolio(&state, &PriceBook::defaults(), now);
        assert_eq!(v.holdings_value, Irr::new(20_000_000));
        assert_eq!(v.total_value(), Irr::new(25_000_000));
        assert_eq!(v.allocation().get(Layer::Foundation), Decimal::ONE);
    }
}
