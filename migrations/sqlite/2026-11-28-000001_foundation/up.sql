-- Portable types only (see src/store/schema.rs): BIGINT epoch seconds for timestamps, TEXT for
-- identifiers and JSON documents, BOOLEAN, and BLOB/BYTEA for encrypted key material.
CREATE TABLE organizations (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    slug TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE applications (
    id TEXT PRIMARY KEY NOT NULL,
    organization_id BIGINT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    client_id TEXT NOT NULL,
    name TEXT NOT NULL,
    client_type TEXT NOT NULL CHECK (client_type IN ('confidential', 'public')),
    secret_hash TEXT,
    redirect_uris TEXT NOT NULL,
    post_logout_redirect_uris TEXT NOT NULL,
    grant_types TEXT NOT NULL,
    access_token_lifetime BIGINT NOT NULL,
    id_token_lifetime BIGINT NOT NULL,
    refresh_token_lifetime BIGINT NOT NULL,
    sign_in_flow TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (organization_id, client_id)
);

CREATE TABLE users (
    id TEXT PRIMARY KEY NOT NULL,
    organization_id BIGINT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    username TEXT NOT NULL,
    email TEXT,
    email_verified BOOLEAN NOT NULL DEFAULT FALSE,
    phone_number TEXT,
    phone_number_verified BOOLEAN NOT NULL DEFAULT FALSE,
    profile TEXT NOT NULL DEFAULT '{}',
    password_hash TEXT,
    disabled BOOLEAN NOT NULL DEFAULT FALSE,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (organization_id, username)
);
CREATE INDEX users_by_email ON users (organization_id, email);

CREATE TABLE signing_keys (
    organization_id BIGINT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    kid TEXT NOT NULL,
    alg TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('active', 'published', 'retired')),
    public_jwk TEXT NOT NULL,
    private_key BLOB NOT NULL,
    created_at BIGINT NOT NULL,
    retired_at BIGINT,
    PRIMARY KEY (organization_id, kid)
);
-- At most one signing key per organization and algorithm is active, even when two nodes generate
-- the first keys at the same moment: the loser's insert fails and it reloads.
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys (organization_id, alg) WHERE state = 'active';

INSERT INTO organizations (slug, display_name, created_at, updated_at)
VALUES ('default', 'Default organization', CAST(strftime('%s', 'now') AS BIGINT), CAST(strftime('%s', 'now') AS BIGINT));
