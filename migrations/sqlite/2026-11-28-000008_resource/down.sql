ALTER TABLE grants DROP COLUMN resource;
