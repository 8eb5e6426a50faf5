-- Self-registration: an account waiting for its address to be verified. Nothing exists in
-- users until the link is opened (in the browser that registered: browser_hash). Only the
-- SHA-256 of the link's token is kept, the password only as its argon2id hash, and that hash
-- is cleared when the link is used.
CREATE TABLE registrations (
    token_hash TEXT PRIMARY KEY NOT NULL,
    organization_id BIGINT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    transaction_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    browser_hash TEXT NOT NULL,
    username TEXT NOT NULL,
    email TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX registrations_by_expiry ON registrations (expires_at);
-- A newer registration of an address voids its unused older ones: one unused per address.
CREATE UNIQUE INDEX registrations_unused_by_email ON registrations (organization_id, email) WHERE used_at IS NULL;
