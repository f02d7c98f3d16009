-- A project's credentials for other registries: pulling base images from
-- them, pushing and promoting to them. The password is sealed.
CREATE TABLE registry_logins (
    project    TEXT NOT NULL,
    registry   TEXT NOT NULL,
    username   TEXT NOT NULL,
    password   TEXT NOT NULL,
    created_at TEXT NOT NULL,
    created_by TEXT,
    PRIMARY KEY (project, registry)
);
