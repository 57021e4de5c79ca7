//! D41: every domain entry point a route or a job reaches is total over its valid inputs.
//! Property tests generate degenerate portfolios (empty, all-zero holdings, a single asset,
//! cash only, everything frozen, the largest amounts) at prices anywhere inside the bounds of
//! `asset::price_usd_bounds` / `fx_in_bounds`, call valuation, status, boundary, construction,
//! trade, rebalance plan/gaps/execute, loan capacity/preview/create/health/figures/repay/
//! liquidation, protection quote/greeks/payout and fixed income, and assert that none panics and
//! that the results are sane (shares within [0, 1], three gap rows, no negative cash).

use proptest::prelude::*;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

use crate::allocation::Allocation;
use crate::asset::{
    AssetId, DEFAULT_FX_IRR_PER_USD, Layer, MAX_FX_IRR_PER_USD, MIN_FX_IRR_PER_USD,
    price_usd_bounds,
};
use crate::boundary::classify;
use crate::construction::{add_funds, initial_funding};
use crate::fixed_income::{self, Lot};
use crate::hram::{HramPreset, HramWeights};
use crate::loan::{
    self, Loan, LoanDuration, LoanRequest, LoanTerms, loan_capacity, preview_loan, repay_loan,
};
use crate::money::{Irr, Quantity};
use crate::portfolio::{AssetPrice, Holding, PortfolioState, PriceBook, value_portfolio};
use crate::protection::{
    Coverage, DURATION_PRESETS_DAYS, PricingModel, ProtectionDuration, VolatilityRegime, greeks,
    implied_volatility, payout, quote_protection,
};
use crate::rebalance::{
    RebalanceInput, RebalanceMode, cooldown, execute_rebalance, plan_rebalance,
};
use crate::time::Timestamp;
use crate::trade::{TradeAction, TradeRequest, execute_trade, preview_trade};

fn now() -> Timestamp {
    Timestamp::parse_rfc3339("2026-06-01T12:00:00Z").unwrap()
}

/// The largest portfolio the bounds are derived for: 10^18 IRR at the prices it was bought.
const LARGEST_IRR: i64 = 1_000_000_000_000_000_000;

/// Where in its bounds a price sits: the bottom, the registry price, the top, or in between.
fn price_point() -> impl Strategy<Value = Decimal> {
    prop_oneof![
        Just(Decimal::ZERO),
        Just(Decimal::ONE),
        Just(dec!(0.5)),
        Just(Decimal::TWO),
        (0u32..=6).prop_map(|k| Decimal::from(10u64.pow(k)) / dec!(1000)),
    ]
}

/// A book: FX anywhere in its bounds, each market asset priced somewhere in its bounds (the
/// registry price × / ÷ up to 1,000), or not priced at all.
fn book() -> impl Strategy<Value = PriceBook> {
    let fx = prop_oneof![
        Just(MIN_FX_IRR_PER_USD),
        Just(DEFAULT_FX_IRR_PER_USD),
        Just(MAX_FX_IRR_PER_USD),
    ];
    let prices = proptest::collection::vec(proptest::option::weighted(0.9, price_point()), 15);
    (fx, prices).prop_map(|(fx, points)| {
        let mut book = PriceBook::new(fx);
        for (asset, point) in AssetId::ALL.into_iter().zip(points) {
            let (Some((min, max)), Some(point)) = (price_usd_bounds(asset), point) else {
                continue;
            };
            // point 0 → min, 1 → the registry price, 2 → max; otherwise reference × point.
            let reference = asset.asset().default_price_usd.unwrap_or(Decimal::ONE);
            let usd = if point.is_zero() {
                min
            } else if point == Decimal::TWO {
                max
            } else {
                (reference * point).clamp(min, max)
            };
            book.set_usd(asset, usd);
        }
        book
    })
}

/// A holding's value when bought, in IRR: nothing, dust, ordinary, or the largest portfolio.
fn bought_value() -> impl Strategy<Value = i64> {
    prop_oneof![
        Just(0),
        Just(1),
        Just(1_000_000),
        Just(100_000_000),
        Just(50_000_000_000),
        Just(LARGEST_IRR),
    ]
}

/// Degenerate and ordinary portfolios: each asset held or not (quantity bought for its value at
/// the bottom, the registry price or the top of its bounds), frozen or not; cash 0 … largest.
fn state() -> impl Strategy<Value = PortfolioState> {
    let holding = (
        proptest::option::weighted(0.6, bought_value()),
        0u8..3,
        any::<bool>(),
        0i64..400,
    );
    let cash = prop_oneof![
        Just(0),
        Just(1),
        Just(5_000_000),
        Just(100_000_000_000),
        Just(LARGEST_IRR)
    ];
    (proptest::collection::vec(holding, 15), cash).prop_map(|(holdings, cash)| {
        let mut state = PortfolioState {
            cash: Irr::new(cash),
            holdings: Vec::new(),
        };
        for (asset, (value, at, frozen, days_ago)) in AssetId::ALL.into_iter().zip(holdings) {
            let Some(value) = value else { continue };
            let value = Decimal::from(value);
            let mut h = if asset.is_fixed_income() {
                let units = fixed_income::units_for(Irr::round(value));
                let mut h = Holding::new(asset, units);
                if units.is_positive() {
                    h.lots.push(Lot {
                        units,
                        purchased_at: now().plus_days(-days_ago),
                    });
                }
                h
            } else {
                let (min, max) = price_usd_bounds(asset).unwrap();
                let usd = [min, asset.asset().default_price_usd.unwrap(), max][usize::from(at)];
                Holding::new(
                    asset,
                    Quantity::at_price(value, usd * DEFAULT_FX_IRR_PER_USD),
                )
            };
            h.frozen = frozen;
            state.holdings.push(h);
        }
        state
    })
}

fn target() -> impl Strategy<Value = Allocation> {
    prop_oneof![
        Just(Allocation::new(dec!(0.50), dec!(0.35), dec!(0.15))),
        Just(Allocation::new(dec!(0.85), dec!(0.12), dec!(0.03))),
        Just(Allocation::new(dec!(0.30), dec!(0.45), dec!(0.25))),
        Just(Allocation::new(Decimal::ONE, Decimal::ZERO, Decimal::ZERO)),
    ]
}

fn assert_shares(a: &Allocation) {
    for layer in Layer::ALL {
        let share = a.get(layer);
        assert!((Decimal::ZERO..=Decimal::ONE).contains(&share), "{a:?}");
    }
}

fn valuation_status_boundary_and_rebalance(
    state: &PortfolioState,
    book: &PriceBook,
    target: &Allocation,
) {
    let valuation = value_portfolio(state, book, now());
    assert!(!valuation.holdings_value.is_negative());
    let current = valuation.allocation();
    assert_shares(&current);
    let status = valuation.status(target);
    assert!(status.max_drift_pp >= Decimal::ZERO);
    classify(&current, target, target, valuation.has_holdings(), true);
    cooldown(Some(now().plus_days(-1)), now(), status.max_drift_pp);

    let weights = HramWeights::without_history(HramPreset::Balanced);
    for mode in RebalanceMode::ALL {
        let input = RebalanceInput {
            state,
            target,
            prices: book,
            weights: &weights,
            mode,
            use_cash_amount: None,
            now: now(),
        };
        let plan = plan_rebalance(&input).expect("no useCashAmount, nothing to refuse");
        assert_eq!(plan.gap_analysis.len(), 3);
        assert_shares(&plan.after_allocation);
        assert!(plan.residual_drift_pp >= Decimal::ZERO);
        if let Ok(outcome) = execute_rebalance(&input, None) {
            assert!(!outcome.state.cash.is_negative());
            assert_shares(&outcome.new_allocation);
        }
    }
}

fn trades(state: &PortfolioState, book: &PriceBook, target: &Allocation) {
    for asset in AssetId::ALL {
        let fill = book.get(asset);
        for (action, amount, sell_all) in [
            (TradeAction::Buy, Some(1_000_000), false),
            (TradeAction::Buy, Some(50_000_000_000), false),
            (TradeAction::Sell, Some(1_000_000), false),
            (TradeAction::Sell, Some(50_000_000_000), false),
            (TradeAction::Sell, None, true),
        ] {
            let request = TradeRequest {
                action,
                asset,
                amount: amount.map(Irr::new),
                sell_all,
            };
            if let Ok((_, outcome)) =
                execute_trade(state, target, &request, fill, book, now(), true)
            {
                assert!(!outcome.state.cash.is_negative());
            }
            let _ = preview_trade(state, target, &request, fill, book, now());
        }
    }
}

fn loans(state: &PortfolioState, book: &PriceBook) {
    let valuation = value_portfolio(state, book, now());
    let _ = loan_capacity(&valuation, &[], now());
    for asset in AssetId::ALL {
        for amount in [1_000_000, loan::MAX_PRINCIPAL_IRR] {
            for duration in [LoanDuration::ThreeMonths, LoanDuration::SixMonths] {
                let request = LoanRequest {
                    collateral: asset,
                    amount: Irr::new(amount),
                    duration,
                };
                let preview = preview_loan(state, book, &[], request, now());
                assert!(preview.max_loan.is_none_or(|m| !m.is_negative()));
                let mut after = state.clone();
                let Ok(mut created) = loan::create_loan(
                    &mut after,
                    book,
                    &[],
                    asset,
                    Irr::new(amount),
                    duration.months(),
                    now(),
                ) else {
                    continue;
                };
                loan_lifecycle(&mut after, &mut created, book);
            }
        }
    }
    // A loan whose collateral is worth nothing any more.
    let terms = LoanTerms::new(Irr::new(1_000_000), LoanDuration::ThreeMonths, now());
    let mut loan = Loan::from_terms(terms, AssetId::Btc, Quantity::ZERO, Irr::ZERO);
    let _ = loan.health(now(), Decimal::ZERO);
    let _ = loan.figures(now(), None);
    let _ = loan.liquidation_plan(now(), Decimal::ZERO);
    let mut empty = PortfolioState::default();
    let _ = repay_loan(&mut empty, &mut loan, Irr::new(1), now());
}

fn loan_lifecycle(state: &mut PortfolioState, loan: &mut Loan, book: &PriceBook) {
    let price = book
        .price_irr(loan.collateral_asset)
        .unwrap_or(Decimal::ZERO);
    for days in [0, 45, 97, 400] {
        let at = now().plus_days(days);
        let _ = loan.health(at, price);
        let _ = loan.figures(at, Some(price));
        let _ = loan.liquidation_price_usd(at, book.fx_rate, dec!(1));
        let _ = loan.liquidation_plan(at, price);
    }
    let _ = repay_loan(state, loan, Irr::new(1), now().plus_days(10));
    let _ = repay_loan(state, loan, state.cash, now().plus_days(20));
    let mut liquidated = loan.clone();
    let mut after = state.clone();
    let _ = loan::liquidate_loan(
        &mut after,
        &mut liquidated,
        price,
        loan::LiquidationReason::MaturityDefault,
        now().plus_days(200),
    );
}

fn protection(state: &PortfolioState, book: &PriceBook) {
    for asset in AssetId::ALL {
        let Some(price) = book.get(asset) else {
            continue;
        };
        let held = state.holding(asset).map_or(Quantity::ZERO, |h| h.quantity);
        for days in DURATION_PRESETS_DAYS {
            let duration = ProtectionDuration::from_days(days).unwrap();
            for regime in VolatilityRegime::ALL {
                let iv = implied_volatility(asset, duration, regime);
                let _ = greeks(price.price_usd, iv, duration);
                for model in [PricingModel::LayerRate, PricingModel::BlackScholes] {
                    for coverage in [dec!(0.1), Decimal::ONE] {
                        let _ = quote_protection(
                            asset,
                            held,
                            false,
                            Coverage::new(coverage).unwrap(),
                            duration,
                            price,
                            model,
                            regime,
                            now(),
                        );
                    }
                }
            }
        }
        let _ = payout(price.price_usd, held, Decimal::ZERO, book.fx_rate, held);
    }
    // Prices that cannot reach a quote must still not panic the pure functions.
    let duration = ProtectionDuration::from_days(30).unwrap();
    let _ = greeks(Decimal::ZERO, Decimal::ZERO, duration);
    let zero = AssetPrice {
        price_usd: Decimal::ZERO,
        price_irr: Decimal::ZERO,
    };
    let _ = quote_protection(
        AssetId::Btc,
        Quantity::ZERO,
        false,
        Coverage::new(Decimal::ONE).unwrap(),
        duration,
        zero,
        PricingModel::BlackScholes,
        VolatilityRegime::Extreme,
        now(),
    );
}

fn construction_and_fixed_income(state: &PortfolioState, book: &PriceBook, target: &Allocation) {
    for amount in [0, 1, 1_000_000, 100_000_000_000, LARGEST_IRR] {
        let _ = initial_funding(Irr::new(amount), target, book, now());
        let _ = add_funds(state, Irr::new(amount));
    }
    let lots = state
        .holding(AssetId::IrrFixedIncome)
        .map(|h| h.lots.clone())
        .unwrap_or_default();
    for lots in [lots, Vec::new()] {
        let _ = fixed_income::details(&lots, now());
        let _ = fixed_income::sell_all(&lots, now());
        for gross in [0, 1, 500_000, LARGEST_IRR] {
            let _ = fixed_income::sell_fifo(&lots, Irr::new(gross), now());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn valuation_status_and_rebalance_are_total(
        state in state(), book in book(), target in target()
    ) {
        valuation_status_boundary_and_rebalance(&state, &book, &target);
    }

    #[test]
    fn trades_are_total(state in state(), book in book(), target in target()) {
        trades(&state, &book, &target);
    }

    #[test]
    fn loans_are_total(state in state(), book in book()) {
        loans(&state, &book);
    }

    #[test]
    fn protection_is_total(state in state(), book in book()) {
        protection(&state, &book);
    }

    #[test]
    fn construction_and_fixed_income_are_total(
        state in state(), book in book(), target in target()
    ) {
        construction_and_fixed_income(&state, &book, &target);
    }
}

/// The degenerate cases by name, so they always run whatever the generator draws.
#[test]
fn empty_cash_only_all_zero_and_all_frozen_portfolios_are_total() {
    let book = PriceBook::defaults();
    let target = Allocation::new(dec!(0.50), dec!(0.35), dec!(0.15));
    let zero_holdings = PortfolioState {
        cash: Irr::ZERO,
        holdings: AssetId::ALL
            .into_iter()
            .map(|a| Holding::new(a, Quantity::ZERO))
            .collect(),
    };
    let mut frozen = PortfolioState {
        cash: Irr::new(LARGEST_IRR),
        holdings: AssetId::ALL
            .into_iter()
            .filter(|a| !a.is_fixed_income())
            .map(|a| Holding::new(a, Quantity::at_price(dec!(1000000000), dec!(1000000))))
            .collect(),
    };
    for h in &mut frozen.holdings {
        h.frozen = true;
    }
    let single = PortfolioState {
        cash: Irr::ZERO,
        holdings: vec![Holding::new(
            AssetId::Sol,
            Quantity::floor8(dec!(0.00000001)),
        )],
    };
    let cash_only = PortfolioState {
        cash: Irr::new(100_000_000),
        holdings: Vec::new(),
    };
    for state in [
        PortfolioState::default(),
        zero_holdings,
        frozen,
        single,
        cash_only,
    ] {
        valuation_status_boundary_and_rebalance(&state, &book, &target);
        trades(&state, &book, &target);
        loans(&state, &book);
        protection(&state, &book);
        construction_and_fixed_income(&state, &book, &target);
    }
}
