//! Clocks. Business time (OTP expiry, quotes, accrual, loans, protections, price age) comes from
//! one clock that the test clock can move forward; JWT, session expiry and rate-limit windows
//! always use real time.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use blu_domain::Timestamp;

pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;
}

/// Real time from the operating system.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        real_now()
    }
}

/// Wall-clock time now, as a domain timestamp.
pub fn real_now() -> Timestamp {
    let micros = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    Timestamp::from_micros(micros)
}

/// Business time: real time plus a forward-only offset (the admin test clock, api.md §13.4).
#[derive(Debug, Default)]
pub struct BusinessClock {
    offset_micros: AtomicI64,
}

impl BusinessClock {
    pub fn new() -> Arc<BusinessClock> {
        Arc::new(BusinessClock::default())
    }

    pub fn offset_micros(&self) -> i64 {
        self.offset_micros.load(Ordering::Acquire)
    }

    /// Moves the offset forward to `offset_micros` if that is later than the current one
    /// (the clock never moves backward, also when several instances sync it).
    pub fn advance_to_offset(&self, offset_micros: i64) {
        self.offset_micros
            .fetch_max(offset_micros, Ordering::AcqRel);
    }
}

impl Clock for BusinessClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_micros(real_now().as_micros() + self.offset_micros())
    }
}
