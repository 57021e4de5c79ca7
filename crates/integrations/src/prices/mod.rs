//! Price sources behind the `PriceCache` port.

mod fixed;

pub use fixed::{FixedPrices, FixedPricesFile};
