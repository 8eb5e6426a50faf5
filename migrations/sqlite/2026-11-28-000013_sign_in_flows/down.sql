DROP TABLE account_changes;
DROP TABLE event_outbox;
DROP TABLE backup_codes;
DROP TABLE sms_otps;
CREATE TABLE login_transactions_old (
    id TEXT PRIMARY KEY NOT NULL,
    organization_id BIGINT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    application_id TEXT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    request TEXT NOT NULL,
    browser_hash TEXT NOT NULL,
    csrf_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    completed_at BIGINT
);
INSERT INTO login_transactions_old SELECT id, organization_id, application_id, request,
    browser_hash, csrf_hash, created_at, expires_at, completed_at
    FROM login_transactions WHERE application_id IS NOT NULL;
DROP TABLE login_transactions;
ALTER TABLE login_transactions_old RENAME TO login_transactions;
CREATE INDEX login_transactions_expiry ON login_transactions (expires_at);
ALTER TABLE sessions DROP COLUMN passed;
ALTER TABLE applications DROP COLUMN backup_codes;
