-- History limits (issue 6): a config keeps its newest finished builds;
-- older ones are deleted and leave a tombstone, so asking for one says
-- it was pruned instead of that it never existed.
CREATE TABLE pruned_builds (
    id        INTEGER PRIMARY KEY,   -- the build's id (never reused: builds is AUTOINCREMENT)
    config    TEXT NOT NULL,
    phase     TEXT NOT NULL,
    pruned_at TEXT NOT NULL
);

-- A pruned build's release stays taken: its image and NVR still exist.
-- The releases table loses its cascade on builds (SQLite cannot drop a
-- foreign key in place, so the table is rebuilt).
DROP TRIGGER releases_freed;
CREATE TABLE releases_kept (
    name     TEXT    NOT NULL,
    version  TEXT    NOT NULL,
    release  TEXT    NOT NULL,
    build_id INTEGER NOT NULL,   -- the holder; possibly pruned
    PRIMARY KEY (name, version, release)
);
INSERT INTO releases_kept (name, version, release, build_id)
    SELECT name, version, release, build_id FROM releases;
DROP TABLE releases;
ALTER TABLE releases_kept RENAME TO releases;
CREATE INDEX releases_by_build ON releases (build_id);

-- A build that ends without an image gives its release back.
CREATE TRIGGER releases_freed AFTER UPDATE OF phase ON builds
WHEN NEW.phase IN ('Failed', 'Error', 'Cancelled')
BEGIN
    DELETE FROM releases WHERE build_id = NEW.id;
END;
