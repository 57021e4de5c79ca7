//! PostgreSQL only: row-level security and the tenant transaction, and opening by URL.

use blu_app::ports::{PortfolioStore, StoreError};
use blu_store::error::map_sqlx;
use blu_store::{Database, PgStore};
use rust_decimal_macros::dec;
use sqlx::Row;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use std::path::Path;
use uuid::Uuid;

use super::harness::Cleanup;
use super::{TestDb, hex64, t0};

fn pg(db: &TestDb) -> &PgStore {
    db.pg()
}

/// A store over the test database with a pool of one connection.
async fn one_connection_store(db: &TestDb) -> PgStore {
    let Cleanup::PostgresDatabase { maintenance, name } = &db.cleanup else {
        unreachable!()
    };
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect_with(PgConnectOptions::clone(maintenance).database(name))
        .await
        .unwrap();
    PgStore::from_pool(pool).await.expect("claim-owner lock")
}

async fn insert_ledger_in(
    tx: &mut sqlx::Transaction<'static, sqlx::Postgres>,
    portfolio_id: Uuid,
    sequence: i64,
) -> Result<(), StoreError> {
    let empty = serde_json::json!({"cashIrr": 0, "holdings": []});
    sqlx::query(
        "INSERT INTO ledger (id, portfolio_id, sequence_number, entry_type, created_at, \
         before_snapshot, after_snapshot, boundary, message, prev_hash, entry_hash) \
         VALUES ($1, $2, $3, 'ADD_FUNDS', now(), $4, $4, 'SAFE', 'Added cash', $5, $5)",
    )
    .bind(Uuid::new_v4())
    .bind(portfolio_id)
    .bind(sequence)
    .bind(sqlx::types::Json(empty))
    .bind(hex64('f'))
    .execute(&mut **tx)
    .await
    .map(drop)
    .map_err(map_sqlx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_the_tenant_role_a_user_sees_only_their_own_rows() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let (a, _) = db.store.login_user("+989121111111", t0()).await.unwrap();
    let (b, _) = db.store.login_user("+989122222222", t0()).await.unwrap();
    let pa = db.portfolio(a.id, dec!(1000), t0()).await.unwrap();
    let pb = db.portfolio(b.id, dec!(2000), t0()).await.unwrap();
    db.ledger_entry(pa, 1, t0()).await.unwrap();
    db.ledger_entry(pb, 1, t0()).await.unwrap();
    db.holding(pa, "BTC", dec!(1), t0()).await;
    db.holding(pb, "BTC", dec!(2), t0()).await;

    let mut tx = pg(&db).tenant_tx(a.id).await.unwrap();
    let portfolios: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM portfolios")
        .fetch_all(&mut *tx)
        .await
        .unwrap();
    assert_eq!(portfolios, [pa]);
    let ledger: Vec<Uuid> = sqlx::query_scalar("SELECT portfolio_id FROM ledger")
        .fetch_all(&mut *tx)
        .await
        .unwrap();
    assert_eq!(ledger, [pa]);
    let of_b: i64 = sqlx::query_scalar("SELECT count(*) FROM ledger WHERE portfolio_id = $1")
        .bind(pb)
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(of_b, 0);
    let holdings: i64 = sqlx::query_scalar("SELECT count(*) FROM holdings")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(holdings, 1);
    let users: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM users")
        .fetch_all(&mut *tx)
        .await
        .unwrap();
    assert_eq!(users, [a.id]);
    let robbed = sqlx::query("UPDATE portfolios SET cash_irr = 0 WHERE id = $1")
        .bind(pb)
        .execute(&mut *tx)
        .await
        .unwrap();
    assert_eq!(
        robbed.rows_affected(),
        0,
        "B's portfolio is invisible, so untouched"
    );
    // Reference data stays readable for pricing inside the tenant transaction.
    let assets: i64 = sqlx::query_scalar("SELECT count(*) FROM assets")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(assets, 15);
    // A's own ledger accepts appends.
    insert_ledger_in(&mut tx, pa, 2).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(db.cash(pb).await, dec!(2000));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_the_tenant_role_a_user_cannot_write_into_another_users_ledger() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let (a, _) = db.store.login_user("+989121111111", t0()).await.unwrap();
    let (b, _) = db.store.login_user("+989122222222", t0()).await.unwrap();
    let pa = db.portfolio(a.id, dec!(1000), t0()).await.unwrap();
    let pb = db.portfolio(b.id, dec!(2000), t0()).await.unwrap();
    db.ledger_entry(pa, 1, t0()).await.unwrap();

    let mut tx = pg(&db).tenant_tx(a.id).await.unwrap();
    let refused = insert_ledger_in(&mut tx, pb, 1).await;
    let Err(StoreError::Other(error)) = refused else {
        panic!("insert into B's ledger was not refused: {refused:?}");
    };
    assert!(
        format!("{error:#}").contains("row-level security"),
        "{error:#}"
    );
    tx.rollback().await.unwrap();

    // The application role holds no UPDATE or DELETE right on the ledger, even for its
    // own rows (and the trigger would refuse anyway).
    for sql in ["UPDATE ledger SET message = 'x'", "DELETE FROM ledger"] {
        let mut tx = pg(&db).tenant_tx(a.id).await.unwrap();
        let refused = sqlx::query(sql).execute(&mut *tx).await.map_err(map_sqlx);
        let Err(StoreError::Other(error)) = refused else {
            panic!("{sql} was not refused: {refused:?}");
        };
        assert!(
            format!("{error:#}").contains("permission denied"),
            "{sql}: {error:#}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tenant_settings_end_with_the_transaction() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    // One connection, so the next query is certain to reuse the tenant's connection.
    let store = one_connection_store(&db).await;
    let (a, _) = db.store.login_user("+989121111111", t0()).await.unwrap();
    let (b, _) = db.store.login_user("+989122222222", t0()).await.unwrap();
    db.portfolio(a.id, dec!(1), t0()).await.unwrap();
    db.portfolio(b.id, dec!(1), t0()).await.unwrap();

    let mut tx = store.tenant_tx(a.id).await.unwrap();
    let row = sqlx::query("SELECT current_user AS role, current_setting('app.user_id') AS id")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(row.get::<String, _>("role"), "blu_app");
    assert_eq!(row.get::<String, _>("id"), a.id.to_string());
    tx.commit().await.unwrap();

    let row = sqlx::query(
        "SELECT current_user <> 'blu_app' AS owner, \
         coalesce(current_setting('app.user_id', true), '') AS id",
    )
    .fetch_one(store.pg_pool())
    .await
    .unwrap();
    assert!(row.get::<bool, _>("owner"));
    assert_eq!(row.get::<String, _>("id"), "");
    let all: i64 = sqlx::query_scalar("SELECT count(*) FROM portfolios")
        .fetch_one(store.pg_pool())
        .await
        .unwrap();
    assert_eq!(all, 2, "jobs run as the owner and see every portfolio");
}

/// PostgreSQL plans a statement under row-level security for one role and plans it again when
/// another role runs it; a connection's prepared statements are keyed by their text. So a
/// statement the owner and `blu_app` both run (the portfolio view: a read, and inside every
/// movement) must be prepared once per role.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tenant_role_runs_its_own_prepared_statements_apart_from_the_owners() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    // One connection, so both roles' statements are prepared on it.
    let pg = one_connection_store(&db).await;
    let pool = pg.pg_pool().clone();
    let store = Database::Postgres(pg);
    let (a, _) = db.store.login_user("+989121111111", t0()).await.unwrap();
    db.portfolio(a.id, dec!(1), t0()).await.unwrap();
    for _ in 0..3 {
        assert!(store.portfolio(a.id).await.unwrap().is_some());
        let movement = store.lock(a.id).await.unwrap().expect("the user exists");
        assert!(movement.portfolio().is_some());
        drop(movement);
    }
    // The pattern is split so that this statement's own text does not match it.
    let views: Vec<String> = sqlx::query_scalar(
        "SELECT statement FROM pg_prepared_statements \
         WHERE statement LIKE '%' || 'WITH p AS ' || 'MATERIALIZED%'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(views.len(), 2, "{views:#?}");
    assert_eq!(
        views
            .iter()
            .filter(|v| v.starts_with("/* tenant */ "))
            .count(),
        1,
        "{views:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_chooses_postgres_for_a_postgres_url_and_migrating_again_is_harmless() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let Cleanup::PostgresDatabase { name, .. } = &db.cleanup else {
        unreachable!()
    };
    let url = std::env::var("DATABASE_URL").unwrap();
    let base = url.split('?').next().unwrap();
    let base = &base[..base.rfind('/').unwrap()];
    let store = blu_store::open(Some(&format!("{base}/{name}")), Path::new("/nonexistent"))
        .await
        .unwrap();
    assert_eq!(store.backend(), "postgres");
    store.ping().await.unwrap();
}
