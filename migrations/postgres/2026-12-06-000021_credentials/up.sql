-- Credentials of the second factors that plug-ins provide (authenticator apps, …): the
-- plug-in's bytes sealed under the key-encryption key (AES-256-GCM, the row's id as associated
-- data). A row is pending until a first code checks against it (confirmed_at); pending rows
-- older than an enrollment's lifetime are never used and are purged. `version` changes with
-- every write, so a check that saw an older version cannot save over a newer one.
CREATE TABLE credentials (
    id TEXT PRIMARY KEY NOT NULL,
    organization_id BIGINT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    factor TEXT NOT NULL,
    name TEXT NOT NULL,
    sealed BYTEA NOT NULL,
    version BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    confirmed_at BIGINT,
    last_used_at BIGINT
);
CREATE INDEX credentials_user ON credentials (user_id, factor);

-- The second factor the user passed last (`sms_otp`, `totp`, …): a step that offers several
-- opens on it. Written only when it changes, at the end of a sign-in or an enrollment.
ALTER TABLE users ADD COLUMN last_second_factor TEXT;
