//! Chain-level tests: a small simulator writes realistic ledgers (every entry type, snapshots
//! captured from real valuations), then hashing, verification and tampering are checked on
//! them, by example and by property.

use proptest::prelude::*;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::{Map, Value, json};

use super::*;
use crate::allocation::Allocation;
use crate::fixed_income::Lot;
use crate::portfolio::{Holding, PortfolioState, PriceBook, value_portfolio};

const PORTFOLIO: &str = "5f1d7c3a-9b2e-4e8f-a6d4-2c0b9e7f1a35";

fn uuid(n: u64) -> UuidText {
    UuidText::parse(&format!("00000000-0000-4000-8000-{n:012x}")).unwrap()
}

fn market_assets() -> Vec<AssetId> {
    AssetId::ALL
        .into_iter()
        .filter(|a| !a.is_fixed_income())
        .collect()
}

/// One step of a generated ledger; `asset`, `amount` and `fraction` are interpreted against
/// the simulated state, and infeasible steps fall back to adding funds.
#[derive(Clone, Debug)]
struct Step {
    kind: u8,
    asset: usize,
    other: usize,
    amount: u64,
    /// Per mille.
    fraction: u32,
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    prop::collection::vec(
        (
            0u8..12,
            0usize..14,
            0usize..14,
            1u64..2_000_000_000,
            1u32..=1000,
        )
            .prop_map(|(kind, asset, other, amount, fraction)| Step {
                kind,
                asset,
                other,
                amount,
                fraction,
            }),
        0..10,
    )
}

/// Writes ledger entries the way the use cases will: capture, change, capture, seal.
struct Simulator {
    state: PortfolioState,
    prices: PriceBook,
    target: Allocation,
    now: Timestamp,
    entries: Vec<LedgerEntry>,
    next_id: u64,
}

impl Simulator {
    fn new() -> Simulator {
        Simulator {
            state: PortfolioState::default(),
            prices: PriceBook::defaults(),
            target: Allocation::new(dec!(0.50), dec!(0.35), dec!(0.15)),
            now: Timestamp::parse_rfc3339("2026-01-20T12:00:00.123456Z").unwrap(),
            entries: Vec::new(),
            next_id: 1,
        }
    }

    fn snapshot(&self) -> Snapshot {
        Snapshot::capture(
            &value_portfolio(&self.state, &self.prices, self.now),
            &self.target,
        )
    }

    fn price(&self, asset: AssetId) -> Decimal {
        self.prices.price_irr(asset).unwrap()
    }

    fn quantity(&self, asset: AssetId) -> Quantity {
        self.state
            .holding(asset)
            .map_or(Quantity::ZERO, |h| h.quantity)
    }

    /// Applies `change` to the state and appends the sealed entry it describes.
    fn record(&mut self, entry_type: EntryType, change: impl FnOnce(&mut Self, &mut NewEntry)) {
        let before = self.snapshot();
        let mut entry = NewEntry::new(
            uuid(self.next_id),
            UuidText::parse(PORTFOLIO).unwrap(),
            entry_type,
            self.now,
            before.clone(),
            before,
            Boundary::Safe,
            format!("{entry_type} #{}", self.next_id),
        );
        change(self, &mut entry);
        entry.after_snapshot = self.snapshot();
        let sealed = entry
            .seal(self.entries.last().map(LedgerEntry::head).as_ref())
            .unwrap();
        self.entries.push(sealed);
        self.next_id += 1;
        self.now = self.now.plus_seconds(61);
    }

    fn buy_leg(&mut self, asset: AssetId, gross: Irr) -> Leg {
        let spread = gross.mul_round(asset.asset().spread());
        let price = self.price(asset);
        let quantity = Quantity::floor8((gross - spread).value() / price);
        self.state.cash -= gross;
        self.state.holding_entry(asset).quantity += quantity;
        Leg {
            side: LegSide::Buy,
            asset_id: asset,
            layer: Some(asset.layer()),
            quantity,
            price_irr: price,
            amount_irr: gross,
            spread_irr: spread,
        }
    }

    fn sell_leg(&mut self, asset: AssetId, quantity: Quantity) -> Leg {
        let price = self.price(asset);
        let gross = quantity.value_at(price);
        let spread = gross.mul_round(asset.asset().spread());
        self.state.cash += gross - spread;
        self.state.holding_entry(asset).quantity -= quantity;
        Leg {
            side: LegSide::Sell,
            asset_id: asset,
            layer: None,
            quantity,
            price_irr: price,
            amount_irr: gross,
            spread_irr: spread,
        }
    }

    fn create(&mut self, funded: Irr) {
        self.record(EntryType::PortfolioCreated, |sim, entry| {
            sim.state.cash = funded;
            let legs = vec![
                sim.buy_leg(AssetId::Usdt, funded.mul_round(dec!(0.5))),
                sim.buy_leg(AssetId::Btc, funded.mul_round(dec!(0.3))),
                sim.buy_leg(AssetId::Sol, funded.mul_round(dec!(0.1))),
            ];
            entry.amount_irr = Some(funded);
            entry.legs = Some(legs);
            let mut metadata = Map::new();
            metadata.insert("fxRate".into(), json!(1456000));
            metadata.insert("riskScore".into(), json!(6));
            entry.metadata = Some(metadata);
        });
    }

    fn add_funds(&mut self, amount: Irr) {
        self.record(EntryType::AddFunds, |sim, entry| {
            sim.state.cash += amount;
            entry.amount_irr = Some(amount);
        });
    }

    fn apply(&mut self, step: &Step) {
        let assets = market_assets();
        let asset = assets[step.asset % assets.len()];
        let other = assets[step.other % assets.len()];
        let fraction = Decimal::from(step.fraction) / dec!(1000);
        let amount = Irr::new(step.amount as i64);
        let cash = self.state.cash;
        let held = self.quantity(asset);
        let sell_q = Quantity::floor8(held.value() * fraction);
        let cash_part = cash.mul_round(fraction);
        match step.kind {
            0 => self.add_funds(amount),
            1 if cash_part.is_positive() => self.record(EntryType::TradeBuy, |sim, entry| {
                let leg = sim.buy_leg(asset, cash_part);
                entry.asset_id = Some(asset);
                entry.quantity = Some(leg.quantity);
                entry.amount_irr = Some(leg.amount_irr);
                entry.price_irr = Some(leg.price_irr);
                entry.spread_irr = Some(leg.spread_irr);
                entry.boundary = Boundary::Drift;
            }),
            2 if sell_q.is_positive() => self.record(EntryType::TradeSell, |sim, entry| {
                let leg = sim.sell_leg(asset, sell_q);
                entry.asset_id = Some(asset);
                entry.quantity = Some(leg.quantity);
                entry.amount_irr = Some(leg.amount_irr);
                entry.price_irr = Some(leg.price_irr);
                entry.spread_irr = Some(leg.spread_irr);
            }),
            3 if sell_q.is_positive() => self.record(EntryType::Rebalance, |sim, entry| {
                let sell = sim.sell_leg(asset, sell_q);
                let buy_gross = sim.state.cash.mul_round(fraction);
                let mut legs = vec![sell];
                if buy_gross.is_positive() {
                    legs.push(sim.buy_leg(other, buy_gross));
                }
                entry.amount_irr = Some(legs.iter().map(|l| l.amount_irr).sum());
                entry.legs = Some(legs);
                let mut metadata = Map::new();
                metadata.insert("mode".into(), json!("HOLDINGS_ONLY"));
                metadata.insert(
                    "residualDrift".into(),
                    serde_json::from_str("1.25").unwrap(),
                );
                entry.metadata = Some(metadata);
            }),
            4 => self.record(EntryType::LoanCreate, |sim, entry| {
                sim.state.cash += amount;
                entry.asset_id = Some(asset);
                entry.quantity = Some(held);
                entry.amount_irr = Some(amount);
                entry.loan_id = Some(uuid(1_000_000 + sim.next_id));
            }),
            5 if cash_part.is_positive() => self.record(EntryType::LoanRepay, |sim, entry| {
                sim.state.cash -= cash_part;
                entry.asset_id = Some(asset);
                entry.amount_irr = Some(cash_part);
                entry.loan_id = Some(uuid(1_000_000));
            }),
            6 if sell_q.is_positive() => self.record(EntryType::LoanLiquidate, |sim, entry| {
                let price = sim.price(asset);
                let gross = sell_q.value_at(price);
                let excess = gross.mul_round(fraction / dec!(2));
                sim.state.cash += excess;
                sim.state.holding_entry(asset).quantity -= sell_q;
                entry.asset_id = Some(asset);
                entry.quantity = Some(sell_q);
                entry.amount_irr = Some(gross);
                entry.boundary = Boundary::Stress;
                let mut metadata = Map::new();
                metadata.insert(
                    EXCESS_KEY.into(),
                    serde_json::from_str(&excess.to_string()).unwrap(),
                );
                entry.metadata = Some(metadata);
            }),
            7 if cash_part.is_positive() => {
                self.record(EntryType::ProtectionPurchase, |sim, entry| {
                    sim.state.cash -= cash_part;
                    entry.asset_id = Some(asset);
                    entry.amount_irr = Some(cash_part);
                    entry.protection_id = Some(uuid(2_000_000));
                })
            }
            8 => self.record(EntryType::ProtectionCancel, |_, entry| {
                entry.asset_id = Some(asset);
                entry.amount_irr = Some(Irr::ZERO);
            }),
            9 => self.record(EntryType::ProtectionExpire, |_, entry| {
                entry.asset_id = Some(asset);
                entry.amount_irr = Some(Irr::ZERO);
            }),
            10 => self.record(EntryType::ProtectionPayout, |sim, entry| {
                sim.state.cash += amount;
                entry.asset_id = Some(asset);
                entry.amount_irr = Some(amount);
            }),
            _ => self.add_funds(amount),
        }
    }
}

const EXCESS_KEY: &str = verify::EXCESS_METADATA_KEY;

fn simulate(funded: u64, steps: &[Step]) -> Simulator {
    let mut sim = Simulator::new();
    sim.create(Irr::new(funded as i64));
    for step in steps {
        sim.apply(step);
    }
    sim
}

/// Re-seals `entries[from..]` as a forger would after editing them, so every hash and link is
/// consistent again and only the content checks can catch the edit.
fn reseal_from(entries: &mut [LedgerEntry], from: usize) {
    for i in from..entries.len() {
        let prev = if i == 0 {
            GENESIS_PREV_HASH.to_owned()
        } else {
            entries[i - 1].entry_hash.clone()
        };
        entries[i].prev_hash = prev;
        entries[i].entry_hash = entries[i].recompute_hash();
    }
}

fn first_invalid(entries: &[LedgerEntry], state: &PortfolioState) -> Option<u64> {
    verify(entries, state).chain.first_invalid_sequence
}

#[test]
fn a_simulated_ledger_with_every_entry_type_verifies_and_replays_to_the_state() {
    let steps: Vec<Step> = (0..12u8)
        .map(|kind| Step {
            kind,
            asset: 2,
            other: 0,
            amount: 3_000_000,
            fraction: 400,
        })
        .collect();
    let sim = simulate(100_000_000, &steps);
    let kinds: std::collections::BTreeSet<EntryType> =
        sim.entries.iter().map(|e| e.entry_type).collect();
    assert_eq!(kinds.len(), 12, "{kinds:?}");
    let report = verify(&sim.entries, &sim.state);
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.entry_count, 13);
    assert_eq!(report.head_sequence, Some(13));
    assert_eq!(
        report.head_hash.as_deref(),
        Some(sim.entries[12].entry_hash.as_str())
    );
}

#[test]
fn the_verification_report_has_the_admin_api_shape() {
    let sim = simulate(10_000_000, &[]);
    let mut state = sim.state.clone();
    state.cash += Irr::new(1);
    state.holding_entry(AssetId::Btc).quantity += Quantity::floor8(dec!(0.0001));
    let mut entries = sim.entries.clone();
    entries[0].message.push('!');
    let json = serde_json::to_value(verify(&entries, &state)).unwrap();
    let btc = sim.entries[0].after_snapshot.quantity_of(AssetId::Btc);
    let cash = sim.entries[0].after_snapshot.cash_irr;
    let expected = format!(
        r#"{{"entryCount":1,"headSequence":1,"headHash":"{}","chain":{{"valid":false,"firstInvalidSequence":1,"reason":"hash mismatch"}},"replay":{{"matches":false,"differences":[{{"field":"cashIrr","expected":{cash},"actual":{}}},{{"field":"holdings.BTC.quantity","expected":{btc},"actual":{}}}]}}}}"#,
        sim.entries[0].entry_hash,
        cash + Irr::new(1),
        btc + Quantity::floor8(dec!(0.0001)),
    );
    assert_eq!(json, serde_json::from_str::<Value>(&expected).unwrap());
    let valid = serde_json::to_string(&verify(&sim.entries, &sim.state)).unwrap();
    assert!(valid.contains(r#""chain":{"valid":true},"replay":{"matches":true,"differences":[]}"#));
}

#[test]
fn an_empty_ledger_replays_to_the_empty_state() {
    let report = verify(&[], &PortfolioState::default());
    assert!(report.is_ok());
    assert_eq!(report.head_sequence, None);
    let json = serde_json::to_string(&report).unwrap();
    assert_eq!(
        json,
        r#"{"entryCount":0,"chain":{"valid":true},"replay":{"matches":true,"differences":[]}}"#
    );
    let funded = PortfolioState {
        cash: Irr::new(5),
        holdings: Vec::new(),
    };
    assert!(!verify(&[], &funded).replay.matches);
}

#[test]
fn fixed_income_replays_against_the_sum_of_its_lot_units() {
    let mut sim = simulate(10_000_000, &[]);
    let units = Quantity::floor8(dec!(3));
    sim.record(EntryType::AddFunds, |sim, entry| {
        // Fixed income arrives through a trade in practice; an add-funds row with a lot is
        // enough to put units into the snapshot for this replay check.
        sim.state.holdings.push(Holding {
            asset: AssetId::IrrFixedIncome,
            quantity: units,
            frozen: false,
            lots: vec![Lot {
                units,
                purchased_at: sim.now,
            }],
        });
        entry.amount_irr = Some(Irr::ZERO);
    });
    // The chain rejects units that appear from nowhere, but the replay reads lots.
    assert_eq!(first_invalid(&sim.entries, &sim.state), Some(2));
    assert!(verify(&sim.entries, &sim.state).replay.matches);
    let mut state = sim.state.clone();
    state.holding_mut(AssetId::IrrFixedIncome).unwrap().lots[0].units = Quantity::floor8(dec!(2));
    let report = verify(&sim.entries, &state);
    assert_eq!(
        report.replay.differences,
        [ReplayDifference {
            field: "holdings.IRR_FIXED_INCOME.quantity".into(),
            expected: dec!(3),
            actual: dec!(2),
        }]
    );
}

#[test]
fn a_liquidation_without_its_excess_in_metadata_is_invalid() {
    let steps = [Step {
        kind: 6,
        asset: 0,
        other: 0,
        amount: 1,
        fraction: 500,
    }];
    let mut sim = simulate(10_000_000, &steps);
    assert_eq!(sim.entries[1].entry_type, EntryType::LoanLiquidate);
    sim.entries[1].metadata = None;
    reseal_from(&mut sim.entries, 1);
    let report = verify(&sim.entries, &sim.state);
    assert_eq!(report.chain.first_invalid_sequence, Some(2));
    assert!(report.chain.reason.unwrap().contains("excessIrr"));
}

#[test]
fn a_truncated_ledger_is_caught_by_the_replay() {
    let steps = [Step {
        kind: 0,
        asset: 0,
        other: 0,
        amount: 7_000_000,
        fraction: 1,
    }];
    let sim = simulate(10_000_000, &steps);
    let report = verify(&sim.entries[..1], &sim.state);
    assert!(report.chain.valid);
    assert_eq!(report.replay.differences[0].field, "cashIrr");
    assert_eq!(
        report.replay.differences[0].actual - report.replay.differences[0].expected,
        dec!(7000000)
    );
}

#[test]
fn sealing_refuses_a_chain_that_verification_would_reject() {
    let sim = simulate(10_000_000, &[]);
    let head = sim.entries[0].head();
    let new = |t: EntryType| {
        NewEntry::new(
            uuid(99),
            UuidText::parse(PORTFOLIO).unwrap(),
            t,
            sim.now,
            Snapshot::empty(),
            Snapshot::empty(),
            Boundary::Safe,
            "x",
        )
    };
    assert_eq!(
        new(EntryType::AddFunds).seal(None),
        Err(SealError::GenesisMustBeCreation)
    );
    assert_eq!(
        new(EntryType::PortfolioCreated).seal(Some(&head)),
        Err(SealError::CreationMustBeGenesis)
    );
    let bad_head = ChainHead {
        sequence_number: 1,
        entry_hash: "A".repeat(64),
    };
    assert_eq!(
        new(EntryType::AddFunds).seal(Some(&bad_head)),
        Err(SealError::MalformedHeadHash)
    );
    let mut negative = new(EntryType::AddFunds);
    negative.amount_irr = Some(Irr::new(-1));
    assert_eq!(negative.seal(Some(&head)), Err(SealError::NegativeAmount));
    let sealed = new(EntryType::AddFunds).seal(Some(&head)).unwrap();
    assert_eq!(sealed.sequence_number, 2);
    assert_eq!(sealed.prev_hash, head.entry_hash);
    assert_eq!(sim.entries[0].prev_hash, GENESIS_PREV_HASH);
}

#[test]
fn the_csv_export_renders_one_quoted_row_per_entry_in_plain_decimals() {
    let steps = [Step {
        kind: 1,
        asset: 2,
        other: 0,
        amount: 1,
        fraction: 1000,
    }];
    let mut sim = simulate(10_000_000, &steps);
    sim.entries[1].message = "Bought BTC, \"test\"".into();
    sim.entries[1].quantity = Some(Quantity::floor8(dec!(0.00000001)));
    let csv = crate::csv::render(&sim.entries);
    assert!(csv.starts_with("\u{feff}sequenceNumber,createdAt,"));
    let lines: Vec<&str> = csv.split("\r\n").collect();
    assert_eq!(lines.len(), 4, "{csv}");
    assert_eq!(lines[3], "");
    let e = &sim.entries[1];
    assert_eq!(
        lines[2],
        format!(
            "2,2026-01-20T12:01:01.123Z,TRADE_BUY,BTC,0.00000001,{},{},{},DRIFT,\"Bought BTC, \"\"test\"\"\",{}",
            e.amount_irr.unwrap(),
            crate::num::canonical(e.price_irr.unwrap()),
            e.spread_irr.unwrap(),
            e.entry_hash
        )
    );
    assert!(
        lines[1].starts_with("1,2026-01-20T12:00:00.123Z,PORTFOLIO_CREATED,,,10000000,,,SAFE,")
    );
}

#[test]
fn the_full_entry_serializes_with_exact_numbers_and_omits_absent_fields() {
    let sim = simulate(10_000_000, &[]);
    let json = serde_json::to_value(&sim.entries[0]).unwrap();
    assert_eq!(json["sequenceNumber"], json!(1));
    assert_eq!(json["entryType"], json!("PORTFOLIO_CREATED"));
    assert_eq!(json["createdAt"], json!("2026-01-20T12:00:00.123Z"));
    assert_eq!(json["amountIrr"], json!(10000000));
    assert_eq!(json["legs"][0]["side"], json!("BUY"));
    assert_eq!(json["legs"][0]["layer"], json!("FOUNDATION"));
    assert!(json["legs"][0]["quantity"].is_number());
    assert!(json.get("assetId").is_none());
    assert!(json.get("loanId").is_none());
    assert_eq!(json["prevHash"], json!(GENESIS_PREV_HASH));
}

/// A decimal with up to 28 digits of mantissa and any scale.
fn decimals() -> impl Strategy<Value = Decimal> {
    (any::<i64>(), any::<u32>(), 0u32..=28).prop_map(|(hi, lo, scale)| {
        let mantissa = (i128::from(hi) << 32) | i128::from(lo);
        Decimal::from_i128_with_scale(mantissa % 10i128.pow(28), scale)
    })
}

fn mutate_char(text: &str, at: usize, replacement: char) -> Option<String> {
    let chars: Vec<char> = text.chars().collect();
    if chars.is_empty() {
        return None;
    }
    let at = at % chars.len();
    (chars[at] != replacement).then(|| {
        let mut out = chars.clone();
        out[at] = replacement;
        out.into_iter().collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn hashing_is_deterministic(funded in 1_000_000u64..50_000_000_000, steps in steps()) {
        let a = simulate(funded, &steps);
        let b = simulate(funded, &steps);
        for (x, y) in a.entries.iter().zip(&b.entries) {
            prop_assert_eq!(&x.entry_hash, &y.entry_hash);
            prop_assert_eq!(x.recompute_hash(), x.entry_hash.clone());
            prop_assert_eq!(canonical_bytes(x), canonical_bytes(&x.clone()));
        }
    }

    #[test]
    fn changing_any_character_of_any_string_field_changes_the_hash(
        message in "\\PC{1,40}",
        at in any::<usize>(),
        replacement in any::<char>(),
        hex in "[0-9a-f]",
        field in 0usize..5,
    ) {
        let mut sim = simulate(10_000_000, &[]);
        sim.entries[0].message = message;
        sim.entries[0].loan_id = Some(uuid(7));
        sim.entries[0].entry_hash = sim.entries[0].recompute_hash();
        let original = sim.entries[0].clone();
        let hex = hex.chars().next().unwrap();
        let mut changed = original.clone();
        let applied = match field {
            0 => mutate_char(&original.message, at, replacement).map(|m| changed.message = m),
            1 => mutate_char(original.id.as_str(), at % 8, hex)
                .map(|s| changed.id = UuidText::parse(&s).unwrap()),
            2 => mutate_char(original.portfolio_id.as_str(), 24 + at % 12, hex)
                .map(|s| changed.portfolio_id = UuidText::parse(&s).unwrap()),
            3 => mutate_char(original.loan_id.as_ref().unwrap().as_str(), 9 + at % 4, hex)
                .map(|s| changed.loan_id = UuidText::parse(&s)),
            _ => mutate_char(&original.prev_hash, at, hex).map(|s| changed.prev_hash = s),
        };
        prop_assume!(applied.is_some());
        prop_assert_ne!(changed.recompute_hash(), original.entry_hash);
    }

    #[test]
    fn changing_any_amount_or_the_sequence_changes_the_hash(
        delta in 1i64..1_000_000_000,
        which in 0usize..6,
        steps in steps(),
    ) {
        let sim = simulate(10_000_000, &steps);
        let original = sim.entries.last().unwrap().clone();
        let mut changed = original.clone();
        let d = Irr::new(delta);
        match which {
            0 => changed.amount_irr = Some(changed.amount_irr.unwrap_or_default() + d),
            1 => changed.after_snapshot.cash_irr += d,
            2 => changed.before_snapshot.total_value_irr += d,
            3 => changed.sequence_number += delta as u64,
            4 => changed.price_irr = Some(changed.price_irr.unwrap_or_default() + Decimal::from(delta)),
            _ => changed.spread_irr = Some(changed.spread_irr.unwrap_or_default() + d),
        }
        prop_assert_ne!(changed.recompute_hash(), original.entry_hash);
    }

    #[test]
    fn a_chain_of_valid_entries_verifies(funded in 1_000_000u64..50_000_000_000, steps in steps()) {
        let sim = simulate(funded, &steps);
        let report = verify(&sim.entries, &sim.state);
        prop_assert!(report.is_ok(), "{:?}", report);
        prop_assert_eq!(report.entry_count, sim.entries.len() as u64);
    }

    #[test]
    fn tampering_with_any_entry_is_reported_at_that_entry(
        steps in steps(),
        pick in any::<usize>(),
        tamper in 0u8..8,
        delta in 1i64..1_000_000,
    ) {
        let sim = simulate(20_000_000, &steps);
        let mut entries = sim.entries.clone();
        let k = pick % entries.len();
        let d = Irr::new(delta);
        let expected = (k + 1) as u64;
        match tamper {
            // An edited amount without a new hash.
            0 => entries[k].amount_irr = Some(entries[k].amount_irr.unwrap_or_default() + d),
            // An edited snapshot cash without a new hash.
            1 => entries[k].after_snapshot.cash_irr += d,
            // A forger who edits the cash and re-hashes the rest of the chain.
            2 => {
                entries[k].after_snapshot.cash_irr += d;
                reseal_from(&mut entries, k);
            }
            // A forger who edits an amount and re-hashes; a liquidation's gross amount is the
            // one amount no cash rule reads, so it is left to tamper 0.
            3 => {
                prop_assume!(entries[k].entry_type != EntryType::LoanLiquidate);
                entries[k].amount_irr = Some(entries[k].amount_irr.unwrap_or_default() + d);
                reseal_from(&mut entries, k);
            }
            4 => entries[k].entry_hash = "0".repeat(64),
            5 => entries[k].prev_hash = "f".repeat(64),
            // Deleting an entry that is not the last.
            6 => {
                prop_assume!(k + 1 < entries.len());
                entries.remove(k);
            }
            // Swapping an entry with the next one.
            _ => {
                prop_assume!(k + 1 < entries.len());
                entries.swap(k, k + 1);
            }
        }
        let report = verify(&entries, &sim.state);
        prop_assert!(!report.chain.valid);
        prop_assert_eq!(report.chain.first_invalid_sequence, Some(expected), "{:?}", report.chain.reason);
    }

    #[test]
    fn decimals_survive_canonical_text_round_trips(d in decimals()) {
        let text = crate::num::canonical(d);
        prop_assert_eq!(crate::num::parse(&text), Some(d));
        prop_assert!(!text.contains(['e', 'E', '+']));
        prop_assert_eq!(canonical::canonical_number_text(&d.to_string()), Some(text.clone()));
        let scientific = format!("{:e}", d);
        prop_assert_eq!(canonical::canonical_number_text(&scientific), Some(text));
    }

    #[test]
    fn csv_quoting_round_trips_commas_quotes_and_line_breaks(value in "[a-z ,\"\r\n]{0,20}") {
        let quoted = crate::csv::quote_field(&value);
        let needs_quotes = value.contains([',', '"', '\r', '\n']);
        prop_assert_eq!(quoted.starts_with('"'), needs_quotes);
        let unquoted = if needs_quotes {
            let inner = &quoted[1..quoted.len() - 1];
            prop_assert!(!inner.replace("\"\"", "").contains('"'));
            inner.replace("\"\"", "\"")
        } else {
            quoted.to_string()
        };
        prop_assert_eq!(unquoted, value);
    }
}
