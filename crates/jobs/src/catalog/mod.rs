//! The jobs of business-rules §10, each a small adapter calling a use case.

mod cleanup;
mod loan_health;
mod notifications;
mod prices;
mod probe;
mod protection_expiry;
mod reminders;
mod status_refresh;

pub use cleanup::CleanupJob;
pub use loan_health::LoanHealthJob;
pub use notifications::NotificationsJob;
pub use prices::PricesJob;
pub use probe::ProbeJob;
pub use protection_expiry::ProtectionExpiryJob;
pub use reminders::RemindersJob;
pub use status_refresh::StatusRefreshJob;
