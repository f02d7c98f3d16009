//! Leases: which server runs a loop that must run once when several
//! servers share one database (timers, waves, notifications, Koji, GC,
//! recovery). A holder keeps a lease by renewing it before it expires;
//! when it stops (it died, or it is cut off), another takes it over once
//! it has expired. On PostgreSQL the database's clock decides, so the
//! servers' clocks need not agree.

use crate::{Result, SqliteStore};
use async_trait::async_trait;
use std::time::Duration;

#[async_trait]
pub trait LeaseStore: Send + Sync {
    /// Take lease `name` for `holder`, or renew it, for `ttl`; whether
    /// `holder` holds it now (false: another holder's has not expired).
    async fn take_lease(&self, name: &str, holder: &str, ttl: Duration) -> Result<bool>;
    /// Give lease `name` up, when `holder` holds it.
    async fn release_lease(&self, name: &str, holder: &str) -> Result<()>;
}

/// A duration in whole milliseconds, as the table keeps them.
pub(crate) fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[async_trait]
impl LeaseStore for SqliteStore {
    async fn take_lease(&self, name: &str, holder: &str, ttl: Duration) -> Result<bool> {
        // One server per SQLite file: its clock is the clock.
        let now = jiff::Timestamp::now().as_millisecond();
        let held = sqlx::query(
            "INSERT INTO leases (name, holder, expires_ms) VALUES (?1, ?2, ?3) \
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_ms = excluded.expires_ms \
             WHERE leases.holder = excluded.holder OR leases.expires_ms < ?4 \
             RETURNING holder",
        )
        .bind(name)
        .bind(holder)
        .bind(now.saturating_add(millis(ttl)))
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        Ok(held.is_some())
    }

    async fn release_lease(&self, name: &str, holder: &str) -> Result<()> {
        sqlx::query("DELETE FROM leases WHERE name = ? AND holder = ?")
            .bind(name)
            .bind(holder)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
