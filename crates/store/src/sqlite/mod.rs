//! The SQLite [`Store`]: one file in the data directory, WAL mode.

mod rebuild_rows;
pub(crate) mod rebuilds;
pub(crate) mod registry;
pub(crate) mod workers;

use crate::seal::{Column, Sealer, is_sealed};
use crate::{Result, StoreError};
use jiff::Timestamp;
use slipway_core::{BuildId, BuildPhase};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqliteConnection, SqlitePool};
use std::path::Path;
use std::time::Duration;

static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

pub struct SqliteStore {
    pub(crate) pool: SqlitePool,
    /// Synchronous read-only connections for the hot reads (`read`).
    pub(crate) reads: crate::read::ReadPool,
    pub(crate) sealer: Sealer,
    /// Tokens recently looked up, and the projects (see `access`).
    pub(crate) access: crate::access::AccessCache,
    /// See [`crate::LeaseStore::holder`].
    pub(crate) holder: crate::leases::Holder,
}

impl SqliteStore {
    /// Open (creating if needed) the database at `path` and run migrations;
    /// secrets are stored as they are (tests and tools).
    pub async fn open(path: &Path) -> Result<Self> {
        Self::open_sealed(path, None).await
    }

    /// Open the database with `key` sealing the columns that can hold
    /// secrets (see `seal`).
    pub async fn open_sealed(path: &Path, key: Option<&[u8; 32]>) -> Result<Self> {
        let opts = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            // Deleted and overwritten content is zeroed, so a value
            // rewritten sealed leaves no plain copy in a free page.
            .pragma("secure_delete", "ON")
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            // Readers run side by side (WAL); more connections than cores
            // keep a burst of API reads from queueing for one.
            .max_connections(8)
            // A transaction that failed half-way (a COMMIT refused with
            // "database or disk is full", an I/O error) can leave its
            // connection believing it is still inside it, and every later
            // BEGIN on it fails. Such a connection is closed instead of
            // reused, so the store recovers as soon as the fault is gone,
            // without a restart.
            .before_acquire(|conn, _meta| {
                Box::pin(async move {
                    use sqlx::Connection;
                    let stuck = conn.is_in_transaction();
                    if stuck {
                        tracing::warn!(
                            "a database connection was left inside a failed transaction; replacing it"
                        );
                    }
                    Ok(!stuck)
                })
            })
            .connect_with(opts)
            .await?;
        MIGRATIONS.run(&pool).await?;
        let store = SqliteStore {
            pool,
            reads: crate::read::ReadPool::new(path),
            sealer: Sealer::new(key)?,
            access: crate::access::AccessCache::default(),
            holder: crate::leases::Holder::new(),
        };
        store.fill_summaries().await?;
        Ok(store)
    }

    /// Rewrite sealed every secret-holding value written before sealing
    /// (or by a server without a key), then truncate the write-ahead log
    /// so no plain copy stays in it. Returns how many values were sealed.
    pub async fn seal_existing(&self) -> Result<u64> {
        if !self.sealer.seals() {
            return Ok(0);
        }
        let mut n = 0;
        let tables: [(&'static str, &'static str, Column); 3] = [
            (
                "SELECT CAST(id AS TEXT) AS k, spec AS v FROM builds WHERE spec NOT LIKE 'sealed:v1:%'",
                "UPDATE builds SET spec = ? WHERE CAST(id AS TEXT) = ?",
                Column::BuildSpec,
            ),
            (
                "SELECT name AS k, spec AS v FROM image_configs WHERE spec NOT LIKE 'sealed:v1:%'",
                "UPDATE image_configs SET spec = ? WHERE name = ?",
                Column::ConfigSpec,
            ),
            (
                "SELECT CAST(id AS TEXT) AS k, target AS v FROM notifications WHERE target NOT LIKE 'sealed:v1:%'",
                "UPDATE notifications SET target = ? WHERE CAST(id AS TEXT) = ?",
                Column::DeliveryTarget,
            ),
        ];
        for (select, update, col) in tables {
            for r in sqlx::query(select).fetch_all(&self.pool).await? {
                let k: String = r.try_get("k")?;
                let v: String = r.try_get("v")?;
                if is_sealed(&v) {
                    continue;
                }
                sqlx::query(update)
                    .bind(self.sealer.seal(col, v)?)
                    .bind(k)
                    .execute(&self.pool)
                    .await?;
                n += 1;
            }
        }
        if n > 0 {
            sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(&self.pool)
                .await?;
        }
        Ok(n)
    }
}

pub(crate) use crate::codec::{from_json, parse_phase, to_json};

pub(crate) fn now() -> String {
    Timestamp::now().to_string()
}

/// A stored time column as answers show it: RFC 3339 to the second.
pub(crate) fn shown_time(r: &sqlx::sqlite::SqliteRow, column: &str) -> Result<String> {
    use sqlx::Row;
    Ok(slipway_core::api::time::text_to_second(
        &r.try_get::<String, _>(column)?,
    ))
}

/// [`shown_time`] of a column that may be NULL.
pub(crate) fn shown_time_opt(r: &sqlx::sqlite::SqliteRow, column: &str) -> Result<Option<String>> {
    use sqlx::Row;
    Ok(r.try_get::<Option<String>, _>(column)?
        .map(|t| slipway_core::api::time::text_to_second(&t)))
}

pub(crate) fn parse_time(s: String) -> Result<Timestamp> {
    s.parse()
        .map_err(|e| StoreError::Corrupt(format!("bad timestamp {s:?}: {e}")))
}

pub(crate) async fn insert_event(
    conn: &mut SqliteConnection,
    id: BuildId,
    phase: Option<BuildPhase>,
    message: &str,
) -> Result<()> {
    sqlx::query("INSERT INTO build_events (build_id, at, phase, message) VALUES (?, ?, ?, ?)")
        .bind(id)
        .bind(now())
        .bind(phase.map(|p| p.as_str()))
        .bind(message)
        .execute(conn)
        .await?;
    Ok(())
}

/// `UPDATE builds SET phase = to … WHERE id = ? AND phase IN (from…)`, plus its
/// event, on the caller's transaction. Returns whether the row changed.
pub(crate) async fn transition(
    conn: &mut SqliteConnection,
    id: BuildId,
    from: &[BuildPhase],
    to: BuildPhase,
    reason: Option<&str>,
    event: &str,
) -> Result<bool> {
    debug_assert!(from.iter().all(|f| f.can_transition_to(to)));
    let placeholders = vec!["?"; from.len()].join(", ");
    let finished = if to.is_final() {
        ", finished_at = ?"
    } else {
        ""
    };
    let sql = format!(
        "UPDATE builds SET phase = ?, reason = COALESCE(?, reason){finished} WHERE id = ? AND phase IN ({placeholders})"
    );
    // Reasons are one or two lines, whoever gives them (a tool's whole
    // error stays in the build log).
    let reason = reason.map(slipway_core::build::short_reason);
    let event = slipway_core::build::short_reason(event);
    // Only placeholders and fixed column names are formatted into the SQL.
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(to.as_str())
        .bind(reason);
    if to.is_final() {
        q = q.bind(now());
    }
    q = q.bind(id);
    for f in from {
        q = q.bind(f.as_str());
    }
    let changed = q.execute(&mut *conn).await?.rows_affected() == 1;
    if changed {
        insert_event(conn, id, Some(to), &event).await?;
    }
    Ok(changed)
}
