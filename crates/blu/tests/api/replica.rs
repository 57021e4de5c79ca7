//! `DATABASE_REPLICA_URL`: the reads that tolerate replication lag go to the replica, every
//! write and every other read to the primary. PostgreSQL only.

use blu::config::Config;
use blu::startup::Application;
use reqwest::StatusCode;
use serde_json::Value;

use crate::fixtures::priced_vars;
use crate::helpers::{fresh_postgres_database, postgres_url, spawn_from, test_vars};

#[tokio::test]
async fn history_is_read_from_the_replica_while_money_movement_uses_the_primary() {
    let Some(base) = postgres_url() else {
        eprintln!("DATABASE_URL is not PostgreSQL: skipping the replica test");
        return;
    };
    // A stand-in replica: a migrated database that never receives the primary's rows, so a
    // read that went to it is visible as an empty page.
    let replica = fresh_postgres_database(&base).await;
    blu_store::connect(Some(&replica), &std::env::temp_dir(), 2)
        .await
        .unwrap();
    let mut vars = priced_vars().await;
    vars.insert("DATABASE_REPLICA_URL".into(), replica);
    let app = spawn_from(vars).await;

    let (session, _) = app.funded(100_000_000).await;
    let t = session.access.as_str();
    // The funding (a write) went to the primary, and so does the portfolio read.
    let portfolio: Value = app
        .get_auth("/api/v1/portfolio", t)
        .await
        .json()
        .await
        .unwrap();
    assert!(portfolio["cashIrr"].is_number(), "{portfolio}");
    let history: Value = app
        .get_auth("/api/v1/history", t)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(history["entries"], serde_json::json!([]), "{history}");
    let activity: Value = app
        .get_auth("/api/v1/history/activity", t)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(activity["activities"], serde_json::json!([]), "{activity}");
    assert_eq!(app.get("/ready").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_replica_needs_a_postgresql_primary_and_a_postgresql_url() {
    let mut on_sqlite = test_vars(&[]).await;
    on_sqlite.remove("DATABASE_URL");
    on_sqlite.insert(
        "DATABASE_REPLICA_URL".into(),
        "postgres://postgres@127.0.0.1:5432/postgres".into(),
    );
    let error = Application::build(Config::from_source(&on_sqlite).unwrap())
        .await
        .err()
        .expect("refused");
    assert!(
        format!("{error:#}").contains("DATABASE_REPLICA_URL"),
        "{error:#}"
    );

    if postgres_url().is_some() {
        let mut wrong_scheme = test_vars(&[]).await;
        wrong_scheme.insert("DATABASE_REPLICA_URL".into(), "mysql://replica/db".into());
        let error = Application::build(Config::from_source(&wrong_scheme).unwrap())
            .await
            .err()
            .expect("refused");
        assert!(
            format!("{error:#}").contains("DATABASE_REPLICA_URL"),
            "{error:#}"
        );
    }
}
