-- Leases: which server runs a loop that must run once when several share
-- the work (timers, waves, notifications, Koji, GC, recovery). Held until
-- `expires_ms` (Unix milliseconds) unless its holder renews it.
CREATE TABLE leases (
    name       TEXT PRIMARY KEY,
    holder     TEXT    NOT NULL,
    expires_ms INTEGER NOT NULL
);
