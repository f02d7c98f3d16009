-- The change feed behind `GET /api/v1/events`: one row per change of a
-- build, config, wave, cluster, tag or scan, written by triggers on the
-- tables that record them (so no code path can change one without its
-- event, and the event commits with the change). `id` is the stream's
-- Last-Event-ID; rows older than a week are pruned.
CREATE TABLE feed (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    at      TEXT NOT NULL,
    kind    TEXT NOT NULL,   -- build | config | wave | cluster | tag | scan
    project TEXT,            -- NULL: resolved by the server, or global
    data    TEXT NOT NULL    -- JSON object
);
CREATE INDEX feed_by_at ON feed (at);

CREATE TRIGGER feed_build_events AFTER INSERT ON build_events
BEGIN
    INSERT INTO feed (at, kind, project, data)
    SELECT NEW.at, 'build', b.project,
           json_object('build', NEW.build_id, 'phase', NEW.phase,
                       'message', NEW.message, 'config', b.config)
    FROM builds b WHERE b.id = NEW.build_id;
END;

CREATE TRIGGER feed_config_events AFTER INSERT ON config_events
BEGIN
    INSERT INTO feed (at, kind, project, data)
    VALUES (NEW.at, 'config', NULL,
            json_object('config', NEW.config, 'message', NEW.message,
                        'build', NEW.build_id));
END;

CREATE TRIGGER feed_config_created AFTER INSERT ON image_configs
BEGIN
    INSERT INTO feed (at, kind, project, data)
    VALUES (NEW.updated_at, 'config', NULL,
            json_object('config', NEW.name, 'change', 'created'));
END;

CREATE TRIGGER feed_config_changed AFTER UPDATE OF spec ON image_configs
WHEN OLD.spec IS NOT NEW.spec
BEGIN
    INSERT INTO feed (at, kind, project, data)
    VALUES (NEW.updated_at, 'config', NULL,
            json_object('config', NEW.name, 'change', 'updated'));
END;

CREATE TRIGGER feed_config_deleted AFTER DELETE ON image_configs
BEGIN
    INSERT INTO feed (at, kind, project, data)
    VALUES (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), 'config', NULL,
            json_object('config', OLD.name, 'change', 'deleted'));
END;

CREATE TRIGGER feed_wave_created AFTER INSERT ON waves
BEGIN
    INSERT INTO feed (at, kind, project, data)
    VALUES (NEW.created_at, 'wave', NULL,
            json_object('wave', NEW.id, 'state', NEW.state));
END;

CREATE TRIGGER feed_wave_state AFTER UPDATE OF state ON waves
WHEN OLD.state IS NOT NEW.state
BEGIN
    INSERT INTO feed (at, kind, project, data)
    VALUES (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), 'wave', NULL,
            json_object('wave', NEW.id, 'state', NEW.state));
END;

CREATE TRIGGER feed_wave_member AFTER UPDATE OF state ON wave_members
WHEN OLD.state IS NOT NEW.state
BEGIN
    INSERT INTO feed (at, kind, project, data)
    VALUES (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), 'wave', NULL,
            json_object('wave', NEW.wave_id, 'config', NEW.config,
                        'member', json(NEW.state), 'build', NEW.build_id));
END;

CREATE TRIGGER feed_cluster_added AFTER INSERT ON cluster_overrides
BEGIN
    INSERT INTO feed (at, kind, project, data)
    VALUES (NEW.changed_at, 'cluster', NULL,
            json_object('cluster', NEW.name, 'enabled', json(CASE WHEN NEW.enabled THEN 'true' ELSE 'false' END)));
END;

CREATE TRIGGER feed_cluster_switched AFTER UPDATE ON cluster_overrides
WHEN OLD.enabled IS NOT NEW.enabled
BEGIN
    INSERT INTO feed (at, kind, project, data)
    VALUES (NEW.changed_at, 'cluster', NULL,
            json_object('cluster', NEW.name, 'enabled', json(CASE WHEN NEW.enabled THEN 'true' ELSE 'false' END)));
END;

CREATE TRIGGER feed_tag_events AFTER INSERT ON tag_events
BEGIN
    INSERT INTO feed (at, kind, project, data)
    VALUES (NEW.at, 'tag', NULL,
            json_object('repository', NEW.repository, 'tag', NEW.tag,
                        'old_digest', NEW.old_digest, 'new_digest', NEW.new_digest,
                        'build', NEW.build_id, 'who', NEW.who, 'why', NEW.why));
END;

CREATE TRIGGER feed_scans AFTER INSERT ON scans
BEGIN
    INSERT INTO feed (at, kind, project, data)
    VALUES (NEW.created_at, 'scan',
            (SELECT project FROM builds WHERE id = NEW.build_id),
            json_object('scan', NEW.id, 'build', NEW.build_id, 'config', NEW.config,
                        'reason', NEW.reason, 'reference', NEW.reference,
                        'outcome', NEW.outcome));
END;
