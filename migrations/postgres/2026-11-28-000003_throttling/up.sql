-- Per-organization policies as a JSON document, typed in src/store/organizations.rs.
ALTER TABLE organizations ADD COLUMN settings TEXT NOT NULL DEFAULT '{}';

-- Failed sign-in counters, shared by every node. `key` is `account:{org}:{username}` (unknown
-- usernames are counted the same way) or `ip:{org}:{address}`.
CREATE TABLE login_throttle (
    key TEXT PRIMARY KEY NOT NULL,
    failures BIGINT NOT NULL,
    window_start BIGINT NOT NULL,
    locked_until BIGINT,
    lock_count BIGINT NOT NULL DEFAULT 0
);
