//! Action-log (activity feed) message templates and the Communication Doctrine
//! (business-rules §9.6). Every server-written activity message comes from one function here, so
//! the wording is fixed in one place and checked against the doctrine's forbidden words.
//!
//! Amounts are printed with [`compact_irr`] and assets by their registry symbol.

use crate::asset::AssetId;
use crate::format::compact_irr;
use crate::money::Irr;

/// Number of installments of every loan (D21), shown as "({paid}/6)".
const LOAN_INSTALLMENTS: u32 = 6;

/// PORTFOLIO_CREATED: "Started with {c} IRR".
pub fn portfolio_created(amount: Irr) -> String {
    format!("Started with {} IRR", compact_irr(amount))
}

/// ADD_FUNDS: "Added {c} IRR cash".
pub fn funds_added(amount: Irr) -> String {
    format!("Added {} IRR cash", compact_irr(amount))
}

/// TRADE_BUY: "Bought {ASSET} ({c} IRR)"; `amount` is the gross amount spent.
pub fn bought(asset: AssetId, amount: Irr) -> String {
    format!("Bought {} ({} IRR)", asset.as_str(), compact_irr(amount))
}

/// TRADE_SELL: "Sold {ASSET} ({c} IRR)"; `amount` is the gross amount actually sold.
pub fn sold(asset: AssetId, amount: Irr) -> String {
    format!("Sold {} ({} IRR)", asset.as_str(), compact_irr(amount))
}

/// REBALANCE: "Rebalanced portfolio".
pub fn rebalanced() -> String {
    "Rebalanced portfolio".to_owned()
}

/// LOAN_CREATE: "Borrowed {c} IRR · {ASSET} loan".
///
/// Deviation from the §9.6 table, whose template "Borrowed {c} IRR against {ASSET}" fails the
/// doctrine's own case-insensitive substring check ("ag**ains**t" contains "gains"). The wording
/// follows the LOAN_REPAY template ("Repaid {c} IRR · {ASSET} loan (…)") instead.
pub fn borrowed(amount: Irr, collateral: AssetId) -> String {
    format!(
        "Borrowed {} IRR · {} loan",
        compact_irr(amount),
        collateral.as_str()
    )
}

/// LOAN_REPAY that leaves the loan open: "Repaid {c} IRR · {ASSET} loan ({paid}/6)", where
/// `installments_paid` counts fully paid installments after this repayment.
pub fn loan_repaid(amount: Irr, collateral: AssetId, installments_paid: u32) -> String {
    format!(
        "Repaid {} IRR · {} loan ({}/{})",
        compact_irr(amount),
        collateral.as_str(),
        installments_paid,
        LOAN_INSTALLMENTS
    )
}

/// LOAN_REPAY that settles the loan: "Settled {ASSET} loan ({c} IRR)".
pub fn loan_settled(collateral: AssetId, amount: Irr) -> String {
    format!(
        "Settled {} loan ({} IRR)",
        collateral.as_str(),
        compact_irr(amount)
    )
}

/// LOAN_LIQUIDATE: "Loan closed: {ASSET} sold to repay ({c} IRR)".
pub fn loan_liquidated(collateral: AssetId, amount: Irr) -> String {
    format!(
        "Loan closed: {} sold to repay ({} IRR)",
        collateral.as_str(),
        compact_irr(amount)
    )
}

/// PROTECTION_PURCHASE: "{days}D protection for {ASSET}".
pub fn protection_purchased(duration_days: u32, asset: AssetId) -> String {
    format!("{duration_days}D protection for {}", asset.as_str())
}

/// PROTECTION_CANCEL: "Protection cancelled for {ASSET}".
pub fn protection_cancelled(asset: AssetId) -> String {
    format!("Protection cancelled for {}", asset.as_str())
}

/// PROTECTION_PAYOUT: "Protection payout: {c} IRR ({ASSET})".
pub fn protection_payout(amount: Irr, asset: AssetId) -> String {
    format!(
        "Protection payout: {} IRR ({})",
        compact_irr(amount),
        asset.as_str()
    )
}

/// PROTECTION_EXPIRE: "{ASSET} protection ended (no payout)".
pub fn protection_expired(asset: AssetId) -> String {
    format!("{} protection ended (no payout)", asset.as_str())
}

/// RISK_PROFILE_UPDATED: "Risk profile updated: {Profile} ({score}/10)"; `profile` is the English
/// profile name of business-rules §1.6 (e.g. "Balanced").
pub fn risk_profile_updated(profile: &str, score: u8) -> String {
    format!("Risk profile updated: {profile} ({score}/10)")
}

/// Words and phrases server text must never contain (business-rules §9.6; the app's
/// `FORBIDDEN_WORDS`). Matched as case-insensitive substrings, so "now" also rules out "known"
/// and "acknowledge".
pub const FORBIDDEN_WORDS: [&str; 25] = [
    "now",
    "fast",
    "last chance",
    "don't miss",
    "act quickly",
    "hurry",
    "immediately",
    "urgent",
    "limited time",
    "beat the market",
    "maximize returns",
    "outperform",
    "winning",
    "guaranteed",
    "profit",
    "gains",
    "fear",
    "excitement",
    "opportunity window",
    "smart move",
    "don't lose",
    "missing out",
    "you should",
    "you must",
    "you need to",
];

/// The first forbidden word or phrase `text` contains (case-insensitive substring), if any.
/// Use it in tests over every server message template.
pub fn forbidden_word_in(text: &str) -> Option<&'static str> {
    let lower = text.to_lowercase();
    FORBIDDEN_WORDS
        .iter()
        .copied()
        .find(|word| lower.contains(word))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::allocation::{Allocation, PortfolioStatus};
    use crate::boundary::{BoundaryAssessment, classify, friction_copy};
    use rust_decimal_macros::dec;

    #[test]
    fn activity_messages_follow_the_templates_of_business_rules_9_6() {
        let m = Irr::new(10_000_000);
        assert_eq!(bought(AssetId::Btc, m), "Bought BTC (10M IRR)");
        assert_eq!(
            sold(AssetId::Eth, Irr::new(2_250_000)),
            "Sold ETH (2.3M IRR)"
        );
        assert_eq!(
            portfolio_created(Irr::new(100_000_000)),
            "Started with 100M IRR"
        );
        assert_eq!(funds_added(Irr::new(5_000_000)), "Added 5M IRR cash");
        assert_eq!(rebalanced(), "Rebalanced portfolio");
        assert_eq!(
            borrowed(Irr::new(30_000_000), AssetId::Paxg),
            "Borrowed 30M IRR · PAXG loan"
        );
        // The spec's wording would break the doctrine it sits next to.
        assert_eq!(
            forbidden_word_in("Borrowed 30M IRR against PAXG"),
            Some("gains")
        );
        assert_eq!(
            loan_repaid(Irr::new(5_375_000), AssetId::Btc, 2),
            "Repaid 5.4M IRR · BTC loan (2/6)"
        );
        assert_eq!(
            loan_settled(AssetId::Btc, Irr::new(30_000_000)),
            "Settled BTC loan (30M IRR)"
        );
        assert_eq!(
            loan_liquidated(AssetId::Sol, Irr::new(1_500)),
            "Loan closed: SOL sold to repay (1.5K IRR)"
        );
        assert_eq!(
            protection_purchased(90, AssetId::Qqq),
            "90D protection for QQQ"
        );
        assert_eq!(
            protection_cancelled(AssetId::Kag),
            "Protection cancelled for KAG"
        );
        assert_eq!(
            protection_payout(Irr::new(1_234_567_890), AssetId::Eth),
            "Protection payout: 1.2B IRR (ETH)"
        );
        assert_eq!(
            protection_expired(AssetId::Paxg),
            "PAXG protection ended (no payout)"
        );
        assert_eq!(
            risk_profile_updated("Balanced", 6),
            "Risk profile updated: Balanced (6/10)"
        );
    }

    #[test]
    fn the_doctrine_check_catches_substrings_in_any_case() {
        assert_eq!(forbidden_word_in("Act NOW"), Some("now"));
        assert_eq!(forbidden_word_in("Please acknowledge"), Some("now"));
        assert_eq!(
            forbidden_word_in("You need to confirm"),
            Some("you need to")
        );
        assert_eq!(forbidden_word_in("Bought BTC (10M IRR)"), None);
    }

    /// Every message template, filled with every asset and a spread of amounts and profiles.
    fn every_activity_message() -> Vec<String> {
        let amounts = [950, 1_034, 999_950, 2_250_000, 100_000_000_000].map(Irr::new);
        let profiles = [
            "Capital Preservation",
            "Conservative",
            "Balanced",
            "Growth",
            "Aggressive",
        ];
        let mut all = vec![rebalanced()];
        for asset in AssetId::ALL {
            for amount in amounts {
                all.push(portfolio_created(amount));
                all.push(funds_added(amount));
                all.push(bought(asset, amount));
                all.push(sold(asset, amount));
                all.push(borrowed(amount, asset));
                all.push(loan_repaid(amount, asset, 3));
                all.push(loan_settled(asset, amount));
                all.push(loan_liquidated(asset, amount));
                all.push(protection_payout(amount, asset));
            }
            for days in [30, 60, 90, 120, 150, 180] {
                all.push(protection_purchased(days, asset));
            }
            all.push(protection_cancelled(asset));
            all.push(protection_expired(asset));
        }
        for (score, profile) in (1..=10).zip(profiles.iter().cycle()) {
            all.push(risk_profile_updated(profile, score));
        }
        all
    }

    fn every_friction_copy() -> Vec<String> {
        let target = Allocation::new(dec!(0.5), dec!(0.35), dec!(0.15));
        let on_target = target;
        let slightly = Allocation::new(dec!(0.44), dec!(0.40), dec!(0.16));
        let attention = Allocation::new(dec!(0.38), dec!(0.44), dec!(0.18));
        let worse = Allocation::new(dec!(0.30), dec!(0.50), dec!(0.20));
        let pairs = [
            (on_target, on_target),
            (attention, slightly),
            (on_target, slightly),
            (on_target, attention),
            (attention, worse),
        ];
        let assessments: Vec<BoundaryAssessment> = pairs
            .iter()
            .map(|(b, a)| classify(b, a, &target, true, true))
            .collect();
        assessments.iter().flat_map(friction_copy).collect()
    }

    #[test]
    fn no_server_message_template_contains_a_forbidden_word() {
        let statuses = [
            PortfolioStatus::Balanced,
            PortfolioStatus::SlightlyOff,
            PortfolioStatus::AttentionRequired,
        ]
        .map(|s| s.message().to_owned());
        let friction = every_friction_copy();
        // The friction cases above must cover all four boundaries and both SAFE copies.
        assert_eq!(friction.len(), 1 + 2 + 2 + 3);
        let texts = every_activity_message()
            .into_iter()
            .chain(friction)
            .chain(statuses);
        for text in texts {
            assert_eq!(forbidden_word_in(&text), None, "{text}");
        }
    }
}
