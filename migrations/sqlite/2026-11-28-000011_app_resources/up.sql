-- The registered APIs (RFC 8707 resources) an application may ask access tokens for, as a
-- JSON array of identifiers.
ALTER TABLE applications ADD COLUMN resources TEXT NOT NULL DEFAULT '[]';
