-- First steps beyond the password: magic links sent by email, and sign-ins at upstream OpenID
-- providers.

-- A magic link: its token is only checked, so only its SHA-256 is kept. It belongs to one
-- sign-in (and so to the browser that asked for it) and one user; used_at makes it single use.
CREATE TABLE magic_links (
    token_hash TEXT PRIMARY KEY NOT NULL,
    organization_id BIGINT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    transaction_id TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX magic_links_by_expiry ON magic_links (expires_at);

-- A redirect to an upstream provider in flight: the state is looked up by its SHA-256; the
-- nonce and the PKCE verifier are needed in clear to finish, live ten minutes and are used once.
CREATE TABLE federation_states (
    state_hash TEXT PRIMARY KEY NOT NULL,
    organization_id BIGINT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    transaction_id TEXT NOT NULL,
    provider TEXT NOT NULL,
    nonce TEXT NOT NULL,
    pkce_verifier TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX federation_states_by_expiry ON federation_states (expires_at);

-- A local user linked to an upstream account, by the upstream issuer and subject (never by
-- email unless the provider is configured to link that way).
CREATE TABLE federated_identities (
    organization_id BIGINT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    issuer TEXT NOT NULL,
    subject TEXT NOT NULL,
    provider TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT NOT NULL,
    PRIMARY KEY (organization_id, issuer, subject)
);
CREATE INDEX federated_identities_by_user ON federated_identities (user_id);
