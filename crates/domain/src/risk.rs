//! Risk scoring of a questionnaire answer set (business-rules §1.4–1.5, decisions D4, D6).
//!
//! Exactness: C = Σ(s × w) / 3.5 and W = Σ(s × w) / 6.0 are repeating decimals for most answer
//! sets (W = 65/6 …), and 3,112 of the 262,144 answer sets land exactly on `x.5` after the caps.
//! Every comparison (`min`, the limiting factor) and the final half-up rounding are therefore
//! done on exact rationals (integer numerator over the integer weight sum in tenths); `Decimal`
//! division is used only to present C and W.

use std::sync::LazyLock;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::allocation::Allocation;
use crate::profile::{RiskProfile, RiskTier, risk_profile};
use crate::questionnaire::{
    Answers, Dimension, Flag, QUESTIONNAIRE_VERSION, QUESTIONS, QuestionId,
};

/// The score an answer set can never go below or above (§1.4 step 7).
pub const MIN_RISK_SCORE: u8 = 1;
pub const MAX_RISK_SCORE: u8 = 10;
/// Consistency penalty: a crash answer scoring at most this …
pub const PANIC_CRASH_SCORE_MAX: u8 = 2;
/// … together with a loss tolerance scoring at least this is contradictory (§1.4 step 5).
pub const HIGH_LOSS_TOLERANCE_SCORE_MIN: u8 = 7;
/// Amount of the consistency penalty.
pub const INCONSISTENCY_PENALTY: i32 = -1;
/// `panic_seller` caps the score here.
pub const PANIC_SELLER_CAP: u8 = 3;
/// `gambler` with `high_proportion` caps the score here.
pub const GAMBLER_HIGH_STAKES_CAP: u8 = 5;
/// `gambler` alone caps willingness here.
pub const GAMBLER_WILLINGNESS_CAP: u8 = 7;
/// `inexperienced` with `gambler` caps the score here.
pub const DANGEROUS_NOVICE_CAP: u8 = 5;

// ---------------------------------------------------------------------------------------------
// Exact rationals
// ---------------------------------------------------------------------------------------------

/// An exact rational `num / den` with `den > 0`. The numbers involved are tiny (numerators below
/// 10⁴, denominators 1, 35 or 60), so `i64` cross-multiplication never overflows.
#[derive(Clone, Copy, Debug)]
struct Ratio {
    num: i64,
    den: i64,
}

impl Ratio {
    fn int(value: u8) -> Ratio {
        Ratio {
            num: i64::from(value),
            den: 1,
        }
    }

    fn lt(self, other: Ratio) -> bool {
        self.num * other.den < other.num * self.den
    }

    fn min(self, other: Ratio) -> Ratio {
        if other.lt(self) { other } else { self }
    }

    fn plus_int(self, amount: i32) -> Ratio {
        Ratio {
            num: self.num + i64::from(amount) * self.den,
            den: self.den,
        }
    }

    /// Rounds half-up (ties toward +∞) to `dp` places, exactly. Sub-scores are at least 1 and
    /// the raw score at least 0, so "toward +∞" and "away from zero" agree wherever it is used.
    fn round_half_up(self, dp: u32) -> Decimal {
        Decimal::new(self.scaled_half_up(10_i64.pow(dp)), dp)
    }

    /// `round_half_up(self × scale)` as an integer.
    fn scaled_half_up(self, scale: i64) -> i64 {
        (2 * self.num * scale + self.den).div_euclid(2 * self.den)
    }

    /// The value as a decimal (28 significant digits); for presentation only.
    fn to_decimal(self) -> Decimal {
        Decimal::from(self.num) / Decimal::from(self.den)
    }
}

/// Question weights in tenths and each dimension's weight sum in tenths, read once from the
/// questionnaire data so the weights live in one place.
struct WeightTable {
    tenths: [i64; 9],
    capacity_sum: i64,
    willingness_sum: i64,
}

static WEIGHTS: LazyLock<WeightTable> = LazyLock::new(|| {
    let mut table = WeightTable {
        tenths: [0; 9],
        capacity_sum: 0,
        willingness_sum: 0,
    };
    for (slot, question) in table.tenths.iter_mut().zip(QUESTIONS.iter()) {
        // Weights have one decimal place (checked by a test), so this is exact.
        *slot = i64::try_from((question.weight * Decimal::TEN).trunc()).unwrap_or_default();
        match question.dimension {
            Dimension::Capacity => table.capacity_sum += *slot,
            Dimension::Willingness => table.willingness_sum += *slot,
            Dimension::Horizon | Dimension::Goal => {}
        }
    }
    table
});

// ---------------------------------------------------------------------------------------------
// Result types
// ---------------------------------------------------------------------------------------------

/// Which sub-score set `raw = min(C, W)`; a tie counts as willingness (§1.4 step 3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LimitingFactor {
    Capacity,
    Willingness,
}

/// Kind of a score penalty.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PenaltyType {
    /// Would sell everything after a 20% drop, yet claims to tolerate a 30%+ drop.
    InconsistentLossTolerance,
}

/// A penalty applied to the raw score (`amount` is added to it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Penalty {
    #[serde(rename = "type")]
    pub kind: PenaltyType,
    pub amount: i32,
}

/// Pathological answer patterns of §1.4 step 6.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WarningType {
    PanicSeller,
    GamblerHighStakes,
    Gambler,
    DangerousNovice,
    InexperiencedOverreach,
}

/// What a warning did to the score.
///
/// Choice (the spec names the field, not its values): a machine-readable snake_case action:
/// `cap_score_3` / `cap_score_5` (score capped at 3 / 5), `cap_willingness_7` (the gambler rule,
/// `raw = min(raw, C, min(W, 7))`), `flag_only` (recorded for review, no score effect).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum WarningAction {
    #[serde(rename = "cap_score_3")]
    CapScore3,
    #[serde(rename = "cap_score_5")]
    CapScore5,
    #[serde(rename = "cap_willingness_7")]
    CapWillingness7,
    #[serde(rename = "flag_only")]
    FlagOnly,
}

/// How strongly a warning bears on the advice.
///
/// Choice: `high` where the answers contradict the investor's safety (panic seller, gambling
/// with most of one's wealth, gambling without experience), `medium` for a gambler with room
/// to lose, `low` for the warning-only overreach pattern.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
}

/// One matched pathological pattern.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Warning {
    #[serde(rename = "type")]
    pub kind: WarningType,
    pub action: WarningAction,
    pub severity: Severity,
}

impl WarningType {
    /// Every warning type, in the order the rules apply (the order of the §1.4 table).
    pub const ALL: [WarningType; 5] = [
        WarningType::PanicSeller,
        WarningType::GamblerHighStakes,
        WarningType::Gambler,
        WarningType::DangerousNovice,
        WarningType::InexperiencedOverreach,
    ];

    /// The full warning record of this type.
    pub fn warning(self) -> Warning {
        let (action, severity) = match self {
            WarningType::PanicSeller => (WarningAction::CapScore3, Severity::High),
            WarningType::GamblerHighStakes => (WarningAction::CapScore5, Severity::High),
            WarningType::Gambler => (WarningAction::CapWillingness7, Severity::Medium),
            WarningType::DangerousNovice => (WarningAction::CapScore5, Severity::High),
            WarningType::InexperiencedOverreach => (WarningAction::FlagOnly, Severity::Low),
        };
        Warning {
            kind: self,
            action,
            severity,
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// How the score came about (§1.4 "Result"); stored with the score.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScoreBreakdown {
    /// C, rounded half-up to 1 dp.
    #[serde(with = "crate::num")]
    pub capacity: Decimal,
    /// W, rounded half-up to 1 dp.
    #[serde(with = "crate::num")]
    pub willingness: Decimal,
    /// Score of the horizon answer.
    pub horizon: u8,
    /// Score of the goal answer (analytics only).
    pub goal: u8,
    pub limiting_factor: LimitingFactor,
    /// 3 or 5 when the horizon answer capped the score.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub horizon_cap: Option<u8>,
    pub penalties: Vec<Penalty>,
    pub warnings: Vec<Warning>,
    /// Flags of the chosen options in question order, each once (`check_capacity` can come from
    /// two answers; it is listed once).
    pub flags: Vec<Flag>,
    /// `min(C, W)` before caps and penalties. Choice: rounded half-up to 4 dp, the precision of
    /// the spec's test-vector table, because the exact value is usually a repeating decimal.
    #[serde(with = "crate::num")]
    pub raw_score_before_adjustments: Decimal,
    /// Sum of the penalty amounts: 0, or −1 with the consistency penalty.
    pub total_penalty: i32,
    pub questionnaire_version: String,
}

/// The outcome of scoring: what the onboarding and retake endpoints return and store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RiskAssessment {
    pub risk_score: u8,
    pub risk_tier: RiskTier,
    pub profile_name: &'static str,
    pub profile_name_fa: &'static str,
    pub target_allocation: Allocation,
    pub breakdown: ScoreBreakdown,
}

impl RiskAssessment {
    /// The full §1.6 row of the score (names, targets, tier and result-screen copy).
    pub fn profile(&self) -> &'static RiskProfile {
        profile_of(self.risk_score)
    }
}

// ---------------------------------------------------------------------------------------------
// Scoring
// ---------------------------------------------------------------------------------------------

/// Everything the algorithm decides, without heap allocation, so the exhaustive test over all
/// 262,144 answer sets stays fast.
#[derive(Clone, Copy, Debug)]
struct Evaluation {
    capacity: Ratio,
    willingness: Ratio,
    before_adjustments: Ratio,
    limiting_factor: LimitingFactor,
    horizon_cap: Option<u8>,
    penalized: bool,
    warnings: u8,
    /// The raw score after every adjustment, before rounding.
    raw: Ratio,
}

impl Evaluation {
    /// Step 7: `clamp(round_half_up(raw), 1, 10)`.
    fn score(&self) -> u8 {
        let rounded = self
            .raw
            .scaled_half_up(1)
            .clamp(i64::from(MIN_RISK_SCORE), i64::from(MAX_RISK_SCORE));
        u8::try_from(rounded).unwrap_or(MIN_RISK_SCORE)
    }
}

fn evaluate(answers: &Answers) -> Evaluation {
    let weights = &*WEIGHTS;
    let mut capacity_num = 0;
    let mut willingness_num = 0;
    let mut flags = 0u8;
    for question in QuestionId::ALL {
        let option = answers.option(question);
        let weighted = i64::from(option.score) * weights.tenths[question.index()];
        match question.question().dimension {
            Dimension::Capacity => capacity_num += weighted,
            Dimension::Willingness => willingness_num += weighted,
            Dimension::Horizon | Dimension::Goal => {}
        }
        if let Some(flag) = option.flag {
            flags |= flag_bit(flag);
        }
    }
    let has = |flag: Flag| flags & flag_bit(flag) != 0;
    let capacity = Ratio {
        num: capacity_num,
        den: weights.capacity_sum,
    };
    let willingness = Ratio {
        num: willingness_num,
        den: weights.willingness_sum,
    };

    // Step 3.
    let before_adjustments = capacity.min(willingness);
    let limiting_factor = if capacity.lt(willingness) {
        LimitingFactor::Capacity
    } else {
        LimitingFactor::Willingness
    };
    let mut raw = before_adjustments;

    // Step 4: by the option's identity (the cap lives on the option), never by its score.
    let horizon_cap = answers.option(QuestionId::Horizon).horizon_cap;
    if let Some(cap) = horizon_cap {
        raw = raw.min(Ratio::int(cap));
    }

    // Step 5.
    let penalized = answers.option(QuestionId::Crash20).score <= PANIC_CRASH_SCORE_MAX
        && answers.option(QuestionId::MaxLoss).score >= HIGH_LOSS_TOLERANCE_SCORE_MIN;
    if penalized {
        raw = raw.plus_int(INCONSISTENCY_PENALTY);
    }

    // Step 6: every matching row, each with `min`, so no rule undoes an earlier one.
    let mut warnings = 0u8;
    if has(Flag::PanicSeller) {
        warnings |= WarningType::PanicSeller.bit();
        raw = raw.min(Ratio::int(PANIC_SELLER_CAP));
    }
    if has(Flag::Gambler) && has(Flag::HighProportion) {
        warnings |= WarningType::GamblerHighStakes.bit();
        raw = raw.min(Ratio::int(GAMBLER_HIGH_STAKES_CAP));
    }
    if has(Flag::Gambler) && !has(Flag::HighProportion) {
        warnings |= WarningType::Gambler.bit();
        raw = raw
            .min(capacity)
            .min(willingness.min(Ratio::int(GAMBLER_WILLINGNESS_CAP)));
    }
    if has(Flag::Inexperienced) && has(Flag::Gambler) {
        warnings |= WarningType::DangerousNovice.bit();
        raw = raw.min(Ratio::int(DANGEROUS_NOVICE_CAP));
    }
    if has(Flag::Inexperienced) && has(Flag::CheckCapacity) {
        warnings |= WarningType::InexperiencedOverreach.bit();
    }

    Evaluation {
        capacity,
        willingness,
        before_adjustments,
        limiting_factor,
        horizon_cap,
        penalized,
        warnings,
        raw,
    }
}

fn flag_bit(flag: Flag) -> u8 {
    1 << (flag as u8)
}

fn profile_of(score: u8) -> &'static RiskProfile {
    // The scoring clamps to 1–10, and the table has a row for each of those.
    risk_profile(score).unwrap_or(&crate::profile::RISK_PROFILES[0])
}

/// The risk score 1–10 of an answer set (§1.4). Cheaper than [`assess`] (no allocation); use it
/// where only the number is needed.
pub fn risk_score(answers: &Answers) -> u8 {
    evaluate(answers).score()
}

/// Capacity sub-score C = Σ(s × w) / 3.5, as a decimal (28 significant digits). For display and
/// reporting; the scoring itself compares exact rationals.
pub fn capacity(answers: &Answers) -> Decimal {
    evaluate(answers).capacity.to_decimal()
}

/// Willingness sub-score W = Σ(s × w) / 6.0, as a decimal (28 significant digits). For display
/// and reporting; the scoring itself compares exact rationals.
pub fn willingness(answers: &Answers) -> Decimal {
    evaluate(answers).willingness.to_decimal()
}

/// Scores an answer set and maps the score to its profile, tier and target allocation
/// (§1.4–1.6, D4, D6).
pub fn assess(answers: &Answers) -> RiskAssessment {
    let evaluation = evaluate(answers);
    let score = evaluation.score();
    let profile = profile_of(score);

    let mut flags: Vec<Flag> = Vec::new();
    for question in QuestionId::ALL {
        if let Some(flag) = answers.option(question).flag
            && !flags.contains(&flag)
        {
            flags.push(flag);
        }
    }
    let penalties: Vec<Penalty> = if evaluation.penalized {
        vec![Penalty {
            kind: PenaltyType::InconsistentLossTolerance,
            amount: INCONSISTENCY_PENALTY,
        }]
    } else {
        Vec::new()
    };
    let warnings = WarningType::ALL
        .into_iter()
        .filter(|kind| evaluation.warnings & kind.bit() != 0)
        .map(WarningType::warning)
        .collect();

    RiskAssessment {
        risk_score: score,
        risk_tier: profile.tier,
        profile_name: profile.kind.name_en(),
        profile_name_fa: profile.kind.name_fa(),
        target_allocation: profile.target,
        breakdown: ScoreBreakdown {
            capacity: evaluation.capacity.round_half_up(1),
            willingness: evaluation.willingness.round_half_up(1),
            horizon: answers.option(QuestionId::Horizon).score,
            goal: answers.option(QuestionId::Goal).score,
            limiting_factor: evaluation.limiting_factor,
            horizon_cap: evaluation.horizon_cap,
            total_penalty: penalties.iter().map(|p| p.amount).sum(),
            penalties,
            warnings,
            flags,
            raw_score_before_adjustments: evaluation.before_adjustments.round_half_up(4),
            questionnaire_version: QUESTIONNAIRE_VERSION.to_owned(),
        },
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use rust_decimal_macros::dec;
    use serde_json::json;

    use super::*;
    use crate::money::round_half_up;
    use crate::questionnaire::{AnswerItem, parse_answers};

    fn answers(ids: [&str; 9]) -> Answers {
        let items: Vec<AnswerItem> = QuestionId::ALL
            .iter()
            .zip(ids)
            .map(|(q, o)| AnswerItem::new(q.as_str(), o))
            .collect();
        parse_answers(&items).expect("test vector answers are valid")
    }

    fn with(mut base: [&'static str; 9], changes: &[&'static str]) -> [&'static str; 9] {
        for change in changes {
            let question = QuestionId::ALL
                .into_iter()
                .find(|q| q.question().find_option(change).is_some())
                .expect("option of some question");
            base[question.index()] = change;
        }
        base
    }

    const S1: [&str; 9] = [
        "inc_fixed",
        "buf_6_12",
        "prop_medium",
        "goal_grow",
        "hz_3_7",
        "crash_hold",
        "trade_moderate",
        "past_calm",
        "loss_15",
    ];
    const S2: [&str; 9] = [
        "inc_fixed",
        "buf_12plus",
        "prop_small",
        "goal_maximize",
        "hz_7plus",
        "crash_buy",
        "trade_risky",
        "past_calm",
        "loss_50",
    ];
    const S7: [&str; 9] = [
        "inc_uncertain",
        "buf_under3",
        "prop_most",
        "goal_preserve",
        "hz_1year",
        "crash_sell_all",
        "trade_safe",
        "past_panic",
        "loss_5",
    ];
    const S8: [&str; 9] = [
        "inc_fixed",
        "buf_12plus",
        "prop_small",
        "goal_preserve",
        "hz_7plus",
        "crash_sell_all",
        "trade_safe",
        "past_worried",
        "loss_15",
    ];
    const S9: [&str; 9] = [
        "inc_fixed",
        "buf_12plus",
        "prop_small",
        "goal_grow",
        "hz_1_3",
        "crash_hold",
        "trade_risky",
        "past_calm",
        "loss_30",
    ];
    const S10: [&str; 9] = [
        "inc_mostly",
        "buf_6_12",
        "prop_medium",
        "goal_grow",
        "hz_3_7",
        "crash_sell_all",
        "trade_moderate",
        "past_worried",
        "loss_30",
    ];

    /// (name, answers, C to 4 dp, W to 4 dp, score) — business-rules §1.5.
    fn vectors() -> Vec<(&'static str, [&'static str; 9], Decimal, Decimal, u8)> {
        let s4 = with(S2, &["trade_yolo"]);
        vec![
            ("S1", S1, dec!(6.9143), dec!(5.4167), 5),
            ("S2", S2, dec!(9.4286), dec!(8.6667), 9),
            (
                "S3",
                with(S2, &["hz_1year", "crash_sell_all", "trade_yolo"]),
                dec!(9.4286),
                dec!(6.5),
                2,
            ),
            ("S4", s4, dec!(9.4286), dec!(9.1667), 7),
            (
                "S5",
                with(s4, &["past_none"]),
                dec!(9.4286),
                dec!(8.8333),
                5,
            ),
            (
                "S6",
                with(s4, &["prop_most"]),
                dec!(6.0857),
                dec!(9.1667),
                5,
            ),
            ("S7", S7, dec!(1.0), dec!(1.25), 1),
            ("S8", S8, dec!(9.4286), dec!(2.5), 3),
            ("S9", S9, dec!(9.4286), dec!(6.9167), 5),
            ("S10", S10, dec!(6.3429), dec!(4.0), 3),
        ]
    }

    #[test]
    fn test_vectors_s1_to_s10_give_the_scores_and_sub_scores_of_section_1_5() {
        for (name, ids, c, w, score) in vectors() {
            let a = answers(ids);
            assert_eq!(round_half_up(capacity(&a), 4), c, "{name} C");
            assert_eq!(round_half_up(willingness(&a), 4), w, "{name} W");
            assert_eq!(risk_score(&a), score, "{name} score");
            assert_eq!(assess(&a).risk_score, score, "{name} assess");
        }
    }

    #[test]
    fn s1_reports_a_balanced_profile_with_its_full_breakdown() {
        let result = assess(&answers(S1));
        assert_eq!(
            serde_json::to_value(&result).unwrap(),
            json!({
                "riskScore": 5,
                "riskTier": "MEDIUM",
                "profileName": "Balanced",
                "profileNameFa": "متعادل",
                "targetAllocation": {"FOUNDATION": 0.55, "GROWTH": 0.35, "UPSIDE": 0.1},
                "breakdown": {
                    "capacity": 6.9,
                    "willingness": 5.4,
                    "horizon": 7,
                    "goal": 7,
                    "limitingFactor": "willingness",
                    "penalties": [],
                    "warnings": [],
                    "flags": [],
                    "rawScoreBeforeAdjustments": 5.4167,
                    "totalPenalty": 0,
                    "questionnaireVersion": "v10.1"
                }
            })
        );
        assert_eq!(result.profile().kind.tagline_en(), "Growth with protection");
    }

    #[test]
    fn s3_applies_every_rule_with_min_so_the_gambler_rule_does_not_undo_earlier_caps() {
        let result = assess(&answers(with(
            S2,
            &["hz_1year", "crash_sell_all", "trade_yolo"],
        )));
        assert_eq!(result.risk_score, 2);
        assert_eq!(result.risk_tier, RiskTier::Low);
        assert_eq!(result.profile_name, "Capital Preservation");
        let b = serde_json::to_value(&result.breakdown).unwrap();
        assert_eq!(b["capacity"], json!(9.4));
        assert_eq!(b["willingness"], json!(6.5));
        assert_eq!(b["horizon"], json!(1));
        assert_eq!(b["goal"], json!(10));
        assert_eq!(b["limitingFactor"], json!("willingness"));
        assert_eq!(b["horizonCap"], json!(3));
        assert_eq!(
            b["penalties"],
            json!([{"type": "inconsistent_loss_tolerance", "amount": -1}])
        );
        assert_eq!(b["totalPenalty"], json!(-1));
        assert_eq!(
            b["warnings"],
            json!([
                {"type": "panic_seller", "action": "cap_score_3", "severity": "high"},
                {"type": "gambler", "action": "cap_willingness_7", "severity": "medium"}
            ])
        );
        assert_eq!(
            b["flags"],
            json!(["panic_seller", "gambler", "check_capacity"])
        );
        assert_eq!(b["rawScoreBeforeAdjustments"], json!(6.5));
    }

    #[test]
    fn s5_reports_the_gambler_and_dangerous_novice_warnings() {
        let result = assess(&answers(with(S2, &["trade_yolo", "past_none"])));
        let kinds: Vec<WarningType> = result.breakdown.warnings.iter().map(|w| w.kind).collect();
        assert_eq!(
            kinds,
            [
                WarningType::Gambler,
                WarningType::DangerousNovice,
                WarningType::InexperiencedOverreach
            ]
        );
        assert_eq!(
            result.breakdown.flags,
            [Flag::CheckCapacity, Flag::Gambler, Flag::Inexperienced]
        );
        assert_eq!(result.breakdown.horizon_cap, None);
    }

    #[test]
    fn s6_reports_gambler_high_stakes_and_capacity_as_the_limiting_factor() {
        let result = assess(&answers(with(S2, &["trade_yolo", "prop_most"])));
        assert_eq!(result.breakdown.limiting_factor, LimitingFactor::Capacity);
        assert_eq!(
            result.breakdown.warnings,
            [WarningType::GamblerHighStakes.warning()]
        );
        assert_eq!(result.breakdown.raw_score_before_adjustments, dec!(6.0857));
    }

    #[test]
    fn s8_rounds_an_exact_half_up() {
        let result = assess(&answers(S8));
        assert_eq!(result.breakdown.raw_score_before_adjustments, dec!(2.5));
        assert_eq!(result.breakdown.willingness, dec!(2.5));
        assert_eq!(result.risk_score, 3);
    }

    #[test]
    fn s9_reports_the_horizon_cap_of_five() {
        let result = assess(&answers(S9));
        assert_eq!(result.breakdown.horizon_cap, Some(5));
        assert!(result.breakdown.warnings.is_empty());
        let json = serde_json::to_value(&result.breakdown).unwrap();
        assert_eq!(json["horizonCap"], json!(5));
    }

    #[test]
    fn an_absent_horizon_cap_is_omitted_not_null() {
        let json = serde_json::to_value(assess(&answers(S2)).breakdown).unwrap();
        assert!(json.get("horizonCap").is_none());
    }

    #[test]
    fn a_capacity_willingness_tie_counts_as_willingness() {
        // C = (6×1.0 + 7×1.2 + 6×1.3)/3.5 = 22.2/3.5 and W must equal it: find such a set.
        let tie = all_answer_sets()
            .find(|a| {
                let e = evaluate(a);
                e.capacity.num * e.willingness.den == e.willingness.num * e.capacity.den
            })
            .expect("some answer set has C = W");
        assert_eq!(
            assess(&tie).breakdown.limiting_factor,
            LimitingFactor::Willingness
        );
    }

    #[test]
    fn the_breakdown_reads_back_from_its_stored_json() {
        let breakdown = assess(&answers(with(
            S2,
            &["hz_1year", "crash_sell_all", "trade_yolo"],
        )))
        .breakdown;
        let text = serde_json::to_string(&breakdown).unwrap();
        let back: ScoreBreakdown = serde_json::from_str(&text).unwrap();
        assert_eq!(back, breakdown);
    }

    fn all_answer_sets() -> impl Iterator<Item = Answers> {
        (0u32..4u32.pow(9)).map(|n| {
            let mut indices = [0u8; 9];
            for (k, slot) in indices.iter_mut().enumerate() {
                *slot = ((n >> (2 * k)) & 3) as u8;
            }
            Answers::from_indices(indices).expect("indices are 0..=3")
        })
    }

    #[test]
    fn every_one_of_the_262144_answer_sets_scores_with_the_distribution_and_caps_of_section_1_5() {
        let mut counts = [0u32; 11];
        let mut exact_halves = 0;
        for a in all_answer_sets() {
            let e = evaluate(&a);
            let score = e.score();
            assert!((1..=9).contains(&score), "{a:?} scored {score}");
            counts[usize::from(score)] += 1;
            if (2 * e.raw.num) % e.raw.den == 0 && (2 * e.raw.num / e.raw.den) % 2 != 0 {
                exact_halves += 1;
            }
            let id = |q: QuestionId| a.option(q).id;
            let gambler = id(QuestionId::Tradeoff) == "trade_yolo";
            if id(QuestionId::Crash20) == "crash_sell_all" {
                assert!(score <= 3, "panic seller {a:?}");
            }
            if gambler && id(QuestionId::Proportion) == "prop_most" {
                assert!(score <= 5, "gambler with high proportion {a:?}");
            }
            if gambler {
                assert!(score <= 7, "gambler {a:?}");
            }
            if id(QuestionId::Horizon) == "hz_1year" {
                assert!(score <= 3, "1-year horizon {a:?}");
            }
            if id(QuestionId::Horizon) == "hz_1_3" {
                assert!(score <= 5, "1-3 year horizon {a:?}");
            }
            if gambler && id(QuestionId::PastBehavior) == "past_none" {
                assert!(score <= 5, "inexperienced gambler {a:?}");
            }
        }
        assert_eq!(
            counts,
            [
                0, 7_152, 33_340, 113_328, 39_060, 49_840, 14_048, 4_944, 416, 16, 0
            ]
        );
        assert_eq!(counts.iter().sum::<u32>(), 262_144);
        assert_eq!(exact_halves, 3_112);
    }

    #[test]
    fn exact_sub_scores_agree_with_decimal_division_at_display_precision() {
        for a in all_answer_sets().step_by(37) {
            let e = evaluate(&a);
            for (exact, shown) in [(e.capacity, capacity(&a)), (e.willingness, willingness(&a))] {
                for dp in [1, 4] {
                    assert_eq!(exact.round_half_up(dp), round_half_up(shown, dp), "{a:?}");
                }
            }
        }
    }

    #[test]
    fn sub_scores_are_the_weighted_averages_of_section_1_4() {
        let a = answers(S1);
        // C = (8×1.0 + 7×1.2 + 6×1.3) / 3.5 = 24.2 / 3.5
        assert_eq!(capacity(&a), dec!(24.2) / dec!(3.5));
        // W = (6×2.0 + 5×1.5 + 7×1.0 + 4×1.5) / 6.0 = 32.5 / 6
        assert_eq!(willingness(&a), dec!(32.5) / dec!(6.0));
    }

    #[test]
    fn the_highest_reachable_score_is_nine_and_the_lowest_is_one() {
        assert_eq!(risk_score(&answers(S2)), 9);
        assert_eq!(risk_score(&answers(S7)), 1);
    }

    fn any_answers() -> impl Strategy<Value = Answers> {
        prop::array::uniform9(0u8..4).prop_map(|i| Answers::from_indices(i).expect("0..4"))
    }

    proptest! {
        #[test]
        fn the_full_assessment_agrees_with_the_fast_score(a in any_answers()) {
            let result = assess(&a);
            prop_assert_eq!(result.risk_score, risk_score(&a));
            let profile = risk_profile(result.risk_score).unwrap();
            prop_assert_eq!(result.target_allocation, profile.target);
            prop_assert_eq!(result.risk_tier, RiskTier::for_score(result.risk_score));
            prop_assert_eq!(result.profile_name, profile.kind.name_en());
            prop_assert_eq!(
                result.breakdown.total_penalty,
                result.breakdown.penalties.iter().map(|p| p.amount).sum::<i32>()
            );
        }

        #[test]
        fn the_score_never_exceeds_the_rounded_raw_score_before_adjustments(a in any_answers()) {
            let e = evaluate(&a);
            let ceiling = e.before_adjustments.scaled_half_up(1).max(1);
            prop_assert!(i64::from(e.score()) <= ceiling);
        }

        #[test]
        fn a_better_capacity_answer_never_lowers_the_score(
            a in any_answers(),
            q in prop::sample::select(vec![QuestionId::Income, QuestionId::Buffer]),
        ) {
            // Income and buffer options are ordered from best to worst and carry no flags.
            let mut better = a.indices();
            if better[q.index()] > 0 {
                better[q.index()] -= 1;
                let better = Answers::from_indices(better).unwrap();
                prop_assert!(risk_score(&better) >= risk_score(&a));
            }
        }
    }
}
