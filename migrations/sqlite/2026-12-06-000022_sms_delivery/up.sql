-- What became of each code's text message: the gateway that took it and the provider's id of
-- the message (recorded when the send succeeds), then the delivery the provider reported
-- (`delivered` or `failed`; NULL while unknown), so the code's page can say at once that the
-- text will not arrive and offer the user's other factors.
ALTER TABLE sms_otps ADD COLUMN gateway TEXT;
ALTER TABLE sms_otps ADD COLUMN message_id TEXT;
ALTER TABLE sms_otps ADD COLUMN delivery TEXT;
ALTER TABLE sms_otps ADD COLUMN delivery_detail TEXT;
CREATE INDEX sms_otps_message ON sms_otps (message_id);
-- A delivery finds its code by the event that carries it (to record the message id).
CREATE INDEX sms_otps_event ON sms_otps (event_jti);

-- Receipts that came before Sesame had recorded their message's id (a provider that reports a
-- rejection at once, while the sending node has not yet written the id): applied when the id is
-- recorded, deleted then or after a day.
CREATE TABLE sms_receipts (
    organization_id BIGINT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    gateway TEXT NOT NULL,
    message_id TEXT NOT NULL,
    delivery TEXT NOT NULL,
    detail TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    PRIMARY KEY (organization_id, gateway, message_id)
);
