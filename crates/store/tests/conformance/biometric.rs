//! Conformance cases of device-key login storage (`AuthStore` challenges, enrolment through
//! `PortfolioStore::update_settings`), on both backends.

use blu_app::ports::{BiometricEnrolment, BiometricKey, SettingsUpdate};
use blu_domain::Timestamp;
use uuid::Uuid;

use super::{TestDb, t0};

fn enrolment(device_id: &str, key: &str) -> SettingsUpdate {
    SettingsUpdate {
        biometric: Some(BiometricEnrolment {
            device_id: device_id.to_owned(),
            public_key: key.to_owned(),
        }),
        ..SettingsUpdate::default()
    }
}

impl TestDb {
    async fn enrolled(&self, phone: &str, device_id: &str, key: &str) -> Uuid {
        self.enrolled_at(phone, device_id, key, t0()).await
    }

    async fn enrolled_at(&self, phone: &str, device_id: &str, key: &str, at: Timestamp) -> Uuid {
        let (user, _) = self.store.login_user(phone, at).await.unwrap();
        let settings = self
            .portfolios()
            .update_settings(user.id, &enrolment(device_id, key), at)
            .await
            .unwrap()
            .unwrap();
        assert!(settings.biometric_enabled);
        user.id
    }
}

/// Consumes a challenge; the (user, key) pairs it was issued to.
async fn answered(db: &TestDb, device_id: &str, challenge: char) -> Vec<(Uuid, String)> {
    db.store
        .consume_biometric_challenge(device_id, &hash(challenge), t0())
        .await
        .unwrap()
        .into_iter()
        .map(|k| (k.user_id, k.public_key))
        .collect()
}

fn hash(c: char) -> String {
    std::iter::repeat_n(c, 64).collect()
}

async fn a_challenge_is_issued_only_to_an_enrolled_device_and_consumed_once(db: &TestDb) {
    let s = &db.store;
    let user = db.enrolled("+989121111111", "ios-1", "KEY-A").await;
    let expires = t0().plus_seconds(60);
    assert!(
        !s.create_biometric_challenge("unknown", &hash('a'), expires, t0())
            .await
            .unwrap()
    );
    assert!(
        s.create_biometric_challenge("ios-1", &hash('b'), expires, t0())
            .await
            .unwrap()
    );
    assert_eq!(
        s.consume_biometric_challenge("ios-2", &hash('b'), t0())
            .await
            .unwrap(),
        vec![],
        "another device's challenge"
    );
    let key = s
        .consume_biometric_challenge("ios-1", &hash('b'), t0().plus_seconds(59))
        .await
        .unwrap();
    assert_eq!(
        key,
        vec![BiometricKey {
            user_id: user,
            public_key: "KEY-A".to_owned()
        }]
    );
    assert_eq!(
        s.consume_biometric_challenge("ios-1", &hash('b'), t0().plus_seconds(59))
            .await
            .unwrap(),
        vec![],
        "used"
    );
    s.record_biometric_login("ios-1", user, t0().plus_seconds(59))
        .await
        .unwrap();
    assert_eq!(
        s.user(user).await.unwrap().unwrap().last_login_at,
        Some(t0().plus_seconds(59))
    );
}

async fn an_expired_challenge_is_refused_and_purged(db: &TestDb) {
    let s = &db.store;
    db.enrolled("+989121111112", "ios-3", "KEY-B").await;
    let expires = t0().plus_seconds(60);
    s.create_biometric_challenge("ios-3", &hash('c'), expires, t0())
        .await
        .unwrap();
    assert_eq!(
        s.consume_biometric_challenge("ios-3", &hash('c'), expires)
            .await
            .unwrap(),
        vec![]
    );
    assert_eq!(s.purge_biometric_challenges(expires).await.unwrap(), 0);
    assert_eq!(
        s.purge_biometric_challenges(expires.plus_seconds(1))
            .await
            .unwrap(),
        1
    );
}

async fn concurrent_answers_to_one_challenge_consume_it_once(db: &TestDb) {
    let s = &db.store;
    db.enrolled("+989121111113", "ios-4", "KEY-C").await;
    s.create_biometric_challenge("ios-4", &hash('d'), t0().plus_seconds(60), t0())
        .await
        .unwrap();
    let challenge = hash('d');
    let attempts = (0..8).map(|_| s.consume_biometric_challenge("ios-4", &challenge, t0()));
    let won = futures::future::join_all(attempts)
        .await
        .into_iter()
        .filter(|r| r.as_ref().is_ok_and(|keys| !keys.is_empty()))
        .count();
    assert_eq!(won, 1);
}

async fn enrolments_are_per_user_and_a_challenge_names_every_enrolment_of_the_device(db: &TestDb) {
    // D38: another user enrolling the same device id never touches the first enrolment.
    let s = &db.store;
    let first = db.enrolled("+989121111114", "shared", "KEY-FIRST").await;
    s.create_biometric_challenge("shared", &hash('e'), t0().plus_seconds(60), t0())
        .await
        .unwrap();
    let second = db
        .enrolled_at(
            "+989121111115",
            "shared",
            "KEY-SECOND",
            t0().plus_seconds(1),
        )
        .await;
    let first_profile = db.portfolios().profile(first).await.unwrap().unwrap();
    assert!(first_profile.settings.biometric_enabled);
    // The first user's challenge in flight still answers, naming only the first user.
    assert_eq!(
        answered(db, "shared", 'e').await,
        vec![(first, "KEY-FIRST".to_owned())]
    );
    // A new challenge is issued to both enrolments, first enrolled first.
    s.create_biometric_challenge("shared", &hash('f'), t0().plus_seconds(60), t0())
        .await
        .unwrap();
    let users: Vec<Uuid> = answered(db, "shared", 'f')
        .await
        .into_iter()
        .map(|k| k.0)
        .collect();
    assert_eq!(users, vec![first, second]);
    // Re-enrolling replaces only the user's own key; its challenges die with the old key.
    s.create_biometric_challenge("shared", &hash('g'), t0().plus_seconds(60), t0())
        .await
        .unwrap();
    db.portfolios()
        .update_settings(second, &enrolment("shared", "KEY-SECOND-2"), t0())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        answered(db, "shared", 'g').await,
        vec![(first, "KEY-FIRST".to_owned())]
    );

    // Turning device login off removes only that user's enrolments.
    let off = SettingsUpdate {
        remove_biometrics: true,
        ..SettingsUpdate::default()
    };
    let settings = db
        .portfolios()
        .update_settings(first, &off, t0())
        .await
        .unwrap()
        .unwrap();
    assert!(!settings.biometric_enabled);
    s.create_biometric_challenge("shared", &hash('h'), t0().plus_seconds(60), t0())
        .await
        .unwrap();
    assert_eq!(
        answered(db, "shared", 'h').await,
        vec![(second, "KEY-SECOND-2".to_owned())]
    );
    db.portfolios()
        .update_settings(second, &off, t0())
        .await
        .unwrap()
        .unwrap();
    assert!(
        !s.create_biometric_challenge("shared", &hash('i'), t0().plus_seconds(60), t0())
            .await
            .unwrap()
    );
}

conformance!(
    a_challenge_is_issued_only_to_an_enrolled_device_and_consumed_once,
    an_expired_challenge_is_refused_and_purged,
    concurrent_answers_to_one_challenge_consume_it_once,
    enrolments_are_per_user_and_a_challenge_names_every_enrolment_of_the_device,
);
