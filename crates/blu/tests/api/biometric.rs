//! Device-key login (api.md §4 `POST /auth/biometric`, §11 `PUT /profile/settings`): a device
//! enrols a P-256 key, asks for a challenge and signs it; every failure is `BIOMETRIC_INVALID`.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::EncodePublicKey;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error, random_phone, spawn_with};

const PATH: &str = "/api/v1/auth/biometric";

fn device_key(seed: u8) -> SigningKey {
    SigningKey::from_slice(&[seed; 32]).unwrap()
}

fn spki(key: &SigningKey) -> String {
    STANDARD.encode(key.verifying_key().to_public_key_der().unwrap().as_bytes())
}

/// The DER signature, base64url, over the decoded challenge bytes.
fn sign(key: &SigningKey, challenge: &str) -> String {
    let bytes = URL_SAFE_NO_PAD.decode(challenge).unwrap();
    let signature: Signature = key.sign(&bytes);
    URL_SAFE_NO_PAD.encode(signature.to_der().as_bytes())
}

async fn enrol(app: &TestApp, token: &str, device_id: &str, key: &SigningKey) -> Value {
    let response = app
        .put_settings(
            token,
            json!({"biometric": {"deviceId": device_id, "publicKey": spki(key)}}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

async fn challenge(app: &TestApp, device_id: &str) -> String {
    let response = app.post(PATH, json!({ "deviceId": device_id })).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["expiresIn"], 60);
    body["challenge"].as_str().unwrap().to_owned()
}

/// The one answer to every device-login failure.
async fn refused(response: reqwest::Response) {
    assert_error(response, StatusCode::BAD_REQUEST, "BIOMETRIC_INVALID").await;
}

async fn answer(
    app: &TestApp,
    device_id: &str,
    challenge: &str,
    signature: &str,
) -> reqwest::Response {
    app.post(
        PATH,
        json!({ "deviceId": device_id, "challenge": challenge, "signature": signature }),
    )
    .await
}

#[tokio::test]
async fn an_enrolled_device_logs_in_by_signing_a_challenge_that_then_cannot_be_reused() {
    let app = spawn_with(&[]).await;
    let phone = random_phone();
    let session = app.login(&phone).await;
    let key = device_key(7);
    let settings = enrol(&app, &session.access, "ios-7F3A", &key).await;
    assert_eq!(settings["biometricEnabled"], true);
    let profile: Value = app
        .get_auth("/api/v1/profile", &session.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(profile["settings"]["biometricEnabled"], true);

    let issued = challenge(&app, "ios-7F3A").await;
    let signature = sign(&key, &issued);
    let response = answer(&app, "ios-7F3A", &issued, &signature).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["success"], true);
    assert_eq!(body["isNewUser"], false);
    assert_eq!(body["user"]["phone"], phone.as_str());
    let access = body["tokens"]["accessToken"].as_str().unwrap();
    assert_eq!(
        app.get_auth("/api/v1/profile", access).await.status(),
        StatusCode::OK,
        "the new session works"
    );

    // Replaying the same answer: the challenge was used.
    refused(answer(&app, "ios-7F3A", &issued, &signature).await).await;
}

#[tokio::test]
async fn a_wrong_key_an_unknown_device_and_an_expired_challenge_are_refused() {
    let app = spawn_with(&[("TEST_CLOCK", "1")]).await;
    let session = app.login(&random_phone()).await;
    let key = device_key(7);
    enrol(&app, &session.access, "android-1", &key).await;

    // A signature by another key burns the challenge: the right signature no longer helps.
    let issued = challenge(&app, "android-1").await;
    refused(answer(&app, "android-1", &issued, &sign(&device_key(8), &issued)).await).await;
    refused(answer(&app, "android-1", &issued, &sign(&key, &issued)).await).await;

    // Unknown device: no challenge is issued.
    refused(app.post(PATH, json!({"deviceId": "never-enrolled"})).await).await;

    // A challenge answered after its 60 s.
    let issued = challenge(&app, "android-1").await;
    assert_eq!(
        app.advance_clock(json!({"seconds": 61})).await.status(),
        StatusCode::OK
    );
    refused(answer(&app, "android-1", &issued, &sign(&key, &issued)).await).await;

    // A challenge of another device, and garbage.
    let issued = challenge(&app, "android-1").await;
    refused(answer(&app, "never-enrolled", &issued, &sign(&key, &issued)).await).await;
    refused(answer(&app, "android-1", "not-a-challenge", "AAAA").await).await;
}

#[tokio::test]
async fn turning_biometrics_off_removes_the_device_and_a_re_enrolled_key_replaces_the_old_one() {
    let app = spawn_with(&[]).await;
    let session = app.login(&random_phone()).await;
    let (old, new) = (device_key(7), device_key(9));
    enrol(&app, &session.access, "ios-1", &old).await;
    let pending = challenge(&app, "ios-1").await;
    enrol(&app, &session.access, "ios-1", &new).await;
    // The challenge issued for the old key died with it.
    refused(answer(&app, "ios-1", &pending, &sign(&old, &pending)).await).await;
    let issued = challenge(&app, "ios-1").await;
    refused(answer(&app, "ios-1", &issued, &sign(&old, &issued)).await).await;
    let issued = challenge(&app, "ios-1").await;
    assert_eq!(
        answer(&app, "ios-1", &issued, &sign(&new, &issued))
            .await
            .status(),
        StatusCode::OK
    );

    let response = app
        .put_settings(&session.access, json!({"biometricEnabled": false}))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let settings: Value = response.json().await.unwrap();
    assert_eq!(settings["biometricEnabled"], false);
    refused(app.post(PATH, json!({"deviceId": "ios-1"})).await).await;
}

#[tokio::test]
async fn malformed_enrolments_and_requests_are_validation_errors_that_change_nothing() {
    let app = spawn_with(&[]).await;
    let session = app.login(&random_phone()).await;
    let key = spki(&device_key(7));
    for body in [
        json!({"biometric": {"deviceId": "ios-1", "publicKey": "bm90IGEga2V5"}}),
        json!({"biometric": {"deviceId": "", "publicKey": key}}),
        json!({"biometric": {"deviceId": "has space", "publicKey": key}}),
        json!({"biometric": {"deviceId": "ios-1", "publicKey": key}, "biometricEnabled": false}),
        json!({"biometric": {"deviceId": "ios-1"}}),
        json!({"biometric": "ios-1"}),
    ] {
        let response = app.put_settings(&session.access, body.clone()).await;
        assert_error(response, StatusCode::BAD_REQUEST, "VALIDATION_ERROR").await;
    }
    let profile: Value = app
        .get_auth("/api/v1/profile", &session.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(profile["settings"]["biometricEnabled"], false);

    for body in [
        json!({}),
        json!({"deviceId": ""}),
        json!({"deviceId": "x".repeat(300)}),
        json!({"deviceId": "ios-1", "challenge": "abc"}),
        json!({"deviceId": "ios-1", "signature": "abc"}),
        json!({"deviceId": 12}),
    ] {
        assert_error(
            app.post(PATH, body).await,
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
        )
        .await;
    }
}

#[tokio::test]
async fn device_login_requests_are_rate_limited_per_device() {
    let app = spawn_with(&[]).await;
    let session = app.login(&random_phone()).await;
    enrol(&app, &session.access, "ios-limit", &device_key(7)).await;
    for _ in 0..10 {
        challenge(&app, "ios-limit").await;
    }
    assert_error(
        app.post(PATH, json!({"deviceId": "ios-limit"})).await,
        StatusCode::TOO_MANY_REQUESTS,
        "RATE_LIMITED",
    )
    .await;
}

#[tokio::test]
async fn a_closed_account_cannot_log_in_with_its_device_key() {
    let app = spawn_with(&[]).await;
    let session = app.login(&random_phone()).await;
    let key = device_key(7);
    enrol(&app, &session.access, "ios-closed", &key).await;
    let issued = challenge(&app, "ios-closed").await;
    let response = app
        .send(
            Method::DELETE,
            "/api/v1/profile",
            &session.access,
            Some(json!({"confirm": true})),
            None,
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    refused(answer(&app, "ios-closed", &issued, &sign(&key, &issued)).await).await;
    refused(app.post(PATH, json!({"deviceId": "ios-closed"})).await).await;
}

#[tokio::test]
async fn another_user_enrolling_the_same_device_id_leaves_the_first_users_device_login_working() {
    // D38: enrolments are per (user, device id). B learns A's device id and enrols it, even with
    // A's public key: A's device still logs in as A, and B's own key logs in as B.
    let app = spawn_with(&[]).await;
    let phone_a = random_phone();
    let a = app.login(&phone_a).await;
    let key_a = device_key(11);
    enrol(&app, &a.access, "ios-A", &key_a).await;
    let b = app.login(&random_phone()).await;
    let key_b = device_key(12);
    let settings_b = enrol(&app, &b.access, "ios-A", &key_b).await;
    assert_eq!(settings_b["biometricEnabled"], true);

    let logged_in_phone = |response: reqwest::Response| async move {
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.unwrap();
        body["user"]["phone"].as_str().unwrap().to_owned()
    };
    let issued = challenge(&app, "ios-A").await;
    let a_answer = answer(&app, "ios-A", &issued, &sign(&key_a, &issued)).await;
    assert_eq!(logged_in_phone(a_answer).await, phone_a);

    let issued = challenge(&app, "ios-A").await;
    let b_answer = answer(&app, "ios-A", &issued, &sign(&key_b, &issued)).await;
    assert_ne!(logged_in_phone(b_answer).await, phone_a);

    // B copying A's public key as well: A still logs in as A (the first enrolment answers).
    enrol(&app, &b.access, "ios-A", &key_a).await;
    let issued = challenge(&app, "ios-A").await;
    let a_answer = answer(&app, "ios-A", &issued, &sign(&key_a, &issued)).await;
    assert_eq!(logged_in_phone(a_answer).await, phone_a);
    let profile: Value = app
        .get_auth("/api/v1/profile", &a.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(profile["settings"]["biometricEnabled"], true);
}
