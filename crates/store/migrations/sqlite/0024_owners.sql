-- The server that placed a worker build (as PostgreSQL's 0004): one server
-- per SQLite file, so it is only shown, never waited on.
ALTER TABLE worker_builds ADD COLUMN owner TEXT;
