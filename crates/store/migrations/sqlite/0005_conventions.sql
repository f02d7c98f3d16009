-- Build conventions (issue 5): what preparing a build found, and the
-- releases taken per name and version.
ALTER TABLE builds ADD COLUMN lint TEXT;         -- JSON LintReport
ALTER TABLE builds ADD COLUMN repo_config TEXT;  -- JSON RepoConfig (slipway.yaml)
ALTER TABLE builds ADD COLUMN metadata TEXT;     -- JSON Koji content-generator metadata

-- One row per release a build holds. The primary key makes two builds
-- racing for a release unable to both get it.
CREATE TABLE releases (
    name     TEXT    NOT NULL,
    version  TEXT    NOT NULL,
    release  TEXT    NOT NULL,
    build_id INTEGER NOT NULL REFERENCES builds (id) ON DELETE CASCADE,
    PRIMARY KEY (name, version, release)
);
CREATE INDEX releases_by_build ON releases (build_id);

-- A build that ends without an image gives its release back.
CREATE TRIGGER releases_freed AFTER UPDATE OF phase ON builds
WHEN NEW.phase IN ('Failed', 'Error', 'Cancelled')
BEGIN
    DELETE FROM releases WHERE build_id = NEW.id;
END;
