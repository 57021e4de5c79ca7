//! The operator console in a real browser (issue 15): Debian's headless Chromium driven through
//! chromedriver's WebDriver protocol by a small client over reqwest. Each role logs in with its
//! one-time code, sees what it may see, is refused what it may not (the refusal is audited),
//! a risk operator pins a price and the admin finds the audit row, and support looks a customer
//! up and sees the numbers of the app's `GET /portfolio`. Screenshots are kept in
//! `target/console-screenshots/`.
//!
//! Skipped (with a message) only when `chromium` or `chromedriver` is not installed;
//! `.ci/run` installs both.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use base64::Engine;
use reqwest::Method;
use serde_json::{Value, json};

use crate::fixtures::{num, spawn_priced};
use crate::helpers::TestApp;
use crate::operators::{app_view, assert_same_numbers};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

fn find_binary(candidates: &[&str]) -> Option<PathBuf> {
    candidates.iter().map(PathBuf::from).find(|p| p.is_file())
}

fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    target.join("console-screenshots")
}

/// A chromedriver process and one browser session; both end when dropped.
struct Browser {
    http: reqwest::Client,
    base: String,
    session: String,
    driver: tokio::process::Child,
    _profile: PathBuf,
}

impl Drop for Browser {
    /// Ends the WebDriver session first: chromedriver then closes Chromium, which killing
    /// chromedriver alone would leave running (and its profile in use). A plain blocking
    /// request, so it also runs when the test panics.
    fn drop(&mut self) {
        use std::io::{Read, Write};
        let address = self.base.trim_start_matches("http://");
        if let Ok(mut stream) = std::net::TcpStream::connect(address) {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
            let request = format!(
                "DELETE /session/{} HTTP/1.1\r\nHost: {address}\r\nContent-Length: 0\r\n\
                 Connection: close\r\n\r\n",
                self.session
            );
            if stream.write_all(request.as_bytes()).is_ok() {
                let _ = stream.read_to_end(&mut Vec::new());
            }
        }
        let _ = self.driver.start_kill();
        let _ = std::fs::remove_dir_all(&self._profile);
    }
}

impl Browser {
    async fn start(chromium: &Path, chromedriver: &Path) -> Browser {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = tokio::process::Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver starts");
        let http = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        loop {
            let ready = http.get(format!("{base}/status")).send().await;
            if let Ok(r) = ready
                && r.json::<Value>()
                    .await
                    .is_ok_and(|v| v["value"]["ready"] == true)
            {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "chromedriver did not start"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = std::env::temp_dir().join(format!("blu-chromium-{}", uuid::Uuid::new_v4()));
        let caps = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium.to_string_lossy(),
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--window-size=1400,2000", "--lang=en-US",
                         format!("--user-data-dir={}", profile.display())],
            },
        }}});
        let r: Value = http
            .post(format!("{base}/session"))
            .json(&caps)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let session = r["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no browser session: {r}"))
            .to_owned();
        Browser {
            http,
            base,
            session,
            driver,
            _profile: profile,
        }
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let mut request = self.http.request(method, url);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let r: Value = request.send().await.unwrap().json().await.unwrap();
        assert!(r["value"].get("error").is_none(), "WebDriver {path}: {r}");
        r["value"].clone()
    }

    async fn go(&self, url: &str) {
        self.call(Method::POST, "/url", Some(json!({ "url": url })))
            .await;
    }

    async fn element(&self, css: &str) -> String {
        let v = self
            .call(
                Method::POST,
                "/element",
                Some(json!({ "using": "css selector", "value": css })),
            )
            .await;
        v[ELEMENT].as_str().unwrap().to_owned()
    }

    /// An action on the element `css` selects (`click`, `clear`, `value`).
    async fn on_element(&self, css: &str, action: &str, body: Value) {
        let id = self.element(css).await;
        let path = format!("/element/{id}/{action}");
        self.call(Method::POST, &path, Some(body)).await;
    }

    async fn click(&self, css: &str) {
        self.on_element(css, "click", json!({})).await;
    }

    async fn type_into(&self, css: &str, text: &str) {
        self.on_element(css, "clear", json!({})).await;
        self.on_element(css, "value", json!({ "text": text })).await;
    }

    /// Runs `body` as a function in the page (`arguments` available) and returns its value.
    async fn js(&self, body: &str, args: Value) -> Value {
        self.call(
            Method::POST,
            "/execute/sync",
            Some(json!({ "script": body, "args": args })),
        )
        .await
    }

    /// An async script (`arguments[arguments.length - 1]` is the callback).
    async fn js_async(&self, body: &str) -> Value {
        self.call(
            Method::POST,
            "/execute/async",
            Some(json!({ "script": body, "args": [] })),
        )
        .await
    }

    /// Waits until the expression is truthy in the page; returns its value.
    async fn wait_for(&self, expression: &str) -> Value {
        let started = Instant::now();
        loop {
            let v = self
                .js(&format!("return ({expression}) || null;"), json!([]))
                .await;
            if !v.is_null() && v != json!(false) {
                return v;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "timed out waiting for {expression}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn visible(&self, css: &str) -> bool {
        self.js(
            "const e = document.querySelector(arguments[0]); return !!e && e.offsetParent !== null;",
            json!([css]),
        )
        .await
            == json!(true)
    }

    async fn screenshot(&self, name: &str) {
        self.js("window.scrollTo(0, 0);", json!([])).await;
        let data = self.call(Method::GET, "/screenshot", None).await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(data.as_str().unwrap())
            .unwrap();
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }

    async fn login_with_code(&self, app: &TestApp, name: &str, code: &str) {
        self.go(&app.url("/console")).await;
        self.wait_for(
            "document.getElementById('login') && !document.getElementById('login').hidden",
        )
        .await;
        self.type_into("#login-name", name).await;
        self.click("input[name=method][value=code]").await;
        self.type_into("#login-secret", code).await;
        self.click("#login-form button[type=submit]").await;
        self.wait_for("!document.getElementById('who').hidden")
            .await;
        self.wait_for("document.querySelector('.tabs button.active')")
            .await;
    }

    async fn logout(&self) {
        self.click("#logout").await;
        self.wait_for("!document.getElementById('login').hidden")
            .await;
    }

    /// The visible tabs of the console.
    async fn tabs(&self) -> Vec<String> {
        let v = self
            .js(
                "return [...document.querySelectorAll('.tabs button')].filter(b => !b.hidden).map(b => b.dataset.tab);",
                json!([]),
            )
            .await;
        serde_json::from_value(v).unwrap()
    }

    /// A request from the page with its cookie session and CSRF token; the status.
    async fn page_fetch(&self, method: &str, path: &str) -> u16 {
        let script = format!(
            "const done = arguments[arguments.length - 1]; \
             fetch({path:?}, {{ method: {method:?}, headers: {{ 'x-csrf-token': state.csrf || '' }}, credentials: 'same-origin' }}) \
               .then(r => done(r.status), e => done(String(e)));"
        );
        self.js_async(&script).await.as_u64().unwrap() as u16
    }
}

#[tokio::test]
async fn each_role_sees_its_part_of_the_console_in_a_real_browser() {
    let chromium = find_binary(&["/usr/bin/chromium", "/usr/bin/chromium-browser"]);
    let chromedriver = find_binary(&["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]);
    let (Some(chromium), Some(chromedriver)) = (chromium, chromedriver) else {
        eprintln!(
            "SKIPPED: the console browser test needs Debian's chromium and chromium-driver \
             (apt-get install chromium chromium-driver); .ci/run installs them"
        );
        return;
    };
    let app = spawn_priced().await;
    let (session, _, phone) = app.funded_customer().await;

    let browser = Browser::start(&chromium, &chromedriver).await;

    // viewer: the service view only; a request beyond it is refused and audited.
    let code = app.add_operator("viewer-vida", "viewer").await;
    browser.login_with_code(&app, "viewer-vida", &code).await;
    assert_eq!(browser.tabs().await, ["service", "account"]);
    browser
        .wait_for("document.querySelector('#jobs tbody tr')")
        .await;
    browser
        .wait_for("document.querySelector('#ready tr[data-check=database] td.status-ok')")
        .await;
    assert!(
        !browser.visible("#override-form").await,
        "no override controls for a viewer"
    );
    assert!(
        !browser.visible("button[data-job]").await,
        "no run-now for a viewer"
    );
    assert_eq!(browser.page_fetch("GET", "/admin/v1/audit").await, 403);
    assert_eq!(
        browser
            .page_fetch("POST", "/admin/v1/jobs/cleanup/run")
            .await,
        403
    );
    browser.screenshot("1-viewer-service").await;
    let refusals: Vec<Value> = app.audit(Some("POST%20/jobs/%7Bname%7D/run")).await;
    assert_eq!(refusals.len(), 1, "the refused run-now is audited");
    assert_eq!(refusals[0]["actor"], "viewer-vida");
    assert_eq!(refusals[0]["allowed"], false);
    browser.logout().await;

    // risk (a Persian name, right to left): pins a price through the form.
    let risk_name = "نگار رضایی";
    let code = app.add_operator(risk_name, "risk").await;
    browser.login_with_code(&app, risk_name, &code).await;
    assert_eq!(browser.tabs().await, ["service", "account"]);
    let shown = browser
        .js(
            "return document.getElementById('who-name').textContent;",
            json!([]),
        )
        .await;
    assert_eq!(shown, risk_name);
    browser
        .wait_for("document.querySelector('#prices tr[data-asset=BTC]')")
        .await;
    assert!(browser.visible("#override-form").await);
    assert!(browser.visible("button[data-job=cleanup]").await);
    browser
        .js(
            "document.getElementById('override-asset').value = 'BTC';",
            json!([]),
        )
        .await;
    browser.type_into("#override-price", "95000").await;
    browser.type_into("#override-reason", "فید قطع است").await;
    browser.click("#override-form button[type=submit]").await;
    browser
        .wait_for("document.querySelector('#prices tr[data-asset=BTC] td.yes')")
        .await;
    browser.click("button[data-job=cleanup]").await;
    browser
        .wait_for("document.getElementById('flash').textContent.includes('cleanup')")
        .await;
    browser.screenshot("2-risk-pinned-price").await;
    assert_eq!(browser.page_fetch("GET", "/admin/v1/operators").await, 403);
    browser.logout().await;
    let pinned = app.audit(Some("price_override.set")).await;
    assert_eq!(pinned.len(), 1);
    assert_eq!(pinned[0]["actor"], risk_name);
    assert_eq!(num(&pinned[0]["after"]["value"]), "95000");

    // support: customer lookup, masked phone, the app's numbers.
    let code = app.add_operator("support-sara", "support").await;
    browser.login_with_code(&app, "support-sara", &code).await;
    assert_eq!(browser.tabs().await, ["service", "customer", "account"]);
    browser.click(".tabs button[data-tab=customer]").await;
    let before = app_view(&app, &session.access).await;
    browser.type_into("#lookup-phone", &phone).await;
    browser.click("#lookup-form button[type=submit]").await;
    browser
        .wait_for("!document.getElementById('customer').hidden")
        .await;
    let after = app_view(&app, &session.access).await;
    let raw = |key: &str| {
        format!("return document.querySelector('#c-summary tr[data-key={key}] td').dataset.raw;")
    };
    let mut shown = serde_json::Map::new();
    for key in [
        "totalValueIrr",
        "cashIrr",
        "holdingsValueIrr",
        "netValueIrr",
    ] {
        let raw = browser.js(&raw(key), json!([])).await;
        let value: serde_json::Number = raw.as_str().unwrap().parse().unwrap();
        shown.insert(key.to_owned(), Value::Number(value));
    }
    assert_same_numbers(&Value::Object(shown), &before, &after);
    let masked = browser
        .js(
            "return document.querySelector('#c-summary tr[data-key=phone] td').textContent;",
            json!([]),
        )
        .await;
    assert!(masked.as_str().unwrap().contains("***"), "{masked}");
    browser
        .wait_for(
            "document.querySelector('#c-verify tr[data-key=chainValid] td').textContent === 'yes'",
        )
        .await;
    browser.screenshot("3-support-customer").await;
    assert_eq!(
        browser.page_fetch("PUT", "/admin/v1/overrides/fx").await,
        403
    );
    browser.logout().await;
    assert_eq!(app.audit(Some("customer.lookup")).await.len(), 1);

    // admin: the audit trail shows the pinned price; Persian digits.
    let code = app.add_operator("admin-arash", "admin").await;
    browser.login_with_code(&app, "admin-arash", &code).await;
    assert_eq!(
        browser.tabs().await,
        ["service", "customer", "audit", "operators", "account"]
    );
    browser.click(".tabs button[data-tab=audit]").await;
    let actor = browser
        .wait_for("(document.querySelector('#audit tr[data-action=\"price_override.set\"] td bdi') || {}).textContent")
        .await;
    assert_eq!(actor, risk_name);
    browser.click("#digits").await;
    let digits = browser
        .wait_for(
            "(t => /[۰-۹]/.test(t) && t)(document.querySelector('#audit tr[data-action=\"price_override.set\"] td.num').textContent)",
        )
        .await;
    assert!(
        digits
            .as_str()
            .unwrap()
            .chars()
            .all(|c| ('۰'..='۹').contains(&c) || c == '٬'),
        "Persian digits: {digits}"
    );
    browser.screenshot("4-admin-audit-persian-digits").await;
    browser.click(".tabs button[data-tab=operators]").await;
    browser
        .wait_for("document.querySelector('#operators tr[data-operator]')")
        .await;
    browser.screenshot("5-admin-operators").await;
    browser.logout().await;
}
