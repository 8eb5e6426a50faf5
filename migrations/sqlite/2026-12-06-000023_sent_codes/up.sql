-- Codes a plug-in factor sent in a sign-in (`email_otp`): as for SMS OTP, only a keyed hash
-- bound to the sign-in, an expiry, failed attempts per code, and `seq` counting the resends.
-- A new code voids the sign-in's earlier codes of the factor.
CREATE TABLE sent_codes (
    id TEXT PRIMARY KEY NOT NULL,
    transaction_id TEXT NOT NULL REFERENCES login_transactions (id) ON DELETE CASCADE,
    factor TEXT NOT NULL,
    seq BIGINT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    destination TEXT NOT NULL,
    code_hash BLOB NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    failed_attempts BIGINT NOT NULL DEFAULT 0,
    used_at BIGINT,
    voided_at BIGINT,
    UNIQUE (transaction_id, factor, seq)
);
CREATE INDEX sent_codes_expiry ON sent_codes (expires_at);
