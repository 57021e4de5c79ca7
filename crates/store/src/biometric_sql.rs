//! SQL of device-key login and enrolment, shared by both backends (api.md §4, §11).

/// A challenge only for an enrolled device of an active user.
pub const CREATE_CHALLENGE: &str = "INSERT INTO biometric_challenges (id, device_id, \
     challenge_hash, expires_at, created_at) SELECT $1, d.device_id, $3, $4, $5 \
     FROM biometric_devices d JOIN users u ON u.id = d.user_id \
     WHERE d.device_id = $2 AND u.deleted_at IS NULL";

/// Single use: only the first caller sees the row come back.
pub const CONSUME_CHALLENGE: &str = "UPDATE biometric_challenges SET consumed_at = $3 \
     WHERE device_id = $1 AND challenge_hash = $2 AND consumed_at IS NULL AND expires_at > $3 \
     RETURNING device_id";

pub const DEVICE_KEY: &str = "SELECT d.user_id, d.public_key FROM biometric_devices d \
     JOIN users u ON u.id = d.user_id WHERE d.device_id = $1 AND u.deleted_at IS NULL";

pub const DEVICE_USED: &str = "UPDATE biometric_devices SET last_used_at = $2 WHERE device_id = $1";

pub const USER_LOGGED_IN: &str = "UPDATE users SET last_login_at = $2 WHERE id = $1";

pub const PURGE_CHALLENGES: &str = "DELETE FROM biometric_challenges WHERE expires_at < $1";

/// Enrolling a device again (a new key, or the phone now belongs to another user) replaces it.
pub const ENROL: &str = "INSERT INTO biometric_devices (id, user_id, device_id, public_key, \
     created_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (device_id) DO UPDATE SET \
     user_id = excluded.user_id, public_key = excluded.public_key, \
     created_at = excluded.created_at, last_used_at = NULL";

/// Challenges issued for the device's previous key die with it.
pub const DROP_DEVICE_CHALLENGES: &str = "DELETE FROM biometric_challenges WHERE device_id = $1";

pub const REMOVE_USER_DEVICES: &str = "DELETE FROM biometric_devices WHERE user_id = $1";

pub const UPDATE_USER_SETTINGS: &str = "UPDATE users SET language = COALESCE($2, language), \
     notifications_enabled = COALESCE($3, notifications_enabled), \
     notification_token = COALESCE($4, notification_token), updated_at = $5 \
     WHERE id = $1 AND deleted_at IS NULL";

/// The `settings` of a user; `biometric_enabled` while a device is enrolled.
pub const SETTINGS: &str = "SELECT u.language, u.notifications_enabled, u.notification_token, \
     EXISTS (SELECT 1 FROM biometric_devices b WHERE b.user_id = u.id) AS biometric_enabled \
     FROM users u WHERE u.id = $1";
