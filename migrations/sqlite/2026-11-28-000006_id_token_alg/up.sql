-- The algorithm that signs an application's ID tokens: RS256 (default), ES256 or EdDSA.
ALTER TABLE applications ADD COLUMN id_token_alg TEXT NOT NULL DEFAULT 'RS256';
