-- The authorization server's state. Every secret handed to a browser or client (transaction
-- binding, CSRF token, session id, code, refresh token) is stored as its SHA-256 only.

-- One authorization request while the user walks the sign-in pages.
CREATE TABLE login_transactions (
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
CREATE INDEX login_transactions_expiry ON login_transactions (expires_at);

-- A browser's signed-in state at Sesame (SSO).
CREATE TABLE sessions (
    id_hash TEXT PRIMARY KEY NOT NULL,
    sid TEXT NOT NULL UNIQUE,
    organization_id BIGINT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    auth_time BIGINT NOT NULL,
    amr TEXT NOT NULL,
    acr TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    ended_at BIGINT
);
CREATE INDEX sessions_by_user ON sessions (user_id);

-- What a user granted an application; ties codes, access tokens and refresh tokens together so
-- they can be revoked at once.
CREATE TABLE grants (
    id TEXT PRIMARY KEY NOT NULL,
    organization_id BIGINT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    application_id TEXT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    user_id TEXT REFERENCES users (id) ON DELETE CASCADE,
    sid TEXT,
    scope TEXT NOT NULL,
    auth_time BIGINT NOT NULL,
    amr TEXT NOT NULL,
    acr TEXT NOT NULL,
    nonce TEXT,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX grants_by_user ON grants (user_id);
CREATE INDEX grants_by_sid ON grants (sid);

CREATE TABLE authorization_codes (
    code_hash TEXT PRIMARY KEY NOT NULL,
    grant_id TEXT NOT NULL REFERENCES grants (id) ON DELETE CASCADE,
    redirect_uri TEXT NOT NULL,
    code_challenge TEXT,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);

CREATE TABLE access_tokens (
    jti TEXT PRIMARY KEY NOT NULL,
    grant_id TEXT NOT NULL REFERENCES grants (id) ON DELETE CASCADE,
    expires_at BIGINT NOT NULL
);
CREATE INDEX access_tokens_by_grant ON access_tokens (grant_id);

CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY NOT NULL,
    grant_id TEXT NOT NULL REFERENCES grants (id) ON DELETE CASCADE,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX refresh_tokens_by_grant ON refresh_tokens (grant_id);
