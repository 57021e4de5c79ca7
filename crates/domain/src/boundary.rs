//! Boundary classification (D14, business-rules §5.6) and the trade friction copy (§5.7).

use serde::{Deserialize, Serialize};

use crate::allocation::{Allocation, PortfolioStatus, portfolio_status};

/// How far an action moves the portfolio from its risk boundaries.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "UPPERCASE")]
pub enum Boundary {
    Safe,
    Drift,
    Structural,
    Stress,
}

impl Boundary {
    pub fn as_str(self) -> &'static str {
        match self {
            Boundary::Safe => "SAFE",
            Boundary::Drift => "DRIFT",
            Boundary::Structural => "STRUCTURAL",
            Boundary::Stress => "STRESS",
        }
    }

    /// STRUCTURAL and STRESS trades need `acknowledgedWarning: true` (D15).
    pub fn requires_acknowledgment(self) -> bool {
        matches!(self, Boundary::Structural | Boundary::Stress)
    }
}

impl std::str::FromStr for Boundary {
    type Err = crate::asset::UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            Boundary::Safe,
            Boundary::Drift,
            Boundary::Structural,
            Boundary::Stress,
        ]
        .into_iter()
        .find(|b| b.as_str().eq_ignore_ascii_case(s))
        .ok_or(crate::asset::UnknownName)
    }
}

/// The classification of an action that changes layer shares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BoundaryAssessment {
    pub boundary: Boundary,
    /// `Σ|after − target| < Σ|before − target|`, strict, full precision.
    pub moves_toward: bool,
    pub status_before: PortfolioStatus,
    pub status_after: PortfolioStatus,
}

/// Classifies an action by its before and after layer shares (holdings only, cash excluded).
/// `has_before` / `has_after` tell whether any holdings exist on each side (no holdings is
/// BALANCED, so an all-cash portfolio's first buy is never STRESS).
pub fn classify(
    before: &Allocation,
    after: &Allocation,
    target: &Allocation,
    has_before: bool,
    has_after: bool,
) -> BoundaryAssessment {
    let status_before = portfolio_status(before, target, has_before).status;
    let status_after = portfolio_status(after, target, has_after).status;
    let moves_toward = has_before && after.distance(target) < before.distance(target);
    let boundary = if moves_toward {
        Boundary::Safe
    } else {
        match (status_before, status_after) {
            (_, PortfolioStatus::Balanced) => Boundary::Safe,
            (_, PortfolioStatus::SlightlyOff) => Boundary::Drift,
            (PortfolioStatus::AttentionRequired, PortfolioStatus::AttentionRequired) => {
                Boundary::Stress
            }
            (_, PortfolioStatus::AttentionRequired) => Boundary::Structural,
        }
    };
    BoundaryAssessment {
        boundary,
        moves_toward,
        status_before,
        status_after,
    }
}

/// The friction copy of a trade (§5.7): always a list of strings, empty for a plain SAFE.
pub fn friction_copy(assessment: &BoundaryAssessment) -> Vec<String> {
    let lines: &[&str] = match assessment.boundary {
        Boundary::Safe if assessment.moves_toward => {
            &["This trade moves your portfolio closer to target allocation."]
        }
        Boundary::Safe => &[],
        Boundary::Drift => &[
            "This trade creates minor drift from your target allocation.",
            "Portfolio balance can be restored through future adjustments.",
        ],
        Boundary::Structural => &[
            "This trade creates significant drift from your target allocation.",
            "Your portfolio risk profile will change.",
        ],
        Boundary::Stress => &[
            "This trade creates major drift from your target allocation.",
            "Downside exposure will increase beyond your stated boundaries.",
            "Recovery to target may require substantial future changes.",
        ],
    };
    lines.iter().map(|s| (*s).to_owned()).collect()
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;

    #[test]
    fn moving_toward_target_is_always_safe_with_the_closer_copy() {
        let target = Allocation::new(dec!(0.5), dec!(0.35), dec!(0.15));
        let before = Allocation::new(dec!(0.38), dec!(0.44), dec!(0.18));
        let after = Allocation::new(dec!(0.40), dec!(0.43), dec!(0.17));
        let a = classify(&before, &after, &target, true, true);
        assert_eq!(a.boundary, Boundary::Safe);
        assert_eq!(friction_copy(&a).len(), 1);
    }

    #[test]
    fn attention_to_attention_away_from_target_is_stress() {
        let target = Allocation::new(dec!(0.5), dec!(0.35), dec!(0.15));
        let before = Allocation::new(dec!(0.38), dec!(0.44), dec!(0.18));
        let after = Allocation::new(dec!(0.30), dec!(0.50), dec!(0.20));
        let a = classify(&before, &after, &target, true, true);
        assert_eq!(a.boundary, Boundary::Stress);
        assert!(a.boundary.requires_acknowledgment());
        assert_eq!(friction_copy(&a).len(), 3);
    }

    #[test]
    fn a_first_buy_into_an_all_cash_portfolio_is_never_stress() {
        let target = Allocation::new(dec!(0.5), dec!(0.35), dec!(0.15));
        let after = Allocation::new(dec!(0), dec!(0), dec!(1));
        let a = classify(&Allocation::ZERO, &after, &target, false, true);
        assert_eq!(a.boundary, Boundary::Structural);
    }
}
