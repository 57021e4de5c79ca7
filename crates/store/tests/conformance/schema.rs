//! Conformance cases of the schema itself: what the database refuses (ledger edits, negative
//! cash, duplicates), exact decimals, the seeded registry, and the two schemas describing the
//! same tables.

use blu_app::ports::{Conflict, StoreError};
use blu_domain::AssetId;
use blu_domain::asset::PriceSource;
use blu_store::{AssetRow, Database};
use rust_decimal_macros::dec;

use super::{TestDb, session, t0};

pub(super) async fn ledger_rows_cannot_be_updated_or_deleted(db: &TestDb) {
    let (user, _) = db.store.login_user("+989121111111", t0()).await.unwrap();
    let portfolio = db.portfolio(user.id, dec!(5000000), t0()).await.unwrap();
    db.ledger_entry(portfolio, 1, t0()).await.unwrap();

    for sql in [
        "UPDATE ledger SET message = 'rewritten'",
        "UPDATE ledger SET amount_irr = '1'",
        "DELETE FROM ledger",
    ] {
        let refused = db.execute(sql).await;
        let Err(StoreError::Other(error)) = refused else {
            panic!("{sql} was not refused: {refused:?}");
        };
        assert!(
            format!("{error:#}").contains("immutable"),
            "{sql}: {error:#}"
        );
    }
    // Deleting the portfolio would cascade into its ledger: refused too.
    assert!(db.execute("DELETE FROM portfolios").await.is_err());
    assert_eq!(
        db.execute("UPDATE portfolios SET version = version")
            .await
            .unwrap(),
        1
    );
    // A second entry with the same sequence number breaks the per-portfolio chain.
    let duplicate = db.ledger_entry(portfolio, 1, t0()).await;
    assert!(
        matches!(duplicate, Err(StoreError::Conflict(_))),
        "{duplicate:?}"
    );
    db.ledger_entry(portfolio, 2, t0()).await.unwrap();
}

pub(super) async fn the_asset_seed_equals_the_domain_registry(db: &TestDb) {
    let rows = db.assets().await;
    assert_eq!(rows.len(), AssetId::ALL.len());
    for (row, id) in rows.iter().zip(AssetId::ALL) {
        let asset = id.asset();
        let layer = asset.layer.params();
        let (source, source_id) = match asset.price_source {
            PriceSource::CoinGecko(s) => ("coingecko", Some(s.to_owned())),
            PriceSource::Finnhub(s) => ("finnhub", Some(s.to_owned())),
            PriceSource::Internal => ("internal", None),
        };
        let expected = AssetRow {
            id: asset.symbol.to_owned(),
            position: id.index() as i64,
            name: asset.name.to_owned(),
            layer: asset.layer.as_str().to_owned(),
            category: asset.category.to_owned(),
            layer_weight: asset.layer_weight.normalize(),
            price_source: source.to_owned(),
            source_id,
            default_price_usd: asset.default_price_usd.map(|p| p.normalize()),
            base_volatility: asset.base_volatility.normalize(),
            liquidity_score: asset.liquidity_score.normalize(),
            asset_max_ltv: asset.asset_max_ltv.normalize(),
            effective_max_ltv: asset.effective_max_ltv().normalize(),
            implied_volatility: asset.implied_volatility.normalize(),
            protection_eligible: asset.protection_eligible(),
            protection_execution_spread: asset
                .protection
                .as_ref()
                .map(|p| p.execution_spread.normalize()),
            protection_min_premium_30d: asset
                .protection
                .as_ref()
                .map(|p| p.min_premium_30d.normalize()),
            protection_max_premium_30d: asset
                .protection
                .as_ref()
                .map(|p| p.max_premium_30d.normalize()),
            trade_spread: layer.spread.normalize(),
            layer_ltv: layer.ltv.normalize(),
            protection_monthly_rate: layer.protection_monthly_rate.normalize(),
            protection_margin_per_day: layer.protection_margin_per_day.normalize(),
        };
        assert_eq!(row, &expected, "{id}");
    }
}

pub(super) async fn money_and_quantities_round_trip_exactly_and_normalized(db: &TestDb) {
    let (user, _) = db.store.login_user("+989121111111", t0()).await.unwrap();
    // The largest IRR amount the product handles (a portfolio of 100 trillion rials).
    let largest_irr = dec!(100000000000000);
    let portfolio = db.portfolio(user.id, largest_irr, t0()).await.unwrap();
    let cash = db.cash(portfolio).await;
    assert_eq!(cash, largest_irr);
    assert_eq!(cash.to_string(), "100000000000000");

    // 8-dp quantities, the smallest one and the widest one NUMERIC(28,8) holds.
    for (asset, quantity, text) in [
        ("BTC", dec!(0.00000001), "0.00000001"),
        ("ETH", dec!(13.73626373), "13.73626373"),
        (
            "USDT",
            dec!(99999999999999999999.99999999),
            "99999999999999999999.99999999",
        ),
        ("PAXG", dec!(1.50000000), "1.5"),
    ] {
        let holding = db.holding(portfolio, asset, quantity, t0()).await;
        let stored = db.quantity(holding).await;
        assert_eq!(stored, quantity, "{asset}");
        // No padded scale from NUMERIC(28,8): the ledger hashes this text.
        assert_eq!(stored.to_string(), text, "{asset}");
    }

    // Prices and ratios keep 18 decimal places: rust_decimal's full 28-digit precision.
    let price_usd = dec!(79228162514.264337593543950335);
    let price_irr = dec!(141960000000.5);
    let (usd, irr) = db.price_round_trip(price_usd, price_irr, t0()).await;
    assert_eq!(usd, price_usd);
    assert_eq!(usd.to_string(), "79228162514.264337593543950335");
    assert_eq!(irr.to_string(), "141960000000.5");
}

pub(super) async fn a_negative_cash_balance_is_refused_by_the_database(db: &TestDb) {
    let (user, _) = db.store.login_user("+989121111111", t0()).await.unwrap();
    let refused = db.portfolio(user.id, dec!(-1), t0()).await;
    assert!(matches!(refused, Err(StoreError::Other(_))), "{refused:?}");
    let portfolio = db.portfolio(user.id, dec!(0), t0()).await.unwrap();
    assert_eq!(db.cash(portfolio).await.to_string(), "0");
}

pub(super) async fn a_uniqueness_violation_is_reported_as_a_conflict(db: &TestDb) {
    let (user, _) = db.store.login_user("+989121111111", t0()).await.unwrap();
    db.portfolio(user.id, dec!(0), t0()).await.unwrap();
    let second = db.portfolio(user.id, dec!(0), t0()).await;
    let Err(StoreError::Conflict(Conflict::Unique(constraint))) = second else {
        panic!("expected a conflict, got {second:?}");
    };
    assert!(constraint.contains("user_id"), "{constraint}");

    let new = session(user.id, t0(), 'a');
    db.store.create_session(&new).await.unwrap();
    assert!(matches!(
        db.store.create_session(&new).await,
        Err(StoreError::Conflict(_))
    ));
}

// Both schemas describe the same tables.

/// (table, column, nullable) of every table of a migrated database, sorted.
type Columns = Vec<(String, String, bool)>;

async fn sqlite_columns(db: &TestDb) -> Columns {
    let Database::Sqlite(store) = &db.db else {
        unreachable!()
    };
    let mut columns: Columns = sqlx::query_as::<_, (String, String, bool, i64)>(
        "SELECT m.name, p.name, p.\"notnull\", p.pk FROM sqlite_schema m \
         JOIN pragma_table_info(m.name) p \
         WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name NOT LIKE '_sqlx%'",
    )
    .fetch_all(store.sqlite_pool())
    .await
    .unwrap()
    .into_iter()
    // A primary-key column is never NULL in practice; SQLite only enforces it when declared.
    .map(|(table, column, not_null, pk)| (table, column, !not_null && pk == 0))
    .collect();
    columns.sort();
    columns
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sqlite_and_postgres_schemas_have_the_same_tables_columns_and_nullability() {
    let Some(pg) = TestDb::postgres().await else {
        return;
    };
    let store = pg.pg();
    let mut expected: Columns = sqlx::query_as::<_, (String, String, String)>(
        "SELECT table_name::text, column_name::text, is_nullable::text \
         FROM information_schema.columns \
         WHERE table_schema = 'public' AND table_name NOT LIKE '\\_sqlx%'",
    )
    .fetch_all(store.pg_pool())
    .await
    .unwrap()
    .into_iter()
    .map(|(table, column, nullable)| (table, column, nullable == "YES"))
    .collect();
    expected.sort();
    let tables: std::collections::BTreeSet<&str> = expected.iter().map(|c| c.0.as_str()).collect();
    assert_eq!(tables.len(), 26, "{tables:?}");
    let sqlite = TestDb::sqlite().await;
    assert_eq!(sqlite_columns(&sqlite).await, expected);
}
