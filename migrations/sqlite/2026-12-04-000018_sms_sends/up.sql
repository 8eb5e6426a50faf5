-- Every SMS OTP sent, for the send limits: counting rows since a moment gives exact sliding
-- windows per user, number, client and organization (and the per-country alerts). Rows older
-- than a day are purged.
CREATE TABLE sms_sends (
    id TEXT PRIMARY KEY NOT NULL,
    organization_id BIGINT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL,
    phone_number TEXT NOT NULL,
    client_ip TEXT NOT NULL,
    region TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX sms_sends_org ON sms_sends (organization_id, created_at);
CREATE INDEX sms_sends_user ON sms_sends (organization_id, user_id, created_at);
CREATE INDEX sms_sends_number ON sms_sends (organization_id, phone_number, created_at);
CREATE INDEX sms_sends_ip ON sms_sends (organization_id, client_ip, created_at);
CREATE INDEX sms_sends_region ON sms_sends (organization_id, region, created_at);
