-- A build's events reach the feed once per statement, not once per row:
-- placement inserts a pass's events (thousands) in one statement, and a
-- row trigger per event made the pass several times slower. Same rows,
-- same order (the events' ids).
CREATE FUNCTION feed_build_events_batch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO feed (at, kind, project, data)
    SELECT n.at, 'build', b.project,
           json_build_object('build', n.build_id, 'phase', n.phase,
                             'message', n.message, 'config', b.config)::text
    FROM new_rows n JOIN builds b ON b.id = n.build_id
    ORDER BY n.id;
    RETURN NULL;
END $$;
DROP TRIGGER feed_build_events ON build_events;
DROP FUNCTION feed_build_event();
CREATE TRIGGER feed_build_events AFTER INSERT ON build_events
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION feed_build_events_batch();
