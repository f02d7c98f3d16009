-- Projects, and tokens bound to one project (or every one) with a role.
-- Everything there was before belongs to the default project; the tokens
-- there were (the admin token) become global admins.
CREATE TABLE projects (
    name           TEXT PRIMARY KEY,
    anonymous_pull INTEGER NOT NULL DEFAULT 0,
    created_at     TEXT NOT NULL
);
INSERT INTO projects (name, anonymous_pull, created_at)
    VALUES ('default', 0, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'));

ALTER TABLE api_tokens ADD COLUMN project TEXT;                     -- NULL: every project
ALTER TABLE api_tokens ADD COLUMN role TEXT NOT NULL DEFAULT 'admin';
ALTER TABLE api_tokens ADD COLUMN kind TEXT NOT NULL DEFAULT 'user'; -- user | service
ALTER TABLE api_tokens ADD COLUMN created_by TEXT;
ALTER TABLE api_tokens ADD COLUMN expires_at TEXT;                  -- NULL: never
ALTER TABLE api_tokens ADD COLUMN revoked_at TEXT;

ALTER TABLE builds ADD COLUMN project TEXT NOT NULL DEFAULT 'default';
CREATE INDEX builds_by_project ON builds (project, id);
