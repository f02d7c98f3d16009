-- Leases (as SQLite's 0023): which server runs a loop that must run once
-- across servers; times are the database's clock, the same for all.
CREATE TABLE leases (
    name       TEXT PRIMARY KEY,
    holder     TEXT   NOT NULL,
    expires_ms BIGINT NOT NULL
);
