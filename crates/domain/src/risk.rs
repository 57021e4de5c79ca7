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
mod tests;
