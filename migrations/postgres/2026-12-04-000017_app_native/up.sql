-- Applications that may sign users in through the JSON sign-in API (response_mode=direct).
ALTER TABLE applications ADD COLUMN app_native BOOLEAN NOT NULL DEFAULT FALSE;
