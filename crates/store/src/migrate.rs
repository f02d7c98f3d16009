//! `slipway migrate`: move an all-in-one server's SQLite database into a
//! PostgreSQL one (issue 24), row for row.
//!
//! Both schemas have the same tables and columns (`tests/postgres_schema.rs`
//! holds them to it), so the copy is generic: every table, parents before
//! the tables whose foreign keys name them, each value sent as text and
//! cast by PostgreSQL to its column's type (times are RFC 3339 text in
//! SQLite). Sealed columns move as they are: the PostgreSQL servers must
//! use the same secret key. All of it is one transaction: a failure
//! leaves the target as it was. The target must hold no builds or tokens
//! yet (a fresh database; its migrations seed the default project, which
//! the copy keeps). The change feed is not copied (clients start over).

use crate::postgres::PgStore;
use crate::{Result, StoreError};
use sqlx::Row;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Tables not copied: the event feed (a week of notices to clients that
/// reconnect), leases (held by servers that no longer run) and sqlx's own.
const SKIPPED: &[&str] = &["feed", "leases", "_sqlx_migrations"];

/// How many rows of each table were copied, in copy order.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct MigrationReport {
    pub tables: Vec<(String, u64)>,
}

/// Copy the SQLite database at `sqlite` into `target` (migrations run).
/// `progress` hears each table's name and row count as it is done.
pub async fn sqlite_to_postgres(
    sqlite: &Path,
    target: &PgStore,
    progress: &(dyn Fn(&str, u64) + Sync),
) -> Result<MigrationReport> {
    // The SQLite store's migrations bring an older file up to date first.
    drop(crate::SqliteStore::open(sqlite).await?);
    let src =
        rusqlite::Connection::open_with_flags(sqlite, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let mut tx = target.pool.begin().await?;
    for (table, what) in [("builds", "builds"), ("api_tokens", "tokens")] {
        let n: i64 =
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
                .fetch_one(&mut *tx)
                .await?;
        if n > 0 {
            return Err(StoreError::Conflict(format!(
                "the target database holds {what} already; migrate into a new, empty database"
            )));
        }
    }
    let columns = target_columns(&mut tx).await?;
    let order = copy_order(&mut tx, columns.keys().cloned().collect()).await?;
    let mut report = MigrationReport::default();
    for table in order {
        if SKIPPED.contains(&table.as_str()) {
            continue;
        }
        let cols = &columns[&table];
        let n = copy_table(&src, &mut tx, &table, cols).await?;
        progress(&table, n);
        report.tables.push((table, n));
    }
    // Rows the copy's inserts announced on the feed are not news.
    sqlx::query("DELETE FROM feed").execute(&mut *tx).await?;
    // Identities continue after the copied ids.
    for (table, cols) in &columns {
        if let Some((col, _)) = cols.iter().find(|(_, ty)| ty.ends_with(":identity")) {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT setval(pg_get_serial_sequence('{table}', '{col}'), \
                 greatest((SELECT max({col}) FROM {table}), 1))"
            )))
            .execute(&mut *tx)
            .await?;
        }
    }
    tx.commit().await?;
    Ok(report)
}

/// Each table's columns with their types (`bigint`, `text`,
/// `timestamp with time zone`…; `…:identity` for identity columns).
async fn target_columns(
    tx: &mut sqlx::PgConnection,
) -> Result<BTreeMap<String, Vec<(String, String)>>> {
    let rows = sqlx::query(
        "SELECT table_name::text AS t, column_name::text AS c, data_type::text AS ty, is_identity::text AS ident \
         FROM information_schema.columns WHERE table_schema = current_schema() \
         ORDER BY table_name, ordinal_position",
    )
    .fetch_all(&mut *tx)
    .await?;
    let mut out: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for r in rows {
        let ty: String = r.try_get("ty")?;
        let ident: String = r.try_get("ident")?;
        let ty = if ident == "YES" {
            format!("{ty}:identity")
        } else {
            ty
        };
        out.entry(r.try_get("t")?)
            .or_default()
            .push((r.try_get("c")?, ty));
    }
    Ok(out)
}

/// The tables in an order where each comes after those its foreign keys
/// name.
async fn copy_order(tx: &mut sqlx::PgConnection, tables: Vec<String>) -> Result<Vec<String>> {
    let mut parents: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for r in sqlx::query(
        "SELECT conrelid::regclass::text AS child, confrelid::regclass::text AS parent \
         FROM pg_constraint WHERE contype = 'f' AND connamespace = current_schema()::regnamespace",
    )
    .fetch_all(&mut *tx)
    .await?
    {
        let (child, parent): (String, String) = (r.try_get("child")?, r.try_get("parent")?);
        if child != parent {
            parents.entry(child).or_default().insert(parent);
        }
    }
    let mut done: Vec<String> = Vec::new();
    let mut left = tables;
    while !left.is_empty() {
        let (ready, wait): (Vec<String>, Vec<String>) = left.into_iter().partition(|t| {
            parents
                .get(t)
                .is_none_or(|ps| ps.iter().all(|p| done.contains(p)))
        });
        if ready.is_empty() {
            return Err(StoreError::Corrupt(format!(
                "foreign keys form a cycle among {wait:?}"
            )));
        }
        done.extend(ready);
        left = wait;
    }
    Ok(done)
}

/// Copy one table's rows (the columns both have), in batches.
async fn copy_table(
    src: &rusqlite::Connection,
    tx: &mut sqlx::PgConnection,
    table: &str,
    target: &[(String, String)],
) -> Result<u64> {
    let source: BTreeSet<String> = {
        let mut q = src.prepare(&format!("PRAGMA table_info(\"{table}\")"))?;
        q.query_map([], |r| r.get::<_, String>(1))?
            .collect::<Result<_, _>>()?
    };
    if source.is_empty() {
        return Ok(0);
    }
    let cols: Vec<&(String, String)> = target.iter().filter(|(c, _)| source.contains(c)).collect();
    let names = cols
        .iter()
        .map(|(c, _)| format!("\"{c}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let casts = cols
        .iter()
        .enumerate()
        .map(|(i, (_, ty))| format!("${}::{}", i + 1, ty.trim_end_matches(":identity")))
        .collect::<Vec<_>>()
        .join(", ");
    // The seeded default project (and any row the target's migrations
    // made) stays as the source has it.
    let insert = format!(
        "INSERT INTO {table} ({names}) OVERRIDING SYSTEM VALUE VALUES ({casts}) ON CONFLICT DO NOTHING"
    );
    let mut q = src.prepare(&format!("SELECT {names} FROM \"{table}\""))?;
    let mut rows = q.query([])?;
    let mut n = 0u64;
    while let Some(r) = rows.next()? {
        let mut ins = sqlx::query(sqlx::AssertSqlSafe(insert.clone()));
        for i in 0..cols.len() {
            let v: Option<String> = match r.get_ref(i)? {
                rusqlite::types::ValueRef::Null => None,
                rusqlite::types::ValueRef::Integer(x) => Some(x.to_string()),
                rusqlite::types::ValueRef::Real(x) => Some(x.to_string()),
                rusqlite::types::ValueRef::Text(t) => Some(String::from_utf8_lossy(t).into_owned()),
                rusqlite::types::ValueRef::Blob(b) => Some(format!(
                    "\\x{}",
                    b.iter().map(|x| format!("{x:02x}")).collect::<String>()
                )),
            };
            ins = ins.bind(v);
        }
        ins.execute(&mut *tx).await?;
        n += 1;
    }
    Ok(n)
}
