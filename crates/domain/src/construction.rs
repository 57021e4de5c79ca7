//! Portfolio construction: initial funding (business-rules §3.1–3.4, D8, appendix choice 1) and
//! add funds (§3.5, D9).
//!
//! Initial funding invests 100% of the amount at the static layer weights with no spread. Money
//! of a skipped asset stays inside its layer; only the rounding residue of whole-rial costs and
//! 8-dp quantities reaches cash. Nothing here is persisted: the caller stores the returned state
//! and legs in one transaction, or nothing at all (all or nothing, §3.1).

use rust_decimal::Decimal;
use serde::Serialize;

use crate::allocation::Allocation;
use crate::asset::{AssetId, FIXED_INCOME_UNIT_IRR, Layer};
use crate::error::{ErrorCode, RuleResult, RuleViolation};
use crate::fixed_income::{self, Lot};
use crate::format::compact_irr;
use crate::money::{Irr, Quantity, pro_rata};
use crate::portfolio::{Holding, PortfolioState, PriceBook};
use crate::time::Timestamp;
use crate::trade::TradeAction;

/// Smallest initial funding, IRR (D8).
pub const MIN_INITIAL_FUNDING_IRR: i64 = 1_000_000;
/// Largest initial funding, IRR (D8).
pub const MAX_INITIAL_FUNDING_IRR: i64 = 100_000_000_000;
/// Asset budgets below this are dropped while the layer has more than one candidate (§3.2 step 4).
pub const MIN_FUNDING_LEG_IRR: i64 = 100_000;
/// Smallest add-funds amount, IRR (D9, the app's own minimum).
pub const MIN_ADD_FUNDS_IRR: i64 = 100_000;
/// Largest add-funds amount per request, IRR (D9).
pub const MAX_ADD_FUNDS_IRR: i64 = 100_000_000_000;

/// A `VALIDATION_ERROR` on `amountIrr` outside `[min, max]`, with `min`/`max` details (§3.1).
pub(crate) fn check_amount_range(amount: Irr, min: i64, max: i64, what: &str) -> RuleResult<()> {
    let (min, max) = (Irr::new(min), Irr::new(max));
    let (message, field_message) = if amount < min {
        (
            format!("{what} must be at least {} IRR", compact_irr(min)),
            format!("must be at least {min}"),
        )
    } else if amount > max {
        (
            format!("{what} must be at most {} IRR", compact_irr(max)),
            format!("must be at most {max}"),
        )
    } else {
        return Ok(());
    };
    let fields = serde_json::json!([{ "field": "amountIrr", "message": field_message }]);
    Err(RuleViolation::new(ErrorCode::ValidationError, message)
        .with("fields", fields)
        .with("min", min)
        .with("max", max))
}

/// Checks 1,000,000 ≤ amount ≤ 100,000,000,000 (D8) → `VALIDATION_ERROR` with `min`/`max`.
pub fn validate_initial_funding_amount(amount: Irr) -> RuleResult<()> {
    check_amount_range(
        amount,
        MIN_INITIAL_FUNDING_IRR,
        MAX_INITIAL_FUNDING_IRR,
        "Initial funding",
    )
}

/// One purchase of the initial funding, in the ledger's leg shape (§3.2 step 7):
/// `{side: BUY, assetId, quantity, priceIrr, amountIrr: cost, spreadIrr: 0}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FundingLeg {
    pub side: TradeAction,
    pub asset_id: AssetId,
    pub quantity: Quantity,
    #[serde(with = "crate::num")]
    pub price_irr: Decimal,
    /// The cost `round(quantity × priceIrr)`, not the budget.
    pub amount_irr: Irr,
    /// Always zero: initial funding carries no spread (D8).
    pub spread_irr: Irr,
}

/// The budget one asset received after the minimum-leg rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AssetBudget {
    pub asset: AssetId,
    pub budget: Irr,
}

/// The outcome of initial funding: the new portfolio state and how it was built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InitialFunding {
    /// Cash = the rounding residue; holdings in registry order, fixed income as one lot at `now`.
    pub state: PortfolioState,
    /// One BUY leg per asset bought, in registry order.
    pub legs: Vec<FundingLeg>,
    /// Layer budgets `[F, G, U]` (§3.2 step 1).
    pub layer_budgets: [Irr; 3],
    /// Final asset budgets of the surviving candidates, in registry order.
    pub asset_budgets: Vec<AssetBudget>,
    /// Candidates dropped by the minimum-leg rule, in the order they were dropped.
    pub dropped: Vec<AssetId>,
}

impl InitialFunding {
    /// Σ costs of the legs (the money invested).
    pub fn invested(&self) -> Irr {
        self.legs.iter().map(|l| l.amount_irr).sum()
    }
}

/// Builds a new portfolio from `amount` at the static layer weights (§3.2).
///
/// `prices` must hold only fresh prices (the app layer filters by age): an asset without a price
/// in the book is not a candidate. Fixed income is always a candidate (priced internally).
/// A non-positive FX rate counts as missing FX. Either a missing FX or a layer with a positive
/// budget and no candidate refuses with `PRICES_STALE` and creates nothing.
///
/// Choice where the spec is silent: a candidate whose budget buys less than one 1e-8 unit gets
/// quantity 0; it produces no leg and no holding, and its budget reaches cash as residue.
pub fn initial_funding(
    amount: Irr,
    target: &Allocation,
    prices: &PriceBook,
    now: Timestamp,
) -> RuleResult<InitialFunding> {
    validate_initial_funding_amount(amount)?;
    if prices.fx_rate <= Decimal::ZERO {
        return Err(prices_stale(&[]));
    }
    let growth = amount.mul_round(target.get(Layer::Growth));
    let upside = amount.mul_round(target.get(Layer::Upside));
    let foundation = amount - growth - upside;
    let layer_budgets = [foundation, growth, upside];

    let mut asset_budgets = Vec::new();
    let mut dropped = Vec::new();
    for layer in Layer::ALL {
        let budget = layer_budgets[layer.index()];
        if !budget.is_positive() {
            continue;
        }
        let candidates: Vec<AssetId> = AssetId::in_layer(layer)
            .filter(|&a| a.is_fixed_income() || market_price(prices, a).is_some())
            .collect();
        if candidates.is_empty() {
            let layer_assets: Vec<AssetId> = AssetId::in_layer(layer).collect();
            return Err(prices_stale(&layer_assets));
        }
        let (budgets, layer_dropped) = layer_asset_budgets(budget, candidates);
        asset_budgets.extend(budgets);
        dropped.extend(layer_dropped);
    }

    let mut state = PortfolioState::default();
    let mut legs = Vec::new();
    for &AssetBudget { asset, budget } in &asset_budgets {
        let (quantity, price_irr) = if asset.is_fixed_income() {
            (fixed_income::units_for(budget), FIXED_INCOME_UNIT_IRR)
        } else {
            let price = market_price(prices, asset).expect("candidates have a price");
            (Quantity::at_price(budget.value(), price), price)
        };
        if !quantity.is_positive() {
            continue;
        }
        let cost = quantity.value_at(price_irr);
        let mut holding = Holding::new(asset, quantity);
        if asset.is_fixed_income() {
            holding.lots.push(Lot {
                units: quantity,
                purchased_at: now,
            });
        }
        state.holdings.push(holding);
        legs.push(FundingLeg {
            side: TradeAction::Buy,
            asset_id: asset,
            quantity,
            price_irr,
            amount_irr: cost,
            spread_irr: Irr::ZERO,
        });
    }
    let invested: Irr = legs.iter().map(|l| l.amount_irr).sum();
    state.cash = amount - invested;
    debug_assert!(
        !state.cash.is_negative(),
        "floor8 quantities never overspend"
    );
    Ok(InitialFunding {
        state,
        legs,
        layer_budgets,
        asset_budgets,
        dropped,
    })
}

/// A usable market price: present and positive.
fn market_price(prices: &PriceBook, asset: AssetId) -> Option<Decimal> {
    prices.price_irr(asset).filter(|p| *p > Decimal::ZERO)
}

fn prices_stale(asset_ids: &[AssetId]) -> RuleViolation {
    RuleViolation::new(
        ErrorCode::PricesStale,
        "Prices are being updated. Please try again in a moment.",
    )
    .with("assetIds", asset_ids)
}

/// Steps 3–4 of §3.2 for one layer: proportional budgets over the candidates (the last takes the
/// remainder), dropping the smallest budget (tie: the later in registry order) while any is
/// below the minimum leg and more than one candidate remains. Returns the budgets and the
/// dropped assets in drop order.
fn layer_asset_budgets(
    layer_budget: Irr,
    mut candidates: Vec<AssetId>,
) -> (Vec<AssetBudget>, Vec<AssetId>) {
    let minimum = Irr::new(MIN_FUNDING_LEG_IRR);
    let mut dropped = Vec::new();
    loop {
        let budgets = split_budget(layer_budget, &candidates);
        if candidates.len() == 1 || budgets.iter().all(|b| b.budget >= minimum) {
            return (budgets, dropped);
        }
        // `min_by_key` keeps the first minimum; scanning in reverse registry order makes the
        // later asset win a tie.
        let smallest = budgets
            .iter()
            .rev()
            .min_by_key(|b| b.budget)
            .expect("at least two candidates")
            .asset;
        candidates.retain(|&a| a != smallest);
        dropped.push(smallest);
    }
}

/// `b_i = round(B × w_i / Σ w)` for every candidate but the last, which takes the remainder.
fn split_budget(layer_budget: Irr, candidates: &[AssetId]) -> Vec<AssetBudget> {
    let total_weight: Decimal = candidates.iter().map(|a| a.asset().layer_weight).sum();
    let mut given = Irr::ZERO;
    let last = candidates.len().saturating_sub(1);
    candidates
        .iter()
        .enumerate()
        .map(|(i, &asset)| {
            let budget = if i == last {
                layer_budget - given
            } else {
                Irr::round(pro_rata(
                    layer_budget.value(),
                    asset.asset().layer_weight,
                    total_weight,
                ))
            };
            given += budget;
            AssetBudget { asset, budget }
        })
        .collect()
}

/// Checks 100,000 ≤ amount ≤ 100,000,000,000 (D9) → `VALIDATION_ERROR` with `min`/`max`.
pub fn validate_add_funds_amount(amount: Irr) -> RuleResult<()> {
    check_amount_range(amount, MIN_ADD_FUNDS_IRR, MAX_ADD_FUNDS_IRR, "Amount")
}

/// The result of adding funds, with the fields `POST /portfolio/add-funds` reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddFunds {
    pub state: PortfolioState,
    pub previous_cash: Irr,
    pub new_cash: Irr,
    pub amount_added: Irr,
}

/// Adds `amount` to cash (D9): nothing is invested automatically and holdings are untouched, so
/// layer shares and status do not change (the ledger boundary is SAFE).
pub fn add_funds(state: &PortfolioState, amount: Irr) -> RuleResult<AddFunds> {
    validate_add_funds_amount(amount)?;
    let mut next = state.clone();
    next.cash += amount;
    Ok(AddFunds {
        previous_cash: state.cash,
        new_cash: next.cash,
        amount_added: amount,
        state: next,
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use rust_decimal_macros::dec;

    use super::*;
    use crate::allocation::PortfolioStatus;
    use crate::portfolio::value_portfolio;

    fn now() -> Timestamp {
        Timestamp::parse_rfc3339("2026-01-20T12:00:00Z").unwrap()
    }

    /// Target allocations of the score table (business-rules §1.6), scores 1–10.
    const SCORE_TARGETS: [(Decimal, Decimal, Decimal); 10] = [
        (dec!(0.85), dec!(0.12), dec!(0.03)),
        (dec!(0.80), dec!(0.15), dec!(0.05)),
        (dec!(0.70), dec!(0.25), dec!(0.05)),
        (dec!(0.65), dec!(0.30), dec!(0.05)),
        (dec!(0.55), dec!(0.35), dec!(0.10)),
        (dec!(0.50), dec!(0.35), dec!(0.15)),
        (dec!(0.45), dec!(0.38), dec!(0.17)),
        (dec!(0.40), dec!(0.40), dec!(0.20)),
        (dec!(0.35), dec!(0.40), dec!(0.25)),
        (dec!(0.30), dec!(0.40), dec!(0.30)),
    ];

    fn target_of(score: usize) -> Allocation {
        let (f, g, u) = SCORE_TARGETS[score - 1];
        Allocation::new(f, g, u)
    }

    fn leg(funding: &InitialFunding, asset: AssetId) -> &FundingLeg {
        funding.legs.iter().find(|l| l.asset_id == asset).unwrap()
    }

    fn budget(funding: &InitialFunding, asset: AssetId) -> Irr {
        funding
            .asset_budgets
            .iter()
            .find(|b| b.asset == asset)
            .unwrap()
            .budget
    }

    #[test]
    fn f1_one_hundred_million_at_score_six_matches_every_row() {
        let f = initial_funding(
            Irr::new(100_000_000),
            &target_of(6),
            &PriceBook::defaults(),
            now(),
        )
        .unwrap();
        assert_eq!(
            f.layer_budgets,
            [50_000_000, 35_000_000, 15_000_000].map(Irr::new)
        );
        use AssetId::*;
        let rows = [
            (
                Usdt,
                20_000_000,
                dec!(1456000),
                dec!(13.73626373),
                20_000_000,
            ),
            (
                Paxg,
                15_000_000,
                dec!(3858400000),
                dec!(0.00388762),
                14_999_993,
            ),
            (
                IrrFixedIncome,
                15_000_000,
                dec!(500000),
                dec!(30),
                15_000_000,
            ),
            (
                Btc,
                8_750_000,
                dec!(141960000000),
                dec!(0.00006163),
                8_748_995,
            ),
            (
                Eth,
                7_000_000,
                dec!(4659200000),
                dec!(0.00150240),
                6_999_982,
            ),
            (Bnb, 5_250_000, dec!(990080000), dec!(0.00530260), 5_249_998),
            (Xrp, 3_500_000, dec!(3203200), dec!(1.09265734), 3_500_000),
            (Kag, 5_250_000, dec!(43680000), dec!(0.12019230), 5_250_000),
            (Qqq, 5_250_000, dec!(758576000), dec!(0.00692086), 5_249_998),
            (Sol, 3_000_000, dec!(269360000), dec!(0.01113751), 3_000_000),
            (Ton, 2_700_000, dec!(7571200), dec!(0.35661453), 2_700_000),
            (Link, 2_700_000, dec!(32032000), dec!(0.08429070), 2_700_000),
            (Avax, 2_400_000, dec!(50960000), dec!(0.04709576), 2_400_000),
            (Matic, 2_100_000, dec!(655200), dec!(3.20512820), 2_100_000),
            (Arb, 2_100_000, dec!(1164800), dec!(1.80288461), 2_100_000),
        ];
        assert_eq!(f.legs.len(), rows.len());
        for (asset, b, price, quantity, cost) in rows {
            assert_eq!(budget(&f, asset), Irr::new(b), "{asset} budget");
            let l = leg(&f, asset);
            assert_eq!(l.price_irr, price, "{asset} price");
            assert_eq!(l.quantity.value(), quantity, "{asset} quantity");
            assert_eq!(l.amount_irr, Irr::new(cost), "{asset} cost");
            assert_eq!(l.spread_irr, Irr::ZERO);
            assert_eq!(l.side, TradeAction::Buy);
            assert_eq!(f.state.holding(asset).unwrap().quantity.value(), quantity);
        }
        assert!(f.dropped.is_empty());
        assert_eq!(f.state.cash, Irr::new(1_034));
        let v = value_portfolio(&f.state, &PriceBook::defaults(), now());
        assert_eq!(v.holdings_value, Irr::new(99_998_966));
        assert_eq!(v.status(&target_of(6)).status, PortfolioStatus::Balanced);
    }

    #[test]
    fn f1_fixed_income_is_bought_as_one_lot_at_funding_time() {
        let f = initial_funding(
            Irr::new(100_000_000),
            &target_of(6),
            &PriceBook::defaults(),
            now(),
        )
        .unwrap();
        let fi = f.state.holding(AssetId::IrrFixedIncome).unwrap();
        assert_eq!(
            fi.lots,
            vec![Lot {
                units: Quantity::floor8(dec!(30)),
                purchased_at: now()
            }]
        );
    }

    #[test]
    fn f2_the_minimum_amount_at_score_one_drops_small_legs_inside_their_layer() {
        let f = initial_funding(
            Irr::new(1_000_000),
            &target_of(1),
            &PriceBook::defaults(),
            now(),
        )
        .unwrap();
        assert_eq!(f.layer_budgets, [850_000, 120_000, 30_000].map(Irr::new));
        use AssetId::*;
        let growth_dropped: Vec<AssetId> = f
            .dropped
            .iter()
            .copied()
            .filter(|a| a.layer() == Layer::Growth)
            .collect();
        assert_eq!(growth_dropped, vec![Xrp, Qqq, Kag, Bnb, Eth]);
        let rows = [
            (Usdt, 340_000, dec!(0.23351648), 340_000),
            (Paxg, 255_000, dec!(0.00006608), 254_963),
            (IrrFixedIncome, 255_000, dec!(0.51), 255_000),
            (Btc, 120_000, dec!(0.00000084), 119_246),
            (Sol, 30_000, dec!(0.00011137), 29_999),
        ];
        assert_eq!(f.legs.len(), rows.len());
        for (asset, b, quantity, cost) in rows {
            assert_eq!(budget(&f, asset), Irr::new(b), "{asset} budget");
            assert_eq!(leg(&f, asset).quantity.value(), quantity, "{asset}");
            assert_eq!(leg(&f, asset).amount_irr, Irr::new(cost), "{asset}");
        }
        assert_eq!(f.state.cash, Irr::new(792));
    }

    #[test]
    fn f2_upside_drops_every_asset_but_sol() {
        let f = initial_funding(
            Irr::new(1_000_000),
            &target_of(1),
            &PriceBook::defaults(),
            now(),
        )
        .unwrap();
        let upside_dropped: Vec<AssetId> = f
            .dropped
            .iter()
            .copied()
            .filter(|a| a.layer() == Layer::Upside)
            .collect();
        assert_eq!(upside_dropped.len(), 5);
        assert!(!upside_dropped.contains(&AssetId::Sol));
    }

    #[test]
    fn funding_outside_the_limits_is_a_validation_error_with_min_and_max() {
        for amount in [999_999, 100_000_000_001, 0] {
            let err = initial_funding(
                Irr::new(amount),
                &target_of(6),
                &PriceBook::defaults(),
                now(),
            )
            .unwrap_err();
            assert_eq!(err.code, ErrorCode::ValidationError);
            assert_eq!(err.details["min"], serde_json::json!(1_000_000));
            assert_eq!(err.details["max"], serde_json::json!(100_000_000_000_i64));
            assert_eq!(err.details["fields"][0]["field"], "amountIrr");
        }
        assert!(validate_initial_funding_amount(Irr::new(1_000_000)).is_ok());
        assert!(validate_initial_funding_amount(Irr::new(100_000_000_000)).is_ok());
    }

    #[test]
    fn missing_fx_refuses_funding_as_prices_stale() {
        let mut book = PriceBook::new(Decimal::ZERO);
        book.set_usd(AssetId::Btc, dec!(97500));
        let err = initial_funding(Irr::new(100_000_000), &target_of(6), &book, now()).unwrap_err();
        assert_eq!(err.code, ErrorCode::PricesStale);
    }

    #[test]
    fn a_layer_with_a_budget_and_no_fresh_price_refuses_funding() {
        let mut book = PriceBook::new(dec!(1456000));
        // Foundation can still buy fixed income; Growth has prices; Upside has none.
        book.set_usd(AssetId::Btc, dec!(97500));
        let err = initial_funding(Irr::new(100_000_000), &target_of(6), &book, now()).unwrap_err();
        assert_eq!(err.code, ErrorCode::PricesStale);
        assert_eq!(
            err.details["assetIds"],
            serde_json::json!(["SOL", "TON", "LINK", "AVAX", "MATIC", "ARB"])
        );
    }

    #[test]
    fn money_of_an_unpriced_asset_stays_in_its_layer() {
        let defaults = PriceBook::defaults();
        let mut book = PriceBook::new(defaults.fx_rate);
        for asset in AssetId::ALL {
            match defaults.get(asset) {
                Some(p) if asset != AssetId::Paxg && asset != AssetId::Eth => {
                    book.set_usd(asset, p.price_usd);
                }
                _ => {}
            }
        }
        let f = initial_funding(Irr::new(100_000_000), &target_of(6), &book, now()).unwrap();
        assert!(f.state.holding(AssetId::Paxg).is_none());
        assert!(f.state.holding(AssetId::Eth).is_none());
        let layer_budget = |layer: Layer| -> Irr {
            f.asset_budgets
                .iter()
                .filter(|b| b.asset.layer() == layer)
                .map(|b| b.budget)
                .sum()
        };
        assert_eq!(layer_budget(Layer::Foundation), Irr::new(50_000_000));
        assert_eq!(layer_budget(Layer::Growth), Irr::new(35_000_000));
        // USDT 0.4 and fixed income 0.3 share Foundation 4:3.
        assert_eq!(budget(&f, AssetId::Usdt), Irr::new(28_571_429));
        assert_eq!(budget(&f, AssetId::IrrFixedIncome), Irr::new(21_428_571));
    }

    #[test]
    fn adding_funds_only_increases_cash() {
        let state = PortfolioState {
            cash: Irr::new(12_000_000),
            holdings: vec![Holding::new(AssetId::Usdt, Quantity::floor8(dec!(2)))],
        };
        let r = add_funds(&state, Irr::new(5_000_000)).unwrap();
        assert_eq!(r.previous_cash, Irr::new(12_000_000));
        assert_eq!(r.new_cash, Irr::new(17_000_000));
        assert_eq!(r.amount_added, Irr::new(5_000_000));
        assert_eq!(r.state.cash, Irr::new(17_000_000));
        assert_eq!(r.state.holdings, state.holdings);
    }

    #[test]
    fn add_funds_outside_the_limits_is_a_validation_error_with_min_and_max() {
        let state = PortfolioState::default();
        for amount in [99_999, 100_000_000_001] {
            let err = add_funds(&state, Irr::new(amount)).unwrap_err();
            assert_eq!(err.code, ErrorCode::ValidationError);
            assert_eq!(err.details["min"], serde_json::json!(100_000));
            assert_eq!(err.details["max"], serde_json::json!(100_000_000_000_i64));
        }
        assert!(add_funds(&state, Irr::new(100_000)).is_ok());
        assert!(add_funds(&state, Irr::new(100_000_000_000)).is_ok());
    }

    #[test]
    fn funding_legs_serialize_in_the_ledger_leg_shape() {
        let leg = FundingLeg {
            side: TradeAction::Buy,
            asset_id: AssetId::Btc,
            quantity: Quantity::floor8(dec!(0.00000084)),
            price_irr: dec!(141960000000),
            amount_irr: Irr::new(119_246),
            spread_irr: Irr::ZERO,
        };
        assert_eq!(
            serde_json::to_string(&leg).unwrap(),
            r#"{"side":"BUY","assetId":"BTC","quantity":0.00000084,"priceIrr":141960000000,"amountIrr":119246,"spreadIrr":0}"#
        );
    }

    proptest! {
        #[test]
        fn funding_never_loses_money_nor_moves_it_between_layers(
            amount in MIN_INITIAL_FUNDING_IRR..=MAX_INITIAL_FUNDING_IRR,
            score in 1usize..=10,
        ) {
            let f = initial_funding(
                Irr::new(amount), &target_of(score), &PriceBook::defaults(), now(),
            ).unwrap();
            prop_assert!(!f.state.cash.is_negative());
            prop_assert_eq!(f.invested() + f.state.cash, Irr::new(amount));
            prop_assert_eq!(f.layer_budgets.iter().copied().sum::<Irr>(), Irr::new(amount));
            for layer in Layer::ALL {
                let budgets: Irr = f.asset_budgets.iter()
                    .filter(|b| b.asset.layer() == layer).map(|b| b.budget).sum();
                let costs: Irr = f.legs.iter()
                    .filter(|l| l.asset_id.layer() == layer).map(|l| l.amount_irr).sum();
                prop_assert_eq!(budgets, f.layer_budgets[layer.index()]);
                prop_assert!(costs <= f.layer_budgets[layer.index()]);
            }
            for leg in &f.legs {
                prop_assert!(leg.quantity.is_positive());
            }
        }
    }
}
