DROP TABLE consents;
ALTER TABLE applications DROP COLUMN third_party;
