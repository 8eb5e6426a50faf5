DROP TABLE login_throttle;
ALTER TABLE organizations DROP COLUMN settings;
