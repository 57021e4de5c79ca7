//! Unit tests of trades (business-rules §5, D14–D18): the trade vectors T1–T3, validation and
//! its order (§5.4), sells of whole and partial holdings, frozen holdings, fixed income FIFO
//! (FI2), boundary and copy (§5.6–5.7), and property tests of cash and quantities.

use proptest::prelude::*;

use super::*;
use crate::allocation::PortfolioStatus;
use crate::portfolio::Holding;

fn at(text: &str) -> Timestamp {
    Timestamp::parse_rfc3339(text).unwrap()
}

fn now() -> Timestamp {
    at("2026-01-20T12:00:00Z")
}

fn target() -> Allocation {
    Allocation::new(dec!(0.50), dec!(0.35), dec!(0.15))
}

fn book() -> PriceBook {
    PriceBook::defaults()
}

fn price(asset: AssetId) -> Option<AssetPrice> {
    book().get(asset)
}

fn q(text: Decimal) -> Quantity {
    Quantity::exact(text).unwrap()
}

/// The §5.9 start: cash 100,000,000; holdings worth F 50,000,000 (USDT 20,000,000 and 60
/// fixed-income units bought at `now`, 30,000,000) · G 35,000,000 (XRP) · U 15,000,000
/// (MATIC) at default prices. These quantities value to the layer amounts exactly, so
/// H = 100,000,000 (asserted in `the_trade_vector_start_state_is_worth_exactly_100m`).
fn start_state() -> PortfolioState {
    let mut fi = Holding::new(AssetId::IrrFixedIncome, q(dec!(60)));
    fi.lots.push(Lot {
        units: q(dec!(60)),
        purchased_at: now(),
    });
    PortfolioState {
        cash: Irr::new(100_000_000),
        holdings: vec![
            Holding::new(AssetId::Usdt, q(dec!(13.73626373))),
            fi,
            Holding::new(AssetId::Xrp, q(dec!(10.92657342))),
            Holding::new(AssetId::Matic, q(dec!(22.89377289))),
        ],
    }
}

fn buy(asset: AssetId, amount: i64) -> TradeRequest {
    TradeRequest {
        action: TradeAction::Buy,
        asset,
        amount: Some(Irr::new(amount)),
        sell_all: false,
    }
}

fn sell(asset: AssetId, amount: i64) -> TradeRequest {
    TradeRequest {
        action: TradeAction::Sell,
        asset,
        amount: Some(Irr::new(amount)),
        sell_all: false,
    }
}

fn sell_all(asset: AssetId) -> TradeRequest {
    TradeRequest {
        action: TradeAction::Sell,
        asset,
        amount: None,
        sell_all: true,
    }
}

fn preview(state: &PortfolioState, request: TradeRequest) -> RuleResult<TradePlan> {
    preview_trade(
        state,
        &target(),
        &request,
        price(request.asset),
        &book(),
        now(),
    )
}

fn error(state: &PortfolioState, request: TradeRequest) -> RuleViolation {
    preview(state, request).unwrap_err()
}

fn after_6dp(plan: &TradePlan) -> [Decimal; 3] {
    plan.after.rounded(6).values()
}

#[test]
fn the_trade_vector_start_state_is_worth_exactly_100m() {
    let v = value_portfolio(&start_state(), &book(), now());
    assert_eq!(
        v.layer_values,
        [50_000_000, 35_000_000, 15_000_000].map(Irr::new)
    );
    assert_eq!(v.holdings_value, Irr::new(100_000_000));
    assert_eq!(v.status(&target()).status, PortfolioStatus::Balanced);
}

#[test]
fn t1_buying_btc_for_10m_drifts_growth_slightly() {
    let plan = preview(&start_state(), buy(AssetId::Btc, 10_000_000)).unwrap();
    assert_eq!(plan.spread_amount, Irr::new(30_000));
    assert_eq!(plan.net_amount, Irr::new(9_970_000));
    assert_eq!(plan.quantity.value(), dec!(0.00007023));
    assert_eq!(
        after_6dp(&plan),
        [dec!(0.454670), dec!(0.408929), dec!(0.136401)]
    );
    assert_eq!(plan.status_after.status, PortfolioStatus::SlightlyOff);
    assert_eq!(round_half_up(plan.status_after.max_drift_pp, 2), dec!(5.89));
    assert_eq!(plan.boundary, Boundary::Drift);
    assert!(!plan.moves_toward);
    assert!(!plan.requires_acknowledgment);
    assert_eq!(plan.friction_copy.len(), 2);
    assert_eq!(plan.cash_after, Irr::new(90_000_000));
    assert_eq!(plan.before, target());
    assert_eq!(plan.spread, dec!(0.003));
    assert_eq!(plan.price_usd, dec!(97500));
    assert_eq!(plan.price_irr, dec!(141960000000));
}

#[test]
fn t2_buying_usdt_for_10m_stays_balanced_and_safe() {
    let plan = preview(&start_state(), buy(AssetId::Usdt, 10_000_000)).unwrap();
    assert_eq!(plan.spread_amount, Irr::new(15_000));
    assert_eq!(plan.quantity.value(), dec!(6.85782967));
    assert_eq!(
        after_6dp(&plan),
        [dec!(0.545393), dec!(0.318225), dec!(0.136382)]
    );
    assert_eq!(plan.status_after.status, PortfolioStatus::Balanced);
    assert_eq!(round_half_up(plan.status_after.max_drift_pp, 2), dec!(4.54));
    assert_eq!(plan.boundary, Boundary::Safe);
    assert!(plan.friction_copy.is_empty());
    assert!(!plan.requires_acknowledgment);
    assert_eq!(plan.cash_after, Irr::new(90_000_000));
}

#[test]
fn t3_buying_sol_for_20m_breaks_the_upside_cap_and_needs_confirmation() {
    let state = start_state();
    let plan = preview(&state, buy(AssetId::Sol, 20_000_000)).unwrap();
    assert_eq!(plan.spread_amount, Irr::new(120_000));
    assert_eq!(plan.quantity.value(), dec!(0.07380457));
    assert_eq!(
        after_6dp(&plan),
        [dec!(0.417084), dec!(0.291959), dec!(0.290958)]
    );
    assert_eq!(plan.status_after.status, PortfolioStatus::AttentionRequired);
    assert!(
        plan.status_after
            .issues
            .contains(&"UPSIDE_ABOVE_HARD_CAP".to_owned())
    );
    assert_eq!(plan.boundary, Boundary::Structural);
    assert!(plan.requires_acknowledgment);
    assert_eq!(plan.cash_after, Irr::new(80_000_000));

    let err = apply_trade(&state, &plan, false).unwrap_err();
    assert_eq!(err.code, ErrorCode::AcknowledgmentRequired);
    assert_eq!(err.details["boundary"], "STRUCTURAL");
    assert_eq!(
        err.details["frictionCopy"],
        serde_json::json!(plan.friction_copy)
    );
    let done = apply_trade(&state, &plan, true).unwrap();
    assert_eq!(done.new_cash, Irr::new(80_000_000));
    assert_eq!(done.new_holding_quantity.value(), dec!(0.07380457));
}

#[test]
fn executing_a_buy_spends_the_gross_amount_and_adds_the_units() {
    let state = start_state();
    let (plan, done) = execute_trade(
        &state,
        &target(),
        &buy(AssetId::Usdt, 10_000_000),
        price(AssetId::Usdt),
        &book(),
        now(),
        false,
    )
    .unwrap();
    assert_eq!(done.new_cash, Irr::new(90_000_000));
    assert_eq!(done.new_holding_quantity.value(), dec!(20.5940934));
    assert_eq!(plan.holding_quantity_after, done.new_holding_quantity);
    let after = value_portfolio(&done.state, &book(), now());
    assert_eq!(after.allocation(), plan.after);
}

#[test]
fn an_unknown_asset_id_is_a_validation_error_on_asset_id() {
    let err = parse_asset_id("DOGE").unwrap_err();
    assert_eq!(err.code, ErrorCode::ValidationError);
    assert_eq!(err.details["fields"][0]["field"], "assetId");
    assert_eq!(parse_asset_id("btc").unwrap(), AssetId::Btc);
}

#[test]
fn a_missing_or_non_positive_amount_is_a_validation_error() {
    let state = start_state();
    let mut request = buy(AssetId::Btc, 0);
    assert_eq!(error(&state, request).code, ErrorCode::ValidationError);
    request.amount = None;
    let err = error(&state, request);
    assert_eq!(err.details["fields"][0]["field"], "amountIrr");
    request.sell_all = true;
    let err = error(&state, request);
    assert_eq!(err.details["fields"][0]["field"], "sellAll");
}

#[test]
fn an_amount_above_50b_is_a_validation_error_with_max() {
    let err = error(&start_state(), buy(AssetId::Btc, 50_000_000_001));
    assert_eq!(err.code, ErrorCode::ValidationError);
    assert_eq!(err.details["max"], serde_json::json!(50_000_000_000_i64));
    // The maximum is checked before cash (check 4 before check 10).
    assert!(validate_request(&buy(AssetId::Btc, 50_000_000_000)).is_ok());
}

#[test]
fn a_market_asset_without_a_fill_price_is_prices_stale() {
    let request = buy(AssetId::Btc, 10_000_000);
    let err = preview_trade(&start_state(), &target(), &request, None, &book(), now()).unwrap_err();
    assert_eq!(err.code, ErrorCode::PricesStale);
    assert_eq!(err.details["assetIds"], serde_json::json!(["BTC"]));
}

#[test]
fn selling_an_asset_not_held_is_insufficient_holdings() {
    let err = error(&start_state(), sell(AssetId::Btc, 1_000_000));
    assert_eq!(err.code, ErrorCode::InsufficientHoldings);
    assert_eq!(err.details["availableIrr"], serde_json::json!(0));
    assert_eq!(err.details["requiredIrr"], serde_json::json!(1_000_000));
    let err = error(&start_state(), sell_all(AssetId::Btc));
    assert_eq!(err.code, ErrorCode::InsufficientHoldings);
}

#[test]
fn selling_more_than_101_percent_of_the_holding_is_insufficient_holdings() {
    // XRP is worth 35,000,000; 101% is 35,350,000.
    let state = start_state();
    let err = error(&state, sell(AssetId::Xrp, 35_350_001));
    assert_eq!(err.code, ErrorCode::InsufficientHoldings);
    assert_eq!(err.details["requiredIrr"], serde_json::json!(35_350_001));
    assert_eq!(err.details["availableIrr"], serde_json::json!(35_000_000));
    let plan = preview(&state, sell(AssetId::Xrp, 35_350_000)).unwrap();
    assert!(plan.sell_all);
}

#[test]
fn a_sell_one_rial_below_the_value_sells_the_whole_holding_and_two_below_does_not() {
    // D40: BTC 0.00070001 × 141,960,000,000 = 99,373,419.6 → value 99,373,420, while the
    // app's Max sends floor(99,373,419.6) = 99,373,419.
    let state = PortfolioState {
        cash: Irr::ZERO,
        holdings: vec![Holding::new(AssetId::Btc, q(dec!(0.00070001)))],
    };
    let max = preview(&state, sell(AssetId::Btc, 99_373_419)).unwrap();
    assert!(max.sell_all);
    assert_eq!(max.quantity.value(), dec!(0.00070001));
    assert!(max.holding_quantity_after.is_zero());
    let short = preview(&state, sell(AssetId::Btc, 99_373_418)).unwrap();
    assert!(!short.sell_all);
    assert!(short.holding_quantity_after.is_positive());
}

#[test]
fn a_sell_at_100_5_percent_of_value_sells_the_whole_holding() {
    let state = start_state();
    let plan = preview(&state, sell(AssetId::Xrp, 35_175_000)).unwrap();
    assert!(plan.sell_all);
    assert_eq!(plan.quantity.value(), dec!(10.92657342));
    // The gross is what was actually sold, never the requested amount.
    assert_eq!(plan.amount, Irr::new(35_000_000));
    assert_eq!(plan.spread_amount, Irr::new(105_000));
    assert_eq!(
        plan.cash_after,
        Irr::new(100_000_000 + 35_000_000 - 105_000)
    );
    assert_eq!(plan.requested_amount, Some(Irr::new(35_175_000)));
    let done = apply_trade(&state, &plan, true).unwrap();
    assert_eq!(done.new_holding_quantity, Quantity::ZERO);
    assert_eq!(done.new_cash, Irr::new(134_895_000));
}

#[test]
fn a_partial_sell_takes_floor8_of_amount_over_price() {
    let state = start_state();
    let plan = preview(&state, sell(AssetId::Usdt, 10_000_000)).unwrap();
    assert!(!plan.sell_all);
    // floor8(10,000,000 / 1,456,000) = 6.86813186; gross = round(9,999,999.988…).
    assert_eq!(plan.quantity.value(), dec!(6.86813186));
    assert_eq!(plan.amount, Irr::new(10_000_000));
    assert_eq!(plan.spread_amount, Irr::new(15_000));
    assert_eq!(plan.net_amount, Irr::new(9_985_000));
    assert_eq!(plan.cash_after, Irr::new(109_985_000));
    // Selling Foundation away from an on-target portfolio.
    assert!(!plan.moves_toward);
}

#[test]
fn a_frozen_holding_cannot_be_sold() {
    let mut state = start_state();
    state.holding_mut(AssetId::Xrp).unwrap().frozen = true;
    let err = error(&state, sell(AssetId::Xrp, 5_000_000));
    assert_eq!(err.code, ErrorCode::AssetFrozen);
    assert_eq!(
        error(&state, sell_all(AssetId::Xrp)).code,
        ErrorCode::AssetFrozen
    );
}

#[test]
fn buying_into_a_frozen_holding_is_allowed_and_the_new_units_stay_locked() {
    let mut state = start_state();
    state.holding_mut(AssetId::Xrp).unwrap().frozen = true;
    let plan = preview(&state, buy(AssetId::Xrp, 2_000_000)).unwrap();
    let done = apply_trade(&state, &plan, true).unwrap();
    let xrp = done.state.holding(AssetId::Xrp).unwrap();
    assert!(xrp.frozen);
    assert_eq!(xrp.quantity, q(dec!(10.92657342)) + plan.quantity);
}

#[test]
fn an_amount_below_1m_is_refused_unless_it_sells_the_whole_holding() {
    let mut state = start_state();
    let err = error(&state, buy(AssetId::Btc, 999_999));
    assert_eq!(err.code, ErrorCode::ValidationError);
    assert_eq!(err.details["min"], serde_json::json!(1_000_000));
    // A small holding worth 500,000: a partial sell below the minimum is refused…
    state
        .holdings
        .push(Holding::new(AssetId::Ton, q(dec!(0.06604001))));
    let value = q(dec!(0.06604001)).value_at(dec!(7571200));
    assert_eq!(value, Irr::new(500_002));
    let err = error(&state, sell(AssetId::Ton, 400_000));
    assert_eq!(err.code, ErrorCode::ValidationError);
    assert_eq!(err.details["min"], serde_json::json!(1_000_000));
    // …while selling all of it is allowed, by amount or by sellAll.
    let plan = preview(&state, sell(AssetId::Ton, 500_002)).unwrap();
    assert!(plan.sell_all);
    assert_eq!(plan.amount, Irr::new(500_002));
    let plan = preview(&state, sell_all(AssetId::Ton)).unwrap();
    assert_eq!(plan.quantity.value(), dec!(0.06604001));
    assert_eq!(plan.requested_amount, None);
}

#[test]
fn a_buy_above_cash_is_insufficient_cash_with_required_and_available() {
    let mut state = start_state();
    state.cash = Irr::new(3_000_000);
    let err = error(&state, buy(AssetId::Btc, 5_000_000));
    assert_eq!(err.code, ErrorCode::InsufficientCash);
    assert_eq!(err.details["required"], serde_json::json!(5_000_000));
    assert_eq!(err.details["available"], serde_json::json!(3_000_000));
}

#[test]
fn validation_failures_come_in_the_order_of_business_rules_5_4() {
    let mut state = start_state();
    state.cash = Irr::ZERO;
    state.holding_mut(AssetId::Xrp).unwrap().frozen = true;
    // Check 4 (max) before check 10 (cash).
    let err = error(&state, buy(AssetId::Btc, 60_000_000_000));
    assert!(err.details.contains_key("max"));
    // Check 7 (over 101%) before check 8 (frozen).
    let err = error(&state, sell(AssetId::Xrp, 40_000_000));
    assert_eq!(err.code, ErrorCode::InsufficientHoldings);
    // Check 8 (frozen) before check 9 (minimum).
    let err = error(&state, sell(AssetId::Xrp, 500_000));
    assert_eq!(err.code, ErrorCode::AssetFrozen);
    // Check 9 (minimum) before check 10 (cash).
    let err = error(&state, buy(AssetId::Btc, 500_000));
    assert_eq!(err.code, ErrorCode::ValidationError);
}

fn fi2_state() -> PortfolioState {
    let lots = vec![
        Lot {
            units: q(dec!(30)),
            purchased_at: at("2026-01-01T00:00:00Z"),
        },
        Lot {
            units: q(dec!(20)),
            purchased_at: at("2026-03-02T00:00:00Z"),
        },
    ];
    let mut holding = Holding::new(AssetId::IrrFixedIncome, q(dec!(50)));
    holding.lots = lots;
    PortfolioState {
        cash: Irr::ZERO,
        holdings: vec![holding],
    }
}

#[test]
fn fi2_selling_10m_of_fixed_income_goes_fifo_from_the_oldest_lot() {
    let state = fi2_state();
    let when = at("2026-04-01T00:00:00Z");
    let request = sell(AssetId::IrrFixedIncome, 10_000_000);
    let plan = preview_trade(&state, &target(), &request, None, &book(), when).unwrap();
    assert!(!plan.sell_all);
    assert_eq!(plan.quantity.value(), dec!(18.62244897));
    assert_eq!(plan.amount, Irr::new(10_000_000));
    assert_eq!(plan.spread_amount, Irr::new(15_000));
    assert_eq!(plan.cash_after, Irr::new(9_985_000));
    let done = apply_trade(&state, &plan, true).unwrap();
    assert_eq!(done.new_cash, Irr::new(9_985_000));
    let fi = done.state.holding(AssetId::IrrFixedIncome).unwrap();
    assert_eq!(fi.quantity.value(), dec!(31.37755103));
    assert_eq!(fi.lots[0].units.value(), dec!(11.37755103));
    assert_eq!(fi.lots[0].purchased_at, at("2026-01-01T00:00:00Z"));
    assert_eq!(fi.lots[1], state.holdings[0].lots[1]);
}

#[test]
fn selling_all_fixed_income_takes_every_lot_at_its_accrued_value() {
    let state = fi2_state();
    let when = at("2026-04-01T00:00:00Z");
    let request = sell_all(AssetId::IrrFixedIncome);
    let plan = preview_trade(&state, &target(), &request, None, &book(), when).unwrap();
    assert_eq!(plan.amount, Irr::new(26_356_164));
    assert_eq!(plan.quantity.value(), dec!(50));
    let done = apply_trade(&state, &plan, true).unwrap();
    let fi = done.state.holding(AssetId::IrrFixedIncome).unwrap();
    assert!(fi.lots.is_empty());
    assert_eq!(fi.quantity, Quantity::ZERO);
    assert_eq!(done.new_cash, Irr::new(26_356_164 - 39_534));
}

#[test]
fn buying_fixed_income_creates_a_new_lot_at_principal() {
    let state = fi2_state();
    let mut state = state;
    state.cash = Irr::new(10_000_000);
    let when = at("2026-04-01T00:00:00Z");
    let request = buy(AssetId::IrrFixedIncome, 10_000_000);
    let plan = preview_trade(&state, &target(), &request, None, &book(), when).unwrap();
    assert_eq!(plan.spread_amount, Irr::new(15_000));
    assert_eq!(plan.quantity.value(), dec!(19.97));
    assert_eq!(plan.price_irr, dec!(500000));
    let done = apply_trade(&state, &plan, true).unwrap();
    let fi = done.state.holding(AssetId::IrrFixedIncome).unwrap();
    assert_eq!(fi.lots.len(), 3);
    assert_eq!(
        fi.lots[2],
        Lot {
            units: q(dec!(19.97)),
            purchased_at: when
        }
    );
    assert_eq!(fi.quantity.value(), dec!(69.97));
}

#[test]
fn a_buy_into_an_all_cash_portfolio_is_never_stress() {
    let state = PortfolioState {
        cash: Irr::new(50_000_000),
        holdings: Vec::new(),
    };
    let plan = preview(&state, buy(AssetId::Sol, 10_000_000)).unwrap();
    assert_eq!(plan.before, Allocation::ZERO);
    assert_eq!(plan.boundary, Boundary::Structural);
    let plan = preview(&state, buy(AssetId::Usdt, 10_000_000)).unwrap();
    assert_eq!(plan.boundary, Boundary::Structural);
}

#[test]
fn a_trade_toward_target_is_safe_with_the_closer_copy() {
    let state = start_state();
    // Upside-heavy portfolio: buy more of Upside first, then selling Upside moves toward.
    let plan = preview(&state, buy(AssetId::Sol, 20_000_000)).unwrap();
    let heavy = apply_trade(&state, &plan, true).unwrap().state;
    let plan = preview(&heavy, sell(AssetId::Sol, 10_000_000)).unwrap();
    assert!(plan.moves_toward);
    assert_eq!(plan.boundary, Boundary::Safe);
    assert_eq!(plan.friction_copy.len(), 1);
}

#[test]
fn apply_refuses_a_plan_the_state_can_no_longer_pay_for() {
    let state = start_state();
    let plan = preview(&state, buy(AssetId::Btc, 10_000_000)).unwrap();
    let mut poorer = state.clone();
    poorer.cash = Irr::new(1_000_000);
    let err = apply_trade(&poorer, &plan, true).unwrap_err();
    assert_eq!(err.code, ErrorCode::InsufficientCash);
    let plan = preview(&state, sell_all(AssetId::Xrp)).unwrap();
    let mut frozen = state;
    frozen.holding_mut(AssetId::Xrp).unwrap().frozen = true;
    assert_eq!(
        apply_trade(&frozen, &plan, true).unwrap_err().code,
        ErrorCode::AssetFrozen
    );
}

#[test]
fn every_trade_error_message_follows_the_communication_doctrine() {
    let mut state = start_state();
    state.holding_mut(AssetId::Xrp).unwrap().frozen = true;
    let plan = preview(&state, buy(AssetId::Sol, 20_000_000)).unwrap();
    let errors = [
        parse_asset_id("DOGE").unwrap_err(),
        error(&state, buy(AssetId::Btc, 0)),
        error(
            &state,
            TradeRequest {
                amount: None,
                ..buy(AssetId::Btc, 1)
            },
        ),
        error(
            &state,
            TradeRequest {
                sell_all: true,
                ..buy(AssetId::Btc, 1)
            },
        ),
        error(&state, buy(AssetId::Btc, 60_000_000_000)),
        error(&state, buy(AssetId::Btc, 500_000)),
        error(&state, buy(AssetId::Btc, 200_000_000)),
        error(&state, sell(AssetId::Btc, 2_000_000)),
        error(&state, sell(AssetId::Usdt, 90_000_000)),
        error(&state, sell(AssetId::Xrp, 2_000_000)),
        preview_trade(
            &state,
            &target(),
            &buy(AssetId::Btc, 1_000_000),
            None,
            &book(),
            now(),
        )
        .unwrap_err(),
        too_small(AssetId::Btc),
        apply_trade(&state, &plan, false).unwrap_err(),
    ];
    for err in errors {
        let m = err.message.to_lowercase();
        assert_eq!(crate::activity::forbidden_word_in(&m), None, "{m}");
        for word in ["token", "unauthorized", "401"] {
            assert!(!m.contains(word), "{m}");
        }
    }
}

fn market_asset() -> impl Strategy<Value = AssetId> {
    prop::sample::select(
        AssetId::ALL
            .into_iter()
            .filter(|a| !a.is_fixed_income())
            .collect::<Vec<_>>(),
    )
}

fn quantity() -> impl Strategy<Value = Quantity> {
    (1i64..=10_000_000_000_000).prop_map(|units| Quantity::floor8(Decimal::new(units, 8)))
}

proptest! {
    #[test]
    fn a_sell_never_takes_more_than_the_holding(
        asset in market_asset(),
        held in quantity(),
        amount in 1i64..=MAX_TRADE_IRR,
        all in any::<bool>(),
    ) {
        let state = PortfolioState {
            cash: Irr::ZERO,
            holdings: vec![Holding::new(asset, held)],
        };
        let request = if all { sell_all(asset) } else { sell(asset, amount) };
        if let Ok(plan) = preview(&state, request) {
            prop_assert!(plan.quantity <= held);
            prop_assert!(plan.quantity.is_positive());
            let done = apply_trade(&state, &plan, true).unwrap();
            prop_assert_eq!(done.new_holding_quantity, held - plan.quantity);
            prop_assert!(done.new_holding_quantity >= Quantity::ZERO);
            prop_assert_eq!(plan.sell_all, done.new_holding_quantity.is_zero());
        }
    }

    #[test]
    fn a_buy_never_spends_more_than_cash(
        asset in market_asset(),
        cash in 0i64..=60_000_000_000,
        amount in 1i64..=MAX_TRADE_IRR,
    ) {
        let state = PortfolioState { cash: Irr::new(cash), holdings: Vec::new() };
        match preview(&state, buy(asset, amount)) {
            Ok(plan) => {
                prop_assert!(plan.amount <= state.cash);
                let done = apply_trade(&state, &plan, true).unwrap();
                prop_assert!(!done.new_cash.is_negative());
                // Units received are never worth more than the net amount paid for them.
                prop_assert!(plan.quantity.value() * plan.price_irr <= plan.net_amount.value());
            }
            Err(err) => prop_assert!(amount > cash || amount < MIN_TRADE_IRR
                || err.code == ErrorCode::ValidationError, "{err}"),
        }
    }

    #[test]
    fn cash_after_is_cash_minus_amount_or_plus_gross_minus_spread(
        asset in market_asset(),
        held in quantity(),
        cash in 0i64..=60_000_000_000,
        amount in MIN_TRADE_IRR..=MAX_TRADE_IRR,
        selling in any::<bool>(),
    ) {
        let state = PortfolioState {
            cash: Irr::new(cash),
            holdings: vec![Holding::new(asset, held)],
        };
        let request = if selling { sell(asset, amount) } else { buy(asset, amount) };
        if let Ok(plan) = preview(&state, request) {
            let done = apply_trade(&state, &plan, true).unwrap();
            let expected = match plan.action {
                TradeAction::Buy => state.cash - Irr::new(amount),
                TradeAction::Sell => state.cash + plan.amount - plan.spread_amount,
            };
            prop_assert_eq!(plan.cash_after, expected);
            prop_assert_eq!(done.new_cash, expected);
            prop_assert_eq!(plan.spread_amount, plan.amount.mul_round(asset.asset().spread()));
        }
    }
}
