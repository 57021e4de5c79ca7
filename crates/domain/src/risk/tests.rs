//! Unit tests of risk scoring (business-rules §1.4–1.5, D4, D6): test vectors S1–S10, the caps
//! and warnings, exact half-up rounding, all 262,144 answer sets, and property tests.

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
