//! The rebalance cooldown (business-rules §6.2, D20): 24 h from the last rebalance, waived when
//! the max drift exceeds 10 pp (a portfolio in ATTENTION must never be told to wait).

use rust_decimal::Decimal;

use crate::allocation::MAJOR_DRIFT_PP;
use crate::error::{ErrorCode, RuleResult, RuleViolation};
use crate::money::round_half_up;
use crate::time::{MICROS_PER_SECOND, Timestamp};

/// Hours between two rebalances (configurable in the app; this is the default).
pub const COOLDOWN_HOURS: i64 = 24;

const MICROS_PER_HOUR: i64 = 3_600 * MICROS_PER_SECOND;

/// The cooldown as preview and status report it (`cooldown {active, waived, hoursRemaining,
/// nextAvailableAt?, lastRebalanceAt?}`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cooldown {
    /// Execute would be refused with `REBALANCE_TOO_SOON`.
    pub active: bool,
    /// Inside the 24 h window, but the drift is above 10 pp, so execute is allowed.
    pub waived: bool,
    /// `ceil` of the hours left while `active`; 0 otherwise, so a client never shows "wait N
    /// hours" next to an enabled Rebalance button.
    pub hours_remaining: i64,
    /// `lastRebalanceAt + 24 h`, while inside the window.
    pub next_available_at: Option<Timestamp>,
    pub last_rebalance_at: Option<Timestamp>,
    /// Hours since the last rebalance, 2 dp (`hoursSinceRebalance`).
    pub hours_since_rebalance: Option<Decimal>,
}

impl Cooldown {
    /// `canRebalance`: the cooldown is over or waived.
    pub fn can_rebalance(&self) -> bool {
        !self.active
    }

    /// Execute's step 1 (§6.9): 409 `REBALANCE_TOO_SOON` while active.
    pub fn check(&self) -> RuleResult<()> {
        if !self.active {
            return Ok(());
        }
        let n = self.hours_remaining;
        let unit = if n == 1 { "hour" } else { "hours" };
        let mut violation = RuleViolation::new(
            ErrorCode::RebalanceTooSoon,
            format!("Please wait {n} more {unit} before rebalancing again"),
        )
        .with("hoursRemaining", n);
        if let Some(next) = self.next_available_at {
            violation = violation.with("nextAvailableAt", next.to_rfc3339_millis());
        }
        Err(violation)
    }
}

/// Evaluates the cooldown at `now`. The window is `[last, last + 24 h)`: at exactly 24 h the
/// user may rebalance again. The waiver needs `max_drift_pp > 10` strictly (full precision), the
/// same threshold as ATTENTION_REQUIRED. A `last_rebalance_at` in the future (clock skew
/// between servers) counts as "just now" rather than extending the wait beyond 24 h.
pub fn cooldown(
    last_rebalance_at: Option<Timestamp>,
    now: Timestamp,
    max_drift_pp: Decimal,
) -> Cooldown {
    let Some(last) = last_rebalance_at else {
        return Cooldown {
            active: false,
            waived: false,
            hours_remaining: 0,
            next_available_at: None,
            last_rebalance_at: None,
            hours_since_rebalance: None,
        };
    };
    let elapsed = now.micros_since(last).max(0);
    let window = COOLDOWN_HOURS * MICROS_PER_HOUR;
    let in_window = elapsed < window;
    let waived = in_window && max_drift_pp > MAJOR_DRIFT_PP;
    let active = in_window && !waived;
    let remaining = window - elapsed;
    Cooldown {
        active,
        waived,
        hours_remaining: if active {
            (remaining + MICROS_PER_HOUR - 1) / MICROS_PER_HOUR
        } else {
            0
        },
        next_available_at: in_window.then(|| last.plus_seconds(COOLDOWN_HOURS * 3_600)),
        last_rebalance_at: Some(last),
        hours_since_rebalance: Some(
            round_half_up(Decimal::from(elapsed) / Decimal::from(MICROS_PER_HOUR), 2).normalize(),
        ),
    }
}
