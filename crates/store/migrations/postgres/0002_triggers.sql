-- What SQLite's triggers do, as PostgreSQL trigger functions: releases
-- freed when their build fails, an append-only audit log (TRUNCATE
-- included, which skips row triggers), and the change feed the event
-- stream reads, written in the same transaction as each change.

CREATE FUNCTION releases_freed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM releases WHERE build_id = NEW.id;
    DELETE FROM repository_releases WHERE build_id = NEW.id;
    RETURN NULL;
END $$;
CREATE TRIGGER releases_freed AFTER UPDATE OF phase ON builds
    FOR EACH ROW WHEN (NEW.phase IN ('Failed', 'Error', 'Cancelled'))
    EXECUTE FUNCTION releases_freed();

CREATE FUNCTION audit_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only';
END $$;
CREATE TRIGGER audit_is_append_only BEFORE UPDATE OR DELETE ON audit
    FOR EACH ROW EXECUTE FUNCTION audit_is_append_only();
CREATE TRIGGER audit_is_append_only_truncate BEFORE TRUNCATE ON audit
    FOR EACH STATEMENT EXECUTE FUNCTION audit_is_append_only();

-- One feed row.
CREATE FUNCTION feed_add(at timestamptz, kind text, project text, data json)
RETURNS void LANGUAGE sql AS $$
    INSERT INTO feed (at, kind, project, data) VALUES (at, kind, project, data::text);
$$;

CREATE FUNCTION feed_build_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM feed_add(NEW.at, 'build', b.project,
        json_build_object('build', NEW.build_id, 'phase', NEW.phase,
                          'message', NEW.message, 'config', b.config))
    FROM builds b WHERE b.id = NEW.build_id;
    RETURN NULL;
END $$;
CREATE TRIGGER feed_build_events AFTER INSERT ON build_events
    FOR EACH ROW EXECUTE FUNCTION feed_build_event();

CREATE FUNCTION feed_cluster() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' OR OLD.enabled IS DISTINCT FROM NEW.enabled THEN
        PERFORM feed_add(NEW.changed_at, 'cluster', NULL,
            json_build_object('cluster', NEW.name, 'enabled', NEW.enabled <> 0));
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER feed_cluster AFTER INSERT OR UPDATE ON cluster_overrides
    FOR EACH ROW EXECUTE FUNCTION feed_cluster();

CREATE FUNCTION feed_config() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM feed_add(NEW.updated_at, 'config', NULL,
            json_build_object('config', NEW.name, 'change', 'created'));
    ELSIF TG_OP = 'UPDATE' THEN
        IF OLD.spec IS DISTINCT FROM NEW.spec THEN
            PERFORM feed_add(NEW.updated_at, 'config', NULL,
                json_build_object('config', NEW.name, 'change', 'updated'));
        END IF;
    ELSE
        PERFORM feed_add(now(), 'config', NULL,
            json_build_object('config', OLD.name, 'change', 'deleted'));
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER feed_config AFTER INSERT OR UPDATE OF spec OR DELETE ON image_configs
    FOR EACH ROW EXECUTE FUNCTION feed_config();

CREATE FUNCTION feed_config_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM feed_add(NEW.at, 'config', NULL,
        json_build_object('config', NEW.config, 'message', NEW.message,
                          'build', NEW.build_id));
    RETURN NULL;
END $$;
CREATE TRIGGER feed_config_events AFTER INSERT ON config_events
    FOR EACH ROW EXECUTE FUNCTION feed_config_event();

CREATE FUNCTION feed_scan() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM feed_add(NEW.created_at, 'scan',
        (SELECT project FROM builds WHERE id = NEW.build_id),
        json_build_object('scan', NEW.id, 'build', NEW.build_id, 'config', NEW.config,
                          'reason', NEW.reason, 'reference', NEW.reference,
                          'outcome', NEW.outcome));
    RETURN NULL;
END $$;
CREATE TRIGGER feed_scans AFTER INSERT ON scans
    FOR EACH ROW EXECUTE FUNCTION feed_scan();

CREATE FUNCTION feed_tag_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM feed_add(NEW.at, 'tag', NULL,
        json_build_object('repository', NEW.repository, 'tag', NEW.tag,
                          'old_digest', NEW.old_digest, 'new_digest', NEW.new_digest,
                          'build', NEW.build_id, 'who', NEW.who, 'why', NEW.why));
    RETURN NULL;
END $$;
CREATE TRIGGER feed_tag_events AFTER INSERT ON tag_events
    FOR EACH ROW EXECUTE FUNCTION feed_tag_event();

CREATE FUNCTION feed_wave() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM feed_add(NEW.created_at, 'wave', NULL,
            json_build_object('wave', NEW.id, 'state', NEW.state));
    ELSIF OLD.state IS DISTINCT FROM NEW.state THEN
        PERFORM feed_add(now(), 'wave', NULL,
            json_build_object('wave', NEW.id, 'state', NEW.state));
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER feed_waves AFTER INSERT OR UPDATE OF state ON waves
    FOR EACH ROW EXECUTE FUNCTION feed_wave();

CREATE FUNCTION feed_wave_member() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.state IS DISTINCT FROM NEW.state THEN
        PERFORM feed_add(now(), 'wave', NULL,
            json_build_object('wave', NEW.wave_id, 'config', NEW.config,
                              'member', NEW.state::json, 'build', NEW.build_id));
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER feed_wave_member AFTER UPDATE OF state ON wave_members
    FOR EACH ROW EXECUTE FUNCTION feed_wave_member();
