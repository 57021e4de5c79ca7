//! Rebalancing over HTTP (api.md §8, business-rules §6): preview in every mode checked against
//! the domain planner, execute with its ledger entry and replay, the 24-hour cooldown and its
//! waiver, frozen collateral, stale prices and input validation.

use std::collections::HashMap;

use blu_domain::hram::{HramPreset, HramWeights, PriceHistory};
use blu_domain::rebalance::{RebalanceInput, RebalanceMode, plan_rebalance};
use blu_domain::{
    Allocation, AssetId, Holding, Irr, PortfolioState, PriceBook, Quantity, Timestamp,
};
use reqwest::{Method, StatusCode};
use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::fixtures::{num, price_file};
use crate::helpers::{Session, TestApp, assert_error, spawn_from, test_vars};

const MIN_LEG: i64 = 100_000;

/// A server with pinned default prices and the test clock; the vars name its database.
async fn spawn_rebalance(extra: &[(&str, &str)]) -> (TestApp, HashMap<String, String>) {
    let source = price_file();
    let mut settings = vec![("PRICE_SOURCE", source.as_str()), ("TEST_CLOCK", "1")];
    settings.extend_from_slice(extra);
    let vars = test_vars(&settings).await;
    (spawn_from(vars.clone()).await, vars)
}

async fn ok_json(response: reqwest::Response) -> Value {
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn trade(app: &TestApp, t: &str, body: Value) {
    let mut body = body;
    body["acknowledgedWarning"] = json!(true);
    ok_json(app.post_auth("/api/v1/trade/execute", t, body).await).await;
}

async fn buy(app: &TestApp, t: &str, asset: &str, amount: i64) {
    trade(
        app,
        t,
        json!({"action": "BUY", "assetId": asset, "amountIrr": amount}),
    )
    .await;
}

async fn add_funds(app: &TestApp, t: &str, amount: i64) {
    let r = app
        .post_auth(
            "/api/v1/portfolio/add-funds",
            t,
            json!({"amountIrr": amount}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
}

/// Funds 100,000,000 (target 0.50/0.35/0.15), sells the fixed income (so every value is exact
/// at any instant), adds 60,000,000 and buys 40,000,000 of BTC: Growth far above target, with
/// cash left for the cash modes.
async fn drifted(app: &TestApp) -> (Session, String) {
    let (session, id) = app.funded(100_000_000).await;
    let t = session.access.as_str();
    trade(
        app,
        t,
        json!({"action": "SELL", "assetId": "IRR_FIXED_INCOME", "sellAll": true}),
    )
    .await;
    add_funds(app, t, 60_000_000).await;
    buy(app, t, "BTC", 40_000_000).await;
    (session, id)
}

/// The portfolio as the server holds it, rebuilt from its holdings and cash (fixed-income lots
/// are not rebuilt: plans are only compared on portfolios without fixed income).
async fn state_of(app: &TestApp, t: &str) -> PortfolioState {
    let portfolio = ok_json(app.get_auth("/api/v1/portfolio", t).await).await;
    let holdings = ok_json(app.get_auth("/api/v1/portfolio/holdings", t).await).await;
    PortfolioState {
        cash: serde_json::from_value(portfolio["cashIrr"].clone()).unwrap(),
        holdings: holdings
            .as_array()
            .unwrap()
            .iter()
            .map(|h| {
                let asset: AssetId = serde_json::from_value(h["assetId"].clone()).unwrap();
                let mut holding = Holding::new(
                    asset,
                    serde_json::from_value::<Quantity>(h["quantity"].clone()).unwrap(),
                );
                holding.frozen = h["frozen"] == true;
                holding
            })
            .collect(),
    }
}

async fn preview(app: &TestApp, t: &str, query: &str) -> Value {
    ok_json(
        app.get_auth(&format!("/api/v1/rebalance/preview{query}"), t)
            .await,
    )
    .await
}

async fn execute(app: &TestApp, t: &str, body: Value) -> reqwest::Response {
    app.send(
        Method::POST,
        "/api/v1/rebalance/execute",
        t,
        Some(body),
        None,
    )
    .await
}

fn dec(v: &Value) -> Decimal {
    num(v).parse().unwrap()
}

fn value_of(holdings: &Value, asset: &str) -> i64 {
    holdings
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["assetId"] == asset)
        .map_or(0, |h| h["valueIrr"].as_i64().unwrap())
}

/// The leg rules of §6.4 on a preview: every leg ≥ 100,000, every sell ≤ 80 % of its holding
/// and leaves ≥ 5,000,000, totals equal the legs.
fn assert_leg_rules(plan: &Value, holdings: &Value) {
    let trades = plan["trades"].as_array().unwrap();
    let (mut sells, mut buys) = (0, 0);
    for leg in trades {
        let amount = leg["amountIrr"].as_i64().unwrap();
        assert!(amount >= MIN_LEG, "leg below the minimum: {leg}");
        if leg["side"] == "SELL" {
            let value = value_of(holdings, leg["assetId"].as_str().unwrap());
            assert!(
                Decimal::from(amount) <= Decimal::from(value) * Decimal::new(8, 1),
                "{leg}"
            );
            assert!(value - amount >= 5_000_000, "{leg}");
            sells += amount;
        } else {
            buys += amount;
        }
    }
    assert_eq!(plan["totalSellIrr"].as_i64().unwrap(), sells);
    assert_eq!(plan["totalBuyIrr"].as_i64().unwrap(), buys);
}

/// Compares a preview with the domain plan computed from the same state, prices and weights.
fn assert_matches_domain(
    plan: &Value,
    state: &PortfolioState,
    mode: RebalanceMode,
    cash: Option<i64>,
) {
    let book = PriceBook::defaults();
    let target = Allocation::new(
        Decimal::new(50, 2),
        Decimal::new(35, 2),
        Decimal::new(15, 2),
    );
    // Today's single close per asset leaves every HRAM fallback active (§6.3.3).
    let weights = HramWeights::without_history(HramPreset::Balanced);
    let expected = plan_rebalance(&RebalanceInput {
        state,
        target: &target,
        prices: &book,
        weights: &weights,
        mode,
        use_cash_amount: cash.map(Irr::new),
        now: Timestamp::parse_rfc3339("2026-01-20T12:00:00Z").unwrap(),
    })
    .unwrap();
    assert!(!expected.trades.is_empty());
    assert_eq!(plan["mode"], mode.as_str());
    let expected_trades = serde_json::to_value(&expected.trades).unwrap();
    assert_eq!(plan["trades"].to_string(), expected_trades.to_string());
    assert_eq!(dec(&plan["totalSellIrr"]), expected.total_sell_irr.value());
    assert_eq!(dec(&plan["totalBuyIrr"]), expected.total_buy_irr.value());
    assert_eq!(
        dec(&plan["cashDeployedIrr"]),
        expected.cash_deployed_irr.value()
    );
    assert_eq!(dec(&plan["spreadIrr"]), expected.spread_irr.value());
    assert_eq!(dec(&plan["residualDrift"]), expected.residual_drift_pp);
    assert_eq!(
        plan["afterAllocation"].to_string(),
        serde_json::to_value(expected.after_allocation.rounded(6))
            .unwrap()
            .to_string()
    );
    assert_eq!(plan["canFullyRebalance"], expected.can_fully_rebalance);
    assert_eq!(plan["insufficientCash"], expected.insufficient_cash);
}

#[tokio::test]
async fn previews_in_every_mode_match_the_domain_plan_and_keep_the_leg_rules() {
    let (app, _) = spawn_rebalance(&[]).await;
    let (session, _) = drifted(&app).await;
    let t = session.access.as_str();
    let state = state_of(&app, t).await;
    assert!(state.holdings.iter().all(|h| !h.asset.is_fixed_income()));
    assert!(state.cash.value() > Decimal::from(10_000_000));
    let holdings = ok_json(app.get_auth("/api/v1/portfolio/holdings", t).await).await;

    let status = ok_json(app.get_auth("/api/v1/rebalance/status", t).await).await;
    assert_eq!(status["status"], "ATTENTION_REQUIRED");
    assert_eq!(status["needsRebalance"], true);
    assert_eq!(status["canRebalance"], true);
    assert_eq!(status["hoursRemaining"], 0);
    assert!(status.get("lastRebalanceAt").is_none());

    // The default mode is HOLDINGS_ONLY; modes are case-insensitive.
    let holdings_only = preview(&app, t, "").await;
    assert_matches_domain(&holdings_only, &state, RebalanceMode::HoldingsOnly, None);
    assert_leg_rules(&holdings_only, &holdings);
    assert_eq!(holdings_only["cashDeployedIrr"], 0);
    assert!(
        holdings_only["trades"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["side"] == "SELL" && l["assetId"] == "BTC")
    );
    assert_eq!(holdings_only["hasLockedCollateral"], false);
    assert_eq!(holdings_only["pricesStatus"], "live");
    assert_eq!(holdings_only["status"], "ATTENTION_REQUIRED");
    assert_eq!(
        holdings_only["cooldown"],
        json!({"active": false, "waived": false, "hoursRemaining": 0})
    );
    let growth = &holdings_only["gapAnalysis"][1];
    assert_eq!(growth["layer"], "GROWTH");
    assert!(growth["gapIrr"].as_i64().unwrap() < 0);
    assert_eq!(growth["frozenIrr"], 0);

    let plus_cash = preview(&app, t, "?mode=holdings_plus_cash").await;
    assert_matches_domain(&plus_cash, &state, RebalanceMode::HoldingsPlusCash, None);
    assert_leg_rules(&plus_cash, &holdings);
    assert!(plus_cash["cashDeployedIrr"].as_i64().unwrap() > 0);

    let smart = preview(&app, t, "?mode=SMART&useCashAmount=10000000").await;
    assert_matches_domain(&smart, &state, RebalanceMode::Smart, Some(10_000_000));
    assert_leg_rules(&smart, &holdings);
    assert_eq!(smart["useCashAmount"], 10_000_000);
    assert!(smart["cashDeployedIrr"].as_i64().unwrap() <= 10_000_000);
}

#[tokio::test]
async fn execute_applies_the_plan_writes_one_rebalance_entry_and_the_ledger_still_replays() {
    let (app, _) = spawn_rebalance(&[]).await;
    let (session, portfolio_id) = drifted(&app).await;
    let t = session.access.as_str();
    let plan = preview(&app, t, "?mode=HOLDINGS_ONLY").await;
    let legs = plan["trades"].as_array().unwrap().len();
    let sells = plan["trades"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["side"] == "SELL")
        .count();

    let keyed = || {
        app.send(
            Method::POST,
            "/api/v1/rebalance/execute",
            t,
            Some(json!({"mode": "HOLDINGS_ONLY", "acknowledgedWarning": false})),
            Some("rebalance-1"),
        )
    };
    let done = ok_json(keyed().await).await;
    assert_eq!(done["success"], true);
    assert_eq!(done["tradesExecuted"], legs);
    assert_eq!(done["boundary"], "SAFE");
    assert_eq!(done["newStatus"], "BALANCED");
    assert!(dec(&done["residualDrift"]) < Decimal::from(2));
    let growth = dec(&done["newAllocation"]["GROWTH"]);
    assert!(
        (growth - Decimal::new(35, 2)).abs() < Decimal::new(1, 2),
        "{done}"
    );
    // The same key replays the same response without a second rebalance.
    let replay = keyed().await;
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    assert_eq!(ok_json(replay).await, done);

    let page = ok_json(app.get_auth("/api/v1/history?type=REBALANCE", t).await).await;
    let entries = page["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1);
    let id = done["ledgerEntryId"].as_str().unwrap();
    let entry = ok_json(app.get_auth(&format!("/api/v1/history/{id}"), t).await).await;
    assert_eq!(entry["entryType"], "REBALANCE");
    assert_eq!(
        entry["message"],
        format!(
            "Rebalanced portfolio ({sells} sells, {} buys)",
            legs - sells
        )
    );
    let ledger_legs = entry["legs"].as_array().unwrap();
    assert_eq!(ledger_legs.len(), legs);
    for (leg, planned) in ledger_legs.iter().zip(plan["trades"].as_array().unwrap()) {
        assert_eq!(leg["side"], planned["side"]);
        assert_eq!(leg["assetId"], planned["assetId"]);
        assert_eq!(leg["layer"], planned["layer"]);
        for field in ["quantity", "priceIrr", "amountIrr", "spreadIrr"] {
            assert!(leg[field].is_number(), "{leg}");
        }
    }
    let gross: i64 = ledger_legs
        .iter()
        .map(|l| l["amountIrr"].as_i64().unwrap())
        .sum();
    assert_eq!(entry["amountIrr"], gross);
    let metadata = &entry["metadata"];
    assert_eq!(metadata["mode"], "HOLDINGS_ONLY");
    assert!(metadata.get("useCashAmount").is_none());
    let total_sell = metadata["totalSellIrr"].as_i64().unwrap();
    let total_buy = metadata["totalBuyIrr"].as_i64().unwrap();
    assert_eq!(total_sell + total_buy, gross);
    assert!(metadata["spreadIrr"].as_i64().unwrap() > 0);
    assert_eq!(metadata["residualDrift"], done["residualDrift"]);
    assert_eq!(entry["afterSnapshot"]["status"], "BALANCED");

    let activity = ok_json(app.get_auth("/api/v1/history/activity?limit=1", t).await).await;
    let latest = &activity["activities"][0];
    assert_eq!(latest["type"], "REBALANCE");
    assert_eq!(latest["message"], "Rebalanced portfolio");

    let verified = app.verify_ledger(&portfolio_id).await;
    assert_eq!(verified["chain"]["valid"], true, "{verified}");
    assert_eq!(verified["replay"]["matches"], true, "{verified}");

    let status = ok_json(app.get_auth("/api/v1/rebalance/status", t).await).await;
    assert_eq!(status["status"], "BALANCED");
    assert_eq!(status["needsRebalance"], false);
    assert_eq!(status["canRebalance"], false);
    assert_eq!(status["hoursRemaining"], 24);
    assert!(status["lastRebalanceAt"].is_string());
}

#[tokio::test]
async fn a_second_rebalance_within_24_hours_is_too_soon_unless_the_drift_exceeds_10_pp() {
    let (app, _) = spawn_rebalance(&[]).await;
    let (session, _) = drifted(&app).await;
    let t = session.access.as_str();
    add_funds(&app, t, 30_000_000).await;
    ok_json(execute(&app, t, json!({"mode": "HOLDINGS_ONLY"})).await).await;

    // A moderate drift (2–10 pp): the cooldown holds, preview still answers and reports it.
    buy(&app, t, "SOL", 8_000_000).await;
    let status = ok_json(app.get_auth("/api/v1/rebalance/status", t).await).await;
    let drift = dec(&status["driftPct"]);
    assert!(
        drift > Decimal::from(2) && drift <= Decimal::from(10),
        "{status}"
    );
    assert_eq!(status["cooldownWaived"], false);
    let body = assert_error(
        execute(&app, t, json!({"mode": "HOLDINGS_ONLY"})).await,
        StatusCode::CONFLICT,
        "REBALANCE_TOO_SOON",
    )
    .await;
    assert_eq!(body["error"]["details"]["hoursRemaining"], 24);
    assert!(body["error"]["details"]["nextAvailableAt"].is_string());
    let plan = preview(&app, t, "").await;
    assert_eq!(plan["cooldown"]["active"], true);
    assert_eq!(plan["cooldown"]["hoursRemaining"], 24);
    assert!(!plan["trades"].as_array().unwrap().is_empty());

    // Beyond 10 pp the cooldown is waived.
    buy(&app, t, "SOL", 20_000_000).await;
    let status = ok_json(app.get_auth("/api/v1/rebalance/status", t).await).await;
    assert!(dec(&status["driftPct"]) > Decimal::from(10), "{status}");
    assert_eq!(status["cooldownWaived"], true);
    assert_eq!(status["canRebalance"], true);
    ok_json(execute(&app, t, json!({"mode": "holdings_only"})).await).await;

    // Inside the window again; after 24 h of business time (and fresh prices) it is allowed.
    buy(&app, t, "SOL", 8_000_000).await;
    assert_error(
        execute(&app, t, json!({"mode": "HOLDINGS_ONLY"})).await,
        StatusCode::CONFLICT,
        "REBALANCE_TOO_SOON",
    )
    .await;
    assert_eq!(
        app.advance_clock(json!({"seconds": 86_400})).await.status(),
        StatusCode::OK
    );
    assert_eq!(app.run_job("prices").await.status(), StatusCode::OK);
    let status = ok_json(app.get_auth("/api/v1/rebalance/status", t).await).await;
    assert_eq!(status["canRebalance"], true);
    assert_eq!(status["hoursRemaining"], 0);
    ok_json(execute(&app, t, json!({"mode": "HOLDINGS_ONLY"})).await).await;
}

/// Marks a holding frozen directly in the database (loans are built elsewhere).
async fn freeze(vars: &HashMap<String, String>, portfolio_id: &str, asset: &str) {
    if let Some(url) = vars.get("DATABASE_URL") {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        let done = sqlx::query(
            "UPDATE holdings SET frozen = TRUE WHERE portfolio_id = $1::uuid AND asset_id = $2",
        )
        .bind(portfolio_id)
        .bind(asset)
        .execute(&pool)
        .await
        .unwrap();
        assert_eq!(done.rows_affected(), 1);
    } else {
        let path = std::path::Path::new(&vars["DATA_DIR"]).join("blu.db");
        let options = sqlx::sqlite::SqliteConnectOptions::new().filename(path);
        let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
        let done =
            sqlx::query("UPDATE holdings SET frozen = 1 WHERE portfolio_id = $1 AND asset_id = $2")
                .bind(portfolio_id)
                .bind(asset)
                .execute(&pool)
                .await
                .unwrap();
        assert_eq!(done.rows_affected(), 1);
    }
}

#[tokio::test]
async fn frozen_collateral_is_never_sold_and_is_reported() {
    let (app, vars) = spawn_rebalance(&[]).await;
    let (session, portfolio_id) = drifted(&app).await;
    let t = session.access.as_str();
    freeze(&vars, &portfolio_id, "BTC").await;
    let before = state_of(&app, t).await;
    let btc = before.holding(AssetId::Btc).unwrap().quantity;

    let plan = preview(&app, t, "").await;
    assert_eq!(plan["hasLockedCollateral"], true);
    assert!(
        plan["trades"]
            .as_array()
            .unwrap()
            .iter()
            .all(|l| !(l["side"] == "SELL" && l["assetId"] == "BTC")),
        "{plan}"
    );
    assert!(!plan["trades"].as_array().unwrap().is_empty());
    let growth = &plan["gapAnalysis"][1];
    assert!(
        growth["frozenIrr"].as_i64().unwrap() > 40_000_000,
        "{growth}"
    );
    assert_eq!(plan["gapSummary"]["hasFrozenAssets"], true);

    ok_json(execute(&app, t, json!({"mode": "HOLDINGS_ONLY"})).await).await;
    let after = state_of(&app, t).await;
    let held = after.holding(AssetId::Btc).unwrap();
    assert!(held.frozen);
    assert_eq!(held.quantity, btc);
    let verified = app.verify_ledger(&portfolio_id).await;
    assert_eq!(verified["replay"]["matches"], true, "{verified}");
}

#[tokio::test]
async fn stale_prices_leave_the_preview_working_and_refuse_the_execute() {
    // Simulated prices (fixed ones never go stale) that are not refreshed for an hour.
    let app =
        spawn_from(test_vars(&[("TEST_CLOCK", "1"), ("PRICE_REFRESH_SECONDS", "3600")]).await)
            .await;
    let (session, _) = drifted(&app).await;
    let t = session.access.as_str();
    let before = state_of(&app, t).await;
    assert_eq!(
        app.advance_clock(json!({"seconds": 300})).await.status(),
        StatusCode::OK
    );

    let plan = preview(&app, t, "").await;
    assert_eq!(plan["pricesStatus"], "stale");
    assert!(!plan["trades"].as_array().unwrap().is_empty());
    let r = execute(&app, t, json!({"mode": "HOLDINGS_ONLY"})).await;
    assert_error(r, StatusCode::SERVICE_UNAVAILABLE, "PRICES_STALE").await;
    assert_eq!(state_of(&app, t).await, before);
    let page = ok_json(app.get_auth("/api/v1/history?type=REBALANCE", t).await).await;
    assert!(page["entries"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn bad_modes_and_amounts_are_validation_errors_and_a_balanced_portfolio_needs_nothing() {
    let (app, _) = spawn_rebalance(&[]).await;
    let stranger = app.onboarded().await;
    assert_error(
        app.get_auth("/api/v1/rebalance/preview", &stranger.access)
            .await,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    )
    .await;
    let (session, _) = app.funded(100_000_000).await;
    let t = session.access.as_str();
    for query in [
        "?mode=EVERYTHING",
        "?mode=SMART&useCashAmount=abc",
        "?mode=SMART&useCashAmount=-5",
        "?mode=SMART&useCashAmount=999999999999",
    ] {
        assert_error(
            app.get_auth(&format!("/api/v1/rebalance/preview{query}"), t)
                .await,
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
        )
        .await;
    }
    assert_error(
        execute(&app, t, json!({"mode": "EVERYTHING"})).await,
        StatusCode::BAD_REQUEST,
        "VALIDATION_ERROR",
    )
    .await;
    assert_error(
        execute(&app, t, json!({"mode": "SMART", "useCashAmount": "x"})).await,
        StatusCode::BAD_REQUEST,
        "VALIDATION_ERROR",
    )
    .await;
    // Freshly funded on target: nothing to do.
    let plan = preview(&app, t, "?mode=smart").await;
    assert_eq!(plan["trades"], json!([]));
    assert_error(
        execute(&app, t, json!({})).await,
        StatusCode::CONFLICT,
        "NO_REBALANCE_NEEDED",
    )
    .await;
}

async fn admin(app: &TestApp, method: Method, path: &str, body: Option<Value>) {
    let mut request = app
        .client
        .request(method, app.url(path))
        .bearer_auth(crate::helpers::ADMIN_TOKEN);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

/// The stored daily closes as the price history API serves them.
async fn stored_history(app: &TestApp) -> PriceHistory {
    let mut history = PriceHistory::new();
    for asset in AssetId::ALL.into_iter().filter(|a| !a.is_fixed_income()) {
        let body = ok_json(
            app.get(&format!(
                "/api/v1/prices/{}/history?days=61",
                asset.as_str()
            ))
            .await,
        )
        .await;
        let closes: Vec<(i64, Decimal)> = body["closes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                let day =
                    Timestamp::parse_rfc3339(&format!("{}T00:00:00Z", c["date"].as_str().unwrap()))
                        .unwrap();
                (PriceHistory::day_of(day), dec(&c["priceUsd"]))
            })
            .collect();
        history.set_series(asset, closes);
    }
    history
}

#[tokio::test]
async fn intra_layer_weights_come_from_the_stored_daily_closes() {
    let (app, _) = spawn_rebalance(&[]).await;
    // Four UTC days of closes; PAXG moves every day through an admin override.
    for (day, paxg) in ["2700", "2750", "2650", "2800"].into_iter().enumerate() {
        if day > 0 {
            assert_eq!(
                app.advance_clock(json!({"seconds": 86_400})).await.status(),
                StatusCode::OK
            );
        }
        assert_eq!(app.run_job("prices").await.status(), StatusCode::OK);
        admin(
            &app,
            Method::PUT,
            "/admin/v1/overrides/prices/PAXG",
            Some(json!({"priceUsd": paxg.parse::<f64>().unwrap(), "ttlSeconds": 3600})),
        )
        .await;
    }
    // Back to the pinned default price for today's valuation.
    admin(
        &app,
        Method::DELETE,
        "/admin/v1/overrides/prices/PAXG",
        None,
    )
    .await;
    assert_eq!(app.run_job("prices").await.status(), StatusCode::OK);

    let (session, _) = drifted(&app).await;
    let t = session.access.as_str();
    let state = state_of(&app, t).await;
    let history = stored_history(&app).await;
    assert!(history.closes(AssetId::Paxg).len() >= 4);
    let weights = HramWeights::compute(&history, &HramPreset::Balanced.params());
    let fallback = HramWeights::without_history(HramPreset::Balanced);
    assert_ne!(weights.get(AssetId::Paxg), fallback.get(AssetId::Paxg));

    let plan = preview(&app, t, "").await;
    let target = Allocation::new(
        Decimal::new(50, 2),
        Decimal::new(35, 2),
        Decimal::new(15, 2),
    );
    let book = PriceBook::defaults();
    let input = |weights| RebalanceInput {
        state: &state,
        target: &target,
        prices: &book,
        weights,
        mode: RebalanceMode::HoldingsOnly,
        use_cash_amount: None,
        now: Timestamp::parse_rfc3339("2026-01-20T12:00:00Z").unwrap(),
    };
    let expected = plan_rebalance(&input(&weights)).unwrap();
    let without = plan_rebalance(&input(&fallback)).unwrap();
    let trades = |p: &blu_domain::rebalance::RebalancePlan| {
        serde_json::to_value(&p.trades).unwrap().to_string()
    };
    assert_eq!(plan["trades"].to_string(), trades(&expected));
    assert_ne!(trades(&expected), trades(&without));
}

#[tokio::test]
async fn the_hram_preset_defaults_to_balanced_and_is_configurable_by_name() {
    let mut vars = test_vars(&[]).await;
    let config = blu::config::Config::from_source(&vars).unwrap();
    assert_eq!(config.hram_preset, HramPreset::Balanced);
    vars.insert("HRAM_PRESET".into(), "conservative".into());
    let config = blu::config::Config::from_source(&vars).unwrap();
    assert_eq!(config.hram_preset, HramPreset::Conservative);
    vars.insert("HRAM_PRESET".into(), "WEIGHTLESS".into());
    let err = blu::config::Config::from_source(&vars).unwrap_err();
    assert!(err.to_string().contains("HRAM_PRESET"), "{err}");
}

#[tokio::test]
async fn a_smart_rebalance_spends_at_most_the_cash_it_was_given_and_records_it() {
    let (app, _) = spawn_rebalance(&[]).await;
    let (session, portfolio_id) = drifted(&app).await;
    let t = session.access.as_str();
    let cash_before = state_of(&app, t).await.cash;
    let done = ok_json(
        execute(
            &app,
            t,
            json!({"mode": "smart", "useCashAmount": 10_000_000}),
        )
        .await,
    )
    .await;
    let entry = ok_json(
        app.get_auth(
            &format!(
                "/api/v1/history/{}",
                done["ledgerEntryId"].as_str().unwrap()
            ),
            t,
        )
        .await,
    )
    .await;
    let metadata = &entry["metadata"];
    assert_eq!(metadata["mode"], "SMART");
    assert_eq!(metadata["useCashAmount"], 10_000_000);
    let spent = cash_before.value() - state_of(&app, t).await.cash.value();
    assert!(
        spent > Decimal::ZERO && spent <= Decimal::from(10_000_000),
        "{spent}"
    );
    let verified = app.verify_ledger(&portfolio_id).await;
    assert_eq!(verified["replay"]["matches"], true, "{verified}");
}
