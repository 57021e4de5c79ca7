//! Conformance cases of the authentication port (`AuthStore`): one-time codes, users,
//! sessions and their rotation and purge, on both backends.

use std::sync::Arc;

use blu_app::ports::{NewSession, SessionRotation};
use blu_domain::Timestamp;
use rust_decimal::Decimal;
use uuid::Uuid;

use super::{TestDb, hex64, otp, session, t0};

pub(super) async fn the_store_answers_a_ping_and_names_its_backend(db: &TestDb) {
    db.store.ping().await.unwrap();
    let expected = if db.is_postgres() {
        "postgres"
    } else {
        "sqlite"
    };
    assert_eq!(db.store.backend(), expected);
}

pub(super) async fn a_new_code_invalidates_every_older_code_of_the_phone(db: &TestDb) {
    let s = &db.store;
    let first = otp("+989121111111", t0());
    let second = otp("+989121111111", t0().plus_seconds(30));
    let other_phone = otp("+989122222222", t0());
    s.replace_otp(&first).await.unwrap();
    s.replace_otp(&other_phone).await.unwrap();
    s.replace_otp(&second).await.unwrap();

    assert_eq!(
        s.latest_otp("+989121111111").await.unwrap(),
        Some(second.clone())
    );
    let now = t0().plus_seconds(31);
    assert_eq!(s.take_otp_attempt(first.id, now, 3).await.unwrap(), None);
    assert!(
        !s.consume_otp(first.id).await.unwrap(),
        "the older code is already consumed"
    );
    assert_eq!(
        s.latest_otp("+989122222222").await.unwrap(),
        Some(other_phone)
    );
}

pub(super) async fn the_latest_code_is_the_newest_unconsumed_one_even_when_expired(db: &TestDb) {
    let s = &db.store;
    assert_eq!(s.latest_otp("+989121111111").await.unwrap(), None);
    let code = otp("+989121111111", t0());
    s.replace_otp(&code).await.unwrap();
    // latest_otp takes no clock: expiry is the caller's check.
    assert_eq!(
        s.latest_otp("+989121111111").await.unwrap(),
        Some(code.clone())
    );
    assert!(s.consume_otp(code.id).await.unwrap());
    assert_eq!(s.latest_otp("+989121111111").await.unwrap(), None);
}

pub(super) async fn attempts_are_counted_until_the_maximum_and_then_refused(db: &TestDb) {
    let s = &db.store;
    let code = otp("+989121111111", t0());
    s.replace_otp(&code).await.unwrap();
    let now = t0().plus_seconds(10);
    for expected in 1..=3 {
        let taken = s
            .take_otp_attempt(code.id, now, 3)
            .await
            .unwrap()
            .expect("attempt left");
        assert_eq!(taken.attempts, expected);
        assert_eq!(taken.id, code.id);
        assert_eq!(taken.code_hash, code.code_hash);
    }
    assert_eq!(s.take_otp_attempt(code.id, now, 3).await.unwrap(), None);
    assert_eq!(
        s.latest_otp("+989121111111")
            .await
            .unwrap()
            .unwrap()
            .attempts,
        3
    );
    assert_eq!(
        s.take_otp_attempt(Uuid::new_v4(), now, 3).await.unwrap(),
        None
    );
}

pub(super) async fn ten_concurrent_attempts_with_a_maximum_of_three_let_exactly_three_through(
    db: &TestDb,
) {
    let code = otp("+989121111111", t0());
    db.store.replace_otp(&code).await.unwrap();
    let now = t0().plus_seconds(10);
    let attempts = (0..10).map(|_| {
        let store = Arc::clone(&db.store);
        tokio::spawn(async move { store.take_otp_attempt(code.id, now, 3).await })
    });
    let results = futures::future::join_all(attempts).await;
    let mut counts: Vec<i32> = results
        .into_iter()
        .filter_map(|r| r.unwrap().unwrap())
        .map(|otp| otp.attempts)
        .collect();
    counts.sort_unstable();
    assert_eq!(counts, [1, 2, 3]);
    assert_eq!(
        db.store
            .latest_otp("+989121111111")
            .await
            .unwrap()
            .unwrap()
            .attempts,
        3
    );
}

pub(super) async fn an_expired_code_accepts_no_attempt(db: &TestDb) {
    let s = &db.store;
    let code = otp("+989121111111", t0());
    s.replace_otp(&code).await.unwrap();
    let just_before = Timestamp::from_micros(code.expires_at.as_micros() - 1);
    assert_eq!(
        s.take_otp_attempt(code.id, code.expires_at, 3)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        s.take_otp_attempt(code.id, code.expires_at.plus_seconds(60), 3)
            .await
            .unwrap(),
        None
    );
    let taken = s.take_otp_attempt(code.id, just_before, 3).await.unwrap();
    assert_eq!(taken.map(|o| o.attempts), Some(1));
}

pub(super) async fn consuming_a_code_twice_succeeds_only_once(db: &TestDb) {
    let s = &db.store;
    let code = otp("+989121111111", t0());
    s.replace_otp(&code).await.unwrap();
    assert!(s.consume_otp(code.id).await.unwrap());
    assert!(!s.consume_otp(code.id).await.unwrap());
    assert_eq!(
        s.take_otp_attempt(code.id, t0().plus_seconds(1), 3)
            .await
            .unwrap(),
        None
    );
    assert!(!s.consume_otp(Uuid::new_v4()).await.unwrap());
}

pub(super) async fn the_first_login_creates_the_user_and_later_logins_find_it(db: &TestDb) {
    let s = &db.store;
    let (user, created) = s.login_user("+989121111111", t0()).await.unwrap();
    assert!(created);
    assert_eq!(user.phone, "+989121111111");
    assert!(user.phone_verified);
    assert_eq!(user.created_at, t0());
    assert_eq!(user.last_login_at, Some(t0()));
    assert_eq!(user.risk_score, None);
    assert!(!user.consent_risk && !user.consent_loss && !user.consent_no_guarantee);
    assert!(!user.has_portfolio && !user.onboarding_complete());

    let later = t0().plus_days(1);
    let (again, created_again) = s.login_user("+989121111111", later).await.unwrap();
    assert!(!created_again);
    assert_eq!(again.id, user.id);
    assert_eq!(again.created_at, t0());
    assert_eq!(again.last_login_at, Some(later));
    assert_eq!(s.user(user.id).await.unwrap(), Some(again));
    assert_eq!(s.user(Uuid::new_v4()).await.unwrap(), None);

    let (other, other_created) = s.login_user("+989122222222", later).await.unwrap();
    assert!(other_created);
    assert_ne!(other.id, user.id);
}

pub(super) async fn concurrent_first_logins_of_one_phone_create_one_user(db: &TestDb) {
    let logins = (0..10).map(|i| {
        let store = Arc::clone(&db.store);
        tokio::spawn(async move {
            store
                .login_user("+989121111111", t0().plus_seconds(i))
                .await
        })
    });
    let results: Vec<_> = futures::future::join_all(logins)
        .await
        .into_iter()
        .map(|r| r.unwrap().unwrap())
        .collect();
    assert_eq!(results.iter().filter(|(_, created)| *created).count(), 1);
    let id = results[0].0.id;
    assert!(results.iter().all(|(user, _)| user.id == id));
    let count = db
        .execute("UPDATE users SET updated_at = updated_at WHERE phone = '+989121111111'")
        .await
        .unwrap();
    assert_eq!(count, 1, "exactly one row for the phone");
}

pub(super) async fn a_user_has_a_portfolio_once_one_is_stored(db: &TestDb) {
    let (user, _) = db.store.login_user("+989121111111", t0()).await.unwrap();
    db.portfolio(user.id, Decimal::ZERO, t0()).await.unwrap();
    let stored = db.store.user(user.id).await.unwrap().unwrap();
    assert!(stored.has_portfolio);
    assert!(
        !stored.onboarding_complete(),
        "no risk score or consents yet"
    );
}

pub(super) async fn a_session_is_stored_with_every_field_to_the_microsecond(db: &TestDb) {
    let s = &db.store;
    let (user, _) = s.login_user("+989121111111", t0()).await.unwrap();
    let new = session(user.id, t0(), 'a');
    s.create_session(&new).await.unwrap();
    let stored = s.session(new.id).await.unwrap().unwrap();
    assert_eq!(stored.id, new.id);
    assert_eq!(stored.user_id, user.id);
    assert_eq!(stored.refresh_token_hash, hex64('a'));
    assert_eq!(stored.previous_refresh_token_hash, None);
    assert_eq!(stored.generation, 0);
    assert_eq!(stored.rotated_at, t0());
    assert_eq!(stored.created_at, t0());
    assert_eq!(stored.expires_at, t0().plus_days(7));
    assert_eq!(stored.revoked_at, None);
    assert_eq!(stored.user_agent, new.user_agent);
    assert_eq!(stored.ip, new.ip);
    assert_eq!(s.session(Uuid::new_v4()).await.unwrap(), None);
}

pub(super) async fn a_rotation_applies_only_to_the_expected_hash_and_generation(db: &TestDb) {
    let s = &db.store;
    let (user, _) = s.login_user("+989121111111", t0()).await.unwrap();
    let new = session(user.id, t0(), 'a');
    s.create_session(&new).await.unwrap();
    let later = t0().plus_seconds(900);
    let rotation = |expected: char, generation: i64, next: char| SessionRotation {
        session_id: new.id,
        expected_hash: hex64(expected),
        expected_generation: generation,
        new_hash: hex64(next),
        rotated_at: later,
        expires_at: later.plus_days(7),
    };

    assert!(
        !s.rotate_session(&rotation('a', 1, 'b')).await.unwrap(),
        "wrong generation"
    );
    assert!(
        !s.rotate_session(&rotation('c', 0, 'b')).await.unwrap(),
        "wrong hash"
    );
    assert!(s.rotate_session(&rotation('a', 0, 'b')).await.unwrap());
    // The same rotation again is stale: a concurrent refresh lost the race.
    assert!(!s.rotate_session(&rotation('a', 0, 'd')).await.unwrap());

    let stored = s.session(new.id).await.unwrap().unwrap();
    assert_eq!(stored.refresh_token_hash, hex64('b'));
    assert_eq!(stored.previous_refresh_token_hash, Some(hex64('a')));
    assert_eq!(stored.generation, 1);
    assert_eq!(stored.rotated_at, later);
    assert_eq!(stored.expires_at, later.plus_days(7));
    assert_eq!(stored.created_at, t0());
    assert!(s.rotate_session(&rotation('b', 1, 'c')).await.unwrap());
    assert!(
        !s.rotate_session(&SessionRotation {
            session_id: Uuid::new_v4(),
            ..rotation('c', 2, 'd')
        })
        .await
        .unwrap()
    );
}

pub(super) async fn a_revoked_session_cannot_rotate(db: &TestDb) {
    let s = &db.store;
    let (user, _) = s.login_user("+989121111111", t0()).await.unwrap();
    let new = session(user.id, t0(), 'a');
    s.create_session(&new).await.unwrap();
    assert_eq!(
        s.revoke_session(new.id, t0().plus_seconds(5))
            .await
            .unwrap(),
        1
    );
    let rotation = SessionRotation {
        session_id: new.id,
        expected_hash: hex64('a'),
        expected_generation: 0,
        new_hash: hex64('b'),
        rotated_at: t0().plus_seconds(10),
        expires_at: t0().plus_days(7),
    };
    assert!(!s.rotate_session(&rotation).await.unwrap());
    let stored = s.session(new.id).await.unwrap().unwrap();
    assert_eq!(stored.revoked_at, Some(t0().plus_seconds(5)));
    assert_eq!(stored.refresh_token_hash, hex64('a'));
}

pub(super) async fn revoking_counts_only_sessions_that_were_still_open(db: &TestDb) {
    let s = &db.store;
    let (user, _) = s.login_user("+989121111111", t0()).await.unwrap();
    let (other, _) = s.login_user("+989122222222", t0()).await.unwrap();
    let sessions: Vec<NewSession> = ['a', 'b', 'c']
        .into_iter()
        .map(|h| session(user.id, t0(), h))
        .collect();
    for new in &sessions {
        s.create_session(new).await.unwrap();
    }
    let others = session(other.id, t0(), 'd');
    s.create_session(&others).await.unwrap();

    let now = t0().plus_seconds(60);
    assert_eq!(s.revoke_session(sessions[0].id, now).await.unwrap(), 1);
    assert_eq!(
        s.revoke_session(sessions[0].id, now.plus_seconds(1))
            .await
            .unwrap(),
        0
    );
    assert_eq!(s.revoke_session(Uuid::new_v4(), now).await.unwrap(), 0);
    assert_eq!(
        s.revoke_user_sessions(user.id, now.plus_seconds(2))
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        s.revoke_user_sessions(user.id, now.plus_seconds(3))
            .await
            .unwrap(),
        0
    );

    let first = s.session(sessions[0].id).await.unwrap().unwrap();
    assert_eq!(
        first.revoked_at,
        Some(now),
        "a second revocation keeps the first time"
    );
    assert_eq!(
        s.session(sessions[2].id).await.unwrap().unwrap().revoked_at,
        Some(now.plus_seconds(2))
    );
    assert_eq!(
        s.session(others.id).await.unwrap().unwrap().revoked_at,
        None
    );
}

pub(super) async fn purging_deletes_only_dead_codes_and_sessions(db: &TestDb) {
    let s = &db.store;
    let cutoff = t0().plus_days(1);
    // Codes: one expired long ago, one replaced (consumed) long ago, one live after the cutoff.
    let expired = otp("+989121111111", t0());
    let replaced = otp("+989122222222", t0());
    let replacement = otp("+989122222222", t0().plus_seconds(1));
    let live = otp("+989123333333", cutoff.plus_seconds(10));
    for code in [&expired, &replaced, &replacement, &live] {
        s.replace_otp(code).await.unwrap();
    }

    let (user, _) = s.login_user("+989121111111", t0()).await.unwrap();
    let mut old_expired = session(user.id, t0().plus_days(-30), 'a');
    old_expired.expires_at = t0().plus_days(-23);
    let revoked = session(user.id, t0(), 'b');
    let active = session(user.id, t0(), 'c');
    let revoked_recently = session(user.id, t0(), 'd');
    for new in [&old_expired, &revoked, &active, &revoked_recently] {
        s.create_session(new).await.unwrap();
    }
    s.revoke_session(revoked.id, t0()).await.unwrap();
    s.revoke_session(revoked_recently.id, cutoff.plus_seconds(1))
        .await
        .unwrap();

    // expired, replaced and replacement are all past their expiry by the cutoff.
    assert_eq!(s.purge_auth(cutoff, cutoff).await.unwrap(), (3, 2));
    assert_eq!(s.latest_otp("+989123333333").await.unwrap(), Some(live));
    assert!(s.session(old_expired.id).await.unwrap().is_none());
    assert!(s.session(revoked.id).await.unwrap().is_none());
    assert!(s.session(active.id).await.unwrap().is_some());
    assert!(s.session(revoked_recently.id).await.unwrap().is_some());
    assert_eq!(s.purge_auth(cutoff, cutoff).await.unwrap(), (0, 0));
}
