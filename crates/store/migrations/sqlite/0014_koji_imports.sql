-- Builds in Koji: one row per build, made when its NVR is reserved
-- (CGInitBuild, before it is queued) or when its metadata is recorded
-- (with Koji configured); the Koji controller imports it once the build is
-- Complete, or gives the reservation back when it is not.
CREATE TABLE koji_imports (
    build_id INTEGER PRIMARY KEY REFERENCES builds(id) ON DELETE CASCADE,
    state TEXT NOT NULL,               -- reserved | pending | imported | failed | refunded
    attempts INTEGER NOT NULL DEFAULT 0,
    nvr TEXT,
    koji_build_id INTEGER,             -- the reservation's, then the import's
    reservation_token TEXT,            -- sealed: it lets anyone import as this build
    message TEXT,
    next_attempt_at TEXT,
    updated_at TEXT NOT NULL
);
CREATE INDEX koji_imports_due ON koji_imports(state, next_attempt_at);
