-- The authenticator chain (issue 4): flows per application, what each session and sign-in has
-- passed, SMS one-time passwords, backup codes and the event outbox.

ALTER TABLE applications ADD COLUMN backup_codes BOOLEAN NOT NULL DEFAULT FALSE;

-- Authenticators passed, as JSON [{"method": "password", "at": 1764300000}, …].
ALTER TABLE sessions ADD COLUMN passed TEXT NOT NULL DEFAULT '[]';

-- A sign-in in progress now knows its user once the first step passed, what it passed, and the
-- session it steps up; account-area checks have no application. SQLite cannot drop NOT NULL, so
-- the table is rebuilt (nothing references it yet).
CREATE TABLE login_transactions_new (
    id TEXT PRIMARY KEY NOT NULL,
    organization_id BIGINT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    application_id TEXT REFERENCES applications (id) ON DELETE CASCADE,
    request TEXT NOT NULL,
    browser_hash TEXT NOT NULL,
    csrf_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    completed_at BIGINT,
    user_id TEXT REFERENCES users (id) ON DELETE CASCADE,
    passed TEXT NOT NULL DEFAULT '[]',
    session_sid TEXT
);
INSERT INTO login_transactions_new (id, organization_id, application_id, request, browser_hash,
    csrf_hash, created_at, expires_at, completed_at)
SELECT id, organization_id, application_id, request, browser_hash, csrf_hash, created_at,
    expires_at, completed_at FROM login_transactions;
DROP TABLE login_transactions;
ALTER TABLE login_transactions_new RENAME TO login_transactions;
CREATE INDEX login_transactions_expiry ON login_transactions (expires_at);

-- One row per code sent. code_hash is an HMAC under a key outside the database; (transaction,
-- seq) is unique, so two requests racing to send the same code cannot both send.
CREATE TABLE sms_otps (
    id TEXT PRIMARY KEY NOT NULL,
    transaction_id TEXT NOT NULL REFERENCES login_transactions (id) ON DELETE CASCADE,
    seq BIGINT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    phone_number TEXT NOT NULL,
    code_hash BLOB NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    failed_attempts BIGINT NOT NULL DEFAULT 0,
    used_at BIGINT,
    voided_at BIGINT,
    UNIQUE (transaction_id, seq)
);
CREATE INDEX sms_otps_expiry ON sms_otps (expires_at);

-- A user's single-use backup codes, keyed-hashed (HMAC under a key outside the database).
CREATE TABLE backup_codes (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash BLOB NOT NULL,
    created_at BIGINT NOT NULL,
    used_at BIGINT,
    PRIMARY KEY (user_id, code_hash)
);

-- Events written in the same transaction as the change they report, delivered later (at least
-- once, jti as idempotency key). Payloads holding a code are sealed under the key-encryption key.
CREATE TABLE event_outbox (
    jti TEXT PRIMARY KEY NOT NULL,
    organization_id BIGINT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    event_type TEXT NOT NULL,
    payload BLOB NOT NULL,
    sealed BOOLEAN NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    delivered_at BIGINT
);
CREATE INDEX event_outbox_pending ON event_outbox (delivered_at, created_at);

-- Changes users make to their own account (mobile number, backup codes): who, what, when.
CREATE TABLE account_changes (
    id TEXT PRIMARY KEY NOT NULL,
    organization_id BIGINT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    change TEXT NOT NULL,
    detail TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX account_changes_by_user ON account_changes (user_id, created_at);
