DROP TABLE ceremonies;
DROP INDEX credentials_lookup;
ALTER TABLE credentials DROP COLUMN lookup;
