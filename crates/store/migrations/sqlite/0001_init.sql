CREATE TABLE builds (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    phase            TEXT    NOT NULL,
    spec             TEXT    NOT NULL,            -- JSON BuildSpec
    reason           TEXT,
    git_commit       TEXT,
    image            TEXT,                        -- JSON PushedImage
    stages           TEXT    NOT NULL DEFAULT '[]', -- JSON [StageTiming]
    attempts         INTEGER NOT NULL DEFAULT 0,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    created_at       TEXT    NOT NULL,
    started_at       TEXT,
    finished_at      TEXT
);
CREATE INDEX builds_by_phase ON builds (phase, id);

CREATE TABLE build_events (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    build_id INTEGER NOT NULL REFERENCES builds (id) ON DELETE CASCADE,
    at       TEXT    NOT NULL,
    phase    TEXT,
    message  TEXT    NOT NULL
);
CREATE INDEX build_events_by_build ON build_events (build_id, id);

CREATE TABLE api_tokens (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,   -- hex SHA-256 of the token
    created_at TEXT NOT NULL
);
