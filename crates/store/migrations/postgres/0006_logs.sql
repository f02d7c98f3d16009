-- Build logs, for servers sharing the database (the all-in-one server
-- keeps them as files): chunks of whole lines at their byte offsets.
-- Not tied to builds by a foreign key: a log outlives nothing, and is
-- removed with its build by retention.
CREATE TABLE build_log_chunks (
    build_id BIGINT NOT NULL,
    start    BIGINT NOT NULL,
    data     BYTEA  NOT NULL,
    PRIMARY KEY (build_id, start)
);
