-- Ownership (issue 18). Releases are counted per repository and version,
-- so `{version}-{release}` is never reused within a repository (they were
-- counted per name label, while tags live per repository: two repositories
-- with one name label shared releases, and one repository with two name
-- labels could reuse a primary tag). The old table stays as it is: its
-- releases remain taken for their name (more conservative, never less),
-- and new releases are recorded here.
CREATE TABLE repository_releases (
    repository TEXT    NOT NULL,   -- registry/path, without tag
    version    TEXT    NOT NULL,
    release    TEXT    NOT NULL,
    build_id   INTEGER NOT NULL,   -- the holder; possibly pruned
    PRIMARY KEY (repository, version, release)
);
CREATE INDEX repository_releases_by_build ON repository_releases (build_id);

-- A build that ends without an image gives its release back.
CREATE TRIGGER repository_releases_freed AFTER UPDATE OF phase ON builds
WHEN NEW.phase IN ('Failed', 'Error', 'Cancelled')
BEGIN
    DELETE FROM repository_releases WHERE build_id = NEW.id;
END;

-- Tags of the embedded registry that never move: a build's unique and
-- primary tags, locked when it publishes them. A manifest PUT that would
-- point one elsewhere, or a DELETE of one, is refused (409).
CREATE TABLE registry_locked_tags (
    repository TEXT    NOT NULL,
    tag        TEXT    NOT NULL,
    digest     TEXT    NOT NULL,   -- what it names, for good
    build_id   INTEGER NOT NULL,
    kind       TEXT    NOT NULL,   -- unique | primary
    locked_at  TEXT    NOT NULL,
    PRIMARY KEY (repository, tag)
);
CREATE INDEX registry_locked_tags_by_build ON registry_locked_tags (build_id);

-- Image streams: every move of a tag in the embedded registry, whoever
-- made it (a build's push, a person's push, a tag, untag, rollback or
-- promotion through the API, pruning).
CREATE TABLE tag_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    repository  TEXT    NOT NULL,
    tag         TEXT    NOT NULL,
    old_digest  TEXT,              -- NULL: the tag was new
    new_digest  TEXT,              -- NULL: the tag went
    build_id    INTEGER,           -- the build it was moved for, if any
    who         TEXT    NOT NULL,  -- token:NAME, build:ID, anonymous
    why         TEXT    NOT NULL,  -- build, push, delete, tag, untag, rollback, promote, prune
    at          TEXT    NOT NULL
);
CREATE INDEX tag_events_by_tag ON tag_events (repository, tag, id);

-- The test stage (`test:` in slipway.yaml): what came of it, and the
-- JUnit XML file the test wrote, if any.
CREATE TABLE build_tests (
    build_id INTEGER PRIMARY KEY REFERENCES builds (id) ON DELETE CASCADE,
    result   TEXT NOT NULL,   -- TestResult as JSON
    junit    TEXT             -- at most 1 MiB
);
