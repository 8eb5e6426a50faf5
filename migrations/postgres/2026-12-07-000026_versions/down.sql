ALTER TABLE applications DROP COLUMN version;
ALTER TABLE organizations DROP COLUMN version;
