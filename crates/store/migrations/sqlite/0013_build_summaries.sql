-- What a build list shows, in columns of its own: the spec is sealed and
-- costs a decryption and a JSON parse per row; these hold no secret (the
-- source is shown with its password hidden). Filled for older builds at
-- start (SqliteStore::fill_summaries).
ALTER TABLE builds ADD COLUMN source_shown TEXT;
ALTER TABLE builds ADD COLUMN output TEXT;
ALTER TABLE builds ADD COLUMN trigger_kind TEXT;
