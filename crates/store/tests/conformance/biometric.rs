//! Conformance cases of device-key login storage (`AuthStore` challenges, enrolment through
//! `PortfolioStore::update_settings`), on both backends.

use blu_app::ports::{BiometricEnrolment, BiometricKey, SettingsUpdate};
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
        let (user, _) = self.store.login_user(phone, t0()).await.unwrap();
        let settings = self
            .portfolios()
            .update_settings(user.id, &enrolment(device_id, key), t0())
            .await
            .unwrap()
            .unwrap();
        assert!(settings.biometric_enabled);
        user.id
    }
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
        None,
        "another device's challenge"
    );
    let key = s
        .consume_biometric_challenge("ios-1", &hash('b'), t0().plus_seconds(59))
        .await
        .unwrap();
    assert_eq!(
        key,
        Some(BiometricKey {
            user_id: user,
            public_key: "KEY-A".to_owned()
        })
    );
    assert_eq!(
        s.consume_biometric_challenge("ios-1", &hash('b'), t0().plus_seconds(59))
            .await
            .unwrap(),
        None,
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
        None
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
        .filter(|r| matches!(r, Ok(Some(_))))
        .count();
    assert_eq!(won, 1);
}

async fn re_enrolling_moves_the_device_and_turning_off_removes_every_device(db: &TestDb) {
    let s = &db.store;
    let first = db.enrolled("+989121111114", "shared", "KEY-OLD").await;
    s.create_biometric_challenge("shared", &hash('e'), t0().plus_seconds(60), t0())
        .await
        .unwrap();
    // The phone now belongs to someone else, who enrols it with a new key.
    let second = db.enrolled("+989121111115", "shared", "KEY-NEW").await;
    assert_eq!(
        s.consume_biometric_challenge("shared", &hash('e'), t0())
            .await
            .unwrap(),
        None,
        "the old key's challenge is gone"
    );
    let first_profile = db.portfolios().profile(first).await.unwrap().unwrap();
    assert!(!first_profile.settings.biometric_enabled);
    s.create_biometric_challenge("shared", &hash('f'), t0().plus_seconds(60), t0())
        .await
        .unwrap();
    let key = s
        .consume_biometric_challenge("shared", &hash('f'), t0())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((key.user_id, key.public_key.as_str()), (second, "KEY-NEW"));

    let off = SettingsUpdate {
        remove_biometrics: true,
        ..SettingsUpdate::default()
    };
    let settings = db
        .portfolios()
        .update_settings(second, &off, t0())
        .await
        .unwrap()
        .unwrap();
    assert!(!settings.biometric_enabled);
    assert!(
        !s.create_biometric_challenge("shared", &hash('g'), t0().plus_seconds(60), t0())
            .await
            .unwrap()
    );
}

conformance!(
    a_challenge_is_issued_only_to_an_enrolled_device_and_consumed_once,
    an_expired_challenge_is_refused_and_purged,
    concurrent_answers_to_one_challenge_consume_it_once,
    re_enrolling_moves_the_device_and_turning_off_removes_every_device,
);
