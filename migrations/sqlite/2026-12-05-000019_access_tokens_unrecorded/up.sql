-- Access tokens are no longer recorded one row each. A token names its grant (`grant_id`), or
-- is a client-credentials token (`gty`), and is checked against the grant's or the client's
-- state when presented; revoking a single access token (RFC 7009) puts its `jti` here until
-- the token expires. `access_tokens` keeps the rows of tokens issued before this version, so
-- they work (and revoke) as before until they expire and are purged.
CREATE TABLE revoked_access_tokens (
    jti TEXT PRIMARY KEY NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX revoked_access_tokens_by_expiry ON revoked_access_tokens (expires_at);

-- The algorithm that signs an application's access tokens: RS256 (default), ES256 or EdDSA.
ALTER TABLE applications ADD COLUMN access_token_alg TEXT NOT NULL DEFAULT 'RS256';
