-- D38: device-key enrolments are unique per (user, device id), no longer per device id, so that
-- enrolling a device id never moves or removes another user's enrolment. A challenge names both:
-- step 1 issues one row per enrolment of the device id (same challenge), step 2 consumes them and
-- the signature decides which enrolment answered. Mirrored by sqlite/0019.

-- Challenges live 60 s; any in flight during the upgrade are simply asked for again.
DELETE FROM biometric_challenges;
ALTER TABLE biometric_challenges DROP CONSTRAINT biometric_challenges_device_id_fkey;
ALTER TABLE biometric_challenges DROP CONSTRAINT biometric_challenges_challenge_hash_key;
ALTER TABLE biometric_challenges DROP COLUMN id;

ALTER TABLE biometric_devices DROP CONSTRAINT biometric_devices_device_id_key;
ALTER TABLE biometric_devices
    ADD CONSTRAINT biometric_devices_user_device_key UNIQUE (user_id, device_id);
CREATE INDEX biometric_devices_device_idx ON biometric_devices (device_id);

ALTER TABLE biometric_challenges ADD COLUMN user_id UUID NOT NULL;
ALTER TABLE biometric_challenges ADD PRIMARY KEY (user_id, challenge_hash);
ALTER TABLE biometric_challenges
    ADD CONSTRAINT biometric_challenges_enrolment_fkey FOREIGN KEY (user_id, device_id)
    REFERENCES biometric_devices (user_id, device_id) ON DELETE CASCADE;
CREATE INDEX biometric_challenges_device_idx ON biometric_challenges (device_id, challenge_hash);
