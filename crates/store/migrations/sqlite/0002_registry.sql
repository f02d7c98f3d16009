-- The embedded registry's metadata. Blob and manifest bodies live in the
-- content-addressed blob store on disk; these tables say which repository
-- sees what.
CREATE TABLE registry_repositories (
    name       TEXT PRIMARY KEY,
    created_at TEXT NOT NULL
);

-- Blobs pushed to (or mounted into) a repository.
CREATE TABLE registry_blob_links (
    repository TEXT    NOT NULL,
    digest     TEXT    NOT NULL,
    size       INTEGER NOT NULL,
    PRIMARY KEY (repository, digest)
);

CREATE TABLE registry_manifests (
    repository    TEXT    NOT NULL,
    digest        TEXT    NOT NULL,
    media_type    TEXT    NOT NULL,
    size          INTEGER NOT NULL,
    artifact_type TEXT,
    subject       TEXT,          -- digest of the manifest this one refers to
    annotations   TEXT,          -- JSON object, for the referrers API
    created_at    TEXT    NOT NULL,
    PRIMARY KEY (repository, digest)
);
CREATE INDEX registry_manifests_by_subject ON registry_manifests (repository, subject);

-- Every blob or manifest a manifest references (config, layers, index children).
CREATE TABLE registry_manifest_refs (
    repository TEXT NOT NULL,
    manifest   TEXT NOT NULL,
    referenced TEXT NOT NULL,
    PRIMARY KEY (repository, manifest, referenced)
);
CREATE INDEX registry_manifest_refs_by_referenced ON registry_manifest_refs (referenced);

CREATE TABLE registry_tags (
    repository TEXT NOT NULL,
    tag        TEXT NOT NULL,
    digest     TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (repository, tag)
);

CREATE TABLE registry_uploads (
    id         TEXT PRIMARY KEY,
    repository TEXT NOT NULL,
    created_at TEXT NOT NULL
);
