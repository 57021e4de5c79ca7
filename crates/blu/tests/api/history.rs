//! Ledger history, activity pagination, ownership and tamper detection (business-rules §9).

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::fixtures::{price_file, spawn_priced};
use crate::helpers::{assert_error, spawn_from, test_vars};

#[tokio::test]
async fn history_and_activity_pages_follow_url_safe_cursors_and_refuse_bad_ones() {
    let app = spawn_priced().await;
    let (session, _) = app.funded(100_000_000).await;
    let t = session.access.as_str();
    for _ in 0..4 {
        let r = app
            .post_auth(
                "/api/v1/portfolio/add-funds",
                t,
                json!({"amountIrr": 100_000}),
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK);
    }
    let page: Value = app
        .get_auth("/api/v1/history?limit=2", t)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["hasMore"], true);
    let cursor = page["nextCursor"].as_str().unwrap().to_owned();
    assert!(
        cursor
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    );
    let next: Value = app
        .get_auth(&format!("/api/v1/history?limit=2&cursor={cursor}"), t)
        .await
        .json()
        .await
        .unwrap();
    let seqs: Vec<u64> = page["entries"]
        .as_array()
        .unwrap()
        .iter()
        .chain(next["entries"].as_array().unwrap())
        .map(|e| e["sequenceNumber"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, [5, 4, 3, 2]);
    let filtered: Value = app
        .get_auth("/api/v1/history?type=portfolio_created&snapshots=true", t)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(filtered["entries"].as_array().unwrap().len(), 1);
    assert!(filtered["entries"][0]["afterSnapshot"].is_object());
    let activity: Value = app
        .get_auth("/api/v1/history/activity?limit=3", t)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(activity["activities"].as_array().unwrap().len(), 3);
    let cursor = activity["nextCursor"].as_str().unwrap();
    let rest: Value = app
        .get_auth(&format!("/api/v1/history/all?cursor={cursor}"), t)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(rest["activities"].as_array().unwrap().len(), 2);
    assert_eq!(rest["hasMore"], false);
    assert!(rest.get("nextCursor").is_none());
    for bad in [
        "/api/v1/history?cursor=%21%21",
        "/api/v1/history/all?cursor=zzzz",
        "/api/v1/history?limit=0",
        "/api/v1/history?type=TRADE",
        "/api/v1/history?from=yesterday",
    ] {
        assert_error(
            app.get_auth(bad, t).await,
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
        )
        .await;
    }
}

#[tokio::test]
async fn another_users_ledger_entry_is_not_found() {
    let app = spawn_priced().await;
    let (alice, _) = app.funded(100_000_000).await;
    let (bob, _) = app.funded(100_000_000).await;
    let page: Value = app
        .get_auth("/api/v1/history", &alice.access)
        .await
        .json()
        .await
        .unwrap();
    let id = page["entries"][0]["id"].as_str().unwrap();
    assert_eq!(
        app.get_auth(&format!("/api/v1/history/{id}"), &alice.access)
            .await
            .status(),
        StatusCode::OK
    );
    assert_error(
        app.get_auth(&format!("/api/v1/history/{id}"), &bob.access)
            .await,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    )
    .await;
    assert_error(
        app.get_auth("/api/v1/history/not-a-uuid", &bob.access)
            .await,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    )
    .await;
    assert_error(
        app.admin_get("/admin/v1/portfolios/7d0e0000-0000-4000-8000-000000000000/ledger/verify")
            .await,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    )
    .await;
}

/// Changes one ledger row behind the application's back, where the database allows it.
async fn tamper(vars: &std::collections::HashMap<String, String>, portfolio_id: &str) {
    use sqlx::Connection;
    match vars.get("DATABASE_URL") {
        Some(url) => {
            let mut c = sqlx::PgConnection::connect(url).await.unwrap();
            sqlx::query("ALTER TABLE ledger DISABLE TRIGGER ledger_no_update")
                .execute(&mut c)
                .await
                .unwrap();
            sqlx::query("UPDATE ledger SET amount_irr = amount_irr + 1 WHERE portfolio_id = $1::uuid AND sequence_number = 2")
                .bind(portfolio_id)
                .execute(&mut c)
                .await
                .unwrap();
        }
        None => {
            let path = std::path::Path::new(&vars["DATA_DIR"]).join("blu.db");
            let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
                .await
                .unwrap();
            sqlx::query("DROP TRIGGER ledger_no_update")
                .execute(&mut c)
                .await
                .unwrap();
            sqlx::query("UPDATE ledger SET amount_irr = '100001' WHERE portfolio_id = $1 AND sequence_number = 2")
                .bind(portfolio_id)
                .execute(&mut c)
                .await
                .unwrap();
        }
    }
}

#[tokio::test]
async fn a_ledger_row_changed_in_the_database_is_reported_by_verification() {
    let source = price_file();
    let vars = test_vars(&[("PRICE_SOURCE", source.as_str())]).await;
    let app = spawn_from(vars.clone()).await;
    let (session, portfolio_id) = app.funded(100_000_000).await;
    app.post_auth(
        "/api/v1/portfolio/add-funds",
        &session.access,
        json!({"amountIrr": 100_000}),
    )
    .await;
    let before = app.verify_ledger(&portfolio_id).await;
    assert_eq!(before["chain"]["valid"], true);
    tamper(&vars, &portfolio_id).await;
    let after = app.verify_ledger(&portfolio_id).await;
    assert_eq!(after["chain"]["valid"], false, "{after}");
    assert_eq!(after["chain"]["firstInvalidSequence"], 2, "{after}");
    let all: Value = app
        .admin_get("/admin/v1/ledger/verify")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(all["failed"][0]["portfolioId"], portfolio_id.as_str());
    assert_eq!(all["failed"][0]["chainValid"], false);
}
