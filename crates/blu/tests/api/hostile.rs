//! Hostile input against every route in the OpenAPI document: wrong types, huge and negative
//! numbers, deep nesting, other users' ids, garbage path parameters. Nothing may answer 5xx, and
//! every refusal must carry the documented error body. New routes are covered automatically.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{ADMIN_TOKEN, random_phone, spawn_with};

fn hostile_bodies() -> Vec<Value> {
    vec![
        json!({}),
        json!(null),
        json!([]),
        json!("string"),
        json!(12),
        json!({ "amountIrr": -1, "amountIRR": "-5", "action": "BUY", "assetId": "BTC" }),
        json!({ "amountIrr": 1e308, "quantity": "1e-400", "assetId": "IRR_FIXED_INCOME", "action": "SELL" }),
        json!({ "amountIrr": "79228162514264337593543950336", "sellAll": "yes", "assetId": "DOGE" }),
        json!({ "amountIrr": 99_999_999_999_999_999_999_u128.to_string(), "durationMonths": 7, "collateralAssetId": "IRR_FIXED_INCOME" }),
        json!({ "phone": ["+989123456789"], "code": { "x": 1 }, "refreshToken": null, "allDevices": "true" }),
        json!({ "answers": [{ "questionId": "q_income", "answerId": "option_99" }], "consentRisk": "true" }),
        json!({ "quoteId": "tq_00000000-0000-0000-0000-000000000000", "acknowledgedWarning": 1 }),
        json!({ "mode": "EVERYTHING", "useCashAmount": -100, "seconds": 1e30, "to": "2999-99-99T00:00:00Z" }),
        json!({ "confirm": "yes", "notificationToken": "x".repeat(5000), "language": 42 }),
        json!({ "priceUsd": -97000, "usdIrr": 0, "ttlSeconds": -1 }),
        // NUL characters: PostgreSQL refuses them in text, SQLite would store them.
        json!({ "quoteId": "tq_\u{0}", "reason": "pinned\u{0}", "regime": "HIGH\u{0}",
                "language": "fa\u{0}", "notificationToken": "tok\u{0}en", "deviceId": "dev\u{0}",
                "phone": "+98912\u{0}3456789", "name": "op\u{0}", "password": "pw\u{0}",
                "code": "12\u{0}456", "priceUsd": 97000, "usdIrr": 1456000, "role": "viewer" }),
    ]
}

fn path_variants(template: &str) -> Vec<String> {
    let fills = [
        "00000000-0000-0000-0000-000000000000",
        "not-a-uuid",
        "BTC",
        "%00",
        "-1",
        "..%2F..%2Fetc",
    ];
    if !template.contains('{') {
        return vec![template.to_owned()];
    }
    fills
        .iter()
        .map(|fill| {
            let mut out = String::new();
            let mut rest = template;
            while let Some(start) = rest.find('{') {
                let end = rest[start..]
                    .find('}')
                    .map(|e| start + e + 1)
                    .unwrap_or(rest.len());
                out.push_str(&rest[..start]);
                out.push_str(fill);
                rest = &rest[end..];
            }
            out.push_str(rest);
            out
        })
        .collect()
}

#[tokio::test]
async fn no_route_answers_5xx_to_hostile_input() {
    let app = spawn_with(&[("RATE_LIMIT_MAX_REQUESTS", "1000000"), ("TEST_CLOCK", "1")]).await;
    let user = app.login(&random_phone()).await;
    let doc: Value = app.get("/openapi.json").await.json().await.unwrap();
    let mut checked = 0;
    for (template, item) in doc["paths"].as_object().unwrap() {
        // Logout would end the session the rest of the run relies on; it has its own tests.
        if template == "/metrics"
            || template.ends_with("/stream")
            || template.ends_with("/auth/logout")
        {
            continue;
        }
        for method in item.as_object().unwrap().keys() {
            let method = Method::from_bytes(method.to_ascii_uppercase().as_bytes()).unwrap();
            for path in path_variants(template) {
                for token in [None, Some(user.access.as_str()), Some(ADMIN_TOKEN)] {
                    // A GET's hostile input is its query: malformed values, then NUL
                    // characters in every text parameter a route reads.
                    let bodies = if method == Method::GET {
                        vec![json!("malformed"), json!("nul")]
                    } else {
                        hostile_bodies()
                    };
                    for body in bodies {
                        let mut request = app.client.request(method.clone(), app.url(&path));
                        if method == Method::GET && body == "malformed" {
                            request = request.query(&[
                                ("limit", "-5"),
                                ("cursor", "!!!"),
                                ("mode", "x"),
                                ("days", "1e9"),
                                ("from", "yesterday"),
                            ]);
                        } else if method == Method::GET {
                            request = request.query(&[
                                ("phone", "+98912\u{0}"),
                                ("status", "ACTIVE\u{0}"),
                                ("assetId", "BTC\u{0}"),
                                ("holdingId", "\u{0}"),
                                ("cursor", "\u{0}"),
                                ("actor", "a\u{0}"),
                                ("action", "\u{0}"),
                                ("target", "\u{0}"),
                                ("mode", "\u{0}"),
                            ]);
                        } else {
                            request = request.json(&body);
                        }
                        if let Some(token) = token {
                            request = request.bearer_auth(token);
                        }
                        let response = request.send().await.unwrap();
                        let status = response.status();
                        let content_type = response
                            .headers()
                            .get("content-type")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("")
                            .to_owned();
                        let text = response.text().await.unwrap();
                        assert!(
                            status.as_u16() < 500 || status == StatusCode::SERVICE_UNAVAILABLE,
                            "{method} {path} with {body} answered {status}: {text}"
                        );
                        if status.is_client_error() || status.is_server_error() {
                            let parsed: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{method} {path}: error body is not JSON ({content_type}): {text}"));
                            assert!(
                                parsed["error"]["code"].is_string(),
                                "{method} {path}: {text}"
                            );
                        }
                        checked += 1;
                    }
                }
            }
        }
    }
    assert!(checked > 100, "only {checked} requests were made");
}

/// Extreme numbers against the money routes of a funded portfolio: the largest decimal there is,
/// tiny fractions, negatives, exponents. Refusals are 4xx; nothing overflows into a 500.
#[tokio::test]
async fn money_routes_of_a_funded_portfolio_refuse_extreme_numbers_without_a_5xx() {
    let app = crate::fixtures::spawn_priced().await;
    let (session, _) = app.funded(100_000_000).await;
    let token = session.access.as_str();
    let extremes = [
        json!("79228162514264337593543950335"),
        json!("-79228162514264337593543950335"),
        json!("0.0000000000000000000000000001"),
        json!(1e28),
        json!(-1),
        json!(0),
        json!("1e27"),
    ];
    for amount in extremes {
        let bodies = [
            (
                "/api/v1/trade/preview",
                json!({"action": "BUY", "assetId": "BTC", "amountIrr": amount}),
            ),
            (
                "/api/v1/trade/preview",
                json!({"action": "SELL", "assetId": "IRR_FIXED_INCOME", "amountIrr": amount}),
            ),
            (
                "/api/v1/trade/execute",
                json!({"action": "SELL", "assetId": "USDT", "amountIrr": amount, "acknowledgedWarning": true}),
            ),
            ("/api/v1/portfolio/add-funds", json!({"amountIrr": amount})),
            (
                "/api/v1/loans/preview",
                json!({"collateralAssetId": "BTC", "amountIrr": amount, "durationMonths": 3}),
            ),
            (
                "/api/v1/loans",
                json!({"collateralAssetId": "PAXG", "amountIrr": amount, "durationMonths": 6}),
            ),
            (
                "/api/v1/rebalance/execute",
                json!({"mode": "SMART", "useCashAmount": amount}),
            ),
            (
                "/api/v1/protection",
                json!({"assetId": "BTC", "coveragePct": amount, "durationDays": 30, "acknowledgedPremium": true}),
            ),
        ];
        for (path, body) in bodies {
            let response = app.post_auth(path, token, body.clone()).await;
            let status = response.status();
            let text = response.text().await.unwrap();
            assert!(
                status.as_u16() < 500 || status == StatusCode::SERVICE_UNAVAILABLE,
                "{path} {body} → {status}: {text}"
            );
        }
        for query in [
            format!("/api/v1/rebalance/preview?mode=SMART&useCashAmount={amount}"),
            format!("/api/v1/protection/quote?assetId=BTC&coveragePct={amount}&durationDays=30"),
        ] {
            let response = app.get_auth(&query.replace('"', ""), token).await;
            let status = response.status();
            assert!(
                status.as_u16() < 500,
                "{query} → {status}: {}",
                response.text().await.unwrap()
            );
        }
    }
    let verify: Value = app
        .client
        .get(app.url("/admin/v1/ledger/verify"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(verify["failed"], json!([]), "{verify}");
}
