-- A multi-platform build has SBOMs for each platform's image.
CREATE TABLE sboms_by_platform (
    build_id INTEGER NOT NULL REFERENCES builds(id) ON DELETE CASCADE,
    platform TEXT NOT NULL,
    format TEXT NOT NULL,
    artifact_type TEXT NOT NULL,
    subject TEXT NOT NULL,
    reference TEXT,
    problem TEXT,
    packages INTEGER NOT NULL,
    document TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (build_id, platform, format)
);
INSERT INTO sboms_by_platform
    SELECT build_id, '', format, artifact_type, subject, reference, problem, packages, document, created_at
    FROM sboms;
DROP TABLE sboms;
ALTER TABLE sboms_by_platform RENAME TO sboms;
