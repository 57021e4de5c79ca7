//! The jobs of business-rules §10, each a small adapter calling a use case.

mod cleanup;
mod loan_health;
mod prices;

pub use cleanup::CleanupJob;
pub use loan_health::LoanHealthJob;
pub use prices::PricesJob;
