ALTER TABLE applications DROP COLUMN resources;
