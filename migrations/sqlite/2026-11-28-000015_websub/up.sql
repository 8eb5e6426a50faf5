-- WebSub (W3C): applications allowed to manage subscriptions, and the subscriptions themselves.
ALTER TABLE applications ADD COLUMN websub_subscribe BOOLEAN NOT NULL DEFAULT FALSE;

-- A subscriber's callback for one topic of an organization. The secret signs deliveries, so it
-- is kept sealed under the key-encryption key (it must be usable, not just checkable); after a
-- rotation the previous one keeps signing until previous_secret_until.
CREATE TABLE subscriptions (
    id TEXT PRIMARY KEY NOT NULL,
    organization_id BIGINT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    topic TEXT NOT NULL,
    callback TEXT NOT NULL,
    secret BLOB NOT NULL,
    pending_secret BLOB,
    previous_secret BLOB,
    previous_secret_until BIGINT,
    state TEXT NOT NULL,
    pending_mode TEXT,
    lease_seconds BIGINT NOT NULL,
    expires_at BIGINT,
    verify_after BIGINT NOT NULL,
    verify_attempts BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (organization_id, topic, callback)
);
CREATE INDEX subscriptions_by_topic ON subscriptions (organization_id, topic, state);
