-- Administration: who may manage which organization, and what every change did.

-- Roles of the administration organization's principals — its users (`user:{id}`) and its
-- service applications (`client:{application id}`) — over one organization, or over every
-- organization when organization_id is NULL (the `system` role). One role per principal and
-- organization (two partial indexes: a NULL is never equal to another in a UNIQUE index).
CREATE TABLE admin_roles (
    id TEXT PRIMARY KEY NOT NULL,
    principal TEXT NOT NULL,
    organization_id BIGINT REFERENCES organizations (id) ON DELETE CASCADE,
    role TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX admin_roles_one_per_organization ON admin_roles (principal, organization_id)
    WHERE organization_id IS NOT NULL;
CREATE UNIQUE INDEX admin_roles_one_over_all ON admin_roles (principal)
    WHERE organization_id IS NULL;
CREATE INDEX admin_roles_by_organization ON admin_roles (organization_id);

-- Every change made through the management API, the console, the CLI or an import: who, from
-- where, what (a before/after diff, secrets redacted), when. No foreign key: the record of a
-- deleted organization or user stays. `seq` orders the log and pages it.
CREATE TABLE audit_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    id TEXT NOT NULL UNIQUE,
    organization_id BIGINT,
    actor TEXT NOT NULL,
    actor_name TEXT NOT NULL,
    via TEXT NOT NULL,
    action TEXT NOT NULL,
    entity TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    changes TEXT NOT NULL,
    ip TEXT,
    request_id TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX audit_log_by_organization ON audit_log (organization_id, seq);

-- A user's version, raised by every change: the management API's ETag, so two administrators
-- editing one user cannot overwrite each other's change unseen.
ALTER TABLE users ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
