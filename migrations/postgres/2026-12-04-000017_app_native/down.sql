ALTER TABLE applications DROP COLUMN app_native;
