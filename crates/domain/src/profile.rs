//! Risk profiles: score → profile name, target allocation and tier, plus the result-screen copy
//! (business-rules §1.6, decisions D6). The server serves this table; clients keep no copy of it
//! (business-rules §12 item 60).

use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde::{Deserialize, Serialize};

use crate::allocation::Allocation;

/// Risk tier (D6): score ≤ 3 LOW, 4–6 MEDIUM, ≥ 7 HIGH.
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
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RiskTier {
    Low,
    Medium,
    High,
}

impl RiskTier {
    /// The tier of a risk score.
    pub fn for_score(score: u8) -> RiskTier {
        match score {
            ..=3 => RiskTier::Low,
            4..=6 => RiskTier::Medium,
            _ => RiskTier::High,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RiskTier::Low => "LOW",
            RiskTier::Medium => "MEDIUM",
            RiskTier::High => "HIGH",
        }
    }
}

/// The five named profiles; each covers two scores.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProfileKind {
    CapitalPreservation,
    Conservative,
    Balanced,
    Growth,
    Aggressive,
}

impl ProfileKind {
    /// English profile name (`profileName`).
    pub fn name_en(self) -> &'static str {
        match self {
            ProfileKind::CapitalPreservation => "Capital Preservation",
            ProfileKind::Conservative => "Conservative",
            ProfileKind::Balanced => "Balanced",
            ProfileKind::Growth => "Growth",
            ProfileKind::Aggressive => "Aggressive",
        }
    }

    /// Persian profile name (`profileNameFa`).
    pub fn name_fa(self) -> &'static str {
        match self {
            ProfileKind::CapitalPreservation => "حفظ سرمایه",
            ProfileKind::Conservative => "محتاط",
            ProfileKind::Balanced => "متعادل",
            ProfileKind::Growth => "رشدگرا",
            ProfileKind::Aggressive => "جسور",
        }
    }

    /// Result-screen tagline, English (§1.6).
    pub fn tagline_en(self) -> &'static str {
        match self {
            ProfileKind::CapitalPreservation => "Safety is your priority",
            ProfileKind::Conservative => "Stability with modest growth",
            ProfileKind::Balanced => "Growth with protection",
            ProfileKind::Growth => "Long-term wealth building",
            ProfileKind::Aggressive => "Maximum growth potential",
        }
    }

    /// Result-screen tagline, Persian.
    ///
    /// Our own faithful translation of [`ProfileKind::tagline_en`]: the spec gives only the
    /// English copy and points at the reference engine for Persian, which we do not copy.
    pub fn tagline_fa(self) -> &'static str {
        match self {
            ProfileKind::CapitalPreservation => "امنیت، اولویت شماست",
            ProfileKind::Conservative => "ثبات همراه با رشدی معتدل",
            ProfileKind::Balanced => "رشد همراه با محافظت",
            ProfileKind::Growth => "ساختن ثروت در بلندمدت",
            ProfileKind::Aggressive => "بیشترین ظرفیت رشد",
        }
    }

    /// Typical yearly outcome range as fractions `(low, high)`, e.g. `(−0.05, 0.15)` (§1.6).
    pub fn typical_yearly_range(self) -> (Decimal, Decimal) {
        match self {
            ProfileKind::CapitalPreservation => (dec!(-0.05), dec!(0.15)),
            ProfileKind::Conservative => (dec!(-0.10), dec!(0.20)),
            ProfileKind::Balanced => (dec!(-0.20), dec!(0.30)),
            ProfileKind::Growth => (dec!(-0.30), dec!(0.50)),
            ProfileKind::Aggressive => (dec!(-0.40), dec!(0.80)),
        }
    }

    /// Typical yearly range as English copy, e.g. "Typically −5% to +15% a year".
    pub fn typical_yearly_range_en(self) -> &'static str {
        match self {
            ProfileKind::CapitalPreservation => "Typically −5% to +15% a year",
            ProfileKind::Conservative => "Typically −10% to +20% a year",
            ProfileKind::Balanced => "Typically −20% to +30% a year",
            ProfileKind::Growth => "Typically −30% to +50% a year",
            ProfileKind::Aggressive => "Typically −40% to +80% a year",
        }
    }

    /// Typical yearly range as Persian copy: our own translation of
    /// [`ProfileKind::typical_yearly_range_en`]. Signs are spelled out as words ("افت" drop,
    /// "رشد" growth) because a leading minus sign is easily misplaced in right-to-left text.
    pub fn typical_yearly_range_fa(self) -> &'static str {
        match self {
            ProfileKind::CapitalPreservation => "معمولاً از ۵٪ افت تا ۱۵٪ رشد در سال",
            ProfileKind::Conservative => "معمولاً از ۱۰٪ افت تا ۲۰٪ رشد در سال",
            ProfileKind::Balanced => "معمولاً از ۲۰٪ افت تا ۳۰٪ رشد در سال",
            ProfileKind::Growth => "معمولاً از ۳۰٪ افت تا ۵۰٪ رشد در سال",
            ProfileKind::Aggressive => "معمولاً از ۴۰٪ افت تا ۸۰٪ رشد در سال",
        }
    }
}

/// One row of the §1.6 table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RiskProfile {
    pub score: u8,
    pub kind: ProfileKind,
    /// Target layer fractions; they sum exactly to 1.
    pub target: Allocation,
    pub tier: RiskTier,
}

const fn row(
    score: u8,
    kind: ProfileKind,
    f: Decimal,
    g: Decimal,
    u: Decimal,
    tier: RiskTier,
) -> RiskProfile {
    RiskProfile {
        score,
        kind,
        target: Allocation::new(f, g, u),
        tier,
    }
}

/// Profiles for scores 1–10 (index = score − 1).
///
/// Score 10 is unreachable from the questionnaire; its row stays (D6). Its Upside 0.30 is above
/// the 0.25 hard cap, so the row must be revisited if 10 ever becomes reachable.
pub static RISK_PROFILES: [RiskProfile; 10] = [
    row(
        1,
        ProfileKind::CapitalPreservation,
        dec!(0.85),
        dec!(0.12),
        dec!(0.03),
        RiskTier::Low,
    ),
    row(
        2,
        ProfileKind::CapitalPreservation,
        dec!(0.80),
        dec!(0.15),
        dec!(0.05),
        RiskTier::Low,
    ),
    row(
        3,
        ProfileKind::Conservative,
        dec!(0.70),
        dec!(0.25),
        dec!(0.05),
        RiskTier::Low,
    ),
    row(
        4,
        ProfileKind::Conservative,
        dec!(0.65),
        dec!(0.30),
        dec!(0.05),
        RiskTier::Medium,
    ),
    row(
        5,
        ProfileKind::Balanced,
        dec!(0.55),
        dec!(0.35),
        dec!(0.10),
        RiskTier::Medium,
    ),
    row(
        6,
        ProfileKind::Balanced,
        dec!(0.50),
        dec!(0.35),
        dec!(0.15),
        RiskTier::Medium,
    ),
    row(
        7,
        ProfileKind::Growth,
        dec!(0.45),
        dec!(0.38),
        dec!(0.17),
        RiskTier::High,
    ),
    row(
        8,
        ProfileKind::Growth,
        dec!(0.40),
        dec!(0.40),
        dec!(0.20),
        RiskTier::High,
    ),
    row(
        9,
        ProfileKind::Aggressive,
        dec!(0.35),
        dec!(0.40),
        dec!(0.25),
        RiskTier::High,
    ),
    row(
        10,
        ProfileKind::Aggressive,
        dec!(0.30),
        dec!(0.40),
        dec!(0.30),
        RiskTier::High,
    ),
];

/// The profile of a risk score; `None` outside 1–10.
pub fn risk_profile(score: u8) -> Option<&'static RiskProfile> {
    RISK_PROFILES.get(usize::from(score.checked_sub(1)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asset::Layer;

    #[test]
    fn target_allocations_sum_exactly_to_one_for_every_score() {
        for profile in &RISK_PROFILES {
            let sum: Decimal = profile.target.values().iter().sum();
            assert_eq!(sum, Decimal::ONE, "score {}", profile.score);
        }
    }

    #[test]
    fn rows_are_indexed_by_score_and_tiers_follow_d6() {
        for score in 1..=10u8 {
            let profile = risk_profile(score).unwrap();
            assert_eq!(profile.score, score);
            assert_eq!(profile.tier, RiskTier::for_score(score));
        }
        assert!(risk_profile(0).is_none());
        assert!(risk_profile(11).is_none());
        assert_eq!(RiskTier::for_score(3), RiskTier::Low);
        assert_eq!(RiskTier::for_score(4), RiskTier::Medium);
        assert_eq!(RiskTier::for_score(6), RiskTier::Medium);
        assert_eq!(RiskTier::for_score(7), RiskTier::High);
    }

    #[test]
    fn profile_names_pair_scores_as_in_api_section_5() {
        let names: Vec<&str> = (1..=10)
            .map(|s| risk_profile(s).unwrap().kind.name_en())
            .collect();
        assert_eq!(
            names,
            [
                "Capital Preservation",
                "Capital Preservation",
                "Conservative",
                "Conservative",
                "Balanced",
                "Balanced",
                "Growth",
                "Growth",
                "Aggressive",
                "Aggressive"
            ]
        );
        assert_eq!(risk_profile(5).unwrap().kind.name_fa(), "متعادل");
    }

    #[test]
    fn score_six_targets_half_foundation_and_score_ten_keeps_its_row() {
        let six = risk_profile(6).unwrap().target;
        assert_eq!(six.get(Layer::Foundation), dec!(0.50));
        assert_eq!(six.get(Layer::Upside), dec!(0.15));
        let ten = risk_profile(10).unwrap();
        assert_eq!(ten.target.get(Layer::Upside), dec!(0.30));
        assert_eq!(ten.tier, RiskTier::High);
    }

    #[test]
    fn tiers_serialize_in_uppercase() {
        assert_eq!(
            serde_json::to_string(&RiskTier::Medium).unwrap(),
            "\"MEDIUM\""
        );
        assert_eq!(RiskTier::High.as_str(), "HIGH");
    }

    #[test]
    fn every_profile_has_a_consistent_yearly_range() {
        for kind in RISK_PROFILES.iter().map(|p| p.kind) {
            let (low, high) = kind.typical_yearly_range();
            assert!(low < Decimal::ZERO && high > Decimal::ZERO);
            let copy = kind.typical_yearly_range_en();
            let pct = |d: Decimal| (d.abs() * dec!(100)).normalize().to_string();
            assert!(copy.contains(&format!("−{}%", pct(low))), "{copy}");
            assert!(copy.contains(&format!("+{}%", pct(high))), "{copy}");
            assert!(!kind.tagline_fa().is_empty() && !kind.typical_yearly_range_fa().is_empty());
        }
    }
}
