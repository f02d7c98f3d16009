//! The PostgreSQL store, for several servers sharing one database (issue
//! 24). Built area by area beside the SQLite one, with the same traits and
//! the same tests (`tests/backends.rs` and the area tests on both
//! backends): every area of [`crate::Store`], plus the build logs
//! ([`crate::LogStore`]) servers sharing the database keep in it. What each
//! area locks where SQLite's single writer made a read-then-write safe is
//! in its module's doc (`workers` for placement, `builds` for releases,
//! `tags` for the registry, `rebuilds` for configs and waves, `phase` for
//! the order rows are locked in).
//!
//! Schema in `migrations/postgres` (SQLite's squashed, see its header).
//! Times are `timestamptz`, read and written through `jiff-sqlx`; flags
//! are 0/1 BIGINTs as in SQLite; sealed columns are sealed with the same
//! key and associated data, so rows move between the two as they are.

mod access;
mod builds;
mod feed;
pub(crate) mod gate;
mod identities;
mod koji;
mod leases;
mod logs;
mod notifications;
pub(crate) mod phase;
mod rebuild_rows;
mod rebuilds;
mod registry;
mod scans;
mod small;
mod tags;
mod workers;

use crate::seal::Sealer;
use crate::{Result, StoreError};
use jiff::Timestamp;
use sqlx::PgPool;
use sqlx::postgres::{PgPoolOptions, PgRow};

static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

pub struct PgStore {
    pub(crate) pool: PgPool,
    pub(crate) sealer: Sealer,
    /// See [`crate::LeaseStore::holder`].
    pub(crate) holder: crate::leases::Holder,
    /// Connections holding the registry's blob gate (see [`gate`]).
    pub(crate) gates: PgPool,
}

impl PgStore {
    /// Connect to the database at `url` (`postgres://user@host/db`; TLS as
    /// its `sslmode` says, against the system's roots) and run the
    /// migrations; `key` seals the columns that can hold secrets.
    pub async fn open(url: &str, key: Option<&[u8; 32]>) -> Result<Self> {
        Self::connect(url, None, key).await
    }

    /// [`PgStore::open`] with the password given apart from the URL (a
    /// URL is shown in errors and process lists; a password must not be).
    /// Without one, libpq's `PGPASSWORD` and `~/.pgpass` apply.
    pub async fn connect(
        url: &str,
        password: Option<&str>,
        key: Option<&[u8; 32]>,
    ) -> Result<Self> {
        let mut options: sqlx::postgres::PgConnectOptions = url.parse()?;
        if let Some(p) = password {
            options = options.password(p);
        }
        let options = options.application_name("slipway");
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(std::time::Duration::from_secs(30))
            .connect_with(options.clone())
            .await?;
        MIGRATIONS.run(&pool).await?;
        let gates = PgPoolOptions::new()
            .max_connections(gate::GATE_CONNECTIONS)
            .min_connections(0)
            .acquire_timeout(std::time::Duration::from_secs(30))
            .connect_lazy_with(options);
        Ok(PgStore {
            pool,
            gates,
            sealer: Sealer::new(key)?,
            holder: crate::leases::Holder::new(),
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

/// A `timestamptz` column that may be NULL.
pub(crate) fn time_opt(r: &PgRow, column: &str) -> Result<Option<Timestamp>> {
    use sqlx::Row;
    Ok(r.try_get::<Option<jiff_sqlx::Timestamp>, _>(column)?
        .map(|t| t.to_jiff()))
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
