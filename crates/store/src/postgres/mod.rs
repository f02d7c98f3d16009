//! The PostgreSQL store, for several servers sharing one database (issue
//! 24). Built area by area beside the SQLite one, with the same traits and
//! the same tests (`tests/backends.rs`); the areas done so far: access
//! (tokens, projects, quotas, audit, blob links), identities, the change
//! feed, leases, notifications, Koji, scans and SBOMs, secrets, registry logins,
//! the registry's metadata (manifests, tags, their history and locks; what
//! its transactions lock is in `tags.rs`), webhook deliveries, test-stage
//! results, rebuilds (configs, waves, history limits), and the phase
//! changes every area that moves a build shares (`phase`). Builds,
//! workers and placement are left; it becomes a [`crate::Store`] once
//! every area is.
//!
//! Schema in `migrations/postgres` (SQLite's squashed, see its header).
//! Times are `timestamptz`, read and written through `jiff-sqlx`; flags
//! are 0/1 BIGINTs as in SQLite; sealed columns are sealed with the same
//! key and associated data, so rows move between the two as they are.

mod access;
mod feed;
mod identities;
mod koji;
mod leases;
mod notifications;
pub(crate) mod phase;
mod rebuild_rows;
mod rebuilds;
mod registry;
mod scans;
mod small;
mod tags;

use crate::seal::Sealer;
use crate::{Result, StoreError};
use jiff::Timestamp;
use sqlx::PgPool;
use sqlx::postgres::{PgPoolOptions, PgRow};

static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

pub struct PgStore {
    pub(crate) pool: PgPool,
    pub(crate) sealer: Sealer,
}

impl PgStore {
    /// Connect to the database at `url` (`postgres://user@host/db`; TLS as
    /// its `sslmode` says, against the system's roots) and run the
    /// migrations; `key` seals the columns that can hold secrets.
    pub async fn open(url: &str, key: Option<&[u8; 32]>) -> Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(std::time::Duration::from_secs(30))
            .connect(url)
            .await?;
        MIGRATIONS.run(&pool).await?;
        Ok(PgStore {
            pool,
            sealer: Sealer::new(key)?,
        })
    }
}

/// A time to bind.
pub(crate) fn at(t: Timestamp) -> jiff_sqlx::Timestamp {
    jiff_sqlx::Timestamp::from(t)
}

pub(crate) fn now() -> jiff_sqlx::Timestamp {
    at(Timestamp::now())
}

/// A `timestamptz` column.
pub(crate) fn time(r: &PgRow, column: &str) -> Result<Timestamp> {
    use sqlx::Row;
    Ok(r.try_get::<jiff_sqlx::Timestamp, _>(column)?.to_jiff())
}

/// A `timestamptz` column as answers show it: RFC 3339 to the second.
pub(crate) fn shown_time(r: &PgRow, column: &str) -> Result<String> {
    Ok(slipway_core::api::time::to_second(time(r, column)?).to_string())
}

/// [`shown_time`] of a column that may be NULL.
pub(crate) fn shown_time_opt(r: &PgRow, column: &str) -> Result<Option<String>> {
    use sqlx::Row;
    Ok(r.try_get::<Option<jiff_sqlx::Timestamp>, _>(column)?
        .map(|t| slipway_core::api::time::to_second(t.to_jiff()).to_string()))
}

/// A BIGINT column that holds a count or a size.
pub(crate) fn count(r: &PgRow, column: &str) -> Result<u64> {
    use sqlx::Row;
    let v: i64 = r.try_get(column)?;
    u64::try_from(v).map_err(|_| StoreError::Corrupt(format!("negative {column}: {v}")))
}
