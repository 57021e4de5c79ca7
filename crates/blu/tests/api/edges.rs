//! Edge cases found by driving the server from outside (issue 11): a cash-only rebalance
//! (api.md §8, business-rules §4.1, §4.3, §6.9), the app's SELL "Max" (D40, §5.1), loan preview
//! fields (§7.4), the protection purchase body (api.md §10), operator overrides within bounds
//! (api.md §13.1) and no panic as an answer (D41).

use reqwest::StatusCode;
use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::{Value, json};

use crate::fixtures::{num, price_file, spawn_priced};
use crate::helpers::{Session, TestApp, assert_error, postgres_url, spawn_from, test_vars};

fn dec_of(v: &Value) -> Decimal {
    num(v).parse().unwrap()
}

impl TestApp {
    async fn ok_get(&self, path: &str, token: &str) -> Value {
        let r = self.get_auth(path, token).await;
        let status = r.status();
        let body: Value = r.json().await.unwrap();
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        body
    }

    async fn ok_post(&self, path: &str, token: &str, body: Value) -> Value {
        let r = self.post_auth(path, token, body).await;
        let status = r.status();
        let body: Value = r.json().await.unwrap();
        assert!(status.is_success(), "{path}: {status} {body}");
        body
    }

    async fn holdings(&self, token: &str) -> Vec<Value> {
        let list = self.ok_get("/api/v1/portfolio/holdings", token).await;
        list.as_array().expect("a list of holdings").clone()
    }

    /// A funded portfolio whose every holding was sold: cash only.
    async fn cash_only(&self) -> Session {
        let (session, _) = self.funded(100_000_000).await;
        let t = session.access.as_str();
        for h in self.holdings(t).await {
            self.ok_post(
                "/api/v1/trade/execute",
                t,
                json!({"action": "SELL", "assetId": h["assetId"], "sellAll": true,
                       "acknowledgedWarning": true}),
            )
            .await;
        }
        assert!(self.holdings(t).await.is_empty());
        session
    }
}

#[tokio::test]
async fn a_cash_only_portfolio_previews_a_balanced_rebalance_and_execute_finds_nothing_to_do() {
    let app = spawn_priced().await;
    let session = app.cash_only().await;
    let t = session.access.as_str();
    for mode in ["HOLDINGS_ONLY", "SMART", "HOLDINGS_PLUS_CASH"] {
        let preview = app
            .ok_get(&format!("/api/v1/rebalance/preview?mode={mode}"), t)
            .await;
        assert_eq!(preview["status"], "BALANCED", "{mode}: {preview}");
        let rows = preview["gapAnalysis"].as_array().unwrap();
        assert_eq!(rows.len(), 3, "{mode}");
        for row in rows {
            // Shares are 0 with no holdings (§4.1); every figure is a finite number.
            assert_eq!(num(&row["current"]), "0", "{mode}: {row}");
            for field in ["target", "gapPct", "gapIrr", "sellableIrr", "frozenIrr"] {
                dec_of(&row[field]);
            }
        }
        for layer in ["FOUNDATION", "GROWTH", "UPSIDE"] {
            assert_eq!(num(&preview["currentAllocation"][layer]), "0", "{mode}");
        }
        if mode == "HOLDINGS_ONLY" {
            // Nothing to sell, so nothing to fund a buy: no legs.
            assert!(
                preview["trades"].as_array().unwrap().is_empty(),
                "{preview}"
            );
        }
    }

    // A plan with no legs is refused by execute (§6.9 step 2), in HOLDINGS_ONLY and in SMART
    // without cash to deploy.
    for body in [
        json!({"mode": "HOLDINGS_ONLY"}),
        json!({"mode": "SMART", "useCashAmount": 0}),
    ] {
        assert_error(
            app.post_auth("/api/v1/rebalance/execute", t, body).await,
            StatusCode::CONFLICT,
            "NO_REBALANCE_NEEDED",
        )
        .await;
    }
    // SMART with all the cash buys toward the target with it (§6.5 step 5): 200, never a 500.
    let done = app
        .ok_post("/api/v1/rebalance/execute", t, json!({"mode": "SMART"}))
        .await;
    assert!(done["tradesExecuted"].as_u64().unwrap() > 0, "{done}");
}

/// `floor(quantity × priceIrr)`, what the app's Max button sends, and the value the server
/// rounds half-up.
fn max_and_value(holding: &Value) -> (Decimal, Decimal) {
    let exact = dec_of(&holding["quantity"]) * dec_of(&holding["priceIrr"]);
    (
        exact.floor(),
        exact.round_dp_with_strategy(0, RoundingStrategy::MidpointAwayFromZero),
    )
}

#[tokio::test]
async fn a_sell_one_rial_below_the_holdings_value_sells_the_whole_holding() {
    let app = spawn_priced().await;
    let (session, _) = app.funded(100_000_000).await;
    let t = session.access.as_str();
    // A holding whose exact value has a fraction ≥ 0.5: Max is then 1 IRR below its value.
    let holdings = app.holdings(t).await;
    let holding = holdings
        .iter()
        .filter(|h| h["assetId"] != "IRR_FIXED_INCOME")
        .find(|h| {
            let (max, value) = max_and_value(h);
            max + Decimal::ONE == value
        })
        .expect("pinned prices give at least one such holding")
        .clone();
    let asset = holding["assetId"].as_str().unwrap();
    let (max, _) = max_and_value(&holding);
    let sell = json!({"action": "SELL", "assetId": asset, "amountIrr": max.to_string().parse::<u64>().unwrap(),
                      "acknowledgedWarning": true});

    let preview = app.ok_post("/api/v1/trade/preview", t, sell.clone()).await;
    assert_eq!(
        num(&preview["preview"]["quantity"]),
        num(&holding["quantity"]),
        "{preview}"
    );
    assert_eq!(preview["preview"]["sellAll"], true);
    let done = app.ok_post("/api/v1/trade/execute", t, sell).await;
    assert_eq!(num(&done["newHoldingQuantity"]), "0", "{done}");
    assert!(
        app.holdings(t).await.iter().all(|h| h["assetId"] != asset),
        "no dust of {asset} is left"
    );
}

#[tokio::test]
async fn a_loan_preview_always_reports_the_collateral_value_and_the_maximum_loan() {
    let app = spawn_priced().await;
    let (session, _) = app.funded(100_000_000).await;
    let t = session.access.as_str();
    let preview = |asset: &'static str, amount: i64| {
        let app = &app;
        async move {
            app.ok_post(
                "/api/v1/loans/preview",
                t,
                json!({"collateralAssetId": asset, "amountIrr": amount, "durationMonths": 3}),
            )
            .await
        }
    };

    // Fixed income is not eligible (§7.4 check 3), and still the preview carries what the app
    // shows: its value and a maximum loan of 0.
    let fixed = preview("IRR_FIXED_INCOME", 5_000_000).await;
    assert_eq!(fixed["valid"], false, "{fixed}");
    assert_eq!(fixed["error"]["code"], "COLLATERAL_NOT_ELIGIBLE");
    assert_eq!(num(&fixed["maxLoanIrr"]), "0");
    let holding = app
        .holdings(t)
        .await
        .into_iter()
        .find(|h| h["assetId"] == "IRR_FIXED_INCOME")
        .unwrap();
    assert_eq!(num(&fixed["collateralValueIrr"]), num(&holding["valueIrr"]));

    // A valid preview: I = 2,000,000 × 0.30 × 3 / 12 = 150,000, which implies 30 % a year.
    let btc = preview("BTC", 2_000_000).await;
    assert_eq!(btc["valid"], true, "{btc}");
    assert_eq!(num(&btc["totalInterestIrr"]), "150000");
    assert_eq!(num(&btc["effectiveAPR"]), "0.3");
    assert!(dec_of(&btc["maxLoanIrr"]) > Decimal::ZERO);
}

#[tokio::test]
async fn a_protection_purchase_answers_success() {
    let app = spawn_priced().await;
    let (session, _) = app.funded(100_000_000).await;
    let t = session.access.as_str();
    app.ok_post(
        "/api/v1/portfolio/add-funds",
        t,
        json!({"amountIrr": 10_000_000}),
    )
    .await;
    let quote = app
        .ok_get("/api/v1/protection/quote?assetId=BTC&durationDays=30", t)
        .await;
    let r = app
        .post_auth(
            "/api/v1/protection/purchase",
            t,
            json!({"quoteId": quote["quote"]["quoteId"], "acknowledgedPremium": true}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["success"], true, "{body}");
    assert!(body["protection"].is_object());
}

#[tokio::test]
async fn an_override_outside_the_price_or_fx_bounds_is_refused_and_changes_nothing() {
    let app = spawn_priced().await;
    let (session, _) = app.funded(100_000_000).await;
    let t = session.access.as_str();
    let before = app.ok_get("/api/v1/prices/BTC", t).await;
    let put = |path: &'static str, body: Value| {
        let app = &app;
        async move { app.admin(reqwest::Method::PUT, path, Some(body)).await }
    };
    // BTC's bounds are ×/÷ 1,000 of its registry price (97.5 … 97,500,000 USD); FX 10^5 … 10^8.
    for body in [
        json!({"priceUsd": 1e14}),
        json!({"priceUsd": 1e27}),
        json!({"priceUsd": 97}),
        json!({"priceUsd": 0}),
        json!({"priceUsd": 97_000, "change24hPct": 1e27}),
        json!({"priceUsd": 97_000, "change24hPct": -101}),
    ] {
        assert_error(
            put("/admin/v1/overrides/prices/BTC", body).await,
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
        )
        .await;
    }
    for body in [json!({"usdIrr": 1e15}), json!({"usdIrr": 99_999})] {
        assert_error(
            put("/admin/v1/overrides/fx", body).await,
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
        )
        .await;
    }
    // Nothing changed: the same price, no override listed, and every money route still answers.
    let after = app.ok_get("/api/v1/prices/BTC", t).await;
    for field in ["priceUsd", "priceIrr", "source"] {
        assert_eq!(after[field], before[field], "{field}");
    }
    let overrides = app.admin_json("/admin/v1/overrides").await;
    assert!(
        overrides["prices"].as_array().unwrap().is_empty(),
        "{overrides}"
    );
    assert!(overrides.get("fx").is_none(), "{overrides}");
    for path in [
        "/api/v1/prices",
        "/api/v1/rebalance/preview",
        "/api/v1/portfolio",
    ] {
        app.ok_get(path, t).await;
    }
    // The largest values inside the bounds work, and every route still answers.
    assert_eq!(
        put(
            "/admin/v1/overrides/prices/BTC",
            json!({"priceUsd": 97_500_000})
        )
        .await
        .status(),
        StatusCode::OK
    );
    assert_eq!(
        put("/admin/v1/overrides/fx", json!({"usdIrr": 100_000_000}))
            .await
            .status(),
        StatusCode::OK
    );
    for path in [
        "/api/v1/prices",
        "/api/v1/rebalance/preview?mode=SMART",
        "/api/v1/portfolio",
        "/api/v1/loans/capacity",
    ] {
        app.ok_get(path, t).await;
    }
}

#[tokio::test]
async fn a_stored_price_override_outside_its_bounds_never_stops_the_server_from_starting() {
    let source = price_file();
    let vars = test_vars(&[("PRICE_SOURCE", source.as_str())]).await;
    let first = spawn_from(vars.clone()).await;
    let before: Value = first.get("/api/v1/prices/BTC").await.json().await.unwrap();
    drop(first);
    // Written behind the API's back (as an older version could): 10^27 USD does not fit the
    // PostgreSQL column, 10^19 does; both are far outside BTC's bounds.
    let value: Decimal = if postgres_url().is_some() {
        "10000000000000000000".parse().unwrap()
    } else {
        "1000000000000000000000000000".parse().unwrap()
    };
    let db = blu_store::connect(
        vars.get("DATABASE_URL").map(String::as_str),
        std::path::Path::new(&vars["DATA_DIR"]),
        2,
    )
    .await
    .unwrap()
    .into_store();
    for (asset, value) in [(Some(blu_domain::AssetId::Btc), value), (None, value)] {
        db.put_override(&blu_app::ports::PriceOverride {
            asset,
            value,
            change_24h_pct: None,
            reason: None,
            expires_at: None,
            created_at: blu_domain::Timestamp::from_seconds(1_800_000_000),
        })
        .await
        .unwrap();
    }

    let app = spawn_from(vars).await;
    let r = app.get("/api/v1/prices/BTC").await;
    assert_eq!(r.status(), StatusCode::OK);
    let after: Value = r.json().await.unwrap();
    assert_eq!(
        after["priceUsd"], before["priceUsd"],
        "the stored override was ignored"
    );
    let (session, _) = app.funded(100_000_000).await;
    app.ok_get("/api/v1/rebalance/preview", &session.access)
        .await;
}
