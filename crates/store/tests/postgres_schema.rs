//! The PostgreSQL store's schema (`migrations/postgres`) against the
//! SQLite one after all its migrations: the same tables with the same
//! columns (so a migration copies rows column by column), and the
//! triggers doing what SQLite's do. Runs on a private PostgreSQL
//! (test-support's `Postgres`).

use slipway_store::SqliteStore;
use slipway_test_support::Postgres;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Columns PostgreSQL has beyond SQLite's, on purpose (see 0001_init.sql).
const PG_ONLY: [(&str, &str); 3] = [("feed", "xid"), ("feed", "seq"), ("sboms", "seq")];

type Tables = BTreeMap<String, BTreeSet<String>>;

fn sqlite_tables(db: &Path) -> Tables {
    let c = rusqlite::Connection::open(db).unwrap();
    let mut q = c
        .prepare(
            "SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p \
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name <> '_sqlx_migrations'",
        )
        .unwrap();
    let mut t = Tables::new();
    for row in q
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
        .unwrap()
    {
        let (table, column) = row.unwrap();
        t.entry(table).or_default().insert(column);
    }
    t
}

fn postgres_tables(pg: &Postgres, db: &str) -> Tables {
    let mut t = Tables::new();
    let out = pg.psql(
        db,
        "SELECT table_name || '|' || column_name FROM information_schema.columns \
         WHERE table_schema = 'public' AND table_name <> '_sqlx_migrations'",
    );
    for line in out.lines() {
        let (table, column) = line.split_once('|').unwrap();
        if !PG_ONLY.contains(&(table, column)) {
            t.entry(table.to_string())
                .or_default()
                .insert(column.to_string());
        }
    }
    t
}

fn apply(pg: &Postgres, db: &str) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/postgres");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 2, "{files:?}");
    for f in files {
        pg.psql_file(db, &f);
    }
}

#[tokio::test]
async fn postgres_schema_has_sqlites_tables_and_columns_and_triggers() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("db.sqlite");
    drop(SqliteStore::open(&file).await.unwrap());
    let sqlite = sqlite_tables(&file);
    assert!(sqlite.len() > 30, "{sqlite:?}");

    let pg = Postgres::start();
    pg.create_database("schema");
    apply(&pg, "schema");
    let postgres = postgres_tables(&pg, "schema");
    for (table, columns) in &sqlite {
        assert_eq!(
            postgres.get(table),
            Some(columns),
            "table {table}: SQLite has {columns:?}"
        );
    }
    // Build logs are files beside SQLite; servers sharing PostgreSQL keep
    // them in it.
    const POSTGRES_ONLY: &[&str] = &["build_log_chunks"];
    assert_eq!(
        postgres
            .keys()
            .filter(|t| !POSTGRES_ONLY.contains(&t.as_str()))
            .collect::<Vec<_>>(),
        sqlite.keys().collect::<Vec<_>>(),
        "the same tables"
    );

    // Rows the migrations seed: the default project.
    let seeded = rusqlite::Connection::open(&file)
        .unwrap()
        .query_row("SELECT group_concat(name) FROM projects", [], |r| {
            r.get::<_, String>(0)
        })
        .unwrap();
    assert_eq!(
        pg.psql("schema", "SELECT string_agg(name, ',') FROM projects")
            .trim(),
        seeded
    );

    // The triggers: a build's event reaches the feed with its project and
    // config; a failed build frees its releases; the audit log only grows.
    let sql = |q: &str| pg.psql("schema", q);
    sql(
        "INSERT INTO builds (phase, spec, created_at, config, project) \
         VALUES ('New', '{}', now(), 'app', 'team')",
    );
    sql(
        "INSERT INTO build_events (build_id, at, phase, message) VALUES (1, now(), 'New', 'created')",
    );
    sql("INSERT INTO releases VALUES ('n', '1', '1', 1)");
    sql("INSERT INTO repository_releases VALUES ('r', '1', '1', 1)");
    let feed = sql("SELECT kind || '|' || project || '|' || data FROM feed ORDER BY id");
    let (kind, rest) = feed.trim().split_once('|').unwrap();
    let (project, data) = rest.split_once('|').unwrap();
    assert_eq!((kind, project), ("build", "team"), "{feed}");
    let data: serde_json::Value = serde_json::from_str(data).unwrap();
    assert_eq!(
        data,
        serde_json::json!({"build": 1, "phase": "New", "message": "created", "config": "app"})
    );
    sql("UPDATE builds SET phase = 'Complete' WHERE id = 1");
    assert_eq!(sql("SELECT count(*) FROM releases").trim(), "1");
    sql("UPDATE builds SET phase = 'Failed' WHERE id = 1");
    assert_eq!(sql("SELECT count(*) FROM releases").trim(), "0");
    assert_eq!(sql("SELECT count(*) FROM repository_releases").trim(), "0");

    sql("INSERT INTO cluster_overrides VALUES ('local', 0, now())");
    sql("UPDATE cluster_overrides SET enabled = 0, changed_at = now()");
    sql("UPDATE cluster_overrides SET enabled = 1, changed_at = now()");
    let clusters = sql("SELECT data FROM feed WHERE kind = 'cluster' ORDER BY id");
    assert_eq!(
        clusters.lines().collect::<Vec<_>>(),
        [
            r#"{"cluster" : "local", "enabled" : false}"#,
            r#"{"cluster" : "local", "enabled" : true}"#
        ],
        "an update that changes nothing writes nothing"
    );
    sql("INSERT INTO waves (state, created_at, gather_until) VALUES ('Gathering', now(), now())");
    sql(
        "INSERT INTO wave_members (wave_id, position, config, root, state) \
         VALUES (1, 0, 'app', 1, '{\"state\":\"waiting\"}')",
    );
    sql("UPDATE wave_members SET state = '{\"state\":\"building\"}'");
    let member = sql("SELECT data FROM feed WHERE kind = 'wave' ORDER BY id DESC LIMIT 1");
    let member: serde_json::Value = serde_json::from_str(member.trim()).unwrap();
    assert_eq!(member["member"]["state"], "building", "{member}");

    sql("INSERT INTO audit (at, who, action, status) VALUES (now(), 'token:a', 'POST /x', 200)");
    for q in [
        "DELETE FROM audit",
        "UPDATE audit SET who = 'x'",
        "TRUNCATE audit",
    ] {
        let e = pg.psql_error("schema", q);
        assert!(e.contains("append-only"), "{q}: {e}");
    }
    // Every feed row knows its transaction, and none is sequenced yet.
    assert_eq!(
        sql("SELECT count(*) FROM feed WHERE xid IS NULL OR seq IS NOT NULL").trim(),
        "0"
    );
}
