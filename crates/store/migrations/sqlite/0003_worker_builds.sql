-- One row per platform of a build: what placement puts on a cluster.
CREATE TABLE worker_builds (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    build_id    INTEGER NOT NULL REFERENCES builds (id) ON DELETE CASCADE,
    platform    TEXT    NOT NULL,
    priority    INTEGER NOT NULL DEFAULT 0,
    phase       TEXT    NOT NULL,             -- Pending (queued), Running (placed), or final
    cluster     TEXT,                         -- set while placed, kept after the end
    tried       TEXT    NOT NULL DEFAULT '[]', -- JSON: clusters that could not take it
    reason      TEXT,
    image       TEXT,                         -- JSON PushedImage (the platform's unique tag)
    created_at  TEXT    NOT NULL,
    started_at  TEXT,
    finished_at TEXT
);
CREATE INDEX worker_builds_by_build ON worker_builds (build_id, id);
-- The queue, in placement order: higher priority first, then FIFO.
CREATE INDEX worker_builds_queue ON worker_builds (priority DESC, id) WHERE phase = 'Pending';
-- Active builds per cluster, for loads.
CREATE INDEX worker_builds_active ON worker_builds (cluster) WHERE phase = 'Running';

-- Runtime switches set by `slipway cluster disable|enable`, over the file's `enabled`.
CREATE TABLE cluster_overrides (
    name       TEXT PRIMARY KEY,
    enabled    INTEGER NOT NULL,
    changed_at TEXT    NOT NULL
);
