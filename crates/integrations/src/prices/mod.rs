//! Price sources behind the `PriceCache` port, and the price buses.

mod bus_local;
mod bus_redis;
mod fixed;

pub use bus_local::LocalPriceBus;
pub use bus_redis::RedisPriceBus;
pub use fixed::{FixedPrices, FixedPricesFile};
