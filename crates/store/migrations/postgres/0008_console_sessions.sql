-- Web-console sessions (as SQLite's 0025): any server behind the load
-- balancer knows a session another made. Times by the database's clock.
CREATE TABLE console_sessions (
    key        TEXT PRIMARY KEY,
    token_hash TEXT   NOT NULL,
    csrf       TEXT   NOT NULL,
    expires_ms BIGINT NOT NULL
);
