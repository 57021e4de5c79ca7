//! Conformance cases of the price store (`PriceStore`) and of the operator's volatility regimes
//! (`ProtectionStore`), on both backends.

use blu_app::ports::{FxQuote, PriceOverride, PriceQuote, PriceWrite, RegimeSetting, RunStatus};
use blu_domain::protection::VolatilityRegime;
use blu_domain::{AssetId, Timestamp};
use rust_decimal_macros::dec;

use super::{TestDb, t0};

fn quote(asset: AssetId, usd: rust_decimal::Decimal, at: Timestamp) -> PriceQuote {
    PriceQuote {
        asset,
        price_usd: usd,
        price_irr: usd * dec!(1456000),
        change_24h_pct: Some(dec!(-1.25)),
        source: "coingecko".to_owned(),
        fetched_at: at,
    }
}

fn fx(at: Timestamp) -> FxQuote {
    FxQuote {
        usd_irr: dec!(1456000),
        source: "bonbast".to_owned(),
        fetched_at: at,
    }
}

async fn prices_and_fx_round_trip_with_their_own_timestamps(db: &TestDb) {
    let store = &db.store;
    assert!(store.load_prices().await.unwrap().prices.is_empty());
    let fx_at = t0();
    let btc_at = t0().plus_seconds(5);
    store
        .save_prices(&PriceWrite {
            fx: Some(fx(fx_at)),
            prices: vec![(
                quote(AssetId::Btc, dec!(97500.123456789), btc_at),
                fx(fx_at),
            )],
            ..PriceWrite::default()
        })
        .await
        .unwrap();
    let loaded = store.load_prices().await.unwrap();
    assert_eq!(loaded.fx, Some(fx(fx_at)));
    let btc = &loaded.prices[0];
    assert_eq!(btc.asset, AssetId::Btc);
    assert_eq!(btc.price_usd, dec!(97500.123456789));
    assert_eq!(btc.price_irr, dec!(141960179753.084784));
    assert_eq!(btc.change_24h_pct, Some(dec!(-1.25)));
    assert_eq!(btc.fetched_at, btc_at);
}

async fn the_daily_close_is_the_last_price_seen_that_utc_day(db: &TestDb) {
    let store = &db.store;
    let day1 = Timestamp::parse_rfc3339("2026-01-20T08:00:00Z").unwrap();
    for (usd, at) in [
        (dec!(100), day1),
        (dec!(120), day1.plus_seconds(3600)),
        // A slow writer's older price does not replace the later close.
        (dec!(90), day1.plus_seconds(60)),
        (dec!(130), day1.plus_days(1)),
    ] {
        store
            .save_prices(&PriceWrite {
                points: vec![quote(AssetId::Eth, usd, at)],
                ..PriceWrite::default()
            })
            .await
            .unwrap();
    }
    let closes = store
        .daily_closes(AssetId::Eth, "2026-01-20")
        .await
        .unwrap();
    let got: Vec<_> = closes
        .iter()
        .map(|c| (c.day.as_str(), c.close_usd))
        .collect();
    assert_eq!(got, [("2026-01-20", dec!(120)), ("2026-01-21", dec!(130))]);
    assert_eq!(closes[0].close_irr, Some(dec!(174720000)));
    let later = store
        .daily_closes(AssetId::Eth, "2026-01-21")
        .await
        .unwrap();
    assert_eq!(later.len(), 1);
    assert!(
        store
            .daily_closes(AssetId::Btc, "2026-01-01")
            .await
            .unwrap()
            .is_empty()
    );
}

async fn overrides_are_replaced_per_subject_and_deleted_once(db: &TestDb) {
    let store = &db.store;
    let mut btc = PriceOverride {
        asset: Some(AssetId::Btc),
        value: dec!(97000),
        change_24h_pct: None,
        reason: Some("feed down".to_owned()),
        expires_at: Some(t0().plus_seconds(3600)),
        created_at: t0(),
    };
    store.put_override(&btc).await.unwrap();
    btc.value = dec!(96000);
    btc.expires_at = None;
    store.put_override(&btc).await.unwrap();
    let fx_override = PriceOverride {
        asset: None,
        value: dec!(1500000),
        change_24h_pct: None,
        reason: None,
        expires_at: None,
        created_at: t0(),
    };
    store.put_override(&fx_override).await.unwrap();
    let mut loaded = store.load_prices().await.unwrap().overrides;
    loaded.sort_by_key(|o| o.subject());
    assert_eq!(loaded, vec![btc, fx_override]);
    assert!(store.delete_override("FX", None).await.unwrap());
    assert!(!store.delete_override("FX", None).await.unwrap());
    assert_eq!(store.load_prices().await.unwrap().overrides.len(), 1);
}

async fn a_volatility_regime_is_set_per_asset_replaced_and_cleared_once(db: &TestDb) {
    let store = db.protections();
    assert!(store.volatility_regimes().await.unwrap().is_empty());
    let mut btc = RegimeSetting {
        asset: AssetId::Btc,
        regime: VolatilityRegime::Elevated,
        reason: Some("halving week".to_owned()),
        set_at: t0(),
    };
    store.set_volatility_regime(&btc, None).await.unwrap();
    btc.regime = VolatilityRegime::High;
    btc.reason = None;
    btc.set_at = t0().plus_seconds(90);
    store.set_volatility_regime(&btc, None).await.unwrap();
    let sol = RegimeSetting {
        asset: AssetId::Sol,
        regime: VolatilityRegime::Low,
        reason: None,
        set_at: t0(),
    };
    store.set_volatility_regime(&sol, None).await.unwrap();
    let mut stored = store.volatility_regimes().await.unwrap();
    stored.sort_by_key(|s| s.asset);
    assert_eq!(
        stored,
        vec![btc, sol.clone()],
        "one row per asset, the latest wins"
    );
    assert!(
        store
            .clear_volatility_regime(AssetId::Btc, None)
            .await
            .unwrap()
    );
    assert!(
        !store
            .clear_volatility_regime(AssetId::Btc, None)
            .await
            .unwrap()
    );
    assert_eq!(store.volatility_regimes().await.unwrap(), vec![sol]);
    // The database refuses a regime it does not know, whatever the caller.
    assert!(
        db.execute(
            "INSERT INTO volatility_regimes (asset_id, regime, set_at) \
             VALUES ('ETH', 'WILD', '2026-01-20T12:00:00Z')"
        )
        .await
        .is_err()
    );
}

async fn a_prices_tick_reports_finished_only_once_its_run_has_ended(db: &TestDb) {
    let store = &db.store;
    let slot = Timestamp::parse_rfc3339("2026-01-20T12:00:30Z").unwrap();
    assert!(!store.job_tick_finished("prices", slot).await.unwrap());
    let run = store
        .claim_run(
            "prices",
            slot,
            "a",
            t0(),
            std::time::Duration::from_secs(60),
            None,
        )
        .await
        .unwrap()
        .expect("the first claim wins");
    assert!(!store.job_tick_finished("prices", slot).await.unwrap());
    store
        .finish_run(&run, "a", RunStatus::Succeeded, t0(), None, None, None)
        .await
        .unwrap();
    assert!(store.job_tick_finished("prices", slot).await.unwrap());
    assert!(
        !store
            .job_tick_finished("prices", slot.plus_seconds(30))
            .await
            .unwrap()
    );
}

/// An override and the points it produces are one write: when a point is refused, the
/// override is not stored either (issue 11: a refused override changes nothing).
async fn an_override_is_stored_with_its_points_or_not_at_all(db: &TestDb) {
    let store = &db.store;
    let btc = PriceOverride {
        asset: Some(AssetId::Btc),
        value: dec!(97000),
        change_24h_pct: None,
        reason: None,
        expires_at: None,
        created_at: t0(),
    };
    let refused = store
        .save_prices(&PriceWrite {
            points: vec![quote(AssetId::Btc, dec!(-1), t0())],
            set_override: Some(btc.clone()),
            ..PriceWrite::default()
        })
        .await;
    assert!(refused.is_err());
    assert!(store.load_prices().await.unwrap().overrides.is_empty());
    store
        .save_prices(&PriceWrite {
            points: vec![quote(AssetId::Btc, dec!(97000), t0())],
            set_override: Some(btc.clone()),
            ..PriceWrite::default()
        })
        .await
        .unwrap();
    assert_eq!(store.load_prices().await.unwrap().overrides, vec![btc]);
}

async fn old_chart_points_are_pruned_but_daily_closes_stay(db: &TestDb) {
    let store = &db.store;
    let old = t0().plus_days(-10);
    store
        .save_prices(&PriceWrite {
            points: vec![quote(AssetId::Sol, dec!(185), old)],
            ..PriceWrite::default()
        })
        .await
        .unwrap();
    store
        .save_prices(&PriceWrite {
            points: vec![quote(AssetId::Sol, dec!(186), t0())],
            prune_points_before: Some(t0().plus_days(-7)),
            ..PriceWrite::default()
        })
        .await
        .unwrap();
    // Deleting what is left counts the points that survived the pruning.
    let points = db
        .execute("DELETE FROM price_points WHERE asset_id = 'SOL'")
        .await
        .unwrap();
    assert_eq!(points, 1);
    let closes = store
        .daily_closes(AssetId::Sol, &blu_app::prices::utc_day(old))
        .await
        .unwrap();
    assert_eq!(closes.len(), 2);
}

conformance!(
    prices_and_fx_round_trip_with_their_own_timestamps,
    the_daily_close_is_the_last_price_seen_that_utc_day,
    overrides_are_replaced_per_subject_and_deleted_once,
    an_override_is_stored_with_its_points_or_not_at_all,
    a_volatility_regime_is_set_per_asset_replaced_and_cleared_once,
    a_prices_tick_reports_finished_only_once_its_run_has_ended,
    old_chart_points_are_pruned_but_daily_closes_stay,
);
