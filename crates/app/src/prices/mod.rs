//! The price service (business-rules §2.4, api.md §12–13.1): cache, refresh, overrides, history
//! and how every instance follows the `prices` job.

mod job;
mod service;

pub use job::{PRICES_JOB, PriceFollower};
pub use service::{
    AppliedOverride, FIXED_SOURCE, MANUAL_SOURCE, MAX_HISTORY_DAYS, MAX_OVERRIDE_TTL_SECONDS,
    PriceError, PriceService, PriceSettings, RefreshReport, utc_day,
};
