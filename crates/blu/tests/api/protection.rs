//! Protection over HTTP (api.md §10, business-rules §8): quotes, purchase, cancellation and the
//! `protection-expiry` job, with pinned prices (BTC 97,500 USD at FX 1,500,000, the numbers of
//! example PO1) and the test clock.

use std::collections::HashMap;
use std::path::PathBuf;

use reqwest::{Method, StatusCode};
use rust_decimal::Decimal;
use rust_decimal::prelude::RoundingStrategy;
use rust_decimal_macros::dec;
use serde_json::{Value, json};

use crate::fixtures::num;
use crate::helpers::{ADMIN_TOKEN, Session, TestApp, assert_error, spawn_from, test_vars};

const PRICES: &str = r#"{"fxRate":1500000,"prices":{"BTC":97500}}"#;

/// The environment of a server with the pinned prices and the test clock.
async fn protection_vars(extra: &[(&str, &str)]) -> HashMap<String, String> {
    let path = std::env::temp_dir().join(format!("blu-prices-{}.json", uuid::Uuid::new_v4()));
    std::fs::write(&path, PRICES).unwrap();
    let source = format!("fixed:{}", path.display());
    let mut vars = vec![("PRICE_SOURCE", source.as_str()), ("TEST_CLOCK", "1")];
    vars.extend_from_slice(extra);
    test_vars(&vars).await
}

async fn spawn_protection(extra: &[(&str, &str)]) -> TestApp {
    spawn_from(protection_vars(extra).await).await
}

/// The server's own database, opened beside it (to look past a closed account).
async fn database(vars: &HashMap<String, String>) -> blu_store::Database {
    blu_store::connect(
        vars.get("DATABASE_URL").map(String::as_str),
        &PathBuf::from(&vars["DATA_DIR"]),
        2,
    )
    .await
    .unwrap()
}

/// Every protection's status, sorted (each test has its own database).
async fn protection_statuses(vars: &HashMap<String, String>) -> Vec<String> {
    const SQL: &str = "SELECT status FROM protections ORDER BY status";
    match database(vars).await {
        blu_store::Database::Postgres(store) => sqlx::query_scalar(SQL)
            .fetch_all(store.pg_pool())
            .await
            .unwrap(),
        blu_store::Database::Sqlite(store) => sqlx::query_scalar(SQL)
            .fetch_all(store.sqlite_pool())
            .await
            .unwrap(),
    }
}

/// Every ledger entry of a portfolio, oldest first (operator read: it outlives the account).
async fn ledger_of(vars: &HashMap<String, String>, portfolio_id: &str) -> Vec<Value> {
    let (entries, _) = database(vars)
        .await
        .portfolio_store()
        .verification_input(portfolio_id.parse().unwrap())
        .await
        .unwrap()
        .expect("the portfolio exists");
    entries
        .iter()
        .map(|e| serde_json::to_value(e).unwrap())
        .collect()
}

fn dec_of(v: &Value) -> Decimal {
    num(v).parse().unwrap()
}

fn round0(d: Decimal) -> Decimal {
    d.round_dp_with_strategy(0, RoundingStrategy::MidpointAwayFromZero)
}

impl TestApp {
    async fn json_ok(&self, path: &str, token: &str) -> Value {
        let r = self.get_auth(path, token).await;
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        r.json().await.unwrap()
    }

    async fn protection_quote(&self, token: &str, query: &str) -> Value {
        self.json_ok(&format!("/api/v1/protection/quote?{query}"), token)
            .await
    }

    async fn buy_protection(&self, token: &str, body: Value) -> reqwest::Response {
        self.post_auth("/api/v1/protection/purchase", token, body)
            .await
    }

    async fn override_btc(&self, price_usd: u64) {
        let r = self
            .client
            .put(self.url("/admin/v1/overrides/prices/BTC"))
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({"priceUsd": price_usd, "ttlSeconds": 3_456_000, "reason": "test"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }

    /// Runs a job now; waits while the in-process engine runs the same job (409).
    pub(crate) async fn job_result(&self, name: &str) -> Value {
        for _ in 0..100 {
            let r = self.run_job(name).await;
            let status = r.status();
            let body: Value = r.json().await.unwrap();
            if status == StatusCode::CONFLICT {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
            assert_eq!(status, StatusCode::OK, "{body}");
            assert_eq!(body["status"], "succeeded", "{body}");
            return body["result"].clone();
        }
        panic!("{name} kept running");
    }

    /// A funded portfolio (100,000,000 IRR) with 10,000,000 IRR of cash for premiums.
    async fn funded_with_cash(&self) -> (Session, String) {
        let (session, portfolio_id) = self.funded(100_000_000).await;
        let r = self
            .post_auth(
                "/api/v1/portfolio/add-funds",
                &session.access,
                json!({"amountIrr": 10_000_000}),
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        (session, portfolio_id)
    }

    async fn cash(&self, token: &str) -> Decimal {
        dec_of(&self.json_ok("/api/v1/portfolio", token).await["cashIrr"])
    }

    /// Quotes and buys a protection of the caller's whole holding of `asset`; returns it.
    pub(crate) async fn protect(&self, token: &str, asset: &str, days: u32) -> Value {
        let quote = self
            .protection_quote(token, &format!("assetId={asset}&durationDays={days}"))
            .await;
        let r = self
            .buy_protection(
                token,
                json!({"quoteId": quote["quote"]["quoteId"], "acknowledgedPremium": true}),
            )
            .await;
        let body: Value = r.json().await.unwrap();
        assert!(body["protection"].is_object(), "{body}");
        body["protection"].clone()
    }

    /// A funded user and a bought 30-day protection of their whole BTC holding.
    async fn protected_btc(&self) -> (Session, String, Value) {
        let (session, portfolio_id) = self.funded_with_cash().await;
        let protection = self.protect(&session.access, "BTC", 30).await;
        (session, portfolio_id, protection)
    }

    async fn set_regime(&self, asset: &str, body: Value) -> reqwest::Response {
        self.admin(
            Method::PUT,
            &format!("/admin/v1/overrides/volatility/{asset}"),
            Some(body),
        )
        .await
    }

    async fn assert_verified(&self, portfolio_id: &str) {
        let report = self.verify_ledger(portfolio_id).await;
        assert_eq!(report["chain"]["valid"], true, "{report}");
        assert_eq!(report["replay"]["matches"], true, "{report}");
    }
}

#[tokio::test]
async fn eligible_holdings_list_btc_with_a_thirty_day_flat_rate_premium() {
    let app = spawn_protection(&[]).await;
    let (session, _) = app.funded(100_000_000).await;
    let body = app
        .json_ok("/api/v1/protection/holdings", &session.access)
        .await;
    assert_eq!(
        body["eligibleAssets"],
        json!(["PAXG", "BTC", "ETH", "KAG", "QQQ", "SOL"]),
        "registry order"
    );
    assert_eq!(body["durationPresets"], json!([30, 60, 90, 120, 150, 180]));
    assert_eq!(body["minNotionalIrr"], json!(1_000_000));
    let btc = body["holdings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["assetId"] == "BTC")
        .expect("BTC is eligible")
        .clone();
    assert_eq!(btc["alreadyProtected"], false);
    assert_eq!(num(&btc["estimatedPremiumPct"]), "0.008");
    let value = dec_of(&btc["valueIrr"]);
    assert_eq!(
        dec_of(&btc["indicativePremium"]["thirtyDayIrr"]),
        round0(value * dec!(0.008))
    );
    let alias = app
        .json_ok("/api/v1/protection/eligible", &session.access)
        .await;
    assert_eq!(alias["holdings"], body["holdings"]);
}

#[tokio::test]
async fn a_flat_rate_quote_charges_the_layer_rate_per_month_with_greeks() {
    let app = spawn_protection(&[]).await;
    let (session, _) = app.funded(100_000_000).await;
    let body = app
        .protection_quote(&session.access, "assetId=BTC&coveragePct=1&durationDays=90")
        .await;
    let q = &body["quote"];
    assert!(q["quoteId"].as_str().unwrap().starts_with("pq_"));
    assert_eq!(num(&q["premiumPct"]), "0.024");
    assert_eq!(q["pricingModel"], "LAYER_RATE");
    assert_eq!(q["durationMonths"], 3);
    assert_eq!(num(&q["strikeUsd"]), "97500");
    let notional = dec_of(&q["notionalIrr"]);
    assert_eq!(dec_of(&q["premiumIrr"]), round0(notional * dec!(0.024)));
    assert!(dec_of(&q["greeks"]["delta"]) < Decimal::ZERO);
    assert!(dec_of(&q["greeks"]["gamma"]) > Decimal::ZERO);
    assert!(dec_of(&q["greeks"]["vega"]) > Decimal::ZERO);
    assert!(dec_of(&q["greeks"]["theta"]) < Decimal::ZERO);
    assert!(dec_of(&q["greeks"]["rho"]) < Decimal::ZERO);
    assert_eq!(body["validity"]["secondsRemaining"], 300);

    // Half the holding for 30 days: floor8(quantity × 0.5) units at 0.008.
    let half = app
        .protection_quote(
            &session.access,
            "assetId=BTC&coveragePct=0.5&durationMonths=1",
        )
        .await;
    let h = &half["quote"];
    let quantity = dec_of(&q["protectedQuantity"]);
    let expected = (quantity * dec!(0.5)).round_dp_with_strategy(8, RoundingStrategy::ToZero);
    assert_eq!(dec_of(&h["protectedQuantity"]), expected);
    assert_eq!(num(&h["premiumPct"]), "0.008");
    assert_eq!(
        dec_of(&h["premiumIrr"]),
        round0(dec_of(&h["notionalIrr"]) * dec!(0.008))
    );
}

#[tokio::test]
async fn a_black_scholes_quote_matches_the_btc_thirty_day_vector() {
    let app = spawn_protection(&[("PROTECTION_PRICING_MODEL", "BLACK_SCHOLES")]).await;
    let (session, _) = app.funded(100_000_000).await;
    let body = app
        .protection_quote(&session.access, "assetId=BTC&durationDays=30")
        .await;
    let q = &body["quote"];
    assert_eq!(q["pricingModel"], "BLACK_SCHOLES");
    assert_eq!(num(&q["premiumPct"]), "0.0659956");
    assert_eq!(num(&q["impliedVolatility"]), "0.55");
}

#[tokio::test]
async fn quote_input_errors_are_validation_not_found_or_not_eligible() {
    let app = spawn_protection(&[]).await;
    let (session, _) = app.funded(100_000_000).await;
    let get = |q: &'static str| {
        let path = format!("/api/v1/protection/quote?{q}");
        let token = session.access.clone();
        let app = &app;
        async move { app.get_auth(&path, &token).await }
    };
    assert_error(
        get("assetId=BTC&durationDays=45").await,
        StatusCode::BAD_REQUEST,
        "VALIDATION_ERROR",
    )
    .await;
    assert_error(
        get("assetId=BTC&coveragePct=1.5&durationDays=30").await,
        StatusCode::BAD_REQUEST,
        "VALIDATION_ERROR",
    )
    .await;
    assert_error(
        get("holdingId=4f1c0000-0000-0000-0000-000000000000&durationDays=30").await,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    )
    .await;
    assert_error(
        get("assetId=USDT&durationDays=30").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "PROTECTION_NOT_ELIGIBLE",
    )
    .await;
}

#[tokio::test]
async fn buying_protection_deducts_the_premium_and_writes_a_positive_ledger_entry() {
    let app = spawn_protection(&[]).await;
    let (session, portfolio_id) = app.funded_with_cash().await;
    let token = session.access.as_str();
    let cash_before = app.cash(token).await;
    let body = app
        .protection_quote(token, "assetId=BTC&coveragePct=1&durationDays=90")
        .await;
    let q = &body["quote"];
    let premium = dec_of(&q["premiumIrr"]);
    let r = app
        .buy_protection(
            token,
            json!({"quoteId": q["quoteId"], "holdingId": q["holdingId"], "coveragePct": 1,
                   "durationDays": 90, "premiumIrr": q["premiumIrr"], "acknowledgedPremium": true}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let bought: Value = r.json().await.unwrap();
    assert_eq!(dec_of(&bought["newCashIrr"]), cash_before - premium);
    let p = &bought["protection"];
    assert_eq!(p["status"], "ACTIVE");
    assert_eq!(p["assetId"], "BTC");
    assert_eq!(p["daysRemaining"], 90);
    assert_eq!(p["premiumIrr"], q["premiumIrr"]);
    assert_eq!(app.cash(token).await, cash_before - premium);
    let portfolio = app.json_ok("/api/v1/portfolio", token).await;
    assert_eq!(portfolio["activeProtectionsCount"], 1);

    let entry = app
        .json_ok(
            &format!(
                "/api/v1/history/{}",
                bought["ledgerEntryId"].as_str().unwrap()
            ),
            token,
        )
        .await;
    assert_eq!(entry["entryType"], "PROTECTION_PURCHASE");
    assert_eq!(entry["amountIrr"], q["premiumIrr"]);
    assert_eq!(entry["boundary"], "SAFE");
    assert_eq!(num(&entry["metadata"]["coverage"]), "1");
    assert_eq!(entry["metadata"]["durationDays"], 90);
    assert_eq!(entry["metadata"]["model"], "LAYER_RATE");
    assert!(entry["metadata"]["greeks"]["delta"].is_number());
    let activity = app.json_ok("/api/v1/history/activity", token).await;
    assert!(
        activity.to_string().contains("90D protection for BTC"),
        "{activity}"
    );

    let active = app.json_ok("/api/v1/protection/active", token).await;
    assert_eq!(active["protections"].as_array().unwrap().len(), 1);
    let one = app
        .json_ok(
            &format!("/api/v1/protection/{}", p["id"].as_str().unwrap()),
            token,
        )
        .await;
    assert_eq!(one["id"], p["id"]);

    // The holding is protected now: no second quote, and the used quote is spent.
    assert_error(
        app.get_auth(
            "/api/v1/protection/quote?assetId=BTC&durationDays=30",
            token,
        )
        .await,
        StatusCode::CONFLICT,
        "PROTECTION_EXISTS",
    )
    .await;
    assert_error(
        app.buy_protection(
            token,
            json!({"quoteId": q["quoteId"], "acknowledgedPremium": true}),
        )
        .await,
        StatusCode::CONFLICT,
        "QUOTE_IN_USE",
    )
    .await;
    app.assert_verified(&portfolio_id).await;
}

#[tokio::test]
async fn a_purchase_is_refused_without_acknowledgment_mismatched_expired_or_foreign_quotes() {
    let app = spawn_protection(&[]).await;
    let (session, portfolio_id) = app.funded_with_cash().await;
    let token = session.access.as_str();
    let quote = app
        .protection_quote(token, "assetId=BTC&durationDays=30")
        .await;
    let id = quote["quote"]["quoteId"].clone();
    assert_error(
        app.buy_protection(token, json!({"quoteId": id, "acknowledgedPremium": false}))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "ACKNOWLEDGMENT_REQUIRED",
    )
    .await;
    let mismatch = assert_error(
        app.buy_protection(
            token,
            json!({"quoteId": id, "coveragePct": 0.75, "acknowledgedPremium": true}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "QUOTE_MISMATCH",
    )
    .await;
    assert_eq!(mismatch["error"]["details"]["field"], "coveragePct");
    let (other, _) = app.funded(100_000_000).await;
    assert_error(
        app.buy_protection(
            &other.access,
            json!({"quoteId": id, "acknowledgedPremium": true}),
        )
        .await,
        StatusCode::NOT_FOUND,
        "QUOTE_NOT_FOUND",
    )
    .await;
    // A failed purchase released the reservation: the quote still buys.
    let r = app
        .buy_protection(token, json!({"quoteId": id, "acknowledgedPremium": true}))
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let bought: Value = r.json().await.unwrap();
    let pid = bought["protection"]["id"].as_str().unwrap().to_owned();
    assert_error(
        app.get_auth(&format!("/api/v1/protection/{pid}"), &other.access)
            .await,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    )
    .await;

    let eth = app
        .protection_quote(&other.access, "assetId=BTC&durationDays=30")
        .await;
    let moved = app.advance_clock(json!({"seconds": 301})).await;
    assert_eq!(moved.status(), StatusCode::OK);
    assert_error(
        app.buy_protection(
            &other.access,
            json!({"quoteId": eth["quote"]["quoteId"], "acknowledgedPremium": true}),
        )
        .await,
        StatusCode::GONE,
        "QUOTE_EXPIRED",
    )
    .await;
    app.assert_verified(&portfolio_id).await;
}

#[tokio::test]
async fn cancelling_keeps_the_premium_and_frees_the_holding_for_a_new_protection() {
    let app = spawn_protection(&[]).await;
    let (session, portfolio_id, protection) = app.protected_btc().await;
    let token = session.access.as_str();
    let cash = app.cash(token).await;
    let path = format!("/api/v1/protection/{}", protection["id"].as_str().unwrap());
    let r = app.send(Method::DELETE, &path, token, None, None).await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["success"], true);
    assert_eq!(body["protection"]["status"], "CANCELLED");
    assert!(body["protection"]["cancelledAt"].is_string());
    assert_eq!(body["protection"]["daysRemaining"], 0);
    assert_eq!(app.cash(token).await, cash, "no refund");
    assert_error(
        app.send(Method::DELETE, &path, token, None, None).await,
        StatusCode::CONFLICT,
        "PROTECTION_NOT_ACTIVE",
    )
    .await;
    let cancelled = app
        .json_ok("/api/v1/protection?status=CANCELLED", token)
        .await;
    assert_eq!(cancelled["protections"][0]["id"], protection["id"]);
    let history = app
        .json_ok("/api/v1/history?type=PROTECTION_CANCEL", token)
        .await;
    assert!(
        history.to_string().contains("PROTECTION_CANCEL"),
        "{history}"
    );
    // One step, no quote: the holding can be protected again.
    let r = app
        .post_auth(
            "/api/v1/protection",
            token,
            json!({"assetId": "BTC", "durationMonths": 1, "acknowledgedPremium": true}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    app.assert_verified(&portfolio_id).await;
}

#[tokio::test]
async fn an_out_of_the_money_protection_expires_at_the_first_price_after_expiry() {
    let app = spawn_protection(&[]).await;
    let (session, portfolio_id, protection) = app.protected_btc().await;
    let token = session.access.as_str();
    let cash = app.cash(token).await;
    let moved = app.advance_clock(json!({"seconds": 30 * 86_400 + 1})).await;
    assert_eq!(moved.status(), StatusCode::OK);
    // Pinned prices are stamped at every read: the first price after expiry is the strike.
    // The engine's own tick may have settled it already (then this run checks nothing).
    let settled = app.job_result("protection-expiry").await;
    assert_eq!(settled["exercised"], 0, "{settled}");
    assert_eq!(settled["waiting"], 0, "{settled}");
    let again = app.job_result("protection-expiry").await;
    assert_eq!(again["checked"], 0);
    let p = app
        .json_ok(
            &format!("/api/v1/protection/{}", protection["id"].as_str().unwrap()),
            token,
        )
        .await;
    assert_eq!(p["status"], "EXPIRED");
    assert_eq!(p["settlementIrr"], 0);
    assert_eq!(app.cash(token).await, cash);
    let portfolio = app.json_ok("/api/v1/portfolio", token).await;
    assert_eq!(portfolio["activeProtectionsCount"], 0);
    app.assert_verified(&portfolio_id).await;
}

#[tokio::test]
async fn an_in_the_money_protection_pays_strike_minus_spot_per_unit_at_settlement_fx() {
    let app = spawn_protection(&[]).await;
    let (session, portfolio_id, protection) = app.protected_btc().await;
    let token = session.access.as_str();
    let cash = app.cash(token).await;
    // Set before the clock moves, so whichever tick settles first sees it.
    app.override_btc(87_750).await;
    app.advance_clock(json!({"seconds": 30 * 86_400})).await;
    let settled = app.job_result("protection-expiry").await;
    assert_eq!(settled["expired"], 0, "{settled}");
    assert_eq!(settled["waiting"], 0, "{settled}");
    // PO1: max(0, K − S_T) × min(protectedQuantity, held) × FX_T, rounded.
    let quantity = dec_of(&protection["protectedQuantity"]);
    let payout = round0((dec!(97500) - dec!(87750)) * quantity * dec!(1500000));
    let p = app
        .json_ok(
            &format!("/api/v1/protection/{}", protection["id"].as_str().unwrap()),
            token,
        )
        .await;
    assert_eq!(p["status"], "EXERCISED");
    assert_eq!(dec_of(&p["settlementIrr"]), payout);
    assert_eq!(dec_of(&p["settlementUsd"]), dec!(9750) * quantity);
    assert_eq!(app.cash(token).await, cash + payout);
    let history = app
        .json_ok("/api/v1/history?type=PROTECTION_PAYOUT", token)
        .await;
    assert!(
        history.to_string().contains("PROTECTION_PAYOUT"),
        "{history}"
    );
    app.assert_verified(&portfolio_id).await;
}

#[tokio::test]
async fn a_protection_past_expiry_waits_for_a_fresh_price_and_settles_on_the_next_run() {
    // Simulated prices (pinned ones are always fresh) that only the `prices` job refreshes.
    let app =
        spawn_from(test_vars(&[("TEST_CLOCK", "1"), ("PRICE_REFRESH_SECONDS", "3600")]).await)
            .await;
    let (session, portfolio_id, protection) = app.protected_btc().await;
    let token = session.access.as_str();
    let path = format!("/api/v1/protection/{}", protection["id"].as_str().unwrap());
    let cash = app.cash(token).await;
    app.advance_clock(json!({"seconds": 30 * 86_400 + 1})).await;

    // Past expiry, but the last BTC price is 30 days old: no settlement at a stale price.
    let waiting = app.job_result("protection-expiry").await;
    assert_eq!(
        waiting,
        json!({"checked": 1, "exercised": 0, "expired": 0, "waiting": 1})
    );
    assert_eq!(app.json_ok(&path, token).await["status"], "ACTIVE");
    assert_eq!(app.cash(token).await, cash);
    let still = app.job_result("protection-expiry").await;
    assert_eq!(still["waiting"], 1, "{still}");

    let refreshed = app.job_result("prices").await;
    assert_eq!(refreshed["fxUpdated"], true, "{refreshed}");
    let settled = app.job_result("protection-expiry").await;
    assert_eq!(settled["checked"], 1, "{settled}");
    assert_eq!(settled["waiting"], 0, "{settled}");
    assert_eq!(
        settled["exercised"].as_u64().unwrap() + settled["expired"].as_u64().unwrap(),
        1,
        "{settled}"
    );
    let p = app.json_ok(&path, token).await;
    assert!(
        p["status"] == "EXPIRED" || p["status"] == "EXERCISED",
        "{p}"
    );
    assert_eq!(
        app.cash(token).await,
        cash + dec_of(&p["settlementIrr"]),
        "a payout (if any) is credited once"
    );
    assert_eq!(app.job_result("protection-expiry").await["checked"], 0);
    app.assert_verified(&portfolio_id).await;
}

#[tokio::test]
async fn closing_the_account_cancels_each_active_protection_on_the_ledger_and_the_chain_verifies() {
    let vars = protection_vars(&[]).await;
    let app = spawn_from(vars.clone()).await;
    let (session, portfolio_id, btc) = app.protected_btc().await;
    let token = session.access.as_str();
    let r = app
        .post_auth(
            "/api/v1/protection",
            token,
            json!({"assetId": "ETH", "durationMonths": 2, "acknowledgedPremium": true}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let eth: Value = r.json().await.unwrap();
    let cash = app.cash(token).await;
    let before = app.verify_ledger(&portfolio_id).await;

    let r = app
        .send(
            Method::DELETE,
            "/api/v1/profile",
            token,
            Some(json!({"confirm": true})),
            None,
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["success"], true);
    assert!(body["deletedAt"].is_string(), "{body}");
    assert_eq!(
        app.get_auth("/api/v1/profile", token).await.status(),
        StatusCode::UNAUTHORIZED,
        "the sessions are revoked"
    );

    let report = app.verify_ledger(&portfolio_id).await;
    assert_eq!(report["chain"]["valid"], true, "{report}");
    assert_eq!(report["replay"]["matches"], true, "{report}");
    let count = before["entryCount"].as_u64().unwrap();
    assert_eq!(report["entryCount"], count + 2, "{report}");
    let ledger = ledger_of(&vars, &portfolio_id).await;
    let cancels = &ledger[ledger.len() - 2..];
    let mut cancelled: Vec<&Value> = Vec::new();
    for entry in cancels {
        assert_eq!(entry["entryType"], "PROTECTION_CANCEL", "{entry}");
        assert_eq!(entry["amountIrr"], 0, "{entry}");
        assert_eq!(entry["boundary"], "SAFE");
        assert_eq!(
            entry["beforeSnapshot"]["cashIrr"], entry["afterSnapshot"]["cashIrr"],
            "no refund"
        );
        assert_eq!(dec_of(&entry["afterSnapshot"]["cashIrr"]), cash);
        cancelled.push(&entry["protectionId"]);
    }
    assert_eq!(
        cancelled,
        [&btc["id"], &eth["protection"]["id"]],
        "oldest first"
    );
    assert_eq!(cancels[0]["prevHash"], before["headHash"]);
    assert_eq!(cancels[1]["prevHash"], cancels[0]["entryHash"]);
    assert_eq!(protection_statuses(&vars).await, ["CANCELLED", "CANCELLED"]);
}

#[tokio::test]
async fn closing_an_account_with_an_active_loan_is_refused_and_changes_nothing() {
    let vars = protection_vars(&[]).await;
    let app = spawn_from(vars.clone()).await;
    let (session, portfolio_id, _) = app.with_l1_loan().await;
    let token = session.access.as_str();
    // The collateral is frozen; it may still be protected.
    let protection = app.protect(token, "BTC", 30).await;
    let profile = app.json_ok("/api/v1/profile", token).await;
    let before = app.verify_ledger(&portfolio_id).await;
    let cash = app.cash(token).await;

    let r = app
        .send(
            Method::DELETE,
            "/api/v1/profile",
            token,
            Some(json!({"confirm": true})),
            None,
        )
        .await;
    assert_error(r, StatusCode::CONFLICT, "ACTIVE_LOANS_EXIST").await;

    assert_eq!(app.json_ok("/api/v1/profile", token).await, profile);
    let after = app.verify_ledger(&portfolio_id).await;
    assert_eq!(after["entryCount"], before["entryCount"]);
    assert_eq!(after["headHash"], before["headHash"]);
    assert_eq!(app.cash(token).await, cash);
    let active = app.json_ok("/api/v1/protection/active", token).await;
    assert_eq!(active["protections"][0]["id"], protection["id"]);
    assert_eq!(active["protections"][0]["status"], "ACTIVE");
    assert_eq!(protection_statuses(&vars).await, ["ACTIVE"]);
    let loans = app.json_ok("/api/v1/loans?status=ACTIVE", token).await;
    assert_eq!(loans["loans"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn an_operator_regime_scales_the_implied_volatility_of_quotes_holdings_and_purchases() {
    let app = spawn_protection(&[("PROTECTION_PRICING_MODEL", "BLACK_SCHOLES")]).await;
    let (session, portfolio_id) = app.funded_with_cash().await;
    let token = session.access.as_str();
    let query = "assetId=BTC&durationDays=30";
    let normal = app.protection_quote(token, query).await["quote"].clone();
    assert_eq!(normal["volatilityRegime"], "NORMAL");
    let normal_iv = dec_of(&normal["impliedVolatility"]);

    let r = app
        .set_regime("BTC", json!({"regime": "HIGH", "reason": "halving week"}))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let set: Value = r.json().await.unwrap();
    assert_eq!(set["assetId"], "BTC");
    assert_eq!(set["regime"], "HIGH");
    assert_eq!(set["reason"], "halving week");
    assert!(set["setAt"].is_string(), "{set}");
    let overrides: Value = app
        .admin_get("/admin/v1/overrides")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(overrides["volatility"], json!([set]));
    assert!(overrides["prices"].is_array(), "{overrides}");

    let high = app.protection_quote(token, query).await["quote"].clone();
    assert_eq!(high["volatilityRegime"], "HIGH");
    assert_eq!(
        dec_of(&high["impliedVolatility"]),
        normal_iv * dec!(1.35),
        "{high}"
    );
    assert!(dec_of(&high["premiumPct"]) > dec_of(&normal["premiumPct"]));
    let holdings = app.json_ok("/api/v1/protection/holdings", token).await;
    let volatility = |asset: &str| {
        holdings["holdings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["assetId"] == asset)
            .unwrap_or_else(|| panic!("no {asset} in {holdings}"))["volatility"]
            .clone()
    };
    assert_eq!(
        volatility("BTC"),
        json!({"iv": high["impliedVolatility"], "regime": "HIGH", "regimeColor": "#EF4444"})
    );
    assert_eq!(volatility("ETH")["regime"], "NORMAL", "per asset");

    let r = app
        .admin(Method::DELETE, "/admin/v1/overrides/volatility/BTC", None)
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"cleared": true}));
    let back = app.protection_quote(token, query).await["quote"].clone();
    assert_eq!(back["volatilityRegime"], "NORMAL");
    assert_eq!(back["impliedVolatility"], normal["impliedVolatility"]);
    assert_eq!(back["premiumPct"], normal["premiumPct"]);
    let overrides: Value = app
        .admin_get("/admin/v1/overrides")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(overrides["volatility"], json!([]));

    // A one-step purchase prices under the regime in force when it runs.
    let r = app.set_regime("BTC", json!({"regime": "extreme"})).await;
    assert_eq!(r.json::<Value>().await.unwrap()["regime"], "EXTREME");
    let r = app
        .post_auth(
            "/api/v1/protection",
            token,
            json!({"assetId": "BTC", "durationDays": 30, "acknowledgedPremium": true}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let bought: Value = r.json().await.unwrap();
    assert_eq!(
        dec_of(&bought["protection"]["impliedVolatility"]),
        normal_iv * dec!(1.60)
    );
    app.assert_verified(&portfolio_id).await;
}

#[tokio::test]
async fn a_volatility_regime_needs_a_known_eligible_asset_and_a_known_regime() {
    let app = spawn_protection(&[]).await;
    for (asset, body, status, code) in [
        (
            "DOGE",
            json!({"regime": "HIGH"}),
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
        ),
        (
            "USDT",
            json!({"regime": "HIGH"}),
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
        ),
        (
            "IRR_FIXED_INCOME",
            json!({"regime": "LOW"}),
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
        ),
        (
            "BTC",
            json!({"regime": "WILD"}),
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
        ),
        (
            "BTC",
            json!({"regime": 1.35}),
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
        ),
        (
            "BTC",
            json!({}),
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
        ),
        (
            "BTC",
            json!({"regime": "HIGH", "reason": "x".repeat(501)}),
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
        ),
    ] {
        let body = assert_error(app.set_regime(asset, body).await, status, code).await;
        if code == "VALIDATION_ERROR" {
            assert!(body["error"]["details"]["fields"].is_array(), "{body}");
        }
    }
    let anonymous = app
        .client
        .put(app.url("/admin/v1/overrides/volatility/BTC"))
        .json(&json!({"regime": "HIGH"}))
        .send()
        .await
        .unwrap();
    assert_error(anonymous, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;
    let overrides: Value = app
        .admin_get("/admin/v1/overrides")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(overrides["volatility"], json!([]), "nothing was stored");
    let r = app
        .admin(Method::DELETE, "/admin/v1/overrides/volatility/ETH", None)
        .await;
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "clearing an unset regime is fine"
    );
}
