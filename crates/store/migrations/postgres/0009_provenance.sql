-- A build's provenance: the signed DSSE envelope of its SLSA statement,
-- kept with the build (it goes when the build does).
CREATE TABLE build_provenance (
    build_id   BIGINT      PRIMARY KEY REFERENCES builds (id) ON DELETE CASCADE,
    envelope   TEXT        NOT NULL,
    created_at timestamptz NOT NULL
);
