//! When a job's ticks fall.

use std::time::Duration;

use blu_domain::Timestamp;
use blu_domain::time::{MICROS_PER_DAY, MICROS_PER_SECOND};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Schedule {
    /// Ticks at every multiple of the interval since the epoch.
    Every(Duration),
    /// One tick a day at this UTC time.
    DailyAt { hour: u32, minute: u32 },
    /// Never scheduled; runs only when an operator asks (its own loop, or manual work).
    OnDemand,
}

impl Schedule {
    /// The start of the tick containing `now`; `None` for on-demand jobs.
    pub fn slot(&self, now: Timestamp) -> Option<Timestamp> {
        Some(match *self {
            Schedule::OnDemand => return None,
            Schedule::Every(interval) => now.floor_to(interval),
            Schedule::DailyAt { hour, minute } => {
                let offset = (i64::from(hour) * 3600 + i64::from(minute) * 60) * MICROS_PER_SECOND;
                let day_start = now.as_micros().div_euclid(MICROS_PER_DAY) * MICROS_PER_DAY;
                let today = day_start + offset;
                Timestamp::from_micros(if now.as_micros() >= today {
                    today
                } else {
                    today - MICROS_PER_DAY
                })
            }
        })
    }

    /// The start of the tick after the one containing `now` (the console's "next run").
    pub fn next(&self, now: Timestamp) -> Option<Timestamp> {
        let slot = self.slot(now)?;
        Some(match *self {
            Schedule::Every(interval) => {
                Timestamp::from_micros(slot.as_micros() + interval.as_micros() as i64)
            }
            _ => Timestamp::from_micros(slot.as_micros() + MICROS_PER_DAY),
        })
    }

    /// Human form for the admin listing (`every 30s`, `daily 05:30 UTC`).
    pub fn describe(&self) -> String {
        match *self {
            Schedule::Every(d) if d.as_secs() % 3600 == 0 => {
                format!("every {}h", d.as_secs() / 3600)
            }
            Schedule::Every(d) if d.as_secs() % 60 == 0 => format!("every {}m", d.as_secs() / 60),
            Schedule::Every(d) => format!("every {}s", d.as_secs()),
            Schedule::DailyAt { hour, minute } => format!("daily {hour:02}:{minute:02} UTC"),
            Schedule::OnDemand => "on demand".to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        Timestamp::parse_rfc3339(text).unwrap()
    }

    #[test]
    fn interval_ticks_start_at_multiples_of_the_interval() {
        let every = Schedule::Every(Duration::from_secs(30));
        assert_eq!(
            every.slot(at("2026-01-20T12:00:44.5Z")),
            Some(at("2026-01-20T12:00:30Z"))
        );
        assert_eq!(
            every.slot(at("2026-01-20T12:00:30Z")),
            Some(at("2026-01-20T12:00:30Z"))
        );
        assert_eq!(every.describe(), "every 30s");
        assert_eq!(
            Schedule::Every(Duration::from_secs(3600)).describe(),
            "every 1h"
        );
    }

    #[test]
    fn a_daily_tick_is_todays_time_once_passed_else_yesterdays() {
        let daily = Schedule::DailyAt {
            hour: 5,
            minute: 30,
        };
        assert_eq!(
            daily.slot(at("2026-01-20T06:00:00Z")),
            Some(at("2026-01-20T05:30:00Z"))
        );
        assert_eq!(
            daily.slot(at("2026-01-20T05:29:59Z")),
            Some(at("2026-01-19T05:30:00Z"))
        );
        assert_eq!(daily.describe(), "daily 05:30 UTC");
        assert_eq!(Schedule::OnDemand.slot(at("2026-01-20T06:00:00Z")), None);
    }
}
