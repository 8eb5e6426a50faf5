-- Deliveries of outbox events: one row per event and target (the SMS gateways now; webhook
-- subscriptions next). A row is claimed with a lease (next_attempt_at moved forward), so a node
-- that dies mid-delivery leaves it due again: delivery is at least once, with the event's jti as
-- the idempotency key.
CREATE TABLE deliveries (
    id TEXT PRIMARY KEY NOT NULL,
    jti TEXT NOT NULL REFERENCES event_outbox (jti) ON DELETE CASCADE,
    organization_id BIGINT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    target TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    give_up_at BIGINT NOT NULL,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    delivered_at BIGINT,
    UNIQUE (jti, target)
);
CREATE INDEX deliveries_due ON deliveries (state, next_attempt_at);

-- The event that carries each code, so a replaced code's pending delivery can be stopped.
ALTER TABLE sms_otps ADD COLUMN event_jti TEXT;
