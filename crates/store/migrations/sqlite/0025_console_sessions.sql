-- Web-console sessions (the hash of the cookie's id), in the store so
-- that servers sharing a database share them (PostgreSQL's 0008).
CREATE TABLE console_sessions (
    key        TEXT PRIMARY KEY,
    token_hash TEXT    NOT NULL,
    csrf       TEXT    NOT NULL,
    expires_ms INTEGER NOT NULL
);
