-- Third-party applications ask the user before they get anything; first-party ones do not.
ALTER TABLE applications ADD COLUMN third_party BOOLEAN NOT NULL DEFAULT FALSE;

-- What a user allowed an application (space-separated scopes); asked again when it wants more.
CREATE TABLE consents (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    application_id TEXT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    scope TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, application_id)
);
