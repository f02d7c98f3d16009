-- Per-project quotas; NULL: no limit.
ALTER TABLE projects ADD COLUMN max_concurrent_builds INTEGER;
ALTER TABLE projects ADD COLUMN builds_per_hour INTEGER;
ALTER TABLE projects ADD COLUMN storage_bytes INTEGER;
