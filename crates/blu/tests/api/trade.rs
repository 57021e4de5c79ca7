//! Trading over HTTP: every validation failure of business-rules §5.4 as a 4xx, quote errors,
//! idempotency (D29), and concurrent money movement on one portfolio (one and two instances).

use std::collections::HashMap;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::fixtures::{num, priced_vars, spawn_priced};
use crate::helpers::{TestApp, assert_error, postgres_url, spawn_from};

async fn post(app: &TestApp, path: &str, token: &str, body: Value) -> reqwest::Response {
    app.post_auth(path, token, body).await
}

#[tokio::test]
async fn every_validation_failure_of_the_trade_rules_is_a_4xx_in_preview_and_execute() {
    let app = spawn_priced().await;
    let (session, _) = app.funded(100_000_000).await;
    let t = session.access.as_str();
    let cases: Vec<(Value, StatusCode, &str)> = vec![
        (
            json!({"assetId": "BTC", "amountIrr": 5_000_000}),
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
        ),
        (
            json!({"action": "HOLD", "assetId": "BTC", "amountIrr": 5_000_000}),
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
        ),
        (
            json!({"action": "BUY", "assetId": "DOGE", "amountIrr": 5_000_000}),
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
        ),
        (
            json!({"action": "BUY", "assetId": "BTC", "amountIrr": 0}),
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
        ),
        (
            json!({"action": "BUY", "assetId": "BTC", "amountIrr": 50_000_000_001u64}),
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
        ),
        (
            json!({"action": "BUY", "assetId": "BTC", "amountIrr": 999_999}),
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
        ),
        (
            json!({"action": "BUY", "assetId": "BTC", "sellAll": true}),
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
        ),
        (
            json!({"action": "BUY", "assetId": "BTC", "amountIrr": 2_000_000}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "INSUFFICIENT_CASH",
        ),
        (
            json!({"action": "SELL", "assetId": "BTC", "amountIrr": 20_000_000}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "INSUFFICIENT_HOLDINGS",
        ),
        (
            json!({"action": "SELL", "assetId": "BTC", "amountIrr": 500_000}),
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
        ),
        (
            json!({"action": "BUY", "assetId": "BTC", "amountIrr": "abc"}),
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
        ),
    ];
    for (body, status, code) in cases {
        for path in ["/api/v1/trade/preview", "/api/v1/trade/execute"] {
            let r = post(&app, path, t, body.clone()).await;
            assert_eq!(r.status(), status, "{path} {body}");
            assert_error(r, status, code).await;
        }
    }
    // Cash is 1,034 after funding; nothing above changed the portfolio.
    let p: Value = app
        .get_auth("/api/v1/portfolio", t)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(num(&p["cashIrr"]), "1034");
}

#[tokio::test]
async fn a_structural_trade_needs_the_acknowledgement_and_a_whole_holding_sells_below_the_minimum()
{
    let app = spawn_priced().await;
    let (session, _) = app.funded(100_000_000).await;
    let t = session.access.as_str();
    post(
        &app,
        "/api/v1/portfolio/add-funds",
        t,
        json!({"amountIrr": 100_000_000}),
    )
    .await;
    // Example T3-like: a large Upside buy pushes Upside above the 25 % hard cap.
    let r = post(
        &app,
        "/api/v1/trade/preview",
        t,
        json!({"action": "BUY", "assetId": "SOL", "amountIrr": 20_000_000}),
    )
    .await;
    let preview: Value = r.json().await.unwrap();
    assert_eq!(preview["boundary"], "STRUCTURAL");
    assert_eq!(preview["requiresAcknowledgment"], true);
    let r = post(
        &app,
        "/api/v1/trade/execute",
        t,
        json!({"action": "BUY", "assetId": "SOL", "amountIrr": 20_000_000}),
    )
    .await;
    let body = assert_error(
        r,
        StatusCode::UNPROCESSABLE_ENTITY,
        "ACKNOWLEDGMENT_REQUIRED",
    )
    .await;
    assert_eq!(body["error"]["details"]["boundary"], "STRUCTURAL");
    // ARB is worth 2,100,000 < … sell all of MATIC (2,100,000) with sellAll works.
    let r = post(
        &app,
        "/api/v1/trade/execute",
        t,
        json!({"action": "SELL", "assetId": "MATIC", "sellAll": true, "acknowledgedWarning": true}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let sold: Value = r.json().await.unwrap();
    assert_eq!(num(&sold["newHoldingQuantity"]), "0");
    let holdings: Value = app
        .get_auth("/api/v1/portfolio/holdings", t)
        .await
        .json()
        .await
        .unwrap();
    assert!(
        holdings
            .as_array()
            .unwrap()
            .iter()
            .all(|h| h["assetId"] != "MATIC")
    );
}

#[tokio::test]
async fn quotes_are_bound_to_their_user_their_terms_and_their_lifetime() {
    let source = crate::fixtures::price_file();
    let app =
        crate::helpers::spawn_with(&[("PRICE_SOURCE", source.as_str()), ("TEST_CLOCK", "1")]).await;
    let (alice, _) = app.funded(100_000_000).await;
    let (bob, _) = app.funded(100_000_000).await;
    for s in [&alice, &bob] {
        post(
            &app,
            "/api/v1/portfolio/add-funds",
            &s.access,
            json!({"amountIrr": 50_000_000}),
        )
        .await;
    }
    let preview: Value = post(
        &app,
        "/api/v1/trade/preview",
        &alice.access,
        json!({"action": "BUY", "assetId": "ETH", "amountIrr": 5_000_000}),
    )
    .await
    .json()
    .await
    .unwrap();
    let quote = preview["quoteId"].as_str().unwrap();
    let execute = |amount: u64| json!({"action": "BUY", "assetId": "ETH", "amountIrr": amount, "quoteId": quote, "acknowledgedWarning": true});
    // Another user's quote is indistinguishable from an unknown one.
    let r = post(
        &app,
        "/api/v1/trade/execute",
        &bob.access,
        execute(5_000_000),
    )
    .await;
    assert_error(r, StatusCode::NOT_FOUND, "QUOTE_NOT_FOUND").await;
    let r = post(
        &app,
        "/api/v1/trade/execute",
        &alice.access,
        json!({"action": "BUY", "assetId": "ETH", "amountIrr": 5_000_000, "quoteId": "tq_unknown"}),
    )
    .await;
    assert_error(r, StatusCode::NOT_FOUND, "QUOTE_NOT_FOUND").await;
    let long = format!("{quote}{}", "0".repeat(10_000));
    let r = post(
        &app,
        "/api/v1/trade/execute",
        &alice.access,
        json!({"action": "BUY", "assetId": "ETH", "amountIrr": 5_000_000, "quoteId": long}),
    )
    .await;
    assert_error(r, StatusCode::NOT_FOUND, "QUOTE_NOT_FOUND").await;
    let r = post(
        &app,
        "/api/v1/trade/execute",
        &alice.access,
        execute(6_000_000),
    )
    .await;
    let body = assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "QUOTE_MISMATCH").await;
    assert_eq!(body["error"]["details"]["field"], "amountIrr");
    // Expiry: move the business clock past the 30 s.
    let r = app
        .client
        .post(app.url("/admin/v1/clock/advance"))
        .bearer_auth(crate::helpers::ADMIN_TOKEN)
        .json(&json!({"seconds": 31}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = post(
        &app,
        "/api/v1/trade/execute",
        &alice.access,
        execute(5_000_000),
    )
    .await;
    assert_error(r, StatusCode::GONE, "QUOTE_EXPIRED").await;
    let limits: Value = app
        .get_auth("/api/v1/trade/limits", &alice.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        limits["spreadsByLayer"].to_string(),
        r#"{"FOUNDATION":0.0015,"GROWTH":0.003,"UPSIDE":0.006}"#
    );
    assert_eq!(limits["quoteTtlSeconds"], 30);
}

#[tokio::test]
async fn an_idempotency_key_replays_the_first_response_and_refuses_another_body() {
    let app = spawn_priced().await;
    let (session, portfolio_id) = app.funded(100_000_000).await;
    let t = session.access.as_str();
    let add = |amount: u64| Some(json!({"amountIrr": amount}));
    let first = app
        .send(
            Method::POST,
            "/api/v1/portfolio/add-funds",
            t,
            add(1_000_000),
            Some("k-1"),
        )
        .await;
    assert_eq!(first.status(), StatusCode::OK);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first_body = first.bytes().await.unwrap();
    let again = app
        .send(
            Method::POST,
            "/api/v1/portfolio/add-funds",
            t,
            add(1_000_000),
            Some("k-1"),
        )
        .await;
    assert_eq!(again.status(), StatusCode::OK);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.bytes().await.unwrap(), first_body);
    let other = app
        .send(
            Method::POST,
            "/api/v1/portfolio/add-funds",
            t,
            add(2_000_000),
            Some("k-1"),
        )
        .await;
    assert_error(
        other,
        StatusCode::UNPROCESSABLE_ENTITY,
        "IDEMPOTENCY_KEY_REUSED",
    )
    .await;
    let bad = app
        .send(
            Method::POST,
            "/api/v1/portfolio/add-funds",
            t,
            add(1_000_000),
            Some("ключ"),
        )
        .await;
    assert_error(bad, StatusCode::BAD_REQUEST, "VALIDATION_ERROR").await;
    // A refused request is stored too (status < 500) and replayed.
    let refused = app
        .send(
            Method::POST,
            "/api/v1/portfolio/add-funds",
            t,
            add(1),
            Some("k-2"),
        )
        .await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    let replay = app
        .send(
            Method::POST,
            "/api/v1/portfolio/add-funds",
            t,
            add(1),
            Some("k-2"),
        )
        .await;
    assert_eq!(replay.status(), StatusCode::BAD_REQUEST);
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    // Auth routes accept the header and never store.
    let report = app.verify_ledger(&portfolio_id).await;
    assert_eq!(report["entryCount"], 2);
}

/// Fires buys, sells and add-funds at one portfolio at once, half of them twice with the same
/// idempotency key, spread over `apps`; then checks the invariants.
async fn hammer(apps: &[TestApp]) {
    let app = &apps[0];
    let (session, portfolio_id) = app.funded(100_000_000).await;
    let t = session.access.clone();
    let r = post(
        app,
        "/api/v1/portfolio/add-funds",
        &t,
        json!({"amountIrr": 30_000_000}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let mut tasks = Vec::new();
    for i in 0..30usize {
        let (path, body) = match i % 3 {
            0 => (
                "/api/v1/trade/execute",
                json!({"action": "BUY", "assetId": "BTC", "amountIrr": 4_000_000, "acknowledgedWarning": true}),
            ),
            1 => (
                "/api/v1/trade/execute",
                json!({"action": "SELL", "assetId": "USDT", "amountIrr": 2_500_000, "acknowledgedWarning": true}),
            ),
            _ => (
                "/api/v1/portfolio/add-funds",
                json!({"amountIrr": 1_000_000}),
            ),
        };
        let copies = if i % 2 == 0 { 2 } else { 1 };
        let key = (i % 2 == 0).then(|| format!("key-{i}"));
        for c in 0..copies {
            let target = &apps[(i + c) % apps.len()];
            let client = target.client.clone();
            let url = target.url(path);
            let (t, body, key) = (t.clone(), body.clone(), key.clone());
            tasks.push(tokio::spawn(async move {
                let mut req = client.post(url).bearer_auth(t).json(&body);
                if let Some(k) = &key {
                    req = req.header("Idempotency-Key", k);
                }
                let r = req.send().await.unwrap();
                let replayed = r.headers().contains_key("idempotent-replayed");
                let status = r.status();
                (key, status, replayed, r.text().await.unwrap_or_default())
            }));
        }
    }
    let mut effects = 0;
    let mut by_key: HashMap<String, usize> = HashMap::new();
    for task in tasks {
        let (key, status, replayed, text) = task.await.unwrap();
        assert!(
            [
                StatusCode::OK,
                StatusCode::UNPROCESSABLE_ENTITY,
                StatusCode::CONFLICT
            ]
            .contains(&status),
            "unexpected {status}: {text}"
        );
        if status == StatusCode::OK && !replayed {
            effects += 1;
            if let Some(k) = key {
                *by_key.entry(k).or_default() += 1;
            }
        }
    }
    assert!(
        by_key.values().all(|n| *n == 1),
        "an idempotent request took effect twice: {by_key:?}"
    );
    let report = app.verify_ledger(&portfolio_id).await;
    assert_eq!(report["chain"]["valid"], true, "{report}");
    assert_eq!(report["replay"]["matches"], true, "{report}");
    assert_eq!(report["entryCount"], 2 + effects, "{report}");
    let p: Value = app
        .get_auth("/api/v1/portfolio/snapshot", &t)
        .await
        .json()
        .await
        .unwrap();
    assert!(!num(&p["cashIrr"]).starts_with('-'));
    for h in p["holdings"].as_array().unwrap() {
        assert!(!num(&h["quantity"]).starts_with('-'));
    }
}

#[tokio::test]
async fn concurrent_buys_sells_and_deposits_on_one_portfolio_keep_every_invariant() {
    let app = spawn_priced().await;
    hammer(&[app]).await;
}

#[tokio::test]
async fn two_instances_on_one_postgres_database_move_money_exactly_once() {
    if postgres_url().is_none() {
        return; // PostgreSQL only: SQLite is one process's file.
    }
    let vars = priced_vars().await;
    let first = spawn_from(vars.clone()).await;
    let second = spawn_from(vars).await;
    hammer(&[first, second]).await;
}

/// Previews sent together are stored as groups (one `INSERT` for many quotes), and each still
/// gets its own binding quote: every one fills exactly once, at its quoted price, also when
/// all are executed at once. On
/// PostgreSQL the quotes are executed on a second instance, which honours them too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn previews_sent_together_each_get_a_quote_that_fills_exactly_once() {
    const PREVIEWS: usize = 24;
    let vars = priced_vars().await;
    let first = spawn_from(vars.clone()).await;
    let second = match postgres_url() {
        Some(_) => Some(spawn_from(vars).await),
        None => None,
    };
    let executor = second.as_ref().unwrap_or(&first);
    let (session, _) = first.funded(100_000_000).await;
    let r = post(
        &first,
        "/api/v1/portfolio/add-funds",
        &session.access,
        json!({"amountIrr": 100_000_000}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let body = |amount: u64| json!({"action": "BUY", "assetId": "ETH", "amountIrr": amount});
    let previews = (0..PREVIEWS).map(|i| {
        let first = &first;
        let token = session.access.clone();
        async move {
            let r = post(
                first,
                "/api/v1/trade/preview",
                &token,
                body(1_000_000 + i as u64),
            )
            .await;
            let status = r.status();
            let preview: Value = r.json().await.unwrap();
            assert_eq!(status, StatusCode::OK, "{preview}");
            preview
        }
    });
    let previews = futures::future::join_all(previews).await;
    let ids: std::collections::HashSet<&str> = previews
        .iter()
        .map(|p| p["quoteId"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), PREVIEWS, "every preview has its own quote");

    let execute = |i: usize| {
        let mut execute = body(1_000_000 + i as u64);
        execute["quoteId"] = previews[i]["quoteId"].clone();
        execute["acknowledgedWarning"] = json!(true);
        execute
    };
    // All at once: more units of work than pooled connections, each waiting for the
    // portfolio lock; none may need a second connection while it holds one.
    let fills = (0..PREVIEWS).map(|i| {
        let token = session.access.clone();
        async move {
            let r = post(executor, "/api/v1/trade/execute", &token, execute(i)).await;
            (r.status(), r.json::<Value>().await.unwrap())
        }
    });
    for (i, (status, filled)) in futures::future::join_all(fills)
        .await
        .into_iter()
        .enumerate()
    {
        assert_eq!(status, StatusCode::OK, "quote {i}: {filled}");
        assert_eq!(
            filled["trade"]["quantity"], previews[i]["preview"]["quantity"],
            "quote {i} fills at its quoted terms: {filled}"
        );
    }
    for i in 0..PREVIEWS {
        let again = post(
            executor,
            "/api/v1/trade/execute",
            &session.access,
            execute(i),
        )
        .await;
        assert_error(again, StatusCode::CONFLICT, "QUOTE_IN_USE").await;
    }
}
