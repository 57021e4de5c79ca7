//! Operators, roles and the audit trail (issue 15): every operator route refuses a role that
//! lacks its right (and audits the refusal), logins by code and password, the console's cookie
//! session and CSRF token, customer lookups, and the audit row written in the same transaction
//! as the change it records.

use std::collections::HashMap;

use reqwest::header::{CONTENT_SECURITY_POLICY, COOKIE, SET_COOKIE};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::fixtures::{num, priced_vars, spawn_priced};
use crate::helpers::{ADMIN_TOKEN, TestApp, assert_error, postgres_url, spawn_app, spawn_from};

const ROLES: [&str; 4] = ["viewer", "support", "risk", "admin"];

impl TestApp {
    /// A request with a bearer token (operator session or the admin token).
    pub async fn op(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> reqwest::Response {
        let mut request = self
            .client
            .request(method, self.url(path))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.expect("request sent")
    }

    /// Adds an operator through the break-glass token; returns its one-time code.
    pub async fn add_operator(&self, name: &str, role: &str) -> String {
        let r = self
            .op(
                Method::POST,
                "/admin/v1/operators",
                ADMIN_TOKEN,
                Some(json!({ "name": name, "role": role })),
            )
            .await;
        assert_eq!(
            r.status(),
            StatusCode::CREATED,
            "{}",
            r.text().await.unwrap()
        );
        let body: Value = r.json().await.unwrap();
        body["oneTimeCode"].as_str().unwrap().to_owned()
    }

    /// A bearer session of a new operator of `role`.
    pub async fn operator_token(&self, name: &str, role: &str) -> String {
        let code = self.add_operator(name, role).await;
        let r = self
            .post("/admin/v1/session", json!({ "name": name, "code": code }))
            .await;
        assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
        let body: Value = r.json().await.unwrap();
        body["token"].as_str().unwrap().to_owned()
    }

    /// `PUT /admin/v1/session/password` of the operator of `token`.
    pub async fn set_password(&self, token: &str, body: Value) -> reqwest::Response {
        self.op(Method::PUT, "/admin/v1/session/password", token, Some(body))
            .await
    }

    /// `PATCH /admin/v1/operators/{name}` as the operator of `token`.
    pub async fn update_operator(&self, token: &str, name: &str, body: Value) -> reqwest::Response {
        let path = format!("/admin/v1/operators/{name}");
        self.op(Method::PATCH, &path, token, Some(body)).await
    }

    /// `POST /admin/v1/customers/lookup` as the operator of `token`.
    pub async fn lookup(&self, token: &str, body: Value) -> reqwest::Response {
        self.op(
            Method::POST,
            "/admin/v1/customers/lookup",
            token,
            Some(body),
        )
        .await
    }

    /// A funded customer: the session, the portfolio id and the phone number.
    pub async fn funded_customer(&self) -> (crate::helpers::Session, String, String) {
        let (session, portfolio_id) = self.funded(50_000_000_000).await;
        let r = self.get_auth("/api/v1/profile", &session.access).await;
        let phone = r.json::<Value>().await.unwrap()["phone"]
            .as_str()
            .unwrap()
            .to_owned();
        (session, portfolio_id, phone)
    }

    /// The newest audit rows (admin token), optionally of one action.
    pub async fn audit(&self, action: Option<&str>) -> Vec<Value> {
        let path = match action {
            Some(a) => format!("/admin/v1/audit?limit=500&action={a}"),
            None => "/admin/v1/audit?limit=500".to_owned(),
        };
        let r = self.op(Method::GET, &path, ADMIN_TOKEN, None).await;
        assert_eq!(r.status(), StatusCode::OK);
        let body: Value = r.json().await.unwrap();
        body["entries"].as_array().unwrap().clone()
    }
}

/// Concrete values for the path parameters of the documented routes.
fn concrete(path: &str) -> String {
    path.replace("{assetId}", "BTC")
        .replace("{name}", "nobody")
        .replace("{portfolioId}", "00000000-0000-0000-0000-000000000000")
}

/// Every documented operator route with its method.
fn admin_operations() -> Vec<(Method, String)> {
    let doc = serde_json::to_value(blu_api::openapi()).unwrap();
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        let Some(route) = path.strip_prefix("/admin/v1") else {
            continue;
        };
        for method in item.as_object().unwrap().keys() {
            let method: Method = method.to_uppercase().parse().unwrap();
            ops.push((method, route.to_owned()));
        }
    }
    ops
}

#[test]
fn every_documented_operator_route_names_the_permission_it_needs() {
    let ops = admin_operations();
    assert!(ops.len() > 20, "{ops:?}");
    for (method, route) in ops {
        assert!(
            blu_api::operator_gate::permission_of(&method, &route).is_some(),
            "{method} {route} has no permission"
        );
    }
}

#[tokio::test]
async fn every_operator_route_refuses_a_role_that_lacks_the_right_and_audits_the_refusal() {
    // Four roles on every route: more than the general per-IP limit of a minute.
    let app = crate::helpers::spawn_with(&[("RATE_LIMIT_MAX_REQUESTS", "1000")]).await;
    let mut tokens = HashMap::new();
    for role in ROLES {
        tokens.insert(role, app.operator_token(&format!("op-{role}"), role).await);
    }
    let mut refused = 0;
    for (method, route) in admin_operations() {
        // Logging in needs no right; logging out would end the session under test.
        if route == "/session" && method != Method::GET {
            continue;
        }
        let access = blu_api::operator_gate::permission_of(&method, &route).unwrap();
        let blu_api::operator_gate::Access::Needs(permission) = access else {
            continue;
        };
        for role in ROLES {
            let allowed = blu_app::ports::Role::parse(role)
                .unwrap()
                .permits(permission);
            let body = (method != Method::GET && method != Method::DELETE).then(|| json!({}));
            let path = format!("/admin/v1{}", concrete(&route));
            let r = app.op(method.clone(), &path, &tokens[role], body).await;
            let status = r.status();
            if allowed {
                // Past the gate: the handler answered (a route's own 404 names its resource).
                let unrouted = status == StatusCode::NOT_FOUND
                    && r.text().await.unwrap().contains("\"Not found\"");
                assert!(
                    ![StatusCode::FORBIDDEN, StatusCode::UNAUTHORIZED].contains(&status)
                        && !unrouted,
                    "{role} may {method} {route}, got {status}"
                );
            } else {
                let body = assert_error(r, StatusCode::FORBIDDEN, "FORBIDDEN").await;
                assert_eq!(body["error"]["details"]["permission"], permission.as_str());
                refused += 1;
            }
        }
    }
    assert!(refused > 30, "{refused}");
    let refusals: Vec<Value> = app
        .audit(None)
        .await
        .into_iter()
        .filter(|e| e["allowed"] == false)
        .collect();
    assert_eq!(
        refusals.len(),
        refused,
        "every refusal is in the audit trail"
    );
    assert!(
        refusals
            .iter()
            .all(|e| e["actorKind"] == "operator" && e["after"]["permission"].is_string())
    );
}

#[tokio::test]
async fn the_admin_token_still_works_and_is_recorded_as_break_glass() {
    let app = spawn_priced().await;
    let r = app
        .op(
            Method::PUT,
            "/admin/v1/overrides/prices/BTC",
            ADMIN_TOKEN,
            Some(json!({ "priceUsd": 90000 })),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let rows = app.audit(Some("price_override.set")).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["actor"], "ADMIN_TOKEN");
    assert_eq!(rows[0]["actorKind"], "break_glass");
    assert_eq!(rows[0]["role"], "admin");
    assert!(rows[0]["requestId"].is_string());
}

#[tokio::test]
async fn a_one_time_code_logs_in_once_then_the_password_the_operator_set() {
    let app = spawn_app().await;
    let code = app.add_operator("مریم رضایی", "viewer").await;
    let login = |body: Value| app.post("/admin/v1/session", body);
    let first = login(json!({ "name": "مریم رضایی", "code": code.to_lowercase() })).await;
    assert_eq!(first.status(), StatusCode::OK);
    let token = first.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let again = login(json!({ "name": "مریم رضایی", "code": code })).await;
    assert_error(again, StatusCode::UNAUTHORIZED, "INVALID_CREDENTIALS").await;

    let short = app
        .set_password(&token, json!({ "newPassword": "short" }))
        .await;
    assert_error(short, StatusCode::BAD_REQUEST, "VALIDATION_ERROR").await;
    let set = app
        .set_password(&token, json!({ "newPassword": "a long enough passphrase" }))
        .await;
    assert_eq!(set.status(), StatusCode::NO_CONTENT);
    let wrong = login(json!({ "name": "مریم رضایی", "password": "not the passphrase" })).await;
    assert_error(wrong, StatusCode::UNAUTHORIZED, "INVALID_CREDENTIALS").await;
    let unknown = login(json!({ "name": "nobody", "password": "whatever it is" })).await;
    assert_error(unknown, StatusCode::UNAUTHORIZED, "INVALID_CREDENTIALS").await;
    let right =
        login(json!({ "name": "مریم رضایی", "password": "a long enough passphrase" })).await;
    assert_eq!(right.status(), StatusCode::OK);

    let me = app.op(Method::GET, "/admin/v1/session", &token, None).await;
    let me: Value = me.json().await.unwrap();
    assert_eq!(me["name"], "مریم رضایی");
    assert_eq!(me["role"], "viewer");
    assert_eq!(me["permissions"], json!(["viewService", "ownAccount"]));

    let logins = app.audit(Some("operator.login")).await;
    let refused = logins.iter().filter(|e| e["allowed"] == false).count();
    assert_eq!((logins.len(), refused), (5, 3), "{logins:?}");
    let out = app
        .op(Method::DELETE, "/admin/v1/session", &token, None)
        .await;
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
    let after = app.op(Method::GET, "/admin/v1/session", &token, None).await;
    assert_error(after, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;
}

#[tokio::test]
async fn logins_are_rate_limited_per_name() {
    let app = spawn_app().await;
    app.add_operator("target", "admin").await;
    let mut last = StatusCode::OK;
    for _ in 0..11 {
        last = app
            .post(
                "/admin/v1/session",
                json!({ "name": "target", "password": "guess guess guess" }),
            )
            .await
            .status();
    }
    assert_eq!(last, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn a_disabled_operator_loses_its_sessions_and_cannot_log_in() {
    let app = spawn_app().await;
    let token = app.operator_token("leaver", "risk").await;
    let admin = app.operator_token("boss", "admin").await;
    let r = app
        .update_operator(&admin, "leaver", json!({ "disabled": true }))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let me = app.op(Method::GET, "/admin/v1/session", &token, None).await;
    assert_error(me, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;
    let own = app
        .update_operator(&admin, "boss", json!({ "role": "viewer" }))
        .await;
    assert_error(own, StatusCode::BAD_REQUEST, "VALIDATION_ERROR").await;
    let rows = app.audit(Some("operator.update")).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["actor"], "boss");
    assert_eq!(rows[0]["target"], "leaver");
    assert_eq!(rows[0]["before"]["disabled"], false);
    assert_eq!(rows[0]["after"]["disabled"], true);
}

#[tokio::test]
async fn a_price_pinned_by_a_risk_operator_is_audited_with_before_and_after() {
    let app = spawn_priced().await;
    let risk = app.operator_token("نگار", "risk").await;
    for price in [90000, 91000] {
        let r = app
            .op(
                Method::PUT,
                "/admin/v1/overrides/prices/BTC",
                &risk,
                Some(json!({ "priceUsd": price, "reason": "feed down" })),
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK);
    }
    let cleared = app
        .op(
            Method::DELETE,
            "/admin/v1/overrides/prices/BTC",
            &risk,
            None,
        )
        .await;
    assert_eq!(cleared.status(), StatusCode::OK);
    let set = app.audit(Some("price_override.set")).await;
    assert_eq!(set.len(), 2);
    assert_eq!(set[0]["actor"], "نگار");
    assert_eq!(set[0]["role"], "risk");
    assert_eq!(set[0]["target"], "BTC");
    assert_eq!(num(&set[0]["before"]["value"]), "90000");
    assert_eq!(num(&set[0]["after"]["value"]), "91000");
    assert_eq!(set[0]["after"]["reason"], "feed down");
    assert!(set[1]["before"].is_null());
    let clear = app.audit(Some("price_override.clear")).await;
    assert_eq!(num(&clear[0]["before"]["value"]), "91000");
    let run = app
        .op(Method::POST, "/admin/v1/jobs/cleanup/run", &risk, None)
        .await;
    assert_eq!(run.status(), StatusCode::OK);
    let runs = app.audit(Some("job.run")).await;
    assert_eq!(
        (runs.len(), runs[0]["target"].as_str()),
        (1, Some("cleanup"))
    );
}

#[tokio::test]
async fn support_sees_masked_phones_and_the_numbers_of_the_app_and_each_lookup_is_audited() {
    let app = spawn_priced().await;
    let (session, portfolio_id, phone) = app.funded_customer().await;
    let support = app.operator_token("support-1", "support").await;
    let before = app_view(&app, &session.access).await;
    let r = app.lookup(&support, json!({ "phone": phone })).await;
    assert_eq!(r.status(), StatusCode::OK);
    let customer: Value = r.json().await.unwrap();
    let after = app_view(&app, &session.access).await;
    assert!(
        customer["phone"].as_str().unwrap().contains("***"),
        "{}",
        customer["phone"]
    );
    assert_eq!(customer["portfolioId"], portfolio_id.as_str());
    assert_same_numbers(&customer["portfolio"], &before, &after);
    assert_eq!(customer["verification"]["chain"]["valid"], true);
    assert!(!customer["holdings"].as_array().unwrap().is_empty());
    assert!(
        !customer["recentLedger"]["entries"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let revealed = app
        .lookup(&support, json!({ "phone": phone, "revealPhone": true }))
        .await;
    let revealed: Value = revealed.json().await.unwrap();
    assert_eq!(revealed["phone"], phone.as_str());

    let risk = app.operator_token("risk-1", "risk").await;
    let refused = app.lookup(&risk, json!({ "phone": phone })).await;
    assert_error(refused, StatusCode::FORBIDDEN, "FORBIDDEN").await;
    let reads = app.audit(Some("customer.lookup")).await;
    assert_eq!(reads.len(), 1);
    assert_eq!(reads[0]["actor"], "support-1");
    assert!(reads[0]["target"].as_str().unwrap().starts_with("user:"));
    assert_eq!(app.audit(Some("customer.reveal_phone")).await.len(), 1);
    let unknown = app
        .lookup(&support, json!({ "phone": "+989000000000" }))
        .await;
    assert_error(unknown, StatusCode::NOT_FOUND, "NOT_FOUND").await;
    let bad = app.lookup(&support, json!({ "phone": "123" })).await;
    assert_error(bad, StatusCode::BAD_REQUEST, "VALIDATION_ERROR").await;
}

fn cookie_of(response: &reqwest::Response) -> (String, String) {
    let set = response.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    let pair = set.split(';').next().unwrap().to_owned();
    (pair, set)
}

#[tokio::test]
async fn the_console_cookie_session_needs_its_csrf_token_for_every_change() {
    let app = spawn_priced().await;
    let code = app.add_operator("desk", "risk").await;
    let r = app
        .post("/console/session", json!({ "name": "desk", "code": code }))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let (cookie, attributes) = cookie_of(&r);
    assert!(
        attributes.contains("HttpOnly") && attributes.contains("SameSite=Strict"),
        "{attributes}"
    );
    let body: Value = r.json().await.unwrap();
    assert!(
        body.get("token").is_none(),
        "the session token never reaches the page"
    );
    let csrf = body["csrfToken"].as_str().unwrap().to_owned();

    let get = |path: &str| app.client.get(app.url(path)).header(COOKIE, &cookie).send();
    let me = get("/admin/v1/session").await.unwrap();
    assert_eq!(me.status(), StatusCode::OK);
    assert_eq!(me.headers()["cache-control"], "no-store");
    let pin = |token: Option<&str>| {
        let mut request = app
            .client
            .put(app.url("/admin/v1/overrides/prices/ETH"))
            .header(COOKIE, &cookie)
            .json(&json!({ "priceUsd": 3000 }));
        if let Some(token) = token {
            request = request.header("x-csrf-token", token);
        }
        request.send()
    };
    assert_error(
        pin(None).await.unwrap(),
        StatusCode::FORBIDDEN,
        "CSRF_REFUSED",
    )
    .await;
    assert_error(
        pin(Some("forged")).await.unwrap(),
        StatusCode::FORBIDDEN,
        "CSRF_REFUSED",
    )
    .await;
    assert_eq!(pin(Some(&csrf)).await.unwrap().status(), StatusCode::OK);
    assert_eq!(app.audit(Some("csrf")).await.len(), 2);
    assert_eq!(app.audit(Some("price_override.set")).await.len(), 1);
}

#[tokio::test]
async fn the_console_page_is_served_with_a_strict_policy_and_never_cached() {
    let app = spawn_app().await;
    for (path, kind) in [
        ("/console", "text/html"),
        ("/console/app.js", "text/javascript"),
        ("/console/app.css", "text/css"),
    ] {
        let r = app.get(path).await;
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with(kind)
        );
        let csp = r.headers()[CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
            "{csp}"
        );
        assert!(!csp.contains("unsafe-inline"));
        assert_eq!(r.headers()["cache-control"], "no-store");
    }
    let page = app.get("/console").await.text().await.unwrap();
    assert!(
        !page.contains("<script>") && !page.contains(" on"),
        "no inline script or handler"
    );
}

#[tokio::test]
async fn the_audit_trail_is_exported_as_csv_for_admins_only() {
    let app = spawn_priced().await;
    let viewer = app.operator_token("=cmd|calc", "viewer").await;
    let refused = app
        .op(Method::GET, "/admin/v1/audit/export", &viewer, None)
        .await;
    assert_error(refused, StatusCode::FORBIDDEN, "FORBIDDEN").await;
    let r = app
        .op(Method::GET, "/admin/v1/audit/export", ADMIN_TOKEN, None)
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let text = r.text().await.unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].contains("seq,at,actor,actorKind,role,action"));
    assert!(
        text.contains("'=cmd|calc"),
        "formulas are neutralised: {text}"
    );
    assert!(text.contains("operator.add") && text.contains("audit.export"));
}

/// Runs SQL on the test database directly (PostgreSQL or the SQLite file).
async fn exec_sql(vars: &HashMap<String, String>, postgres: &[&str], sqlite: &[&str]) {
    use sqlx::Connection;
    if let Some(url) = vars
        .get("DATABASE_URL")
        .filter(|_| postgres_url().is_some())
    {
        let mut c = sqlx::PgConnection::connect(url).await.unwrap();
        for s in postgres {
            sqlx::raw_sql(sqlx::AssertSqlSafe(*s))
                .execute(&mut c)
                .await
                .unwrap();
        }
    } else {
        let path = std::path::Path::new(&vars["DATA_DIR"]).join("blu.db");
        let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
            .await
            .unwrap();
        for s in sqlite {
            sqlx::raw_sql(sqlx::AssertSqlSafe(*s))
                .execute(&mut c)
                .await
                .unwrap();
        }
    }
}

/// A trigger that refuses inserts into `table` (when `condition` holds).
async fn refuse_inserts(vars: &HashMap<String, String>, table: &str, condition: &str) {
    let pg_fn = format!(
        "CREATE FUNCTION refuse_{table}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
         IF {condition} THEN RAISE EXCEPTION 'refused by test'; END IF; RETURN NEW; END; $$"
    );
    let pg_trigger = format!(
        "CREATE TRIGGER refuse_{table} BEFORE INSERT ON {table} FOR EACH ROW EXECUTE FUNCTION refuse_{table}()"
    );
    let lite = format!(
        "CREATE TRIGGER refuse_{table} BEFORE INSERT ON {table} WHEN {condition} \
         BEGIN SELECT RAISE(ABORT, 'refused by test'); END"
    );
    exec_sql(vars, &[&pg_fn, &pg_trigger], &[&lite]).await;
}

async fn status_of_pin(app: &TestApp, asset: &str) -> StatusCode {
    app.op(
        Method::PUT,
        &format!("/admin/v1/overrides/prices/{asset}"),
        ADMIN_TOKEN,
        Some(json!({ "priceUsd": 3100 })),
    )
    .await
    .status()
}

#[tokio::test]
async fn a_change_that_fails_leaves_no_audit_row() {
    let vars = priced_vars().await;
    let app = spawn_from(vars.clone()).await;
    refuse_inserts(&vars, "price_overrides", "NEW.subject = 'ETH'").await;
    assert_eq!(
        status_of_pin(&app, "ETH").await,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert!(app.audit(Some("price_override.set")).await.is_empty());
    assert_eq!(status_of_pin(&app, "SOL").await, StatusCode::OK);
    assert_eq!(app.audit(Some("price_override.set")).await.len(), 1);
}

#[tokio::test]
async fn a_change_whose_audit_row_cannot_be_written_does_not_happen() {
    let vars = priced_vars().await;
    let app = spawn_from(vars.clone()).await;
    refuse_inserts(
        &vars,
        "audit_log",
        "NEW.action IN ('price_override.set', 'job.run', 'volatility_regime.set')",
    )
    .await;
    assert_eq!(
        status_of_pin(&app, "ETH").await,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    let overrides: Value = app.admin_json("/admin/v1/overrides").await;
    assert_eq!(
        overrides["prices"],
        json!([]),
        "the override was rolled back"
    );
    let price: Value = app.get("/api/v1/prices/ETH").await.json().await.unwrap();
    assert_ne!(price["source"], "manual");

    let run = app
        .op(
            Method::POST,
            "/admin/v1/jobs/cleanup/run",
            ADMIN_TOKEN,
            None,
        )
        .await;
    assert_eq!(run.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let jobs: Value = app.admin_json("/admin/v1/jobs").await;
    let cleanup = jobs["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["name"] == "cleanup")
        .unwrap();
    assert!(
        cleanup.get("lastRunAt").is_none(),
        "no run was claimed: {cleanup}"
    );

    let regime = app
        .op(
            Method::PUT,
            "/admin/v1/overrides/volatility/BTC",
            ADMIN_TOKEN,
            Some(json!({ "regime": "HIGH" })),
        )
        .await;
    assert_eq!(regime.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let overrides: Value = app.admin_json("/admin/v1/overrides").await;
    assert_eq!(overrides["volatility"], json!([]));
}

#[tokio::test]
async fn an_advance_of_the_test_clock_is_audited_with_the_offsets() {
    let app = crate::helpers::spawn_with(&[("TEST_CLOCK", "1")]).await;
    let risk = app.operator_token("clockwork", "risk").await;
    let r = app
        .op(
            Method::POST,
            "/admin/v1/clock/advance",
            &risk,
            Some(json!({ "seconds": 86400 })),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let rows = app.audit(Some("clock.advance")).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["before"]["offsetSeconds"], 0);
    assert!(rows[0]["after"]["offsetSeconds"].as_i64().unwrap() >= 86_399);
    let bad = app
        .op(
            Method::POST,
            "/admin/v1/clock/advance",
            &risk,
            Some(json!({ "seconds": -1 })),
        )
        .await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    assert_eq!(app.audit(Some("clock.advance")).await.len(), 1);
}

/// The app's own `GET /portfolio`.
pub async fn app_view(app: &TestApp, access: &str) -> Value {
    let r = app.get_auth("/api/v1/portfolio", access).await;
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

/// The console's portfolio numbers are the app's (`GET /portfolio`) read just before and just
/// after: fixed income accrues every second, so each value lies between the two reads.
pub fn assert_same_numbers(console: &Value, before: &Value, after: &Value) {
    let n = |v: &Value, key: &str| -> rust_decimal::Decimal { num(&v[key]).parse().unwrap() };
    assert_eq!(num(&console["cashIrr"]), num(&before["cashIrr"]));
    for key in ["totalValueIrr", "holdingsValueIrr", "netValueIrr"] {
        let (low, value, high) = (n(before, key), n(console, key), n(after, key));
        assert!(
            low <= value && value <= high,
            "{key}: {low} <= {value} <= {high}"
        );
    }
}
