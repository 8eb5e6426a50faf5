ALTER TABLE applications DROP COLUMN access_token_alg;
DROP TABLE revoked_access_tokens;
