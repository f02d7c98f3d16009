-- The audit log: one record per mutating API request of a known token,
-- whatever its outcome. Append-only: the triggers refuse any change.
CREATE TABLE audit (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    at      TEXT    NOT NULL,
    who     TEXT    NOT NULL,   -- token:NAME
    project TEXT,               -- the token's project; NULL: a global token
    action  TEXT    NOT NULL,   -- METHOD /api/v1/path
    source  TEXT,               -- the client's address
    status  INTEGER NOT NULL    -- the answer's HTTP status
);
CREATE INDEX audit_by_project ON audit (project, id);
CREATE TRIGGER audit_is_append_only_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_is_append_only_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
