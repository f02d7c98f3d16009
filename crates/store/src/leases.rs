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
    /// This store's server, as leases and placements name it: made when
    /// the store is opened (host, process and a random part), so a
    /// restarted server is another holder.
    fn holder(&self) -> String;
    /// Become another holder (see [`Holder::replace`]); the new name.
    fn become_new_holder(&self) -> String;
    /// Take lease `name` for `holder`, or renew it, for `ttl`; whether
    /// `holder` holds it now (false: another holder's has not expired).
    /// A lease whose holder's own `server:` lease has expired is free
    /// too: work a dead server held (a build it was preparing) is taken
    /// over as soon as the server is known dead, not when that work's
    /// (longer) lease would run out.
    async fn take_lease(&self, name: &str, holder: &str, ttl: Duration) -> Result<bool>;
    /// Give lease `name` up, when `holder` holds it.
    async fn release_lease(&self, name: &str, holder: &str) -> Result<()>;
    /// Forget every lease: a server alone on its database (SQLite, its
    /// data dir locked) starting; what an earlier run held is not held.
    async fn clear_leases(&self) -> Result<()>;
}

/// The lease a running server renews under its [`LeaseStore::holder`]
/// name (`server:<holder>`): while it holds it, the builds it placed are
/// its own; once it expires, another server recovers them.
pub const SERVER_LEASE_PREFIX: &str = "server:";

/// A duration in whole milliseconds, as the table keeps them.
pub(crate) fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// A store's holder name. A server that could not renew its own lease
/// for as long as it lasts may have been declared dead by the others
/// (its builds re-queued, re-placed, perhaps on itself): it carries on
/// under a new name, so that nothing it still does under the old one
/// (a build it ran ending late) is taken for its new work, and its old
/// name's builds are recovered as a dead server's.
pub(crate) struct Holder(std::sync::RwLock<String>);

impl Holder {
    pub(crate) fn new() -> Self {
        Holder(std::sync::RwLock::new(new_holder()))
    }

    pub(crate) fn get(&self) -> String {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub(crate) fn replace(&self) -> String {
        let name = new_holder();
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = name.clone();
        name
    }
}

/// A holder name no other server (or earlier run of this one) has.
fn new_holder() -> String {
    use ring::rand::SecureRandom;
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default();
    let mut r = [0u8; 4];
    // Unique enough even if the system's randomness failed: the pid and
    // host still tell runs apart on one machine at one time.
    let _ = ring::rand::SystemRandom::new().fill(&mut r);
    let r: String = r.iter().map(|b| format!("{b:02x}")).collect();
    let host = if host.is_empty() {
        "server".into()
    } else {
        host
    };
    format!("{host}-{}-{r}", std::process::id())
}

#[async_trait]
impl LeaseStore for SqliteStore {
    fn holder(&self) -> String {
        self.holder.get()
    }

    fn become_new_holder(&self) -> String {
        self.holder.replace()
    }

    async fn take_lease(&self, name: &str, holder: &str, ttl: Duration) -> Result<bool> {
        // One server per SQLite file: its clock is the clock.
        let now = jiff::Timestamp::now().as_millisecond();
        let held = sqlx::query(
            "INSERT INTO leases (name, holder, expires_ms) VALUES (?1, ?2, ?3) \
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_ms = excluded.expires_ms \
             WHERE leases.holder = excluded.holder OR leases.expires_ms < ?4 \
                OR NOT EXISTS (SELECT 1 FROM leases s WHERE s.name = 'server:' || leases.holder \
                               AND s.expires_ms >= ?4) \
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

    async fn clear_leases(&self) -> Result<()> {
        sqlx::query("DELETE FROM leases")
            .execute(&self.pool)
            .await?;
        Ok(())
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
