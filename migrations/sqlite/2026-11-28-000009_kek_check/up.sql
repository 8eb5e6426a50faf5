-- A value sealed with the key-encryption key the database was set up with, so a node started
-- with another key stops at once with a clear error instead of failing to open signing keys.
CREATE TABLE kek_check (
    id INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    sealed BLOB NOT NULL,
    created_at BIGINT NOT NULL
);
