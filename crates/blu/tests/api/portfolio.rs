//! The whole path of a user (issue 5 "Done means"): login → questionnaire → consent → funding
//! → snapshot → add funds → preview → execute (buy and sell) → history → CSV → verification,
//! with the numbers of business-rules §3.3 (F1) and §5.2 at pinned default prices.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::fixtures::{SCORE_6, answers, consents, num, spawn_priced};
use crate::helpers::assert_error;

#[tokio::test]
async fn a_user_walks_from_login_to_a_verified_ledger_with_the_worked_example_numbers() {
    let app = spawn_priced().await;
    let phone = crate::helpers::random_phone();
    let session = app.login(&phone).await;
    let token = session.access.as_str();

    // Questions are public and cacheable.
    let r = app.get("/api/v1/onboarding/questions").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["cache-control"], "max-age=3600");
    let questions: Value = r.json().await.unwrap();
    assert_eq!(questions["questions"].as_array().unwrap().len(), 9);
    assert_eq!(questions["questions"][0]["options"][0]["id"], "option_0");

    // No portfolio yet: 404 with the resource named.
    let body = assert_error(
        app.get_auth("/api/v1/portfolio", token).await,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    )
    .await;
    assert_eq!(body["error"]["details"]["resource"], "portfolio");

    // Consent before the questionnaire is refused.
    let r = app
        .post_auth("/api/v1/onboarding/consent", token, consents())
        .await;
    let body = assert_error(r, StatusCode::CONFLICT, "ONBOARDING_INCOMPLETE").await;
    assert_eq!(
        body["error"]["details"]["missing"],
        json!(["questionnaire"])
    );

    let r = app
        .post_auth("/api/v1/onboarding/questionnaire", token, answers(&SCORE_6))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let risk: Value = r.json().await.unwrap();
    assert_eq!(risk["riskScore"], 6);
    assert_eq!(risk["riskTier"], "MEDIUM");
    assert_eq!(risk["profileName"], "Balanced");
    assert_eq!(
        risk["targetAllocation"].to_string(),
        r#"{"FOUNDATION":0.5,"GROWTH":0.35,"UPSIDE":0.15}"#
    );

    // Funding before consent names the missing step.
    let r = app
        .post_auth(
            "/api/v1/onboarding/initial-funding",
            token,
            json!({"amountIrr": 100_000_000}),
        )
        .await;
    let body = assert_error(r, StatusCode::CONFLICT, "ONBOARDING_INCOMPLETE").await;
    assert_eq!(body["error"]["details"]["missing"], json!(["consent"]));

    let r = app
        .post_auth("/api/v1/onboarding/consent", token, consents())
        .await;
    assert_eq!(r.status(), StatusCode::OK);

    // Example F1: 100,000,000 IRR at score 6 → holdings 99,998,966, cash 1,034.
    let r = app
        .post_auth(
            "/api/v1/onboarding/initial-funding",
            token,
            json!({"amountIrr": 100_000_000}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let funded: Value = r.json().await.unwrap();
    assert_eq!(num(&funded["cashIrr"]), "1034");
    assert_eq!(num(&funded["holdingsValueIrr"]), "99998966");
    assert_eq!(funded["status"], "BALANCED");
    let portfolio_id = funded["portfolioId"].as_str().unwrap().to_owned();
    let expected = [
        ("USDT", "13.73626373", "20000000"),
        ("PAXG", "0.00388762", "14999993"),
        ("IRR_FIXED_INCOME", "30", "15000000"),
        ("BTC", "0.00006163", "8748995"),
        ("ETH", "0.0015024", "6999982"),
        ("BNB", "0.0053026", "5249998"),
        ("XRP", "1.09265734", "3500000"),
        ("KAG", "0.1201923", "5250000"),
        ("QQQ", "0.00692086", "5249998"),
        ("SOL", "0.01113751", "3000000"),
        ("TON", "0.35661453", "2700000"),
        ("LINK", "0.0842907", "2700000"),
        ("AVAX", "0.04709576", "2400000"),
        ("MATIC", "3.2051282", "2100000"),
        ("ARB", "1.80288461", "2100000"),
    ];
    let holdings = funded["holdings"].as_array().unwrap();
    assert_eq!(holdings.len(), 15);
    for (asset, quantity, value) in expected {
        let h = holdings.iter().find(|h| h["assetId"] == asset).unwrap();
        assert_eq!(num(&h["quantity"]), quantity, "{asset}");
        assert_eq!(num(&h["valueIrr"]), value, "{asset}");
    }

    // onboardingComplete once funded; a second funding is refused.
    let r = app
        .verify(&phone, &{
            app.send_otp(&phone).await;
            app.latest_code(&phone).await
        })
        .await;
    let login: Value = r.json().await.unwrap();
    assert_eq!(login["onboardingComplete"], true);
    let r = app
        .post_auth(
            "/api/v1/onboarding/initial-funding",
            token,
            json!({"amountIrr": 100_000_000}),
        )
        .await;
    assert_error(r, StatusCode::CONFLICT, "PORTFOLIO_EXISTS").await;

    // Snapshot: summary plus holdings with stable ids; GET /portfolio has no holdings.
    let r = app.get_auth("/api/v1/portfolio/snapshot", token).await;
    assert_eq!(r.status(), StatusCode::OK);
    let snapshot: Value = r.json().await.unwrap();
    assert_eq!(snapshot["holdings"].as_array().unwrap().len(), 15);
    assert_eq!(snapshot["holdingsCount"], 15);
    let btc_id = snapshot["holdings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["assetId"] == "BTC")
        .unwrap()["id"]
        .clone();
    assert_eq!(
        btc_id,
        holdings.iter().find(|h| h["assetId"] == "BTC").unwrap()["id"]
    );
    let fixed = snapshot["holdings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["assetId"] == "IRR_FIXED_INCOME")
        .unwrap();
    assert_eq!(num(&fixed["fixedIncome"]["principal"]), "15000000");
    let summary: Value = app
        .get_auth("/api/v1/portfolio", token)
        .await
        .json()
        .await
        .unwrap();
    assert!(summary.get("holdings").is_none());
    assert_eq!(num(&summary["totalValueIrr"]), "100000000");
    assert_eq!(summary["pricesStatus"], "live");
    let list: Value = app
        .get_auth("/api/v1/portfolio/holdings", token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list.as_array().unwrap().len(), 15);

    // Add funds (D9): 100 % to cash, no holdings field.
    let r = app
        .post_auth(
            "/api/v1/portfolio/add-funds",
            token,
            json!({"amountIrr": 100_000_000}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let added: Value = r.json().await.unwrap();
    assert_eq!(num(&added["newCashIrr"]), "100001034");
    assert_eq!(num(&added["previousCashIrr"]), "1034");
    assert_eq!(num(&added["amountAdded"]), "100000000");
    assert!(added.get("holdings").is_none());

    // Preview BUY BTC 10,000,000 (§5.2): spread 30,000; q = floor8(9,970,000 / 141,960,000,000).
    let r = app
        .post_auth(
            "/api/v1/trade/preview",
            token,
            json!({"assetId": "BTC", "side": "buy", "amountIRR": 10_000_000}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let preview: Value = r.json().await.unwrap();
    assert_eq!(preview["valid"], true);
    assert_eq!(num(&preview["preview"]["spreadAmountIrr"]), "30000");
    assert_eq!(num(&preview["preview"]["quantity"]), "0.00007023");
    assert_eq!(num(&preview["preview"]["priceUsd"]), "97500");
    assert_eq!(num(&preview["preview"]["spread"]), "0.003");
    assert!(preview["frictionCopy"].is_array());
    let quote = preview["quoteId"].as_str().unwrap().to_owned();
    assert!(quote.starts_with("tq_"));

    // Execute at the quote; the quote is single use.
    let execute = json!({"assetId": "BTC", "action": "BUY", "amountIrr": 10_000_000, "acknowledgedWarning": true, "quoteId": quote});
    let r = app
        .post_auth("/api/v1/trade/execute", token, execute.clone())
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let bought: Value = r.json().await.unwrap();
    assert_eq!(num(&bought["newCashIrr"]), "90001034");
    assert_eq!(num(&bought["newHoldingQuantity"]), "0.00013186");
    assert_eq!(num(&bought["trade"]["spreadAmountIrr"]), "30000");
    let r = app.post_auth("/api/v1/trade/execute", token, execute).await;
    assert_error(r, StatusCode::CONFLICT, "QUOTE_IN_USE").await;

    // SELL USDT 5,000,000 at the current price: q = 3.43406593, gross 5,000,000, spread 7,500.
    let r = app.post_auth("/api/v1/trade/execute", token, json!({"assetId": "usdt", "action": "sell", "amountIrr": 5_000_000, "acknowledgedWarning": true})).await;
    assert_eq!(r.status(), StatusCode::OK);
    let sold: Value = r.json().await.unwrap();
    assert_eq!(num(&sold["trade"]["quantity"]), "3.43406593");
    assert_eq!(num(&sold["trade"]["amountIrr"]), "5000000");
    assert_eq!(num(&sold["trade"]["spreadAmountIrr"]), "7500");
    assert_eq!(num(&sold["newCashIrr"]), "94993534");
    assert_eq!(num(&sold["newHoldingQuantity"]), "10.3021978");

    // History: four entries, newest first, with sequence numbers and the sell's numbers.
    let r = app.get_auth("/api/v1/history", token).await;
    assert_eq!(r.status(), StatusCode::OK);
    let history: Value = r.json().await.unwrap();
    let entries = history["entries"].as_array().unwrap();
    let types: Vec<&str> = entries
        .iter()
        .map(|e| e["entryType"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        ["TRADE_SELL", "TRADE_BUY", "ADD_FUNDS", "PORTFOLIO_CREATED"]
    );
    assert_eq!(entries[0]["sequenceNumber"], 4);
    assert_eq!(num(&entries[0]["spreadIrr"]), "7500");
    assert!(entries[0].get("beforeSnapshot").is_none());
    assert_eq!(history["hasMore"], false);
    let first = entries[3]["id"].as_str().unwrap();
    let full: Value = app
        .get_auth(&format!("/api/v1/history/{first}"), token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(full["legs"].as_array().unwrap().len(), 15);
    assert_eq!(num(&full["afterSnapshot"]["cashIrr"]), "1034");
    assert_eq!(full["prevHash"], "0".repeat(64));

    // CSV: BOM, header, one row per entry in sequence order.
    let r = app.get_auth("/api/v1/history/export", token).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "text/csv; charset=utf-8");
    assert!(
        r.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("blu-history-")
    );
    let csv = r.text().await.unwrap();
    assert!(csv.starts_with('\u{feff}'));
    let lines: Vec<&str> = csv.trim_end().lines().collect();
    assert_eq!(lines.len(), 5);
    assert!(lines[0].contains("sequenceNumber,createdAt,entryType"));
    assert!(lines[4].starts_with("4,") && lines[4].contains("TRADE_SELL"));

    // Activity: integer ids and messages.
    let activity: Value = app
        .get_auth("/api/v1/activity", token)
        .await
        .json()
        .await
        .unwrap();
    let items = activity["activities"].as_array().unwrap();
    assert_eq!(items.len(), 4);
    assert!(items[0]["id"].is_i64());
    assert_eq!(items[0]["message"], "Sold USDT (5M IRR)");
    assert_eq!(items[3]["message"], "Started with 100M IRR");

    // Verification: the chain recomputes and the replay equals the balances.
    let report = app.verify_ledger(&portfolio_id).await;
    assert_eq!(report["entryCount"], 4);
    assert_eq!(report["chain"]["valid"], true, "{report}");
    assert_eq!(report["replay"]["matches"], true, "{report}");
    let all: Value = app
        .admin_get("/admin/v1/ledger/verify")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(all["checked"], 1);
    assert_eq!(all["failed"], json!([]));
}

#[tokio::test]
async fn initial_funding_without_prices_is_refused_with_prices_stale_and_creates_nothing() {
    // Simulated prices that are never refreshed go stale once business time moves 5 minutes.
    let app =
        crate::helpers::spawn_with(&[("TEST_CLOCK", "1"), ("PRICE_REFRESH_SECONDS", "3600")]).await;
    let session = app.onboarded().await;
    let moved = app.advance_clock(json!({ "seconds": 300 })).await;
    assert_eq!(moved.status(), StatusCode::OK);
    let r = app
        .post_auth(
            "/api/v1/onboarding/initial-funding",
            &session.access,
            json!({"amountIrr": 100_000_000}),
        )
        .await;
    assert_eq!(r.headers()["retry-after"], "30");
    let body = assert_error(r, StatusCode::SERVICE_UNAVAILABLE, "PRICES_STALE").await;
    assert_eq!(body["error"]["details"]["maxAgeSeconds"], 120);
    assert_error(
        app.get_auth("/api/v1/portfolio", &session.access).await,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    )
    .await;
}

#[tokio::test]
async fn funding_and_add_funds_amount_limits_are_validation_errors() {
    let app = spawn_priced().await;
    let session = app.onboarded().await;
    let t = session.access.as_str();
    for amount in [json!(999_999), json!(100_000_000_001u64), json!("abc")] {
        let r = app
            .post_auth(
                "/api/v1/onboarding/initial-funding",
                t,
                json!({"amountIrr": amount}),
            )
            .await;
        assert_error(r, StatusCode::BAD_REQUEST, "VALIDATION_ERROR").await;
    }
    let r = app
        .post_auth(
            "/api/v1/portfolio/add-funds",
            t,
            json!({"amountIrr": 5_000_000}),
        )
        .await;
    assert_error(r, StatusCode::NOT_FOUND, "NOT_FOUND").await;
    let r = app
        .post_auth(
            "/api/v1/onboarding/initial-funding",
            t,
            json!({"amountIrr": 1_000_000}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = app
        .post_auth(
            "/api/v1/portfolio/add-funds",
            t,
            json!({"amountIrr": 99_999}),
        )
        .await;
    let body = assert_error(r, StatusCode::BAD_REQUEST, "VALIDATION_ERROR").await;
    assert_eq!(num(&body["error"]["details"]["min"]), "100000");
}

#[tokio::test]
async fn a_retake_changes_the_target_writes_activity_and_trades_nothing() {
    let app = spawn_priced().await;
    let (session, _) = app.funded(100_000_000).await;
    let t = session.access.as_str();
    let mut conservative = SCORE_6;
    conservative[5] = ("q_crash_20", "crash_sell_all");
    let r = app
        .post_auth("/api/v1/profile/retake-quiz", t, answers(&conservative))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let risk: Value = r.json().await.unwrap();
    assert!(risk["riskScore"].as_u64().unwrap() <= 3);
    let activity: Value = app
        .get_auth("/api/v1/history/activity", t)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(activity["activities"][0]["type"], "RISK_PROFILE_UPDATED");
    let history: Value = app
        .get_auth("/api/v1/history", t)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(history["entries"].as_array().unwrap().len(), 1);
    let profile: Value = app
        .get_auth("/api/v1/profile", t)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(profile["riskScore"], risk["riskScore"]);
    assert_eq!(profile["onboardingComplete"], true);
}

#[tokio::test]
async fn profile_settings_update_and_account_deletion_revokes_the_session() {
    let app = spawn_priced().await;
    let (session, portfolio_id) = app.funded(100_000_000).await;
    let t = session.access.as_str();
    let r = app.put_settings(t, json!({"language": "en", "notificationsEnabled": false, "notificationToken": "fcm-123"})).await;
    assert_eq!(r.status(), StatusCode::OK);
    let settings: Value = r.json().await.unwrap();
    assert_eq!(
        settings,
        json!({"language": "en", "notificationsEnabled": false, "biometricEnabled": false})
    );
    let r = app
        .put_settings(t, json!({"notificationToken": "x".repeat(513)}))
        .await;
    assert_error(r, StatusCode::BAD_REQUEST, "VALIDATION_ERROR").await;
    let r = app
        .send(Method::DELETE, "/api/v1/profile", t, None, None)
        .await;
    assert_error(r, StatusCode::BAD_REQUEST, "VALIDATION_ERROR").await;
    let r = app
        .send(
            Method::DELETE,
            "/api/v1/profile",
            t,
            Some(json!({"confirm": true})),
            None,
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = app.get_auth("/api/v1/profile", t).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // The ledger outlives the account.
    let report = app.verify_ledger(&portfolio_id).await;
    assert_eq!(report["entryCount"], 1);
}
