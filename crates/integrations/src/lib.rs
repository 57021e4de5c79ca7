//! Adapters to the outside world behind the ports of `blu-app`: SMS gateways, rate limiters and
//! (later) price providers. Every HTTP client has a timeout and is tested against a local mock
//! server that answers with the provider's real response shape.
#![forbid(unsafe_code)]

pub mod circuit;
pub mod http;
pub mod limits;
pub mod prices;
pub mod push;
pub mod quotes;
pub mod sms;
pub mod stream;
