//! The database driver and pool under cancellation (issue 10, item 1): no connection goes back
//! to the pool inside a transaction, whatever future was dropped where. PostgreSQL only.

use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use super::proxy::TcpProxy;
use crate::helpers::{fresh_postgres_database, postgres_url};

/// Runs a statement through the pool, then asks the server whether any session of the
/// database was left inside a transaction (it would be the pooled one: the statement ran in
/// a transaction an earlier borrower left open).
async fn no_session_left_in_a_transaction(pool: &PgPool, url: &str) -> bool {
    sqlx::query("SELECT 1").execute(pool).await.unwrap();
    super::sessions_left_in_a_transaction(url).await == 0
}

/// A fresh database reached through a proxy; `None` without PostgreSQL.
async fn proxied_database() -> Option<(TcpProxy, PgConnectOptions, String)> {
    let url = fresh_postgres_database(&postgres_url()?).await;
    let options: PgConnectOptions = url.parse().unwrap();
    let proxy = TcpProxy::start(&format!("{}:{}", options.get_host(), options.get_port())).await;
    let options = options.host("127.0.0.1").port(proxy.port);
    Some((proxy, options, url))
}

/// sqlx 0.9.0 left the session inside the transaction here (transact-rs/sqlx#4393); the
/// vendored patch queues the rollback whenever `begin` is dropped before it finished.
#[tokio::test]
async fn a_begin_cancelled_while_in_flight_leaves_no_transaction_behind() {
    let Some((proxy, options, direct)) = proxied_database().await else {
        return;
    };
    // A plain pool, without the store's release check: this is the driver's own guarantee.
    // No ping before the acquire, so what is in flight when the future is dropped is BEGIN.
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .test_before_acquire(false)
        .connect_with(options)
        .await
        .unwrap();
    for _ in 0..5 {
        proxy.delay_replies(Duration::from_millis(300));
        let cancelled = tokio::time::timeout(Duration::from_millis(100), pool.begin()).await;
        assert!(cancelled.is_err(), "BEGIN was still in flight");
        proxy.restore();
        assert!(no_session_left_in_a_transaction(&pool, &direct).await);
    }
}

/// The store's pool closes a connection that comes back inside a transaction (here one a
/// statement opened by hand), so a future driver bug cannot hand a transaction to the next
/// request either.
#[tokio::test]
async fn the_store_pool_never_lends_out_a_connection_inside_a_transaction() {
    let Some((_proxy, options, direct)) = proxied_database().await else {
        return;
    };
    let url = format!(
        "postgres://postgres@127.0.0.1:{}/{}",
        options.get_port(),
        options.get_database().unwrap()
    );
    // One connection, and time to wait for it while a dropped statement drains on release.
    let settings = blu_store::PgSettings {
        acquire_timeout: Duration::from_secs(5),
        ..blu_store::PgSettings::from(1)
    };
    let store = blu_store::PgStore::connect(&url, settings).await.unwrap();
    let pool = store.pg_pool();
    for _ in 0..3 {
        let mut conn = pool.acquire().await.unwrap();
        sqlx::query("BEGIN").execute(&mut *conn).await.unwrap();
        sqlx::query("SELECT 1").execute(&mut *conn).await.unwrap();
        drop(conn);
        assert!(no_session_left_in_a_transaction(pool, &direct).await);
    }
    // And a transaction dropped mid-statement is rolled back before the connection is reused.
    let mut tx = pool.begin().await.unwrap();
    let slow = sqlx::query("SELECT pg_sleep(1)").execute(&mut *tx);
    assert!(
        tokio::time::timeout(Duration::from_millis(100), slow)
            .await
            .is_err()
    );
    drop(tx);
    assert!(no_session_left_in_a_transaction(pool, &direct).await);
}
