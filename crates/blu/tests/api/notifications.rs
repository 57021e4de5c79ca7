//! The notification outbox delivered by the `notifications` job (business-rules §10), the
//! `reminders` job, and the cleanup's activity trimming.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::routing::post;
use blu_app::ports::{NewNotification, NotificationStore};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::fixtures::priced_vars;
use crate::helpers::{Session, TestApp, random_phone, spawn_from, test_vars};

// Every server here runs with RUN_JOBS=false: the test runs the jobs itself, so no scheduled
// tick delivers (or holds) the outbox in between.

/// The outbox of the server's own database, opened beside it.
async fn outbox(vars: &HashMap<String, String>) -> Arc<dyn NotificationStore> {
    let database = blu_store::connect(
        vars.get("DATABASE_URL").map(String::as_str),
        &PathBuf::from(&vars["DATA_DIR"]),
        2,
    )
    .await
    .unwrap();
    database.notification_store()
}

fn drift_notice(user_id: &str, entity: &str) -> NewNotification {
    NewNotification {
        user_id: user_id.parse().unwrap(),
        kind: "DRIFT".to_owned(),
        entity_id: entity.to_owned(),
        dedupe_key: "2026-01-20".to_owned(),
        title: "Portfolio status".to_owned(),
        body: "Your allocation is away from its target.".to_owned(),
        data: BTreeMap::from([("type".to_owned(), "DRIFT".to_owned())]),
    }
}

impl TestApp {
    /// A logged-in user with these notification settings; returns the session and user id.
    async fn recipient(&self, settings: Value) -> (Session, String) {
        let session = self.login(&random_phone()).await;
        let r = self.put_settings(&session.access, settings).await;
        assert_eq!(r.status(), StatusCode::OK);
        let id = session.body["user"]["id"].as_str().unwrap().to_owned();
        (session, id)
    }
}

#[tokio::test]
async fn an_outbox_row_is_delivered_once_with_the_log_sender() {
    let vars = test_vars(&[("RUN_JOBS", "false")]).await;
    let app = spawn_from(vars.clone()).await;
    let (_, user) = app
        .recipient(json!({"notificationsEnabled": true, "notificationToken": "fcm-device-1"}))
        .await;
    let outbox = outbox(&vars).await;
    let now = blu_app::ports::real_now();
    assert!(
        outbox
            .enqueue(&drift_notice(&user, "p1"), now)
            .await
            .unwrap()
    );
    assert!(
        !outbox
            .enqueue(&drift_notice(&user, "p1"), now)
            .await
            .unwrap(),
        "the same (kind, entity, dedupe key) is one notification"
    );
    assert_eq!(
        app.job_result("notifications").await,
        json!({"delivered": 1, "skipped": 0, "failed": 0})
    );
    assert_eq!(
        app.job_result("notifications").await,
        json!({"delivered": 0, "skipped": 0, "failed": 0}),
        "at most once"
    );
}

#[tokio::test]
async fn notifications_are_not_delivered_when_turned_off_or_without_a_device_token() {
    let vars = test_vars(&[("RUN_JOBS", "false")]).await;
    let app = spawn_from(vars.clone()).await;
    let (_, off) = app
        .recipient(json!({"notificationsEnabled": false, "notificationToken": "fcm-device-2"}))
        .await;
    let (_, tokenless) = app.recipient(json!({"notificationsEnabled": true})).await;
    let outbox = outbox(&vars).await;
    let now = blu_app::ports::real_now();
    outbox
        .enqueue(&drift_notice(&off, "p2"), now)
        .await
        .unwrap();
    outbox
        .enqueue(&drift_notice(&tokenless, "p3"), now)
        .await
        .unwrap();
    assert_eq!(
        app.job_result("notifications").await,
        json!({"delivered": 0, "skipped": 2, "failed": 0})
    );
    assert_eq!(
        app.job_result("notifications").await,
        json!({"delivered": 0, "skipped": 0, "failed": 0})
    );
}

type Sends = Arc<Mutex<Vec<Value>>>;

/// Google's token endpoint and the FCM v1 send endpoint; device token "gone" is UNREGISTERED.
async fn fcm_mock() -> (String, Sends) {
    let sends: Sends = Arc::default();
    let app = axum::Router::new()
        .route(
            "/token",
            post(|| async {
                axum::Json(json!({"access_token": "ya29.test", "expires_in": 3599}))
            }),
        )
        .route(
            "/v1/projects/blu-test/messages:send",
            post(
                |State(sends): State<Sends>, axum::Json(body): axum::Json<Value>| async move {
                    let gone = body["message"]["token"] == "gone";
                    sends.lock().unwrap().push(body);
                    if gone {
                        let error = json!({"error": {"code": 404, "status": "NOT_FOUND",
                            "details": [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
                                         "errorCode": "UNREGISTERED"}]}});
                        (StatusCode::NOT_FOUND, axum::Json(error))
                    } else {
                        (StatusCode::OK, axum::Json(json!({"name": "projects/blu-test/messages/1"})))
                    }
                },
            ),
        )
        .with_state(sends.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{address}"), sends)
}

#[tokio::test]
async fn with_a_service_account_file_the_outbox_goes_through_fcm_and_unregistered_tokens_are_dropped()
 {
    let (base, sends) = fcm_mock().await;
    let account = json!({
        "type": "service_account",
        "project_id": "blu-test",
        "client_email": "push@blu-test.iam.gserviceaccount.com",
        "private_key": include_str!("../../../integrations/src/push/test_rsa_key.pem"),
        "token_uri": format!("{base}/token"),
    });
    let file = std::env::temp_dir().join(format!("blu-fcm-{}.json", uuid::Uuid::new_v4()));
    std::fs::write(&file, account.to_string()).unwrap();
    let path = file.to_string_lossy().into_owned();
    let vars = test_vars(&[
        ("ENABLE_PUSH_NOTIFICATIONS", "true"),
        ("FCM_SERVICE_ACCOUNT_FILE", path.as_str()),
        ("FCM_BASE_URL", base.as_str()),
        ("RUN_JOBS", "false"),
    ])
    .await;
    let app = spawn_from(vars.clone()).await;
    let (_, kept) = app
        .recipient(json!({"notificationsEnabled": true, "notificationToken": "device-ok"}))
        .await;
    let (gone_session, gone) = app
        .recipient(json!({"notificationsEnabled": true, "notificationToken": "gone"}))
        .await;
    let outbox = outbox(&vars).await;
    let now = blu_app::ports::real_now();
    outbox
        .enqueue(&drift_notice(&kept, "p4"), now)
        .await
        .unwrap();
    outbox
        .enqueue(&drift_notice(&gone, "p5"), now)
        .await
        .unwrap();
    assert_eq!(
        app.job_result("notifications").await,
        json!({"delivered": 1, "skipped": 1, "failed": 0})
    );
    let sent = sends.lock().unwrap().clone();
    assert_eq!(sent.len(), 2);
    let delivered = sent
        .iter()
        .find(|s| s["message"]["token"] == "device-ok")
        .unwrap();
    assert_eq!(
        delivered["message"]["notification"]["title"],
        "Portfolio status"
    );
    assert_eq!(delivered["message"]["data"]["type"], "DRIFT");
    let profile: Value = app
        .get_auth("/api/v1/profile", &gone_session.access)
        .await
        .json()
        .await
        .unwrap();
    assert!(
        !profile.to_string().contains("\"gone\""),
        "the unregistered token is forgotten: {profile}"
    );
    std::fs::remove_file(file).ok();
}

#[tokio::test]
async fn reminders_run_daily_and_report_what_they_enqueued() {
    let app = spawn_from(test_vars(&[("RUN_JOBS", "false")]).await).await;
    assert_eq!(
        app.job_result("reminders").await,
        json!({"installments": 0, "protections": 0})
    );
    let list: Value = app.admin_get("/admin/v1/jobs").await.json().await.unwrap();
    let jobs = list["jobs"].as_array().unwrap();
    let schedule = |name: &str| {
        jobs.iter()
            .find(|j| j["name"] == name)
            .map(|j| j["schedule"].clone())
    };
    assert_eq!(schedule("reminders"), Some(json!("daily 05:30 UTC")));
    assert_eq!(schedule("notifications"), Some(json!("every 30s")));
}

#[tokio::test]
async fn cleanup_trims_the_activity_log_to_fifty_rows_and_keeps_the_ledger() {
    let mut vars = priced_vars().await;
    vars.insert("RUN_JOBS".into(), "false".into());
    let app = spawn_from(vars).await;
    let (session, portfolio_id) = app.funded(100_000_000).await;
    for _ in 0..54 {
        let r = app
            .post_auth(
                "/api/v1/portfolio/add-funds",
                &session.access,
                json!({"amountIrr": 1_000_000}),
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK);
    }
    let result = app.job_result("cleanup").await;
    assert_eq!(result["activityRowsDeleted"], 5, "{result}");
    let activity: Value = app
        .get_auth("/api/v1/activity?limit=100", &session.access)
        .await
        .json()
        .await
        .unwrap();
    let items = activity["activities"].as_array().unwrap();
    assert_eq!(items.len(), 50);
    assert_eq!(items[49]["message"], "Added 1M IRR cash", "{activity}");
    let report = app.verify_ledger(&portfolio_id).await;
    assert_eq!(report["entryCount"], 55, "the ledger keeps every entry");
    assert_eq!(report["chain"]["valid"], true, "{report}");
    assert_eq!(app.job_result("cleanup").await["activityRowsDeleted"], 0);
}

#[tokio::test]
async fn status_refresh_stores_the_status_and_notifies_one_drift_and_one_price_move() {
    let mut vars = priced_vars().await;
    vars.insert("RUN_JOBS".into(), "false".into());
    let app = spawn_from(vars.clone()).await;
    let (session, portfolio_id) = app.funded(100_000_000).await;
    let first = app.job_result("status-refresh").await;
    assert_eq!(
        first,
        json!({"refreshed": 1, "driftNotices": 0, "priceAlerts": 0, "failed": 0})
    );
    // BTC ten times dearer, up 25 % in 24 h: the portfolio drifts and BTC moved beyond 10 %.
    let r = app
        .admin(
            Method::PUT,
            "/admin/v1/overrides/prices/BTC",
            Some(json!({"priceUsd": 975000, "change24hPct": 25, "ttlSeconds": 3600, "reason": "test"})),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        app.job_result("status-refresh").await,
        json!({"refreshed": 1, "driftNotices": 1, "priceAlerts": 1, "failed": 0})
    );
    assert_eq!(
        app.job_result("status-refresh").await,
        json!({"refreshed": 1, "driftNotices": 0, "priceAlerts": 0, "failed": 0}),
        "no change, and the price alert is once per asset per day"
    );
    let view: Value = app
        .get_auth("/api/v1/portfolio", &session.access)
        .await
        .json()
        .await
        .unwrap();
    assert_ne!(view["status"], "BALANCED", "{view}");
    let database = blu_store::connect(
        vars.get("DATABASE_URL").map(String::as_str),
        &PathBuf::from(&vars["DATA_DIR"]),
        2,
    )
    .await
    .unwrap();
    let stored = database.status_store().portfolio_statuses().await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].portfolio_id.to_string(), portfolio_id);
    assert_eq!(json!(stored[0].status), view["status"]);
    // Drift is notified, never written to the activity log.
    let activity: Value = app
        .get_auth("/api/v1/activity", &session.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(activity["activities"].as_array().unwrap().len(), 1);
}

/// The (kind, entity id) of every outbox row, sorted (each test has its own database).
async fn outbox_rows(vars: &HashMap<String, String>) -> Vec<(String, String)> {
    const SQL: &str = "SELECT kind, entity_id FROM notifications ORDER BY kind, entity_id";
    let database = blu_store::connect(
        vars.get("DATABASE_URL").map(String::as_str),
        &PathBuf::from(&vars["DATA_DIR"]),
        2,
    )
    .await
    .unwrap();
    match database {
        blu_store::Database::Postgres(store) => sqlx::query_as(SQL)
            .fetch_all(store.pg_pool())
            .await
            .unwrap(),
        blu_store::Database::Sqlite(store) => sqlx::query_as(SQL)
            .fetch_all(store.sqlite_pool())
            .await
            .unwrap(),
    }
}

#[tokio::test]
async fn reminders_notify_an_installment_due_and_an_expiring_protection_once_however_often_they_run()
 {
    let mut vars = priced_vars().await;
    vars.insert("TEST_CLOCK".into(), "1".into());
    let app = spawn_from(vars.clone()).await;
    // Loan L1: installments every 15 days; a 30-day protection bought just after it.
    let (session, _, _) = app.with_l1_loan().await;
    let token = session.access.as_str();
    let r = app
        .put_settings(
            token,
            json!({"notificationsEnabled": true, "notificationToken": "fcm-device-9"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let protection = app.protect(token, "BTC", 30).await;
    // Day 27: installment 2 is due in under 3 days (installment 1 is overdue, installment 3
    // 18 days away) and the protection expires in under 7 days.
    let moved = app
        .advance_clock(json!({"seconds": 27 * 86_400 + 3_600}))
        .await;
    assert_eq!(moved.status(), StatusCode::OK);

    assert_eq!(
        app.job_result("reminders").await,
        json!({"installments": 1, "protections": 1})
    );
    assert_eq!(
        app.job_result("reminders").await,
        json!({"installments": 0, "protections": 0}),
        "the same run again enqueues nothing"
    );
    app.advance_clock(json!({"seconds": 86_400})).await;
    assert_eq!(
        app.job_result("reminders").await,
        json!({"installments": 0, "protections": 0}),
        "nor does the next day's run: one notice per item, not per day"
    );
    let rows = outbox_rows(&vars).await;
    let kinds: Vec<&str> = rows.iter().map(|(kind, _)| kind.as_str()).collect();
    assert_eq!(
        kinds,
        ["INSTALLMENT_DUE", "PROTECTION_EXPIRING"],
        "{rows:?}"
    );
    assert_eq!(rows[1].1, protection["id"].as_str().unwrap());

    assert_eq!(
        app.job_result("notifications").await,
        json!({"delivered": 2, "skipped": 0, "failed": 0})
    );
    assert_eq!(
        app.job_result("reminders").await,
        json!({"installments": 0, "protections": 0})
    );
    assert_eq!(
        app.job_result("notifications").await,
        json!({"delivered": 0, "skipped": 0, "failed": 0}),
        "each reminder is delivered once"
    );
}
