-- Build secrets, per project: the value sealed with the server's key
-- (base64 of the bytes, then sealed), never returned by the API.
CREATE TABLE secrets (
    project    TEXT    NOT NULL,
    name       TEXT    NOT NULL,
    value      TEXT    NOT NULL,
    size       INTEGER NOT NULL,
    created_at TEXT    NOT NULL,
    created_by TEXT,
    PRIMARY KEY (project, name)
);
