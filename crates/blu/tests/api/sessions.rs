//! Authentication without a database read per request (issue 12 item 1): the access token is
//! verified once per request, its session is answered from the in-memory session cache, and
//! every revocation — logout, logout on all devices, refresh-token reuse, account closure — is
//! refused at once by the instance that revoked and, through the Redis bus, by every other
//! instance within one bus hop (asserted: within 1 s, by polling). Counts, never timings, show
//! that the cache answers.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::fixtures::priced_vars;
use crate::helpers::{TestApp, assert_error, random_phone, redis_url, spawn_from, test_vars};

/// Authenticated requests on `app` until one is answered without reading the session from the
/// store (a new instance's Redis subscription may still be connecting; until it is, every
/// request reads the store).
async fn cached(app: &TestApp, token: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let before = app.auth_stats().session_reads;
        let r = app.get_auth("/api/v1/profile", token).await;
        assert_eq!(r.status(), StatusCode::OK);
        if app.auth_stats().session_reads == before {
            return;
        }
        assert!(Instant::now() < deadline, "the session was never cached");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// How a session ends.
#[derive(Clone, Copy, Debug)]
enum Ending {
    Logout,
    LogoutOnAllDevices,
    RefreshTokenReuse,
    AccountClosure,
}

const ENDINGS: [Ending; 4] = [
    Ending::Logout,
    Ending::LogoutOnAllDevices,
    Ending::RefreshTokenReuse,
    Ending::AccountClosure,
];

/// Opens a session on `on`, has `watcher` cache it, ends it on `on` and returns its access
/// token, which every instance must now refuse.
async fn end_session(on: &TestApp, watcher: &TestApp, ending: Ending) -> String {
    let phone = random_phone();
    let victim = on.login(&phone).await;
    cached(watcher, &victim.access).await;
    match ending {
        Ending::Logout => {
            let r = on
                .post_auth("/api/v1/auth/logout", &victim.access, json!({}))
                .await;
            assert_eq!(r.status(), StatusCode::OK);
        }
        Ending::LogoutOnAllDevices => {
            let other_device = on.login(&phone).await;
            let r = on
                .post_auth(
                    "/api/v1/auth/logout",
                    &other_device.access,
                    json!({ "allDevices": true }),
                )
                .await;
            assert_eq!(r.status(), StatusCode::OK);
        }
        Ending::RefreshTokenReuse => {
            let refresh = json!({ "refreshToken": victim.refresh });
            let r = on.post("/api/v1/auth/refresh", refresh.clone()).await;
            assert_eq!(r.status(), StatusCode::OK);
            // The grace window is 0 in these tests: a second use is reuse.
            let r = on.post("/api/v1/auth/refresh", refresh).await;
            assert_error(r, StatusCode::UNAUTHORIZED, "REFRESH_TOKEN_REUSED").await;
        }
        Ending::AccountClosure => {
            let r = on
                .send(
                    Method::DELETE,
                    "/api/v1/profile",
                    &victim.access,
                    Some(json!({ "confirm": true })),
                    None,
                )
                .await;
            assert_eq!(r.status(), StatusCode::OK);
        }
    }
    victim.access
}

/// Polls `app` with `token` until it answers 401 `SESSION_REVOKED`; fails after `within`.
async fn refused_within(app: &TestApp, token: &str, within: Duration, ending: Ending) {
    let deadline = Instant::now() + within;
    loop {
        let r = app.get_auth("/api/v1/profile", token).await;
        if r.status() == StatusCode::UNAUTHORIZED {
            assert_error(r, StatusCode::UNAUTHORIZED, "SESSION_REVOKED").await;
            return;
        }
        // Until the revocation arrives (one bus hop) the session is still served. After an
        // account closure that means reading a closed account: 404, never its data.
        let served = match ending {
            Ending::AccountClosure => StatusCode::NOT_FOUND,
            _ => StatusCode::OK,
        };
        assert!(
            r.status() == StatusCode::OK || r.status() == served,
            "{ending:?}: {}",
            r.status()
        );
        assert!(
            Instant::now() < deadline,
            "{ending:?}: still accepted after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_cached_session_is_not_read_from_the_store_and_the_token_is_verified_once() {
    let app = spawn_from(priced_vars().await).await;
    let (session, _) = app.funded(1_000_000_000).await;
    let t = &session.access;
    let r = app
        .post_auth(
            "/api/v1/portfolio/add-funds",
            t,
            json!({ "amountIrr": 100_000_000 }),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    cached(&app, t).await;

    let before = app.auth_stats();
    for _ in 0..10 {
        assert_eq!(
            app.get_auth("/api/v1/portfolio", t).await.status(),
            StatusCode::OK
        );
    }
    let after = app.auth_stats();
    assert_eq!(
        after.session_reads, before.session_reads,
        "answered from memory"
    );
    assert_eq!(after.token_verifications - before.token_verifications, 10);

    // An idempotent money movement: the rate limit, the idempotency middleware and the
    // handler share one verification and one session check.
    let trade = json!({"action": "BUY", "assetId": "BTC", "amountIrr": 2_000_000,
        "acknowledgedWarning": true});
    for attempt in 0..2 {
        let before = app.auth_stats();
        let r = app
            .send(
                Method::POST,
                "/api/v1/trade/execute",
                t,
                Some(trade.clone()),
                Some("cached-session-trade"),
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK, "{attempt}");
        assert_eq!(
            r.headers().contains_key("idempotent-replayed"),
            attempt == 1
        );
        let after = app.auth_stats();
        assert_eq!(after.token_verifications - before.token_verifications, 1);
        assert_eq!(after.session_reads, before.session_reads);
    }
}

#[tokio::test]
async fn a_revoked_session_is_refused_at_once_by_the_instance_that_revoked_it() {
    let app = spawn_from(test_vars(&[("REFRESH_GRACE_MS", "0")]).await).await;
    for ending in ENDINGS {
        let token = end_session(&app, &app, ending).await;
        // No polling: the revoking instance applied the revocation before answering.
        let r = app.get_auth("/api/v1/profile", &token).await;
        assert_error(r, StatusCode::UNAUTHORIZED, "SESSION_REVOKED").await;
    }
}

#[tokio::test]
async fn with_redis_a_revoked_session_is_refused_by_another_instance_within_a_second() {
    if redis_url().is_none() {
        return; // Without Redis each process is its own bus (the embedded default: one process).
    }
    let vars = test_vars(&[("REFRESH_GRACE_MS", "0")]).await;
    let a = spawn_from(vars.clone()).await;
    let b = spawn_from(vars).await;
    for ending in ENDINGS {
        let token = end_session(&a, &b, ending).await;
        refused_within(&b, &token, Duration::from_secs(1), ending).await;
    }
}
