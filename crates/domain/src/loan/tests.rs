//! Unit tests of the loan rules (business-rules §7, D21–D24): the worked examples (C1, L1–L3,
//! RP1, EP1–EP2, H1, LQ1–LQ2), the creation checks in their order, and property tests of the
//! schedule and of repayment.

use proptest::prelude::*;
use rust_decimal_macros::dec;

use super::*;
use crate::asset::AssetId;
use crate::error::ErrorCode;
use crate::money::{Irr, Quantity, round_half_up};
use crate::portfolio::{Holding, PortfolioState, PriceBook, value_portfolio};
use crate::time::Timestamp;

const BTC_PRICE_IRR: Decimal = dec!(141960000000);

fn at(text: &str) -> Timestamp {
    Timestamp::parse_rfc3339(text).unwrap()
}

fn start() -> Timestamp {
    at("2026-01-20T12:00:00Z")
}

fn irr(rials: i64) -> Irr {
    Irr::new(rials)
}

fn qty(d: Decimal) -> Quantity {
    Quantity::exact(d).unwrap()
}

/// Loan L1 on the H1 collateral: 30,000,000 IRR for 3 months against 0.0005 BTC.
fn loan_l1() -> Loan {
    let quantity = qty(dec!(0.0005));
    Loan::from_terms(
        LoanTerms::new(irr(30_000_000), LoanDuration::ThreeMonths, start()),
        AssetId::Btc,
        quantity,
        quantity.value_at(BTC_PRICE_IRR),
    )
}

fn day(n: i64) -> Timestamp {
    start().plus_days(n)
}

fn ratio6(d: Decimal) -> Decimal {
    round_half_up(d, 6)
}

/// C1's portfolio: cash 0; BTC 60,000,000, PAXG 40,000,000 and USDT 100,000,000 at FX
/// 1,000,000 (prices chosen so every value is exact).
fn c1_portfolio() -> (PortfolioState, PriceBook) {
    let mut prices = PriceBook::new(dec!(1000000));
    prices.set_usd(AssetId::Btc, dec!(120000));
    prices.set_usd(AssetId::Paxg, dec!(2000));
    prices.set_usd(AssetId::Usdt, dec!(1));
    let state = PortfolioState {
        cash: Irr::ZERO,
        holdings: vec![
            Holding::new(AssetId::Usdt, qty(dec!(100))),
            Holding::new(AssetId::Paxg, qty(dec!(0.02))),
            Holding::new(AssetId::Btc, qty(dec!(0.0005))),
        ],
    };
    (state, prices)
}

fn capacity(state: &PortfolioState, prices: &PriceBook, loans: &[Loan]) -> LoanCapacity {
    loan_capacity(&value_portfolio(state, prices, start()), loans, start()).unwrap()
}

#[test]
fn c1_the_portfolio_cap_counts_debt_not_borrowed_cash() {
    let (mut state, prices) = c1_portfolio();
    let before = capacity(&state, &prices, &[]);
    assert_eq!(before.net_value, irr(200_000_000));
    assert_eq!(before.max_capacity, irr(50_000_000));
    assert_eq!(before.available, irr(50_000_000));
    let btc_row = before
        .per_asset
        .iter()
        .find(|r| r.asset == AssetId::Btc)
        .unwrap();
    assert_eq!(btc_row.max_loan, irr(30_000_000));
    assert_eq!(btc_row.available_loan, irr(30_000_000));

    let loan1 = create_loan(
        &mut state,
        &prices,
        &[],
        AssetId::Btc,
        irr(30_000_000),
        3,
        start(),
    )
    .unwrap();
    assert_eq!(state.cash, irr(30_000_000));
    assert!(state.holding(AssetId::Btc).unwrap().frozen);
    let loans = vec![loan1];

    let after = capacity(&state, &prices, &loans);
    assert_eq!(after.net_value, irr(200_000_000));
    assert_eq!(after.used, irr(30_000_000));
    assert_eq!(after.available, irr(20_000_000));
    let btc_row = after
        .per_asset
        .iter()
        .find(|r| r.asset == AssetId::Btc)
        .unwrap();
    assert!(btc_row.frozen);
    assert_eq!(btc_row.existing_loan, irr(30_000_000));
    assert_eq!(btc_row.available_loan, Irr::ZERO);
    let paxg_row = after
        .per_asset
        .iter()
        .find(|r| r.asset == AssetId::Paxg)
        .unwrap();
    assert_eq!(paxg_row.max_loan, irr(28_000_000));
    assert_eq!(paxg_row.available_loan, irr(20_000_000));

    let refused = create_loan(
        &mut state,
        &prices,
        &loans,
        AssetId::Paxg,
        irr(25_000_000),
        3,
        start(),
    )
    .unwrap_err();
    assert_eq!(refused.code, ErrorCode::ExceedsPortfolioLoanLimit);
    assert_eq!(
        refused.details["availableIrr"],
        serde_json::json!(20_000_000)
    );
    assert_eq!(state.cash, irr(30_000_000), "a refusal changes nothing");
    assert!(!state.holding(AssetId::Paxg).unwrap().frozen);

    let loan2 = create_loan(
        &mut state,
        &prices,
        &loans,
        AssetId::Paxg,
        irr(20_000_000),
        3,
        start(),
    )
    .unwrap();
    assert_eq!(loan2.principal, irr(20_000_000));
    assert_eq!(state.cash, irr(50_000_000));
}

#[test]
fn l1_schedules_six_installments_every_fifteen_days() {
    let terms = LoanTerms::new(irr(30_000_000), LoanDuration::ThreeMonths, start());
    assert_eq!(terms.total_interest, irr(2_250_000));
    assert_eq!(terms.total_due(), irr(32_250_000));
    assert_eq!(terms.due_date, at("2026-04-20T12:00:00Z"));
    assert_eq!(terms.installment_amount(), irr(5_375_000));
    let dues = [
        "2026-02-04",
        "2026-02-19",
        "2026-03-06",
        "2026-03-21",
        "2026-04-05",
        "2026-04-20",
    ];
    assert_eq!(terms.installments.len(), 6);
    for (k, (installment, due)) in terms.installments.iter().zip(dues).enumerate() {
        assert_eq!(installment.number, k as i64 + 1);
        assert_eq!(installment.due_date, at(&format!("{due}T12:00:00Z")));
        assert_eq!(installment.principal, irr(5_000_000));
        assert_eq!(installment.interest, irr(375_000));
        assert_eq!(installment.total(), irr(5_375_000));
        assert_eq!(installment.status, InstallmentStatus::Pending);
    }
}

#[test]
fn l2_the_sixth_installment_takes_the_remainders() {
    let terms = LoanTerms::new(irr(100_000_000), LoanDuration::ThreeMonths, start());
    assert_eq!(terms.total_interest, irr(7_500_000));
    let principals: Vec<Irr> = terms.installments.iter().map(|i| i.principal).collect();
    let totals: Vec<Irr> = terms.installments.iter().map(Installment::total).collect();
    assert_eq!(&principals[..5], &[irr(16_666_666); 5]);
    assert_eq!(principals[5], irr(16_666_670));
    assert!(
        terms
            .installments
            .iter()
            .all(|i| i.interest == irr(1_250_000))
    );
    assert_eq!(&totals[..5], &[irr(17_916_666); 5]);
    assert_eq!(totals[5], irr(17_916_670));
    assert_eq!(totals.iter().sum::<Irr>(), irr(107_500_000));
}

#[test]
fn l3_six_month_loans_fall_due_every_thirty_days() {
    let terms = LoanTerms::new(irr(30_000_000), LoanDuration::SixMonths, start());
    assert_eq!(terms.total_interest, irr(4_500_000));
    let dues = [
        "2026-02-19",
        "2026-03-21",
        "2026-04-20",
        "2026-05-20",
        "2026-06-19",
        "2026-07-19",
    ];
    for (installment, due) in terms.installments.iter().zip(dues) {
        assert_eq!(installment.due_date, at(&format!("{due}T12:00:00Z")));
        assert_eq!(installment.principal, irr(5_000_000));
        assert_eq!(installment.interest, irr(750_000));
        assert_eq!(installment.total(), irr(5_750_000));
    }
    assert_eq!(terms.due_date, at("2026-07-19T12:00:00Z"));
}

#[test]
fn rp1_a_partial_repayment_pays_interest_then_principal_in_installment_order() {
    let mut loan = loan_l1();
    assert_eq!(loan.outstanding_debt(day(10)), irr(30_246_575));
    let r = loan
        .repay(irr(6_000_000), irr(100_000_000), day(10))
        .unwrap();
    assert_eq!(r.applied, irr(6_000_000));
    assert!(!r.settled);
    let (first, second) = (&loan.installments[0], &loan.installments[1]);
    assert_eq!(first.status, InstallmentStatus::Paid);
    assert_eq!(
        (first.interest_paid, first.principal_paid),
        (irr(375_000), irr(5_000_000))
    );
    assert_eq!(first.paid_at, Some(day(10)));
    assert_eq!(second.status, InstallmentStatus::Partial);
    assert_eq!(
        (second.interest_paid, second.principal_paid),
        (irr(375_000), irr(250_000))
    );
    assert!(
        loan.installments[2..]
            .iter()
            .all(|i| i.status == InstallmentStatus::Pending)
    );
    assert_eq!(loan.principal_paid, irr(5_250_000));
    assert_eq!(loan.interest_paid, irr(750_000));
    assert_eq!(
        (r.principal_applied, r.interest_applied),
        (irr(5_250_000), irr(750_000))
    );
    assert_eq!(r.remaining_balance, irr(24_750_000));
    assert_eq!(r.installments_paid, 1);
    assert_eq!(loan.paid(), irr(6_000_000));
}

#[test]
fn ep1_early_payoff_charges_only_accrued_interest_and_forgives_the_rest() {
    let mut loan = loan_l1();
    let first = loan
        .repay(irr(5_375_000), irr(100_000_000), day(15))
        .unwrap();
    assert_eq!(first.installments_paid, 1);
    let payoff = loan.outstanding_debt(day(30));
    assert_eq!(loan.accrued_interest(day(30)), irr(739_726));
    assert_eq!(payoff, irr(25_364_726));
    let r = loan.repay(payoff, irr(100_000_000), day(30)).unwrap();
    assert!(r.settled && r.collateral_unfrozen);
    assert_eq!(r.applied, irr(25_364_726));
    assert_eq!(r.remaining_balance, Irr::ZERO);
    assert_eq!(r.interest_forgiven, Some(irr(1_510_274)));
    assert_eq!(r.installments_paid, 6);
    assert_eq!(loan.status, LoanStatus::Repaid);
    assert_eq!(loan.settled_at, Some(day(30)));
    assert_eq!(loan.paid(), irr(30_739_726));
    assert_eq!(loan.principal_paid, irr(30_000_000));
    assert_eq!(loan.interest_paid, irr(739_726));
    assert!(loan.installments.iter().all(|i| i.is_paid()));
    assert_eq!(loan.figures(day(30), None).progress_pct, dec!(100));
}

#[test]
fn ep2_interest_paid_ahead_of_accrual_is_not_refunded() {
    let mut loan = loan_l1();
    loan.repay(irr(6_000_000), irr(100_000_000), day(10))
        .unwrap();
    assert_eq!(loan.outstanding_debt(day(30)), irr(24_750_000));
    let r = loan
        .repay(irr(50_000_000), irr(100_000_000), day(30))
        .unwrap();
    assert_eq!(
        r.applied,
        irr(24_750_000),
        "overpayment is capped to what is owed"
    );
    assert!(r.settled);
    assert_eq!(r.interest_applied, Irr::ZERO);
    assert_eq!(r.interest_forgiven, Some(irr(1_500_000)));
}

#[test]
fn h1_ltv_counts_only_accrued_interest() {
    let loan = loan_l1();
    assert_eq!(loan.collateral_value_at_start, irr(70_980_000));
    let cap = Irr::floor(loan.collateral_value_at_start.value() * loan.max_ltv);
    assert_eq!(cap, irr(35_490_000));
    assert_eq!(ratio6(loan.ltv_at_creation().unwrap()), dec!(0.422654));
    let at_start = loan.health(start(), BTC_PRICE_IRR);
    assert_eq!(at_start.status, HealthStatus::Healthy);

    assert_eq!(loan.accrued_interest(day(15)), irr(369_863));
    assert_eq!(loan.outstanding_debt(day(15)), irr(30_369_863));
    // Prices at which 0.0005 BTC is worth 32,000,000 and 30,000,000.
    let worth_32m = dec!(64000000000);
    let worth_30m = dec!(60000000000);
    let h = loan.health(day(15), worth_32m);
    assert_eq!(h.collateral_value, irr(32_000_000));
    assert_eq!(ratio6(h.ltv.unwrap()), dec!(0.949058));
    assert_eq!(h.status, HealthStatus::Critical);
    assert_eq!(
        loan.liquidation_trigger(day(15), Some(worth_32m), DEFAULT_LIQUIDATION_LTV),
        None
    );
    let h = loan.health(day(15), worth_30m);
    assert_eq!(ratio6(h.ltv.unwrap()), dec!(1.012329));
    assert_eq!(
        loan.liquidation_trigger(day(15), Some(worth_30m), DEFAULT_LIQUIDATION_LTV),
        Some(LiquidationReason::LtvBreach)
    );
}

#[test]
fn a_foundation_loan_at_the_maximum_ltv_starts_healthy() {
    let quantity = qty(dec!(10));
    let price = dec!(3858400000);
    let value = quantity.value_at(price);
    let principal = Irr::floor(value.value() * dec!(0.70));
    let loan = Loan::from_terms(
        LoanTerms::new(principal, LoanDuration::SixMonths, start()),
        AssetId::Paxg,
        quantity,
        value,
    );
    assert_eq!(loan.health(start(), price).status, HealthStatus::Healthy);
}

#[test]
fn lq1_a_liquidation_that_cannot_cover_the_debt_records_the_shortfall() {
    let mut loan = loan_l1();
    let price = dec!(60000000000);
    let plan = loan.liquidation_plan(day(15), price);
    assert_eq!(plan.debt, irr(30_369_863));
    assert_eq!(plan.quantity_sold.value(), dec!(0.0005));
    assert_eq!(plan.gross, irr(30_000_000));
    assert_eq!(plan.spread, irr(90_000));
    assert_eq!(plan.net, irr(29_910_000));
    assert_eq!(plan.applied, irr(29_910_000));
    assert_eq!(plan.shortfall, irr(459_863));
    assert_eq!(plan.excess, Irr::ZERO);
    assert!(loan.record_liquidation(&plan, LiquidationReason::LtvBreach, day(15)));
    assert_eq!(loan.status, LoanStatus::Liquidated);
    assert_eq!(loan.outstanding_debt(day(16)), Irr::ZERO);
    assert!(loan.installments.iter().all(|i| i.is_paid()));
    assert_eq!(loan.paid(), irr(29_910_000));
    assert!(!loan.record_liquidation(&plan, LiquidationReason::LtvBreach, day(15)));
}

#[test]
fn lq2_a_maturity_default_sells_just_enough_and_returns_the_excess() {
    let mut loan = loan_l1();
    let grace_end = at("2026-04-27T12:00:00Z");
    assert_eq!(
        loan.liquidation_trigger(grace_end, Some(BTC_PRICE_IRR), DEFAULT_LIQUIDATION_LTV),
        None
    );
    let now = grace_end.plus_seconds(1);
    assert_eq!(
        loan.liquidation_trigger(now, Some(BTC_PRICE_IRR), DEFAULT_LIQUIDATION_LTV),
        Some(LiquidationReason::MaturityDefault)
    );
    assert_eq!(
        loan.liquidation_trigger(now, None, DEFAULT_LIQUIDATION_LTV),
        Some(LiquidationReason::MaturityDefault),
        "maturity default does not depend on the price"
    );
    let mut state = PortfolioState {
        cash: irr(1_000),
        holdings: vec![Holding {
            frozen: true,
            ..Holding::new(AssetId::Btc, qty(dec!(0.0007)))
        }],
    };
    let plan = liquidate_loan(
        &mut state,
        &mut loan,
        BTC_PRICE_IRR,
        LiquidationReason::MaturityDefault,
        now,
    )
    .unwrap();
    assert_eq!(plan.debt, irr(32_250_000));
    assert_eq!(plan.gross_needed, irr(32_347_042));
    assert_eq!(plan.quantity_sold.value(), dec!(0.00022787));
    assert_eq!(plan.gross, irr(32_348_425));
    assert_eq!(plan.spread, irr(97_045));
    assert_eq!(plan.net, irr(32_251_380));
    assert_eq!(plan.excess, irr(1_380));
    assert_eq!(plan.shortfall, Irr::ZERO);
    assert_eq!(plan.quantity_remaining.value(), dec!(0.00027213));
    let holding = state.holding(AssetId::Btc).unwrap();
    assert_eq!(
        holding.quantity.value(),
        dec!(0.00047213),
        "units bought later stay"
    );
    assert!(!holding.frozen);
    assert_eq!(state.cash, irr(2_380));
    assert_eq!(
        loan.liquidation.as_ref().unwrap().reason,
        LiquidationReason::MaturityDefault
    );
    assert_eq!(loan.principal_paid, irr(30_000_000));
    assert_eq!(loan.interest_paid, irr(2_250_000));
}

#[test]
fn creation_checks_run_in_the_documented_order() {
    let (mut state, prices) = c1_portfolio();
    state
        .holdings
        .push(Holding::new(AssetId::IrrFixedIncome, qty(dec!(0))));
    let code = |state: &mut PortfolioState, asset, amount, months| {
        create_loan(state, &prices, &[], asset, irr(amount), months, start())
            .unwrap_err()
            .code
    };
    assert_eq!(
        code(&mut state, AssetId::Eth, 500_000, 4),
        ErrorCode::ValidationError
    );
    assert_eq!(
        code(&mut state, AssetId::Eth, 500_000, 3),
        ErrorCode::ValidationError
    );
    assert_eq!(
        code(&mut state, AssetId::Eth, 5_000_000, 3),
        ErrorCode::InsufficientHoldings
    );
    assert_eq!(
        code(&mut state, AssetId::IrrFixedIncome, 5_000_000, 3),
        ErrorCode::InsufficientHoldings,
        "a zero-quantity holding is no holding"
    );
    state.holding_mut(AssetId::Btc).unwrap().frozen = true;
    assert_eq!(
        code(&mut state, AssetId::Btc, 90_000_000, 3),
        ErrorCode::AssetFrozen
    );
    let refused = create_loan(
        &mut state,
        &prices,
        &[],
        AssetId::Paxg,
        irr(28_000_001),
        6,
        start(),
    )
    .unwrap_err();
    assert_eq!(refused.code, ErrorCode::ExceedsAssetLtv);
    assert_eq!(refused.details["maxLoanIrr"], serde_json::json!(28_000_000));
    assert_eq!(refused.details["maxLtv"], serde_json::json!(0.7));
    let mut no_price = PriceBook::new(dec!(1000000));
    no_price.set_usd(AssetId::Usdt, dec!(1));
    no_price.set_usd(AssetId::Btc, dec!(120000));
    let stale = create_loan(
        &mut state,
        &no_price,
        &[],
        AssetId::Paxg,
        irr(5_000_000),
        3,
        start(),
    )
    .unwrap_err();
    assert_eq!(stale.code, ErrorCode::PricesStale);
}

#[test]
fn fixed_income_is_never_collateral() {
    let (mut state, prices) = c1_portfolio();
    state
        .holdings
        .push(Holding::new(AssetId::IrrFixedIncome, qty(dec!(10))));
    let refused = create_loan(
        &mut state,
        &prices,
        &[],
        AssetId::IrrFixedIncome,
        irr(1_000_000),
        3,
        start(),
    )
    .unwrap_err();
    assert_eq!(refused.code, ErrorCode::CollateralNotEligible);
}

#[test]
fn a_preview_reports_limits_even_when_the_loan_would_be_refused() {
    let (state, prices) = c1_portfolio();
    let request = LoanRequest {
        collateral: AssetId::Paxg,
        amount: irr(29_000_000),
        duration: LoanDuration::ThreeMonths,
    };
    let preview = preview_loan(&state, &prices, &[], request, start());
    assert_eq!(preview.collateral_value, Some(irr(40_000_000)));
    assert_eq!(preview.max_loan, Some(irr(28_000_000)));
    assert_eq!(preview.refusal.unwrap().code, ErrorCode::ExceedsAssetLtv);
    assert_eq!(preview.terms.installments.len(), 6);
    let small = LoanRequest {
        amount: irr(999_999),
        ..request
    };
    let preview = preview_loan(&state, &prices, &[], small, start());
    assert_eq!(preview.refusal.unwrap().code, ErrorCode::ValidationError);
    let fine = LoanRequest {
        amount: irr(28_000_000),
        ..request
    };
    assert!(
        preview_loan(&state, &prices, &[], fine, start())
            .refusal
            .is_none()
    );
}

#[test]
fn an_ineligible_or_absent_collateral_still_reports_its_value_and_a_maximum_of_zero() {
    let (mut state, prices) = c1_portfolio();
    let units = qty(dec!(20));
    let mut fi = Holding::new(AssetId::IrrFixedIncome, units);
    fi.lots.push(crate::fixed_income::Lot {
        units,
        purchased_at: start(),
    });
    state.holdings.push(fi);
    let request = LoanRequest {
        collateral: AssetId::IrrFixedIncome,
        amount: irr(2_000_000),
        duration: LoanDuration::ThreeMonths,
    };
    let preview = preview_loan(&state, &prices, &[], request, start());
    assert_eq!(
        preview.refusal.unwrap().code,
        ErrorCode::CollateralNotEligible
    );
    assert_eq!(preview.collateral_value, Some(irr(10_000_000)));
    assert_eq!(preview.max_loan, Some(Irr::ZERO));
    let absent = LoanRequest {
        collateral: AssetId::Sol,
        ..request
    };
    let preview = preview_loan(&state, &prices, &[], absent, start());
    assert_eq!(
        preview.refusal.unwrap().code,
        ErrorCode::InsufficientHoldings
    );
    assert_eq!(preview.collateral_value, Some(Irr::ZERO));
    assert_eq!(preview.max_loan, Some(Irr::ZERO));
}

#[test]
fn the_effective_annual_rate_is_the_rate_the_interest_implies() {
    let terms = LoanTerms::new(irr(2_000_000), LoanDuration::SixMonths, start());
    assert_eq!(terms.effective_annual_rate(), Some(dec!(0.3)));
    // I = round(1,000,001 × 0.075) = 75,000: 75,000 × 4 / 1,000,001.
    let terms = LoanTerms::new(irr(1_000_001), LoanDuration::ThreeMonths, start());
    assert_eq!(terms.effective_annual_rate(), Some(dec!(0.3)));
    assert_eq!(
        LoanTerms::new(Irr::ZERO, LoanDuration::ThreeMonths, start()).effective_annual_rate(),
        None
    );
}

#[test]
fn repayment_refusals_leave_the_loan_unchanged() {
    let mut loan = loan_l1();
    let untouched = loan.clone();
    let short = loan
        .repay(irr(50_000_000), irr(30_246_574), day(10))
        .unwrap_err();
    assert_eq!(short.code, ErrorCode::InsufficientCash);
    assert_eq!(short.details["required"], serde_json::json!(30_246_575));
    assert_eq!(loan, untouched);
    // Cash covering the applied (capped) amount suffices although the request is larger.
    assert!(
        loan.repay(irr(50_000_000), irr(30_246_575), day(10))
            .unwrap()
            .settled
    );
    let closed = loan.repay(irr(1), irr(1), day(11)).unwrap_err();
    assert_eq!(closed.code, ErrorCode::LoanNotActive);
    assert_eq!(
        loan_l1().repay(Irr::ZERO, irr(1), day(1)).unwrap_err().code,
        ErrorCode::ValidationError
    );
}

#[test]
fn settling_through_the_portfolio_unfreezes_the_collateral_and_spends_cash() {
    let mut loan = loan_l1();
    let mut state = PortfolioState {
        cash: irr(40_000_000),
        holdings: vec![Holding {
            frozen: true,
            ..Holding::new(AssetId::Btc, qty(dec!(0.0005)))
        }],
    };
    let r = repay_loan(&mut state, &mut loan, irr(40_000_000), start()).unwrap();
    assert_eq!(
        r.applied,
        irr(30_000_000),
        "nothing has accrued at the start instant"
    );
    assert_eq!(state.cash, irr(10_000_000));
    assert!(!state.holding(AssetId::Btc).unwrap().frozen);
    assert_eq!(r.interest_forgiven, Some(irr(2_250_000)));
}

#[test]
fn health_bands_change_exactly_at_their_thresholds() {
    let band = |l: Decimal| HealthStatus::from_ltv(Some(l));
    assert_eq!(band(dec!(0.7499999)), HealthStatus::Healthy);
    assert_eq!(band(dec!(0.75)), HealthStatus::Caution);
    assert_eq!(band(dec!(0.80)), HealthStatus::Warning);
    assert_eq!(band(dec!(0.90)), HealthStatus::Critical);
    assert_eq!(HealthStatus::from_ltv(None), HealthStatus::Critical);
    assert_eq!(ltv(irr(1), Irr::ZERO), None);
}

#[test]
fn accrual_counts_started_days_and_stops_at_the_scheduled_interest() {
    let loan = loan_l1();
    assert_eq!(loan.accrued_interest(start()), Irr::ZERO);
    assert_eq!(loan.accrued_interest(start().plus_seconds(1)), irr(24_658));
    assert_eq!(loan.accrued_interest(day(89)), irr(2_194_521));
    assert_eq!(loan.accrued_interest(day(92)), irr(2_250_000));
    assert_eq!(loan.accrued_interest(day(400)), irr(2_250_000));
}

#[test]
fn loan_figures_follow_the_contract() {
    let mut loan = loan_l1();
    loan.repay(irr(5_375_000), irr(100_000_000), day(2))
        .unwrap();
    let f = loan.figures(day(10).plus_seconds(3600), Some(BTC_PRICE_IRR));
    assert_eq!(f.paid, irr(5_375_000));
    assert_eq!(f.remaining, irr(26_875_000));
    assert_eq!(f.progress_pct, dec!(16.67));
    assert_eq!(f.installments_paid, 1);
    // Next unpaid installment is due on day 30: 19 whole days and 23 hours away.
    assert_eq!(f.days_until_due, Some(19));
    let overdue = loan.figures(day(30).plus_seconds(1), None);
    assert_eq!(overdue.days_until_due, Some(-1));
    assert!(loan.installments[1].is_overdue(day(30).plus_seconds(1)));
    // 11 started days accrue 271,233, less than the 375,000 already paid: principal only.
    assert_eq!(
        loan.accrued_interest(day(10).plus_seconds(3600)),
        irr(271_233)
    );
    assert_eq!(f.payoff, Some(irr(25_000_000)));
    assert_eq!(f.health.unwrap().status, HealthStatus::Healthy);
}

#[test]
fn the_liquidation_price_is_where_ltv_reaches_the_threshold() {
    // api.md §9 example: debt 25,105,822 on 0.0005 BTC at FX 1,456,000 → 34,486.02 USD.
    // The state is set so that day 20 (accrued 493,151) owes exactly that debt.
    let mut loan = loan_l1();
    loan.principal_paid = irr(5_000_000);
    loan.interest_paid = irr(387_329);
    let now = day(20);
    assert_eq!(loan.outstanding_debt(now), irr(25_105_822));
    let fx = dec!(1456000);
    let price = loan.liquidation_price_usd(now, fx, DEFAULT_LIQUIDATION_LTV);
    assert_eq!(price, Some(dec!(34486.02)));
    // At that price the LTV is (just under) the threshold; a cent lower it is above.
    let ltv_at = |usd: Decimal| loan.health(now, usd * fx).ltv.unwrap();
    assert!(ltv_at(dec!(34486.02)) < DEFAULT_LIQUIDATION_LTV);
    assert!(ltv_at(dec!(34486.01)) > DEFAULT_LIQUIDATION_LTV);
    // A stricter threshold moves the price up.
    assert_eq!(
        loan.liquidation_price_usd(now, fx, dec!(0.5)),
        Some(dec!(68972.04))
    );
    loan.status = LoanStatus::Repaid;
    assert_eq!(
        loan.liquidation_price_usd(now, fx, DEFAULT_LIQUIDATION_LTV),
        None
    );
}

proptest! {
    #[test]
    fn schedules_sum_exactly_to_principal_and_interest(
        principal in 1_000_000i64..50_000_000_000,
        six_months in any::<bool>(),
    ) {
        let duration = if six_months { LoanDuration::SixMonths } else { LoanDuration::ThreeMonths };
        let terms = LoanTerms::new(irr(principal), duration, start());
        let p: Irr = terms.installments.iter().map(|i| i.principal).sum();
        let i: Irr = terms.installments.iter().map(|i| i.interest).sum();
        prop_assert_eq!(p, irr(principal));
        prop_assert_eq!(i, terms.total_interest);
        prop_assert!(terms.installments.iter().all(|i| !i.principal.is_negative() && !i.interest.is_negative()));
        prop_assert_eq!(terms.installments[5].due_date, terms.due_date);
    }

    #[test]
    fn repayments_never_apply_more_than_owed_and_the_payoff_always_settles(
        principal in 1_000_000i64..5_000_000_000,
        six_months in any::<bool>(),
        payments in prop::collection::vec((1i64..2_000_000_000, 0i64..3_000_000), 0..8),
        payoff_after in 0i64..3_000_000,
    ) {
        let duration = if six_months { LoanDuration::SixMonths } else { LoanDuration::ThreeMonths };
        let mut loan = Loan::from_terms(
            LoanTerms::new(irr(principal), duration, start()),
            AssetId::Btc,
            qty(dec!(1)),
            irr(principal * 2),
        );
        let mut now = start();
        let mut total_applied = Irr::ZERO;
        for (amount, gap_seconds) in payments {
            now = now.plus_seconds(gap_seconds);
            if !loan.is_active() {
                break;
            }
            let owed = loan.outstanding_debt(now);
            let r = loan.repay(irr(amount), irr(i64::MAX / 4), now).unwrap();
            prop_assert!(r.applied <= owed);
            prop_assert_eq!(r.applied, r.principal_applied + r.interest_applied);
            prop_assert!(loan.principal_paid <= loan.principal);
            prop_assert!(loan.interest_paid <= loan.total_interest);
            total_applied += r.applied;
            prop_assert_eq!(loan.paid(), total_applied);
            if !r.settled {
                prop_assert_eq!(r.remaining_balance, loan.outstanding_debt(now));
                prop_assert!(loan.principal_paid < loan.principal);
            }
        }
        if loan.is_active() {
            now = now.plus_seconds(payoff_after);
            let payoff = loan.outstanding_debt(now);
            let r = loan.repay(payoff, payoff, now).unwrap();
            prop_assert!(r.settled);
            prop_assert_eq!(r.remaining_balance, Irr::ZERO);
            prop_assert_eq!(loan.status, LoanStatus::Repaid);
            prop_assert_eq!(loan.principal_paid, loan.principal);
            prop_assert_eq!(loan.installments_paid(), 6);
            total_applied += r.applied;
        }
        prop_assert_eq!(loan.paid(), total_applied);
        prop_assert_eq!(
            loan.interest_forgiven.unwrap(),
            loan.total_interest - loan.interest_paid
        );
    }
}
