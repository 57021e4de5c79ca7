//! Conformance cases of the notification outbox, reminder reads and housekeeping
//! (`NotificationStore`) and the status refresh (`StatusStore`), on both backends.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use blu_app::ports::{
    NewNotification, NotificationStore, PendingNotification, SettingsUpdate, StatusStore,
    StatusWrite,
};
use blu_domain::Timestamp;
use blu_store::driver::Arg;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use uuid::Uuid;

use super::{TestDb, t0};

const LOAN: &str = "INSERT INTO loans (id, portfolio_id, collateral_asset_id, collateral_quantity, \
     collateral_value_irr, principal_irr, interest_rate, duration_months, total_interest_irr, \
     total_due_irr, start_at, due_at, max_ltv, created_at, updated_at) \
     VALUES ($1, $2, 'BTC', $3, $4, $5, $6, 3, $7, $8, $9, $10, $6, $9, $9)";
const INSTALLMENT: &str = "INSERT INTO loan_installments (id, loan_id, number, due_at, \
     principal_irr, interest_irr, total_irr, created_at, updated_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)";
const PROTECTION: &str = "INSERT INTO protections (id, portfolio_id, asset_id, coverage_pct, \
     protected_quantity, notional_irr, notional_usd, strike_usd, strike_irr, duration_days, \
     start_at, expires_at, premium_irr, premium_usd, premium_pct, pricing_model, \
     implied_volatility, volatility_regime, greek_delta, greek_gamma, greek_vega, greek_theta, \
     greek_rho, created_at, updated_at) \
     VALUES ($1, $2, 'BTC', $3, $3, $4, $3, $3, $3, 30, $5, $6, $4, $3, $3, 'BLACK_SCHOLES', \
     $3, 'NORMAL', $3, $3, $3, $3, $3, $5, $5)";
const ACTIVITY: &str = "INSERT INTO action_log (portfolio_id, action_type, boundary, message, \
     created_at) VALUES ($1, 'ADD_FUNDS', 'SAFE', $2, $3)";
const IDEMPOTENCY: &str = "INSERT INTO idempotency_keys (user_id, key, method, path, \
     fingerprint, created_at) VALUES ($1, $2, 'POST', '/api/v1/portfolio/add-funds', 'f', $3)";

impl TestDb {
    fn statuses(&self) -> Arc<dyn StatusStore> {
        Arc::new(self.db.clone())
    }

    pub(super) fn outbox(&self) -> Arc<dyn NotificationStore> {
        Arc::new(self.db.clone())
    }

    async fn arrange(&self, sql: &'static str, args: Vec<Arg>) {
        self.run(sql, args).await.unwrap();
    }

    /// `count` activity rows with messages "0", "1", … in insertion order.
    async fn activity(&self, portfolio: Uuid, count: usize) {
        const MESSAGES: [&str; 10] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];
        for message in &MESSAGES[..count] {
            let args = vec![Arg::from(portfolio), Arg::from(*message), Arg::from(t0())];
            self.arrange(ACTIVITY, args).await;
        }
    }

    /// Activity messages, newest first.
    async fn activity_messages(&self, portfolio: Uuid) -> Vec<String> {
        let sql = "SELECT message FROM action_log WHERE portfolio_id = $1 ORDER BY id DESC";
        self.rows(sql, vec![portfolio.into()])
            .await
            .iter()
            .map(|r| r.text("message").unwrap())
            .collect()
    }

    async fn idempotency(&self, user: Uuid, key: &'static str, at: Timestamp) {
        let args = vec![Arg::from(user), Arg::from(key), Arg::from(at)];
        self.arrange(IDEMPOTENCY, args).await;
    }

    /// An ACTIVE 3-month loan opened at t0 with installment 1 due at `due`.
    async fn loan_with_installment(&self, portfolio: Uuid, due: Timestamp) -> (Uuid, Uuid) {
        let (loan, installment) = (Uuid::new_v4(), Uuid::new_v4());
        let args = vec![
            Arg::from(loan),
            Arg::from(portfolio),
            Arg::from(dec!(0.1)),
            Arg::from(dec!(100000000)),
            Arg::from(dec!(30000000)),
            Arg::from(dec!(0.3)),
            Arg::from(dec!(2250000)),
            Arg::from(dec!(32250000)),
            Arg::from(t0()),
            Arg::from(t0().plus_seconds(90 * 86_400)),
        ];
        self.arrange(LOAN, args).await;
        let args = vec![
            Arg::from(installment),
            Arg::from(loan),
            Arg::from(1),
            Arg::from(due),
            Arg::from(dec!(10000000)),
            Arg::from(dec!(750000)),
            Arg::from(dec!(10750000)),
            Arg::from(t0()),
        ];
        self.arrange(INSTALLMENT, args).await;
        (loan, installment)
    }

    async fn close_loan(&self, loan: Uuid) {
        let sql = "UPDATE loans SET status = 'REPAID', repaid_at = $2 WHERE id = $1";
        self.arrange(sql, vec![Arg::from(loan), Arg::from(t0())])
            .await;
    }

    /// An ACTIVE 30-day BTC protection expiring at `expires`.
    pub(super) async fn protection(&self, portfolio: Uuid, expires: Timestamp) -> Uuid {
        let id = Uuid::new_v4();
        let args = vec![
            Arg::from(id),
            Arg::from(portfolio),
            Arg::from(dec!(0.5)),
            Arg::from(dec!(1000000)),
            Arg::from(expires.plus_seconds(-30 * 86_400)),
            Arg::from(expires),
        ];
        self.arrange(PROTECTION, args).await;
        id
    }

    /// A user with the given notification settings.
    async fn recipient(&self, phone: &str, enabled: bool, token: Option<&str>) -> Uuid {
        let (user, _) = self.store.login_user(phone, t0()).await.unwrap();
        let update = SettingsUpdate {
            notifications_enabled: Some(enabled),
            notification_token: token.map(str::to_owned),
            ..SettingsUpdate::default()
        };
        self.portfolios()
            .update_settings(user.id, &update, t0())
            .await
            .unwrap()
            .unwrap();
        user.id
    }
}

fn notice(user_id: Uuid, entity: &str) -> NewNotification {
    NewNotification {
        user_id,
        kind: "DRIFT".to_owned(),
        entity_id: entity.to_owned(),
        dedupe_key: "2026-01-20".to_owned(),
        title: "Portfolio status".to_owned(),
        body: "Your allocation is away from its target.".to_owned(),
        data: BTreeMap::from([("type".to_owned(), "DRIFT".to_owned())]),
    }
}

/// The end of the in-flight lease of a claim made at `now` (ten minutes, as the service uses).
fn in_flight_until(now: Timestamp) -> Timestamp {
    now.plus_seconds(600)
}

fn ids(rows: &[PendingNotification]) -> Vec<Uuid> {
    rows.iter().map(|r| r.id).collect()
}

async fn a_notification_is_enqueued_once_per_key_and_claimed_once(db: &TestDb) {
    let outbox = db.outbox();
    let user = db
        .recipient("+989121111111", true, Some("fcm-token-1"))
        .await;
    assert!(outbox.enqueue(&notice(user, "p1"), t0()).await.unwrap());
    assert!(
        !outbox.enqueue(&notice(user, "p1"), t0()).await.unwrap(),
        "same kind, entity and dedupe key"
    );
    assert!(
        outbox
            .claim_due(
                t0().plus_seconds(-1),
                10,
                5,
                in_flight_until(t0().plus_seconds(-1))
            )
            .await
            .unwrap()
            .is_empty(),
        "not due before its creation"
    );
    let claimed = outbox
        .claim_due(t0(), 10, 5, in_flight_until(t0()))
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    let row = &claimed[0];
    assert_eq!(row.user_id, user);
    assert_eq!(row.attempts, 1);
    assert!(row.notifications_enabled);
    assert_eq!(row.device_token.as_deref(), Some("fcm-token-1"));
    assert_eq!(row.data["type"], "DRIFT");
    assert_eq!(row.body, "Your allocation is away from its target.");
    assert!(
        outbox
            .claim_due(
                t0().plus_seconds(599),
                10,
                5,
                in_flight_until(t0().plus_seconds(599))
            )
            .await
            .unwrap()
            .is_empty(),
        "a claimed row is held by its sender until its claim ends"
    );
    outbox.mark_delivered(row.id, t0()).await.unwrap();
    assert!(
        outbox
            .claim_due(
                t0().plus_seconds(3600),
                10,
                5,
                in_flight_until(t0().plus_seconds(3600))
            )
            .await
            .unwrap()
            .is_empty()
    );
}

async fn a_crashed_senders_unsent_rows_are_claimed_again_but_never_the_row_it_was_sending(
    db: &TestDb,
) {
    let outbox = db.outbox();
    let user = db
        .recipient("+989121111113", true, Some("fcm-token-3"))
        .await;
    outbox.enqueue(&notice(user, "p3"), t0()).await.unwrap();
    outbox.enqueue(&notice(user, "p4"), t0()).await.unwrap();
    let first = outbox
        .claim_due(t0(), 10, 5, in_flight_until(t0()))
        .await
        .unwrap();
    assert_eq!(first.len(), 2);
    // The sender starts the first push and dies: neither row is delivered or failed.
    outbox.mark_sending(first[0].id).await.unwrap();
    let claim_end = in_flight_until(t0());
    assert!(
        outbox
            .claim_due(
                claim_end.plus_seconds(-1),
                10,
                5,
                in_flight_until(claim_end)
            )
            .await
            .unwrap()
            .is_empty(),
        "both rows are still claimed"
    );
    let again = outbox
        .claim_due(claim_end, 10, 5, in_flight_until(claim_end))
        .await
        .unwrap();
    assert_eq!(
        ids(&again),
        vec![first[1].id],
        "the unsent row only: the other may have reached the device"
    );
    assert_eq!(again[0].attempts, 2);
}

async fn a_failed_notification_is_retried_from_its_next_attempt_until_the_maximum(db: &TestDb) {
    let outbox = db.outbox();
    let user = db.recipient("+989121111112", false, None).await;
    outbox.enqueue(&notice(user, "p2"), t0()).await.unwrap();
    let first = outbox
        .claim_due(t0(), 10, 2, in_flight_until(t0()))
        .await
        .unwrap();
    assert!(!first[0].notifications_enabled);
    assert_eq!(first[0].device_token, None);
    outbox
        .mark_failed(first[0].id, "provider unavailable", t0().plus_seconds(60))
        .await
        .unwrap();
    assert!(
        outbox
            .claim_due(
                t0().plus_seconds(59),
                10,
                2,
                in_flight_until(t0().plus_seconds(59))
            )
            .await
            .unwrap()
            .is_empty()
    );
    let second = outbox
        .claim_due(
            t0().plus_seconds(60),
            10,
            2,
            in_flight_until(t0().plus_seconds(60)),
        )
        .await
        .unwrap();
    assert_eq!(ids(&second), ids(&first));
    assert_eq!(second[0].attempts, 2);
    outbox
        .mark_failed(second[0].id, "provider unavailable", t0().plus_seconds(120))
        .await
        .unwrap();
    assert!(
        outbox
            .claim_due(
                t0().plus_seconds(600),
                10,
                2,
                in_flight_until(t0().plus_seconds(600))
            )
            .await
            .unwrap()
            .is_empty(),
        "two attempts were the maximum"
    );
}

async fn a_skipped_notification_is_closed_and_claims_respect_the_limit(db: &TestDb) {
    let outbox = db.outbox();
    let user = db.recipient("+989121111113", true, Some("t")).await;
    for entity in ["a", "b", "c"] {
        outbox.enqueue(&notice(user, entity), t0()).await.unwrap();
    }
    let two = outbox
        .claim_due(t0(), 2, 5, in_flight_until(t0()))
        .await
        .unwrap();
    assert_eq!(two.len(), 2);
    for row in &two {
        outbox
            .mark_skipped(row.id, "notifications disabled", t0())
            .await
            .unwrap();
    }
    let rest = outbox
        .claim_due(t0(), 10, 5, in_flight_until(t0()))
        .await
        .unwrap();
    assert_eq!(rest.len(), 1);
    assert!(!ids(&two).contains(&rest[0].id));
}

async fn an_unregistered_token_is_cleared_only_while_it_is_still_the_users(db: &TestDb) {
    let outbox = db.outbox();
    let user = db.recipient("+989121111114", true, Some("old")).await;
    assert!(!outbox.clear_device_token(user, "other").await.unwrap());
    assert!(outbox.clear_device_token(user, "old").await.unwrap());
    let settings = db.portfolios().profile(user).await.unwrap().unwrap();
    assert_eq!(settings.settings.notification_token, None);
}

async fn housekeeping_trims_activity_per_portfolio_and_drops_old_idempotency_records(db: &TestDb) {
    let outbox = db.outbox();
    let a = db.recipient("+989121111115", true, None).await;
    let b = db.recipient("+989121111116", true, None).await;
    let pa = db.portfolio(a, Decimal::ZERO, t0()).await.unwrap();
    let pb = db.portfolio(b, Decimal::ZERO, t0()).await.unwrap();
    db.activity(pa, 7).await;
    db.activity(pb, 3).await;
    db.idempotency(a, "old", t0()).await;
    db.idempotency(a, "new", t0().plus_seconds(3600)).await;
    let now = t0().plus_seconds(86_400 + 60);
    let done = outbox
        .housekeeping(
            now,
            Duration::from_secs(86_400),
            Duration::from_secs(3600),
            5,
        )
        .await
        .unwrap();
    assert_eq!(
        done.activity_rows, 2,
        "portfolio a keeps 5 of 7, b keeps its 3"
    );
    assert_eq!(done.idempotency_keys, 1);
    assert_eq!(db.activity_messages(pa).await, ["6", "5", "4", "3", "2"]);
    assert_eq!(db.activity_messages(pb).await.len(), 3);
    let again = outbox
        .housekeeping(
            now,
            Duration::from_secs(86_400),
            Duration::from_secs(3600),
            5,
        )
        .await
        .unwrap();
    assert_eq!(again.activity_rows, 0);
    assert_eq!(again.idempotency_keys, 0);
}

async fn reminders_find_open_installments_of_active_loans_and_active_protections(db: &TestDb) {
    let outbox = db.outbox();
    let user = db.recipient("+989121111117", true, None).await;
    let portfolio = db.portfolio(user, Decimal::ZERO, t0()).await.unwrap();
    let due = t0().plus_seconds(2 * 86_400);
    let (loan, installment) = db.loan_with_installment(portfolio, due).await;
    let protection = db
        .protection(portfolio, t0().plus_seconds(6 * 86_400))
        .await;
    let window = |days: i64| (t0(), t0().plus_seconds(days * 86_400));
    let (from, until) = window(3);
    let found = outbox.installments_due(from, until).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].id, installment);
    assert_eq!(found[0].user_id, user);
    assert_eq!(found[0].due_at, due);
    assert_eq!(found[0].label, "1");
    let (from, until) = window(1);
    assert!(
        outbox
            .installments_due(from, until)
            .await
            .unwrap()
            .is_empty()
    );
    let (from, until) = window(7);
    let expiring = outbox.protections_expiring(from, until).await.unwrap();
    assert_eq!(expiring.len(), 1);
    assert_eq!(expiring[0].id, protection);
    assert_eq!(expiring[0].label, "BTC");
    db.close_loan(loan).await;
    let (from, until) = window(3);
    assert!(
        outbox
            .installments_due(from, until)
            .await
            .unwrap()
            .is_empty(),
        "a repaid loan has nothing due"
    );
}

async fn a_refreshed_status_is_stored_and_drift_time_kept_until_the_next_change(db: &TestDb) {
    let user = db.recipient("+989121111118", true, None).await;
    let portfolio = db.portfolio(user, Decimal::ZERO, t0()).await.unwrap();
    let before = db.statuses().portfolio_statuses().await.unwrap();
    assert_eq!(before.len(), 1);
    assert_eq!(
        (before[0].portfolio_id, before[0].user_id),
        (portfolio, user)
    );
    assert_eq!(before[0].status, "BALANCED");
    let mut write = StatusWrite {
        status: "SLIGHTLY_OFF".to_owned(),
        holdings_value_irr: dec!(95000000),
        total_value_irr: dec!(100000000),
        shares: [dec!(0.45), dec!(0.35), dec!(0.2)],
        max_drift_pp: dec!(7.5),
        drift_detected_at: Some(t0()),
        at: t0(),
    };
    db.statuses().save_status(portfolio, &write).await.unwrap();
    write.drift_detected_at = None;
    write.at = t0().plus_seconds(300);
    db.statuses().save_status(portfolio, &write).await.unwrap();
    let after = db.statuses().portfolio_statuses().await.unwrap();
    assert_eq!(after[0].status, "SLIGHTLY_OFF");
    let sql = "SELECT drift_detected_at, metrics_at, share_growth, max_drift_pp FROM portfolios";
    let r = db.row(sql, vec![]).await;
    let (drift, metrics, growth, max) = (
        r.ts("drift_detected_at").unwrap(),
        r.ts("metrics_at").unwrap(),
        r.dec("share_growth").unwrap(),
        r.dec("max_drift_pp").unwrap(),
    );
    assert_eq!(drift, t0(), "kept from the change into drift");
    assert_eq!(metrics, t0().plus_seconds(300));
    assert_eq!((growth, max), (dec!(0.35), dec!(7.5)));
}

conformance!(
    a_refreshed_status_is_stored_and_drift_time_kept_until_the_next_change,
    a_notification_is_enqueued_once_per_key_and_claimed_once,
    a_crashed_senders_unsent_rows_are_claimed_again_but_never_the_row_it_was_sending,
    a_failed_notification_is_retried_from_its_next_attempt_until_the_maximum,
    a_skipped_notification_is_closed_and_claims_respect_the_limit,
    an_unregistered_token_is_cleared_only_while_it_is_still_the_users,
    housekeeping_trims_activity_per_portfolio_and_drops_old_idempotency_records,
    reminders_find_open_installments_of_active_loans_and_active_protections,
);
