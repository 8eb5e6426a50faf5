-- private_key_jwt with keys published by the client at a URL instead of inline.
ALTER TABLE applications ADD COLUMN jwks_uri TEXT;
