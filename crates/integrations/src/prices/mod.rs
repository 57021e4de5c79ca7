//! Price providers behind the `PriceSource` / `FxSource` ports (CoinGecko, Finnhub, Bonbast, the
//! simulated walk, the fixed file) and the price buses (in memory, Redis).

mod bonbast;
mod bus_memory;
mod bus_redis;
mod coingecko;
mod finnhub;
mod fixed;
mod provider_http;
mod simulated;

pub use bonbast::{Bonbast, BonbastConfig};
pub use bus_memory::{BUS_CAPACITY, MemoryPriceBus};
pub use bus_redis::RedisPriceBus;
pub use coingecko::{CoinGecko, CoinGeckoConfig};
pub use finnhub::{Finnhub, FinnhubConfig};
pub use fixed::{FixedPrices, FixedPricesFile};
pub use provider_http::{ProviderHttp, RetryPolicy, TokenBucket};
pub use simulated::SimulatedPrices;

use rust_decimal::Decimal;
use serde_json::Value;

/// A decimal from a JSON number (exact digits) or a numeric string.
fn decimal_of(value: &Value) -> Option<Decimal> {
    match value {
        Value::Number(n) => blu_domain::num::parse(&n.to_string()),
        Value::String(s) => blu_domain::num::parse(&s.replace(',', "")),
        _ => None,
    }
}

fn positive(d: Decimal) -> Option<Decimal> {
    (d > Decimal::ZERO).then_some(d)
}
