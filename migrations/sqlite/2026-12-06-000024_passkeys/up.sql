-- Passkeys. A key credential's row carries its WebAuthn credential id, hashed (SHA-256, hex):
-- unique across all users, so one key cannot be registered to two accounts, and the key that
-- signed a discoverable assertion is found by it.
ALTER TABLE credentials ADD COLUMN lookup TEXT;
CREATE UNIQUE INDEX credentials_lookup ON credentials (lookup);

-- Ceremonies begun and not finished yet (a passkey assertion in a sign-in): the plug-in's
-- state, sealed, bound to what began it (`factor:transaction`), used at most once.
CREATE TABLE ceremonies (
    id TEXT PRIMARY KEY NOT NULL,
    bound_to TEXT NOT NULL,
    factor TEXT NOT NULL,
    sealed BLOB NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX ceremonies_expiry ON ceremonies (expires_at);
