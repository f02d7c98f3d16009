-- Users and service accounts: who tokens are issued to. A name is never
-- reused (a disabled one stays, so the audit log keeps meaning one holder).
CREATE TABLE identities (
    name        TEXT PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('user', 'service')),
    project     TEXT,                       -- a service account's project
    created_at  TEXT NOT NULL,
    created_by  TEXT,
    disabled_at TEXT
);
ALTER TABLE api_tokens ADD COLUMN identity TEXT;  -- NULL: a token of its own
CREATE INDEX api_tokens_by_identity ON api_tokens (identity);
