-- Short-lived tokens a worker build (a `slipway worker` process or pod)
-- uses to report to the API; valid only for that worker build.
CREATE TABLE worker_tokens (
    token_hash TEXT    PRIMARY KEY,          -- hex SHA-256 of the token
    worker_id  INTEGER NOT NULL REFERENCES worker_builds (id) ON DELETE CASCADE,
    expires_at TEXT    NOT NULL
);
CREATE INDEX worker_tokens_by_worker ON worker_tokens (worker_id);
