//! Device-key login and enrolment (api.md §4, §11, D38): challenges, their single-use
//! consumption, and the statements of enrolment used by the profile settings.

use blu_app::ports::{BiometricKey, StoreResult};
use blu_domain::Timestamp;
use uuid::Uuid;

use crate::Database;
use crate::driver::{FromRow, Row, query};

/// The keys (enrolment order kept) of the enrolments a consumed challenge named (D38).
fn issued_to(keys: Vec<BiometricKey>, named: &[Uuid]) -> Vec<BiometricKey> {
    keys.into_iter()
        .filter(|k| named.contains(&k.user_id))
        .collect()
}

/// A challenge names the user and the device (D38): one row per enrolment of the device id by
/// an active user, all with the same challenge; none when the device is not enrolled.
pub(crate) const CREATE_CHALLENGE: &str = "INSERT INTO biometric_challenges (user_id, device_id, \
     challenge_hash, expires_at, created_at) SELECT d.user_id, d.device_id, $2, $3, $4 \
     FROM biometric_devices d JOIN users u ON u.id = d.user_id \
     WHERE d.device_id = $1 AND u.deleted_at IS NULL";

/// Single use: only the first caller sees the rows (one per enrolment) come back.
pub(crate) const CONSUME_CHALLENGE: &str = "UPDATE biometric_challenges SET consumed_at = $3 \
     WHERE device_id = $1 AND challenge_hash = $2 AND consumed_at IS NULL AND expires_at > $3 \
     RETURNING user_id";

/// The enrolments of a device id by active users, first enrolled first.
pub(crate) const DEVICE_KEYS: &str = "SELECT d.user_id, d.public_key FROM biometric_devices d \
     JOIN users u ON u.id = d.user_id WHERE d.device_id = $1 AND u.deleted_at IS NULL \
     ORDER BY d.created_at, d.id";

pub(crate) const DEVICE_USED: &str =
    "UPDATE biometric_devices SET last_used_at = $2 WHERE device_id = $1 AND user_id = $3";

pub(crate) const USER_LOGGED_IN: &str = "UPDATE users SET last_login_at = $2 WHERE id = $1";

pub(crate) const PURGE_CHALLENGES: &str = "DELETE FROM biometric_challenges WHERE expires_at < $1";

/// Enrolling a device again for the same user replaces its key; another user's enrolment of the
/// same device id is never touched (D38). The first enrolment time is kept: when two enrolments
/// of a device id accept one signature, the earlier one answers, so a later copy of someone
/// else's device id and public key can never take their login over.
pub(crate) const ENROL: &str = "INSERT INTO biometric_devices (id, user_id, device_id, public_key, \
     created_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (user_id, device_id) DO UPDATE SET \
     public_key = excluded.public_key, last_used_at = NULL";

/// Challenges issued for this user's previous key of the device die with it.
pub(crate) const DROP_DEVICE_CHALLENGES: &str =
    "DELETE FROM biometric_challenges WHERE user_id = $1 AND device_id = $2";

pub(crate) const REMOVE_USER_DEVICES: &str = "DELETE FROM biometric_devices WHERE user_id = $1";

pub(crate) const UPDATE_USER_SETTINGS: &str = "UPDATE users SET language = COALESCE($2, language), \
     notifications_enabled = COALESCE($3, notifications_enabled), \
     notification_token = COALESCE($4, notification_token), updated_at = $5 \
     WHERE id = $1 AND deleted_at IS NULL";

/// The `settings` of a user; `biometric_enabled` while a device is enrolled.
pub(crate) const SETTINGS: &str = "SELECT u.language, u.notifications_enabled, u.notification_token, \
     EXISTS (SELECT 1 FROM biometric_devices b WHERE b.user_id = u.id) AS biometric_enabled \
     FROM users u WHERE u.id = $1";

impl FromRow for BiometricKey {
    fn from_row(r: Row) -> anyhow::Result<BiometricKey> {
        Ok(BiometricKey {
            user_id: r.uuid("user_id")?,
            public_key: r.text("public_key")?,
        })
    }
}

/// The user a consumed challenge row named.
struct Named(Uuid);

impl FromRow for Named {
    fn from_row(r: Row) -> anyhow::Result<Named> {
        Ok(Named(r.uuid("user_id")?))
    }
}

pub(crate) async fn create_challenge(
    db: &Database,
    device_id: &str,
    challenge_hash: &str,
    expires_at: Timestamp,
    now: Timestamp,
) -> StoreResult<bool> {
    let created = query(CREATE_CHALLENGE)
        .bind(device_id)
        .bind(challenge_hash)
        .bind(expires_at)
        .bind(now)
        .execute(db.pool())
        .await?;
    Ok(created > 0)
}

pub(crate) async fn consume_challenge(
    db: &Database,
    device_id: &str,
    challenge_hash: &str,
    now: Timestamp,
) -> StoreResult<Vec<BiometricKey>> {
    let mut tx = db.pool().begin_write().await?;
    let named: Vec<Named> = query(CONSUME_CHALLENGE)
        .bind(device_id)
        .bind(challenge_hash)
        .bind(now)
        .fetch_all(&mut tx)
        .await?;
    if named.is_empty() {
        return Ok(Vec::new());
    }
    let keys: Vec<BiometricKey> = query(DEVICE_KEYS)
        .bind(device_id)
        .fetch_all(&mut tx)
        .await?;
    tx.commit().await?;
    let named: Vec<Uuid> = named.into_iter().map(|Named(id)| id).collect();
    Ok(issued_to(keys, &named))
}

pub(crate) async fn record_login(
    db: &Database,
    device_id: &str,
    user_id: Uuid,
    now: Timestamp,
) -> StoreResult<()> {
    let mut tx = db.pool().begin_write().await?;
    query(DEVICE_USED)
        .bind(device_id)
        .bind(now)
        .bind(user_id)
        .execute(&mut tx)
        .await?;
    query(USER_LOGGED_IN)
        .bind(user_id)
        .bind(now)
        .execute(&mut tx)
        .await?;
    tx.commit().await
}
