-- Automatic rebuilds (issue 6): image configs, their event log, and waves.

CREATE TABLE image_configs (
    name             TEXT PRIMARY KEY,
    spec             TEXT NOT NULL,             -- JSON ImageConfig (webhook secret included; never served)
    base_images      TEXT NOT NULL DEFAULT '[]', -- JSON [String]: the Dockerfile's FROM images
    base_commit      TEXT,                      -- the commit base_images were read at
    poll_head        TEXT,                      -- the branch head polling saw last
    next_poll_at     TEXT,
    next_schedule_at TEXT,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
);

-- What happened to a config that is not a build: skipped triggers,
-- ignored deliveries, apply changes.
CREATE TABLE config_events (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    config   TEXT    NOT NULL,
    at       TEXT    NOT NULL,
    message  TEXT    NOT NULL,
    build_id INTEGER
);
CREATE INDEX config_events_by_config ON config_events (config, id);

CREATE TABLE waves (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    state        TEXT NOT NULL,   -- Gathering | Running | Done
    created_at   TEXT NOT NULL,
    gather_until TEXT NOT NULL,
    started_at   TEXT,
    finished_at  TEXT
);
CREATE INDEX waves_by_state ON waves (state, id);

CREATE TABLE wave_members (
    wave_id         INTEGER NOT NULL REFERENCES waves (id) ON DELETE CASCADE,
    position        INTEGER NOT NULL,   -- parents before children once running
    config          TEXT    NOT NULL,
    root            INTEGER NOT NULL,
    trigger         TEXT,               -- JSON Trigger (roots)
    force           INTEGER NOT NULL DEFAULT 0,
    state           TEXT    NOT NULL,   -- JSON MemberState
    build_id        INTEGER,
    previous_digest TEXT,
    reason          TEXT,
    PRIMARY KEY (wave_id, config)
);

ALTER TABLE builds ADD COLUMN config TEXT;
ALTER TABLE builds ADD COLUMN input_key TEXT;
CREATE INDEX builds_by_config ON builds (config, id);

-- Equal priorities run in submission order (build id), not in the order
-- preparation happened to finish: builds are prepared concurrently.
DROP INDEX worker_builds_queue;
CREATE INDEX worker_builds_queue ON worker_builds (priority DESC, build_id, id) WHERE phase = 'Pending';
