ALTER TABLE users DROP COLUMN version;
DROP TABLE audit_log;
DROP TABLE admin_roles;
