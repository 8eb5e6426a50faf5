-- Versions of organizations and applications, raised by every change: the management API's
-- ETags, so two administrators editing one organization's settings or one application cannot
-- overwrite each other's change unseen (users got theirs with the administration migration).
ALTER TABLE organizations ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
ALTER TABLE applications ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
