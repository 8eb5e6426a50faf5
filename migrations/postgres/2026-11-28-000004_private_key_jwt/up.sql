-- private_key_jwt: a confidential application may register public keys (a JWKS document)
-- instead of a secret, and authenticate with signed assertions (RFC 7523).
ALTER TABLE applications ADD COLUMN jwks TEXT;

-- Assertion ids already accepted, until the assertion expires: each is accepted once.
CREATE TABLE used_assertions (
    id TEXT PRIMARY KEY NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX used_assertions_expiry ON used_assertions (expires_at);
