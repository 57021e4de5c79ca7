//! The jobs of business-rules §10, each a small adapter calling a use case.

mod cleanup;
mod prices;

pub use cleanup::CleanupJob;
pub use prices::PricesJob;
