-- D38: device-key enrolments are unique per (user, device id); a challenge names both (one row per
-- enrolment of the device id). SQLite cannot change constraints in place, so both tables are
-- rebuilt (challenges live 60 s and are not carried over). Mirrors postgres/0019.
DROP TABLE biometric_challenges;

CREATE TABLE biometric_devices_d38 (
    id              TEXT PRIMARY KEY,
    user_id         TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    device_id       TEXT NOT NULL CHECK (length(device_id) BETWEEN 1 AND 255),
    public_key      TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    last_used_at    TEXT,
    UNIQUE (user_id, device_id)
) STRICT;
INSERT INTO biometric_devices_d38 (id, user_id, device_id, public_key, created_at, last_used_at)
    SELECT id, user_id, device_id, public_key, created_at, last_used_at FROM biometric_devices;
DROP TABLE biometric_devices;
ALTER TABLE biometric_devices_d38 RENAME TO biometric_devices;
CREATE INDEX biometric_devices_user_idx ON biometric_devices (user_id);
CREATE INDEX biometric_devices_device_idx ON biometric_devices (device_id);

CREATE TABLE biometric_challenges (
    user_id         TEXT NOT NULL,
    device_id       TEXT NOT NULL,
    challenge_hash  TEXT NOT NULL CHECK (length(challenge_hash) = 64),
    expires_at      TEXT NOT NULL,
    consumed_at     TEXT,
    created_at      TEXT NOT NULL,
    PRIMARY KEY (user_id, challenge_hash),
    FOREIGN KEY (user_id, device_id) REFERENCES biometric_devices (user_id, device_id)
        ON DELETE CASCADE
) STRICT;
CREATE INDEX biometric_challenges_expires_idx ON biometric_challenges (expires_at);
CREATE INDEX biometric_challenges_device_idx ON biometric_challenges (device_id, challenge_hash);
