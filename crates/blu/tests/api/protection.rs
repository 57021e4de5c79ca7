//! Protection over HTTP (api.md §10, business-rules §8): quotes, purchase, cancellation and the
//! `protection-expiry` job, with pinned prices (BTC 97,500 USD at FX 1,500,000, the numbers of
//! example PO1) and the test clock.

use reqwest::{Method, StatusCode};
use rust_decimal::Decimal;
use rust_decimal::prelude::RoundingStrategy;
use rust_decimal_macros::dec;
use serde_json::{Value, json};

use crate::fixtures::num;
use crate::helpers::{ADMIN_TOKEN, Session, TestApp, assert_error, spawn_with};

const PRICES: &str = r#"{"fxRate":1500000,"prices":{"BTC":97500}}"#;

async fn spawn_protection(extra: &[(&str, &str)]) -> TestApp {
    let path = std::env::temp_dir().join(format!("blu-prices-{}.json", uuid::Uuid::new_v4()));
    std::fs::write(&path, PRICES).unwrap();
    let source = format!("fixed:{}", path.display());
    let mut vars = vec![("PRICE_SOURCE", source.as_str()), ("TEST_CLOCK", "1")];
    vars.extend_from_slice(extra);
    spawn_with(&vars).await
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

    /// A funded user and a bought 30-day protection of their whole BTC holding.
    async fn protected_btc(&self) -> (Session, String, Value) {
        let (session, portfolio_id) = self.funded_with_cash().await;
        let quote = self
            .protection_quote(&session.access, "assetId=BTC&durationDays=30")
            .await;
        let r = self
            .buy_protection(
                &session.access,
                json!({"quoteId": quote["quote"]["quoteId"], "acknowledgedPremium": true}),
            )
            .await;
        let body: Value = r.json().await.unwrap();
        assert!(body["protection"].is_object(), "{body}");
        (session, portfolio_id, body["protection"].clone())
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
