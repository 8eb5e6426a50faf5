DROP TABLE used_assertions;
ALTER TABLE applications DROP COLUMN jwks;
