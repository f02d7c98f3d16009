-- Scan results: one row per scan of one image (at build time, scheduled
-- rescans, manual scans). A build's scans go when the build is pruned.
CREATE TABLE scans (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    build_id INTEGER REFERENCES builds(id) ON DELETE CASCADE,
    config TEXT,
    reason TEXT NOT NULL,
    reference TEXT NOT NULL,
    manifest_digest TEXT,
    outcome TEXT NOT NULL,
    report TEXT NOT NULL,  -- JSON ScanReport
    created_at TEXT NOT NULL
);
CREATE INDEX scans_by_build ON scans(build_id);
CREATE INDEX scans_by_config ON scans(config, id);

-- When each config's latest image is scanned again.
ALTER TABLE image_configs ADD COLUMN next_rescan_at TEXT;

-- Tracked package repositories: what their metadata said last time.
CREATE TABLE tracked_repositories (
    url TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    digest TEXT NOT NULL,
    versions TEXT NOT NULL,  -- JSON {package: newest version}
    checked_at TEXT NOT NULL
);
