DROP TRIGGER applications_changed ON applications;
DROP TRIGGER organizations_changed ON organizations;
DROP FUNCTION sesame_organization_changed();
ALTER TABLE users DROP COLUMN version;
DROP TABLE audit_log;
DROP TABLE admin_roles;
