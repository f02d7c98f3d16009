-- What a rebuild (`slipway rebuild --verify`) found about a build: the
-- comparison as JSON (core::supply::reproduce::Reproduction). It goes
-- when either build does.
CREATE TABLE build_reproductions (
    rebuild_id BIGINT      PRIMARY KEY REFERENCES builds (id) ON DELETE CASCADE,
    build_id   BIGINT      NOT NULL REFERENCES builds (id) ON DELETE CASCADE,
    identical  BOOLEAN     NOT NULL,
    detail     TEXT        NOT NULL,
    checked_at timestamptz NOT NULL
);
CREATE INDEX build_reproductions_build ON build_reproductions (build_id);
