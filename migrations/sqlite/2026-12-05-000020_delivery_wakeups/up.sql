-- The delivery worker claims per target (a webhook subscription, an organization's SMS channel),
-- oldest first: this index answers that without reading other targets' backlog. (SQLite serves
-- one node: the process that commits a delivery wakes its own worker; there is no NOTIFY.)
CREATE INDEX deliveries_target_due ON deliveries (target, organization_id, state, next_attempt_at);
