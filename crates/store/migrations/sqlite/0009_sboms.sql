-- SBOMs made at the end of builds: one per build and format, with the
-- document, and where it was attached (NULL with a problem when it could
-- not be). They go when the build is pruned.
CREATE TABLE sboms (
    build_id INTEGER NOT NULL REFERENCES builds(id) ON DELETE CASCADE,
    format TEXT NOT NULL,
    artifact_type TEXT NOT NULL,
    subject TEXT NOT NULL,
    reference TEXT,
    problem TEXT,
    packages INTEGER NOT NULL,
    document TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (build_id, format)
);
