//! Unit tests of protection (business-rules §8, D11, D25–D27): both premium models against the
//! example tables, greeks, regimes, validation and the quote checks in order, purchase, payout
//! (PO1) and settlement timing.

use rust_decimal_macros::dec;

use super::*;
use crate::portfolio::PriceBook;

fn start() -> Timestamp {
    Timestamp::parse_rfc3339("2026-01-20T12:00:00Z").unwrap()
}

fn days(d: i64) -> ProtectionDuration {
    ProtectionDuration::from_days(d).unwrap()
}

fn coverage(c: Decimal) -> Coverage {
    Coverage::new(c).unwrap()
}

fn qty(d: Decimal) -> Quantity {
    Quantity::exact(d).unwrap()
}

/// A price at FX 1,000,000 so that notional values come out exact.
fn price(usd: Decimal) -> AssetPrice {
    AssetPrice {
        price_usd: usd,
        price_irr: usd * dec!(1000000),
    }
}

/// Terms whose IRR notional is exactly `notional` (BTC at 100,000 USD, FX 1,000,000).
fn terms_with_notional(asset: AssetId, notional: i64, d: i64) -> ProtectionTerms {
    let quantity = Decimal::from(notional) / dec!(100000000000);
    ProtectionTerms::new(
        asset,
        qty(quantity),
        coverage(dec!(1)),
        days(d),
        price(dec!(100000)),
    )
}

fn near(actual: Decimal, expected: Decimal, tolerance: Decimal) -> bool {
    (actual - expected).abs() <= tolerance
}

#[test]
fn layer_rate_premiums_match_every_example() {
    let model = PricingModel::LayerRate;
    let normal = VolatilityRegime::Normal;
    let btc = model.price(&terms_with_notional(AssetId::Btc, 50_000_000, 90), normal);
    assert_eq!(btc.premium_pct, dec!(0.024));
    assert_eq!(btc.premium_irr, Irr::new(1_200_000));

    // A BTC holding worth 50,000,000 at coverage 0.50 for 30 days.
    let half = ProtectionTerms::new(
        AssetId::Btc,
        qty(dec!(0.0005)),
        coverage(dec!(0.50)),
        days(30),
        price(dec!(100000)),
    );
    assert_eq!(half.protected_quantity.value(), dec!(0.00025));
    assert_eq!(half.notional_irr, Irr::new(25_000_000));
    assert_eq!(model.price(&half, normal).premium_irr, Irr::new(200_000));

    let paxg = model.price(&terms_with_notional(AssetId::Paxg, 20_000_000, 180), normal);
    assert_eq!(paxg.premium_irr, Irr::new(480_000));
    let sol = model.price(&terms_with_notional(AssetId::Sol, 10_000_000, 60), normal);
    assert_eq!(sol.premium_irr, Irr::new(240_000));
    assert_eq!(sol.black_scholes, None);
    assert_eq!(
        sol.implied_volatility,
        dec!(0.8075),
        "IV is reported under both models"
    );
}

#[test]
fn black_scholes_matches_the_test_vectors() {
    let model = PricingModel::BlackScholes;
    let normal = VolatilityRegime::Normal;
    let tol = dec!(0.00000001);

    let btc30 = model.price(&terms_with_notional(AssetId::Btc, 50_000_000, 30), normal);
    let bs = btc30.black_scholes.unwrap();
    assert_eq!(btc30.implied_volatility, dec!(0.55));
    assert!(near(bs.fair, dec!(0.06089560), tol), "{}", bs.fair);
    assert!(near(bs.raw, dec!(0.06599560), tol), "{}", bs.raw);
    assert_eq!((bs.lower_bound, bs.upper_bound), (dec!(0.05), dec!(0.08)));
    assert_eq!(btc30.premium_irr, Irr::new(3_299_780));

    let btc90 = model.price(&terms_with_notional(AssetId::Btc, 50_000_000, 90), normal);
    let bs = btc90.black_scholes.unwrap();
    assert_eq!(btc90.implied_volatility, dec!(0.506));
    assert!(near(bs.fair, dec!(0.09400325), tol), "{}", bs.fair);
    assert_eq!(btc90.premium_pct, dec!(0.10330325));
    assert_eq!(
        (bs.lower_bound, bs.upper_bound),
        (dec!(0.08660254), dec!(0.13856406))
    );
    assert_eq!(
        btc90.premium_irr,
        Irr::new(5_165_163),
        "5,165,162.5 rounds half-up"
    );

    let paxg30 = model.price(&terms_with_notional(AssetId::Paxg, 20_000_000, 30), normal);
    let bs = paxg30.black_scholes.unwrap();
    assert!(near(bs.raw, dec!(0.01824036), tol), "{}", bs.raw);
    assert_eq!(paxg30.premium_pct, dec!(0.025));
    assert_eq!(paxg30.premium_irr, Irr::new(500_000));

    let qqq90 = model.price(&terms_with_notional(AssetId::Qqq, 50_000_000, 90), normal);
    let bs = qqq90.black_scholes.unwrap();
    assert!(near(bs.raw, dec!(0.04288259), tol), "{}", bs.raw);
    assert_eq!(qqq90.premium_pct, dec!(0.04330127));
}

#[test]
fn black_scholes_premium_pct_matches_the_whole_table() {
    let table: [(AssetId, [Decimal; 6]); 6] = [
        (
            AssetId::Btc,
            [
                dec!(6.5996),
                dec!(8.7611),
                dec!(10.3303),
                dec!(11.7053),
                dec!(12.8543),
                dec!(13.8373),
            ],
        ),
        (
            AssetId::Eth,
            [
                dec!(7.8367),
                dec!(10.3810),
                dec!(12.2243),
                dec!(13.8368),
                dec!(15.1814),
                dec!(16.3295),
            ],
        ),
        (
            AssetId::Sol,
            [
                dec!(10.2963),
                dec!(13.6899),
                dec!(16.1642),
                dec!(18.3332),
                dec!(20.1508),
                dec!(21.7104),
            ],
        ),
        (
            AssetId::Paxg,
            [
                dec!(2.5000),
                dec!(3.5355),
                dec!(4.3301),
                dec!(5.0000),
                dec!(5.5902),
                dec!(6.1237),
            ],
        ),
        (
            AssetId::Kag,
            [
                dec!(2.5000),
                dec!(3.5355),
                dec!(4.3301),
                dec!(5.0000),
                dec!(5.5902),
                dec!(6.1237),
            ],
        ),
        (
            AssetId::Qqq,
            [
                dec!(2.7409),
                dec!(3.6314),
                dec!(4.3301),
                dec!(5.0000),
                dec!(5.5902),
                dec!(6.1237),
            ],
        ),
    ];
    let mut mismatches = Vec::new();
    for (asset, row) in table {
        for (d, expected) in DURATION_PRESETS_DAYS.into_iter().zip(row) {
            let pct =
                PricingModel::BlackScholes.premium_pct(asset, days(d), VolatilityRegime::Normal);
            let percent = round_half_up(pct * dec!(100), 4);
            if percent != expected {
                mismatches.push(format!(
                    "{asset} {d} d: {percent} (raw {pct}) vs {expected}"
                ));
            }
        }
    }
    assert!(mismatches.is_empty(), "{mismatches:#?}");
}

#[test]
fn greeks_match_the_btc_thirty_day_example() {
    let g = greeks(dec!(97500), dec!(0.55), days(30));
    let checks = [
        ("d1", g.d1, dec!(0.10229659), dec!(0.000000005)),
        ("delta", g.delta, dec!(-0.45926057), dec!(0.000000005)),
        ("gamma", g.gamma, dec!(0.0000258141), dec!(0.00000000005)),
        ("vega", g.vega, dec!(110.931917), dec!(0.0000005)),
        ("theta", g.theta, dec!(-95.435029), dec!(0.0000005)),
        ("rho", g.rho, dec!(-41.683748), dec!(0.0000005)),
    ];
    for (name, actual, expected, tolerance) in checks {
        assert!(
            near(actual, expected, tolerance),
            "{name}: {actual} vs {expected}"
        );
    }
    assert!(g.gamma.to_string().trim_start_matches(['0', '.']).len() >= 10);
}

#[test]
fn the_term_multiplier_interpolates_linearly_and_clamps() {
    assert_eq!(term_multiplier(30), dec!(1.00));
    assert_eq!(round_half_up(term_multiplier(120), 6), dec!(0.906667));
    assert_eq!(round_half_up(term_multiplier(150), 6), dec!(0.893333));
    assert_eq!(term_multiplier(45), dec!(0.975));
    assert_eq!(term_multiplier(1), dec!(1.20));
    assert_eq!(term_multiplier(365), dec!(0.88));
    let elevated = implied_volatility(AssetId::Btc, days(30), VolatilityRegime::Elevated);
    assert_eq!(elevated, dec!(0.6325));
    assert_eq!(
        implied_volatility(AssetId::Btc, days(30), VolatilityRegime::Extreme),
        dec!(0.88)
    );
}

#[test]
fn regime_names_match_their_serde_names_and_parse_back() {
    for regime in VolatilityRegime::ALL {
        assert_eq!(
            serde_json::to_value(regime).unwrap(),
            serde_json::json!(regime.as_str())
        );
        assert_eq!(VolatilityRegime::parse(regime.as_str()), Some(regime));
    }
    assert_eq!(VolatilityRegime::parse("high"), None);
    assert_eq!(VolatilityRegime::parse("WILD"), None);
}

#[test]
fn a_higher_regime_never_lowers_the_black_scholes_premium() {
    use VolatilityRegime::*;
    for asset in crate::asset::protection_eligible_assets() {
        for d in DURATION_PRESETS_DAYS {
            let pcts: Vec<Decimal> = [Low, Normal, Elevated, High, Extreme]
                .into_iter()
                .map(|r| PricingModel::BlackScholes.premium_pct(asset, days(d), r))
                .collect();
            assert!(
                pcts.windows(2).all(|w| w[0] <= w[1]),
                "{asset} {d}: {pcts:?}"
            );
        }
    }
}

#[test]
fn coverage_and_duration_are_validated() {
    assert!(Coverage::new(dec!(0.1)).is_ok());
    assert!(Coverage::new(dec!(1)).is_ok());
    assert!(
        Coverage::new(dec!(0.33)).is_ok(),
        "any coverage in range is accepted"
    );
    for bad in [dec!(0.09999), dec!(1.0001), dec!(0), dec!(-0.5), dec!(25)] {
        assert_eq!(
            Coverage::new(bad).unwrap_err().code,
            ErrorCode::ValidationError
        );
    }
    assert_eq!(ProtectionDuration::from_months(4).unwrap(), days(120));
    assert_eq!(days(150).months(), 5);
    for bad in [0, 7, 14, 31, 365] {
        assert!(ProtectionDuration::from_days(bad).is_err(), "{bad}");
    }
    assert!(ProtectionDuration::from_months(0).is_err());
    assert!(ProtectionDuration::from_months(7).is_err());
}

#[test]
fn quote_checks_run_in_the_documented_order() {
    let btc = price(dec!(100000));
    let one = coverage(dec!(1));
    let refuse = |asset, quantity, protected| {
        quote_terms(asset, qty(quantity), protected, one, days(30), btc).unwrap_err()
    };
    let not_eligible = refuse(AssetId::Bnb, dec!(1), true);
    assert_eq!(not_eligible.code, ErrorCode::ProtectionNotEligible);
    assert_eq!(
        refuse(AssetId::Btc, dec!(0.00000001), true).code,
        ErrorCode::ProtectionExists
    );
    let too_small = refuse(AssetId::Btc, dec!(0.00000999), false);
    assert_eq!(too_small.code, ErrorCode::ProtectionNotEligible);
    assert_eq!(
        too_small.details["minNotionalIrr"],
        serde_json::json!(1_000_000)
    );
    let exactly_minimum = quote_terms(AssetId::Btc, qty(dec!(0.00001)), false, one, days(30), btc);
    assert_eq!(exactly_minimum.unwrap().notional_irr, Irr::new(1_000_000));
}

#[test]
fn terms_are_at_the_money_on_a_floored_quantity() {
    let book = PriceBook::defaults();
    let spot = book.get(AssetId::Btc).unwrap();
    let terms = ProtectionTerms::new(
        AssetId::Btc,
        qty(dec!(0.00123457)),
        coverage(dec!(0.25)),
        days(90),
        spot,
    );
    assert_eq!(terms.protected_quantity.value(), dec!(0.00030864));
    assert_eq!(terms.notional_usd, dec!(30.0924));
    assert_eq!(terms.notional_irr, Irr::new(43_814_534));
    assert_eq!(terms.strike_usd, dec!(97500));
    assert_eq!(terms.strike_irr, dec!(141960000000));
    assert_eq!(terms.fx_rate(), Some(dec!(1456000)));
}

fn btc_quote(now: Timestamp) -> ProtectionQuote {
    quote_protection(
        AssetId::Btc,
        qty(dec!(0.0005)),
        false,
        coverage(dec!(1)),
        days(30),
        price(dec!(100000)),
        PricingModel::LayerRate,
        VolatilityRegime::Normal,
        now,
    )
    .unwrap()
}

#[test]
fn a_purchase_must_repeat_the_quoted_terms() {
    let quote = btc_quote(start());
    assert_eq!(quote.premium.premium_irr, Irr::new(400_000));
    assert_eq!(quote.premium.premium_usd, dec!(0.4));
    assert_eq!(quote.valid_until, start().plus_seconds(300));
    assert!(!quote.is_expired(start().plus_seconds(300)));
    assert!(quote.is_expired(start().plus_seconds(301)));
    let holding = "h-1".to_owned();
    let nothing = PurchaseTerms::<String> {
        holding_id: None,
        coverage: None,
        duration_days: None,
        premium_irr: None,
    };
    assert!(check_quote_matches(&quote, &holding, &nothing).is_ok());
    let same = PurchaseTerms {
        holding_id: Some("h-1".to_owned()),
        coverage: Some(dec!(0.999)),
        duration_days: Some(30),
        premium_irr: Some(Irr::new(400_000)),
    };
    assert!(
        check_quote_matches(&quote, &holding, &same).is_ok(),
        "coverage within 0.001"
    );
    let field = |request: PurchaseTerms<String>| {
        let e = check_quote_matches(&quote, &holding, &request).unwrap_err();
        assert_eq!(e.code, ErrorCode::QuoteMismatch);
        e.details["field"].as_str().unwrap().to_owned()
    };
    assert_eq!(
        field(PurchaseTerms {
            holding_id: Some("h-2".into()),
            ..same
        }),
        "holdingId"
    );
    assert_eq!(
        field(PurchaseTerms {
            coverage: Some(dec!(0.9989)),
            ..same.clone()
        }),
        "coveragePct"
    );
    assert_eq!(
        field(PurchaseTerms {
            duration_days: Some(60),
            ..same.clone()
        }),
        "durationDays"
    );
    let e = check_quote_matches(
        &quote,
        &holding,
        &PurchaseTerms {
            premium_irr: Some(Irr::new(399_999)),
            ..same
        },
    )
    .unwrap_err();
    assert_eq!(e.details["field"], "premiumIrr");
    assert_eq!(e.details["quoted"], serde_json::json!(400_000));
    assert_eq!(e.details["requested"], serde_json::json!(399_999));
    assert_eq!(
        check_acknowledged(false).unwrap_err().code,
        ErrorCode::AcknowledgmentRequired
    );
}

#[test]
fn a_purchase_rechecks_protection_and_cash_then_cancels_without_refund() {
    let quote = btc_quote(start());
    let exists = purchase_protection(&quote, true, Irr::new(1_000_000), start()).unwrap_err();
    assert_eq!(exists.code, ErrorCode::ProtectionExists);
    let poor = purchase_protection(&quote, false, Irr::new(399_999), start()).unwrap_err();
    assert_eq!(poor.code, ErrorCode::InsufficientCash);
    assert_eq!(poor.details["required"], serde_json::json!(400_000));
    let mut p = purchase_protection(&quote, false, Irr::new(400_000), start()).unwrap();
    assert_eq!(p.status, ProtectionStatus::Active);
    assert_eq!(p.expires_at, start().plus_days(30));
    assert_eq!(p.days_remaining(start().plus_seconds(1)), 30);
    assert_eq!(p.progress_pct(start().plus_days(15)), dec!(50));
    p.cancel(start().plus_days(2)).unwrap();
    assert_eq!(p.status, ProtectionStatus::Cancelled);
    assert_eq!(p.cancelled_at, Some(start().plus_days(2)));
    assert_eq!(p.days_remaining(start().plus_days(3)), 0);
    assert_eq!(
        p.cancel(start().plus_days(3)).unwrap_err().code,
        ErrorCode::ProtectionNotActive
    );
    let expiry = p.expires_at;
    assert!(
        p.settle(expiry, dec!(1), dec!(1), expiry, qty(dec!(1)))
            .is_none()
    );
}

#[test]
fn po1_the_payout_is_cash_settled_and_scaled_to_units_held() {
    let (strike, protected) = (dec!(97500), qty(dec!(0.01)));
    assert_eq!(protected.value() * strike, dec!(975));
    let (usd, irr) = payout(
        strike,
        protected,
        dec!(87750),
        dec!(1500000),
        qty(dec!(0.01)),
    );
    assert_eq!((usd, irr), (dec!(97.5), Irr::new(146_250_000)));
    let (usd, irr) = payout(
        strike,
        protected,
        dec!(87750),
        dec!(1500000),
        qty(dec!(0.006)),
    );
    assert_eq!((usd, irr), (dec!(58.5), Irr::new(87_750_000)));
    let more_held = payout(
        strike,
        protected,
        dec!(87750),
        dec!(1500000),
        qty(dec!(0.05)),
    );
    assert_eq!(
        more_held.1,
        Irr::new(146_250_000),
        "units bought later are not covered"
    );
    assert_eq!(
        payout(strike, protected, dec!(97500), dec!(1500000), protected).1,
        Irr::ZERO
    );
    assert_eq!(
        payout(strike, protected, dec!(120000), dec!(1500000), protected).1,
        Irr::ZERO
    );
}

#[test]
fn settlement_waits_for_a_price_fetched_at_or_after_expiry() {
    let mut book = PriceBook::new(dec!(1456000));
    book.set_usd(AssetId::Btc, dec!(97500));
    let quote = quote_protection(
        AssetId::Btc,
        qty(dec!(0.01)),
        false,
        coverage(dec!(1)),
        days(30),
        book.get(AssetId::Btc).unwrap(),
        PricingModel::BlackScholes,
        VolatilityRegime::Normal,
        start(),
    )
    .unwrap();
    assert_eq!(quote.terms.notional_usd, dec!(975));
    let mut p = purchase_protection(&quote, false, Irr::new(100_000_000), start()).unwrap();
    let expiry = p.expires_at;
    let later = expiry.plus_seconds(60);
    let held = qty(dec!(0.01));
    assert!(
        p.settle(
            expiry.plus_seconds(-1),
            dec!(87750),
            dec!(1500000),
            expiry,
            held
        )
        .is_none()
    );
    assert!(
        p.settle(
            later,
            dec!(87750),
            dec!(1500000),
            expiry.plus_seconds(-1),
            held
        )
        .is_none()
    );
    let s = p
        .settle(later, dec!(87750), dec!(1500000), later, held)
        .unwrap();
    assert_eq!(s.payout_irr, Irr::new(146_250_000));
    assert_eq!(s.outcome, ProtectionStatus::Exercised);
    assert_eq!(p.status, ProtectionStatus::Exercised);
    assert!(
        p.settle(later, dec!(1), dec!(1500000), later, held)
            .is_none(),
        "settles once"
    );

    let mut q = purchase_protection(&quote, false, Irr::new(100_000_000), start()).unwrap();
    let s = q
        .settle(later, dec!(97500), dec!(1500000), later, held)
        .unwrap();
    assert_eq!(
        (s.payout_irr, s.outcome),
        (Irr::ZERO, ProtectionStatus::Expired)
    );
}
