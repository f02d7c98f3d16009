-- Notifications: builds are announced once (notified_at), each message to
-- each target is a delivery retried until it is delivered or given up.
ALTER TABLE builds ADD COLUMN notified_at TEXT;
-- Builds that ended before notifications existed are not announced.
UPDATE builds SET notified_at = COALESCE(finished_at, created_at)
 WHERE phase IN ('Complete', 'Failed', 'Error', 'Cancelled', 'Skipped');

CREATE TABLE notifications (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    build_id INTEGER REFERENCES builds(id) ON DELETE SET NULL,
    scan_id INTEGER REFERENCES scans(id) ON DELETE SET NULL,
    config TEXT,
    target TEXT NOT NULL,   -- JSON NotifyTarget
    message TEXT NOT NULL,  -- JSON Message
    state TEXT NOT NULL,    -- pending | delivered | failed
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    next_attempt_at TEXT NOT NULL,
    delivered_at TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX notifications_due ON notifications(state, next_attempt_at);
