-- The server that placed a worker build (its `LeaseStore::holder`): when
-- that server's `server:<holder>` lease expires, another recovers the build
-- as a restart does (issue 24).
ALTER TABLE worker_builds ADD COLUMN owner TEXT;
