//! The jobs of business-rules §10, each a small adapter calling a use case.

mod cleanup;
mod prices;
mod protection_expiry;

pub use cleanup::CleanupJob;
pub use prices::PricesJob;
pub use protection_expiry::ProtectionExpiryJob;
