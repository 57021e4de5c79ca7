//! Loans over HTTP (api.md §9, business-rules §7) with pinned prices, the test clock and the
//! `loan-health` job run through the admin jobs API.

use std::str::FromStr;

use blu_domain::Timestamp;
use reqwest::{Method, StatusCode};
use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::fixtures::price_file;
use crate::helpers::{ADMIN_TOKEN, Session, TestApp, assert_error, spawn_with};

const DAY: i64 = 86_400;

async fn spawn_loans() -> TestApp {
    let source = price_file();
    // No scheduled ticks: each test runs `loan-health` itself, at the business time it chose.
    spawn_with(&[
        ("PRICE_SOURCE", source.as_str()),
        ("TEST_CLOCK", "1"),
        ("RUN_JOBS", "false"),
    ])
    .await
}

fn dec(v: &Value) -> Decimal {
    Decimal::from_str(&v.to_string()).unwrap_or_else(|_| panic!("not a number: {v}"))
}

impl TestApp {
    async fn loan_post(&self, path: &str, s: &Session, body: Value) -> reqwest::Response {
        self.send(Method::POST, path, &s.access, Some(body), None)
            .await
    }

    async fn loan_json(&self, path: &str, s: &Session) -> Value {
        let r = self.get_auth(path, &s.access).await;
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        r.json().await.unwrap()
    }

    async fn override_price(&self, asset: &str, usd: Value) {
        let r = self
            .client
            .put(self.url(&format!("/admin/v1/overrides/prices/{asset}")))
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({ "priceUsd": usd, "ttlSeconds": 864000 }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }

    async fn override_fx(&self, usd_irr: i64) {
        let r = self
            .client
            .put(self.url("/admin/v1/overrides/fx"))
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({ "usdIrr": usd_irr, "ttlSeconds": 864000 }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }

    async fn advance(&self, seconds: i64) {
        let r = self.advance_clock(json!({ "seconds": seconds })).await;
        assert_eq!(r.status(), StatusCode::OK);
    }

    async fn loan_health_run(&self) -> Value {
        let r = self.run_job("loan-health").await;
        assert_eq!(r.status(), StatusCode::OK);
        r.json().await.unwrap()
    }

    async fn assert_ledger_valid(&self, portfolio_id: &str) {
        let report = self.verify_ledger(portfolio_id).await;
        assert_eq!(report["chain"]["valid"], true, "{report}");
        assert_eq!(report["replay"]["matches"], true, "{report}");
    }

    /// A funded user (1,000,000,000 IRR) with the L1 loan: 30,000,000 IRR on BTC for 3 months.
    pub(crate) async fn with_l1_loan(&self) -> (Session, String, Value) {
        let (session, portfolio_id) = self.funded(1_000_000_000).await;
        let r = self
            .loan_post(
                "/api/v1/loans",
                &session,
                json!({"collateralAssetId": "BTC", "amountIrr": 30_000_000, "durationMonths": 3}),
            )
            .await;
        assert_eq!(r.status(), StatusCode::CREATED);
        let body: Value = r.json().await.unwrap();
        (session, portfolio_id, body)
    }
}

fn holding<'a>(holdings: &'a Value, asset: &str) -> &'a Value {
    holdings
        .as_array()
        .or_else(|| holdings["holdings"].as_array())
        .unwrap()
        .iter()
        .find(|h| h["assetId"] == asset)
        .unwrap_or_else(|| panic!("no {asset} holding in {holdings}"))
}

/// The newest ledger entry of `entry_type`.
async fn ledger_entry(app: &TestApp, s: &Session, entry_type: &str) -> Value {
    let entries = ledger_entries(app, s).await;
    entries
        .into_iter()
        .find(|e| e["entryType"] == entry_type)
        .unwrap_or_else(|| panic!("no {entry_type} entry"))
}

async fn ledger_entries(app: &TestApp, s: &Session) -> Vec<Value> {
    let page = app.loan_json("/api/v1/history?limit=50", s).await;
    page["entries"]
        .as_array()
        .or_else(|| page["items"].as_array())
        .or_else(|| page.as_array())
        .cloned()
        .unwrap_or_else(|| panic!("no entries in {page}"))
}

#[tokio::test]
async fn a_loan_follows_the_l1_schedule_freezes_the_holding_and_adds_the_principal_to_cash() {
    let app = spawn_loans().await;
    let (session, portfolio_id) = app.funded(1_000_000_000).await;
    let before = app.loan_json("/api/v1/portfolio", &session).await;
    let capacity = app.loan_json("/api/v1/loans/capacity", &session).await;
    let net = dec(&capacity["portfolioValueIrr"]);
    assert_eq!(
        dec(&capacity["maxCapacityIrr"]),
        (net * Decimal::new(25, 2)).floor()
    );
    assert_eq!(capacity["usedIrr"], json!(0));
    let btc = capacity["perAsset"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["assetId"] == "BTC")
        .unwrap();
    assert_eq!(btc["maxLtv"].to_string(), "0.5");
    assert_eq!(
        dec(&btc["maxLoanIrr"]),
        (dec(&btc["holdingValueIrr"]) * Decimal::new(5, 1)).floor()
    );
    let fixed = capacity["perAsset"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["assetId"] == "IRR_FIXED_INCOME")
        .unwrap();
    assert_eq!(fixed["eligible"], false);
    assert_eq!(fixed["availableLoanIrr"], json!(0));

    let preview = app
        .loan_post(
            "/api/v1/loans/preview",
            &session,
            json!({"collateralAssetId": "BTC", "amountIrr": 30_000_000, "durationMonths": 3}),
        )
        .await;
    assert_eq!(preview.status(), StatusCode::OK);
    let preview: Value = preview.json().await.unwrap();
    assert_eq!(preview["valid"], true, "{preview}");
    assert_eq!(preview["totalInterestIrr"], json!(2_250_000));
    assert_eq!(preview["totalRepaymentIrr"], json!(32_250_000));
    assert_eq!(preview["installmentAmountIrr"], json!(5_375_000));
    assert_eq!(preview["numInstallments"], json!(6));

    let r = app
        .loan_post(
            "/api/v1/loans",
            &session,
            json!({"collateralAssetId": "BTC", "amountIRR": 30_000_000, "durationMonths": 3}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let created: Value = r.json().await.unwrap();
    let loan = &created["loan"];
    assert_eq!(loan["status"], "ACTIVE");
    assert_eq!(loan["principalIrr"], json!(30_000_000));
    assert_eq!(loan["totalInterestIrr"], json!(2_250_000));
    assert_eq!(loan["totalDueIrr"], json!(32_250_000));
    assert_eq!(loan["durationDays"], json!(90));
    assert_eq!(loan["interestRate"].to_string(), "0.3");
    assert_eq!(loan["dailyInterestRate"].to_string(), "0.000821917808");
    assert_eq!(loan["healthStatus"], "HEALTHY");
    let installments = loan["installments"].as_array().unwrap();
    assert_eq!(installments.len(), 6);
    let instant = |v: &Value| Timestamp::parse_rfc3339(v.as_str().unwrap()).unwrap();
    let start = instant(&loan["startDate"]);
    for (k, i) in installments.iter().enumerate() {
        assert_eq!(i["number"], json!(k + 1));
        assert_eq!(i["principalIrr"], json!(5_000_000));
        assert_eq!(i["interestIrr"], json!(375_000));
        assert_eq!(i["totalIrr"], json!(5_375_000));
        assert_eq!(i["status"], "PENDING");
        let due = instant(&i["dueDate"]);
        assert_eq!(due.seconds_since(start), 15 * DAY * (k as i64 + 1));
    }
    assert_eq!(loan["dueDate"], installments[5]["dueDate"]);
    assert_eq!(created["cashAdded"], json!(30_000_000));
    assert_eq!(created["holdingFrozen"], true);
    assert_eq!(
        dec(&created["newCashIrr"]),
        dec(&before["cashIrr"]) + Decimal::from(30_000_000)
    );

    let holdings = app.loan_json("/api/v1/portfolio/holdings", &session).await;
    assert_eq!(holding(&holdings, "BTC")["frozen"], true);
    let after = app.loan_json("/api/v1/portfolio", &session).await;
    assert_eq!(after["activeLoansCount"], json!(1));
    // Debt = principal + accrued interest of the first started day (round(30,000,000 × 0.3 / 365)).
    assert_eq!(after["outstandingLoanIrr"], json!(30_024_658));
    assert_eq!(
        dec(&after["netValueIrr"]),
        dec(&after["totalValueIrr"]) - Decimal::from(30_024_658)
    );

    // The whole holding is collateral: selling it is refused, a second loan on it too.
    let sell = app
        .loan_post(
            "/api/v1/trade/execute",
            &session,
            json!({"action": "SELL", "assetId": "BTC", "amountIrr": 5_000_000}),
        )
        .await;
    assert_error(sell, StatusCode::CONFLICT, "ASSET_FROZEN").await;
    let again = app
        .loan_post(
            "/api/v1/loans",
            &session,
            json!({"collateralAssetId": "BTC", "amountIrr": 1_000_000, "durationMonths": 6}),
        )
        .await;
    assert_error(again, StatusCode::CONFLICT, "ASSET_FROZEN").await;
    let refused = app
        .loan_post(
            "/api/v1/loans/preview",
            &session,
            json!({"collateralAssetId": "BTC", "amountIrr": 1_000_000, "durationMonths": 6}),
        )
        .await;
    assert_eq!(refused.status(), StatusCode::OK);
    let refused: Value = refused.json().await.unwrap();
    assert_eq!(refused["valid"], false);
    assert_eq!(refused["error"]["code"], "ASSET_FROZEN");

    let create = ledger_entry(&app, &session, "LOAN_CREATE").await;
    assert_eq!(create["boundary"], "SAFE");
    let listed = app.loan_json("/api/v1/loans", &session).await;
    assert_eq!(listed["loans"].as_array().unwrap().len(), 1);
    assert_eq!(
        app.loan_json("/api/v1/loans?status=REPAID", &session).await["loans"],
        json!([])
    );
    app.assert_ledger_valid(&portfolio_id).await;
}

#[tokio::test]
async fn repaying_by_installments_then_settling_early_forgives_the_unaccrued_interest() {
    let app = spawn_loans().await;
    let (session, portfolio_id, created) = app.with_l1_loan().await;
    let id = created["loan"]["id"].as_str().unwrap().to_owned();
    let repay = format!("/api/v1/loans/{id}/repay");

    // RP1: day 10, pay 6,000,000.
    app.advance(10 * DAY - 60).await;
    let r = app
        .loan_post(&repay, &session, json!({"amountIrr": 6_000_000}))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let paid: Value = r.json().await.unwrap();
    assert_eq!(paid["amountApplied"], json!(6_000_000));
    assert_eq!(paid["installmentsPaid"], json!(1));
    assert_eq!(paid["isFullySettled"], false);
    assert_eq!(paid["collateralUnfrozen"], false);
    // api.md §9: the loan's new remainingIrr = totalDue − paid.
    assert_eq!(paid["remainingBalance"], json!(26_250_000));
    let loan = &paid["loan"];
    assert_eq!(loan["payoffIrr"], json!(24_750_000));
    let installments = loan["installments"].as_array().unwrap();
    assert_eq!(installments[0]["status"], "PAID");
    assert_eq!(installments[0]["paidIrr"], json!(5_375_000));
    assert_eq!(installments[1]["status"], "PARTIAL");
    assert_eq!(installments[1]["paidIrr"], json!(625_000));
    app.assert_ledger_valid(&portfolio_id).await;

    // EP2: day 30, payoff 24,750,000; an overpayment is capped.
    app.advance(20 * DAY).await;
    let short = app
        .loan_post(&repay, &session, json!({"amountIrr": 30_000_000}))
        .await;
    assert_error(short, StatusCode::UNPROCESSABLE_ENTITY, "INSUFFICIENT_CASH").await;
    let r = app
        .loan_post(
            "/api/v1/portfolio/add-funds",
            &session,
            json!({"amountIrr": 10_000_000}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let cash_before = dec(&app.loan_json("/api/v1/portfolio", &session).await["cashIrr"]);
    let r = app
        .loan_post(&repay, &session, json!({"amountIrr": 30_000_000}))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let settled: Value = r.json().await.unwrap();
    assert_eq!(settled["amountApplied"], json!(24_750_000));
    assert_eq!(settled["remainingBalance"], json!(0));
    assert_eq!(settled["installmentsPaid"], json!(6));
    assert_eq!(settled["isFullySettled"], true);
    assert_eq!(settled["collateralUnfrozen"], true);
    assert_eq!(settled["interestForgivenIrr"], json!(1_500_000));
    assert_eq!(
        dec(&settled["newCashIrr"]),
        cash_before - Decimal::from(24_750_000)
    );
    let loan = &settled["loan"];
    assert_eq!(loan["status"], "REPAID");
    assert_eq!(loan["remainingIrr"], json!(0));
    assert_eq!(loan["progressPct"], json!(100));
    assert!(loan.get("payoffIrr").is_none());
    assert!(loan.get("healthStatus").is_none());
    let holdings = app.loan_json("/api/v1/portfolio/holdings", &session).await;
    assert_eq!(holding(&holdings, "BTC")["frozen"], false);
    let after = app.loan_json("/api/v1/portfolio", &session).await;
    assert_eq!(after["activeLoansCount"], json!(0));
    assert_eq!(after["outstandingLoanIrr"], json!(0));

    let again = app
        .loan_post(&repay, &session, json!({"amountIrr": 1_000}))
        .await;
    assert_error(again, StatusCode::CONFLICT, "LOAN_NOT_ACTIVE").await;
    let zero = app
        .loan_post(&repay, &session, json!({"amountIrr": 0}))
        .await;
    assert_error(zero, StatusCode::BAD_REQUEST, "VALIDATION_ERROR").await;
    let fetched = app
        .loan_json(&format!("/api/v1/loans/{id}"), &session)
        .await;
    assert_eq!(fetched["status"], "REPAID");
    assert_eq!(fetched["interestForgivenIrr"], json!(1_500_000));
    app.assert_ledger_valid(&portfolio_id).await;
}

#[tokio::test]
async fn another_users_loan_is_not_found() {
    let app = spawn_loans().await;
    let (_, _, created) = app.with_l1_loan().await;
    let id = created["loan"]["id"].as_str().unwrap();
    let (other, _) = app.funded(100_000_000).await;
    let r = app
        .get_auth(&format!("/api/v1/loans/{id}"), &other.access)
        .await;
    assert_error(r, StatusCode::NOT_FOUND, "NOT_FOUND").await;
    let r = app
        .loan_post(
            &format!("/api/v1/loans/{id}/repay"),
            &other,
            json!({"amountIrr": 1_000_000}),
        )
        .await;
    assert_error(r, StatusCode::NOT_FOUND, "NOT_FOUND").await;
    let r = app
        .get_auth("/api/v1/loans/not-a-uuid", &other.access)
        .await;
    assert_error(r, StatusCode::NOT_FOUND, "NOT_FOUND").await;
}

#[tokio::test]
async fn a_price_drop_to_critical_warns_once_and_below_the_debt_liquidates_with_a_shortfall() {
    let app = spawn_loans().await;
    let (session, portfolio_id, created) = app.with_l1_loan().await;
    let q = dec(&created["loan"]["collateralQuantity"]);
    let fx = Decimal::from(1_456_000);

    // CRITICAL (LTV ≈ 0.95) but below the liquidation threshold: stored, notified once.
    let critical_usd = (Decimal::from(30_024_658) / (Decimal::new(95, 2) * q * fx)).round_dp(2);
    app.override_price(
        "BTC",
        json!(critical_usd.to_string().parse::<f64>().unwrap()),
    )
    .await;
    let first = app.loan_health_run().await;
    assert_eq!(first["result"]["checked"], json!(1), "{first}");
    assert_eq!(first["result"]["liquidated"], json!(0));
    assert_eq!(first["result"]["warned"], json!(1));
    let health = app.loan_json("/api/v1/loans/health", &session).await;
    assert_eq!(health["worstHealthStatus"], "CRITICAL");
    assert_eq!(health["loans"][0]["liquidationLtv"], json!(1));
    let second = app.loan_health_run().await;
    assert_eq!(second["result"]["warned"], json!(0), "{second}");

    // Collateral worth less than the debt: everything is sold, the shortfall recorded.
    app.override_price("BTC", json!(30000)).await;
    let ran = app.loan_health_run().await;
    assert_eq!(ran["result"]["liquidated"], json!(1), "{ran}");
    let price = Decimal::from(30_000) * fx;
    let gross = (q * price).round();
    let spread = (gross * Decimal::new(3, 3)).round();
    let debt = Decimal::from(30_024_658);
    let shortfall = debt - (gross - spread);
    let loan = app
        .loan_json(
            &format!("/api/v1/loans/{}", created["loan"]["id"].as_str().unwrap()),
            &session,
        )
        .await;
    assert_eq!(loan["status"], "LIQUIDATED");
    assert_eq!(dec(&loan["shortfallIrr"]), shortfall);
    assert_eq!(loan["remainingIrr"], json!(0));
    let liq = ledger_entry(&app, &session, "LOAN_LIQUIDATE").await;
    assert_eq!(liq["boundary"], "STRESS");
    let holdings = app.loan_json("/api/v1/portfolio/holdings", &session).await;
    let btc = holdings
        .as_array()
        .or_else(|| holdings["holdings"].as_array())
        .unwrap()
        .iter()
        .find(|h| h["assetId"] == "BTC");
    if let Some(btc) = btc {
        assert_eq!(btc["frozen"], false);
        assert_eq!(dec(&btc["quantity"]), Decimal::ZERO);
    }
    // A duplicated tick changes nothing twice.
    let again = app.loan_health_run().await;
    assert_eq!(again["result"]["liquidated"], json!(0), "{again}");
    assert_eq!(again["result"]["checked"], json!(0));
    app.assert_ledger_valid(&portfolio_id).await;
}

#[tokio::test]
async fn an_unpaid_loan_is_liquidated_seven_days_after_its_due_date_and_the_rest_unfrozen() {
    let app = spawn_loans().await;
    let (session, portfolio_id, created) = app.with_l1_loan().await;
    let q = dec(&created["loan"]["collateralQuantity"]);
    // Due on day 90; grace 7 days. Day 97 minus a minute: not yet.
    app.advance(97 * DAY - 60).await;
    app.override_fx(1_456_000).await;
    app.override_price("BTC", json!(97500)).await;
    let early = app.loan_health_run().await;
    assert_eq!(early["result"]["liquidated"], json!(0), "{early}");
    app.advance(3600).await;
    let ran = app.loan_health_run().await;
    assert_eq!(ran["result"]["liquidated"], json!(1), "{ran}");

    // LQ2: debt 32,250,000 (accrual capped); 0.00022787 BTC sold; 1,380 excess to cash.
    let liq = ledger_entry(&app, &session, "LOAN_LIQUIDATE").await;
    assert_eq!(liq["boundary"], "STRESS");
    assert_eq!(liq["amountIrr"], json!(32_348_425));
    let id = liq["id"].as_str().unwrap();
    let full = app
        .loan_json(&format!("/api/v1/history/{id}"), &session)
        .await;
    let metadata = &full["metadata"];
    assert_eq!(metadata["reason"], "MATURITY_DEFAULT", "{full}");
    assert_eq!(metadata["debtIrr"], json!(32_250_000));
    assert_eq!(metadata["spreadIrr"], json!(97_045));
    assert_eq!(metadata["netIrr"], json!(32_251_380));
    assert_eq!(metadata["appliedIrr"], json!(32_250_000));
    assert_eq!(metadata["excessIrr"], json!(1_380));
    assert_eq!(metadata["shortfallIrr"], json!(0));
    assert_eq!(full["quantity"].to_string(), "0.00022787");

    let holdings = app.loan_json("/api/v1/portfolio/holdings", &session).await;
    let btc = holding(&holdings, "BTC");
    assert_eq!(btc["frozen"], false);
    assert_eq!(dec(&btc["quantity"]), q - Decimal::new(22787, 8));
    let loan = app
        .loan_json(
            &format!("/api/v1/loans/{}", created["loan"]["id"].as_str().unwrap()),
            &session,
        )
        .await;
    assert_eq!(loan["status"], "LIQUIDATED");
    assert_eq!(loan["liquidationReason"], "MATURITY_DEFAULT");
    assert!(loan.get("shortfallIrr").is_none());
    assert!(
        loan["installments"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["status"] == "PAID")
    );
    app.assert_ledger_valid(&portfolio_id).await;
}

#[tokio::test]
async fn loan_requests_are_validated_before_anything_moves() {
    let app = spawn_loans().await;
    let (session, _) = app.funded(100_000_000).await;
    for body in [
        json!({"collateralAssetId": "BTC", "amountIrr": 5_000_000, "durationMonths": 4}),
        json!({"collateralAssetId": "BTC", "amountIrr": 999_999, "durationMonths": 3}),
        json!({"amountIrr": 5_000_000, "durationMonths": 3}),
    ] {
        let r = app.loan_post("/api/v1/loans", &session, body).await;
        assert_error(r, StatusCode::BAD_REQUEST, "VALIDATION_ERROR").await;
    }
    let r = app
        .loan_post(
            "/api/v1/loans",
            &session,
            json!({"collateralAssetId": "IRR_FIXED_INCOME", "amountIrr": 1_000_000, "durationMonths": 3}),
        )
        .await;
    assert_error(
        r,
        StatusCode::UNPROCESSABLE_ENTITY,
        "COLLATERAL_NOT_ELIGIBLE",
    )
    .await;
    let r = app
        .loan_post(
            "/api/v1/loans",
            &session,
            json!({"collateralAssetId": "BTC", "amountIrr": 100_000_000, "durationMonths": 3}),
        )
        .await;
    let body = assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "EXCEEDS_ASSET_LTV").await;
    assert!(body["error"]["details"]["maxLoanIrr"].is_number(), "{body}");
    let preview = app
        .loan_post(
            "/api/v1/loans/preview",
            &session,
            json!({"collateralAssetId": "BTC", "amountIrr": 100_000_000, "durationMonths": 3}),
        )
        .await;
    assert_eq!(preview.status(), StatusCode::OK);
    let preview: Value = preview.json().await.unwrap();
    assert_eq!(preview["valid"], false);
    assert_eq!(preview["error"]["code"], "EXCEEDS_ASSET_LTV");
    assert!(preview["maxLoanIrr"].is_number());
    let health = app.loan_json("/api/v1/loans/health", &session).await;
    assert_eq!(health, json!({"loans": []}));
    let loans = app.loan_json("/api/v1/loans", &session).await;
    assert_eq!(loans, json!({"loans": []}));
}

#[tokio::test]
async fn a_loan_beyond_the_portfolio_wide_limit_is_refused_and_changes_nothing() {
    let app = spawn_loans().await;
    let (session, portfolio_id) = app.funded(1_000_000_000).await;
    // Example C1: borrow each collateral's own maximum, largest first, until the next
    // collateral's own limit is above what the portfolio-wide limit still allows.
    let (collateral, available, asset_max) = loop {
        let capacity = app.loan_json("/api/v1/loans/capacity", &session).await;
        let available = dec(&capacity["availableIrr"]);
        let next = capacity["perAsset"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["eligible"] == true && a["frozen"] == false)
            .max_by_key(|a| dec(&a["maxLoanIrr"]))
            .expect("an unpledged collateral is left")
            .clone();
        let asset_max = dec(&next["maxLoanIrr"]);
        if asset_max > available {
            break (next, available, asset_max);
        }
        let r = app
            .loan_post(
                "/api/v1/loans",
                &session,
                json!({"collateralAssetId": next["assetId"], "amountIrr": asset_max,
                       "durationMonths": 6}),
            )
            .await;
        assert_eq!(r.status(), StatusCode::CREATED, "{next}");
    };
    assert!(available >= Decimal::from(1_000_000), "{available}");
    let asset = collateral["assetId"].as_str().unwrap();
    // Fixed income accrues every second, so the allowance creeps up by a rial or so while the
    // test runs: ask clearly above it, yet within the collateral's own limit.
    let slack = Decimal::from(100_000).min(asset_max - available);
    let request = json!({"collateralAssetId": asset, "amountIrr": available + slack,
                         "durationMonths": 3});
    let near = |v: &Value| {
        let d = dec(v);
        d >= available && d < available + slack
    };
    let loans_before = app.loan_json("/api/v1/loans", &session).await;
    let portfolio_before = app.loan_json("/api/v1/portfolio", &session).await;
    let ledger_before = app.verify_ledger(&portfolio_id).await;

    let preview = app
        .loan_post("/api/v1/loans/preview", &session, request.clone())
        .await;
    assert_eq!(preview.status(), StatusCode::OK);
    let preview: Value = preview.json().await.unwrap();
    assert_eq!(preview["valid"], false);
    assert_eq!(preview["error"]["code"], "EXCEEDS_PORTFOLIO_LOAN_LIMIT");
    assert!(near(&preview["maxLoanIrr"]), "{preview}");
    let r = app.loan_post("/api/v1/loans", &session, request).await;
    let body = assert_error(
        r,
        StatusCode::UNPROCESSABLE_ENTITY,
        "EXCEEDS_PORTFOLIO_LOAN_LIMIT",
    )
    .await;
    assert!(near(&body["error"]["details"]["availableIrr"]), "{body}");

    assert_eq!(app.loan_json("/api/v1/loans", &session).await, loans_before);
    let portfolio = app.loan_json("/api/v1/portfolio", &session).await;
    assert_eq!(portfolio["cashIrr"], portfolio_before["cashIrr"]);
    let held = app.loan_json("/api/v1/portfolio/holdings", &session).await;
    assert_eq!(holding(&held, asset)["frozen"], false, "not pledged");
    let ledger = app.verify_ledger(&portfolio_id).await;
    assert_eq!(ledger["entryCount"], ledger_before["entryCount"]);
    assert_eq!(ledger["headHash"], ledger_before["headHash"]);
    // The remaining allowance itself still borrows.
    let r = app
        .loan_post(
            "/api/v1/loans",
            &session,
            json!({"collateralAssetId": asset, "amountIrr": available, "durationMonths": 3}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let capacity = app.loan_json("/api/v1/loans/capacity", &session).await;
    assert!(
        dec(&capacity["availableIrr"]) < Decimal::from(1_000),
        "{capacity}"
    );
    app.assert_ledger_valid(&portfolio_id).await;
}
