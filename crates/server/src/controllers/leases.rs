//! Several servers on one database: which of them runs what.
//!
//! Each server renews a lease under its own name (`server:<holder>`)
//! every few seconds; the worker builds it places carry that name. A
//! loop that must run once across the servers (timers, waves,
//! notifications, …) runs a tick only while its server holds the loop's
//! lease, renewed by each tick; when that server stops, another takes the
//! lease once it expires. On PostgreSQL the recovery loop ends or
//! re-queues the builds of a server whose lease expired, as a restart
//! does for one server (on SQLite there is one server, and recovery runs
//! once at start).
//!
//! A server cut off from the database for as long as its own lease lasts
//! may have been declared dead meanwhile: its builds re-queued and placed
//! again, perhaps on itself. It then carries on under a new holder name
//! ([`slipway_store::LeaseStore::become_new_holder`]): the worker builds it
//! still runs under the old name end only while they are still that
//! name's placements (ends are recorded with their owner), and the old
//! name's builds are recovered like a dead server's.

use crate::Services;
use slipway_store::SERVER_LEASE_PREFIX;
use std::sync::Arc;
use std::time::Duration;

/// How long a server's own lease lasts without renewal: after this, its
/// running builds are recovered by another server.
pub const SERVER_TTL: Duration = Duration::from_secs(30);
/// How often a server renews its own lease.
const HEARTBEAT: Duration = Duration::from_secs(5);
/// A server whose last renewal started longer ago than this may have
/// lost its lease (the database's clock may run a little ahead of ours).
const LAPSE: Duration = Duration::from_secs(SERVER_TTL.as_secs() - HEARTBEAT.as_secs());
/// How often the recovery loop looks for builds of stopped servers.
const RECOVERY_TICK: Duration = Duration::from_secs(10);

/// Take (or renew) this server's own lease. Called once before anything
/// is placed, then by [`heartbeat`].
pub async fn renew_own(services: &Services) -> bool {
    let holder = services.store.holder();
    match services
        .store
        .take_lease(
            &format!("{SERVER_LEASE_PREFIX}{holder}"),
            &holder,
            SERVER_TTL,
        )
        .await
    {
        Ok(held) => held,
        Err(e) => {
            tracing::error!("cannot renew this server's lease: {e}");
            false
        }
    }
}

pub async fn heartbeat(services: Arc<Services>) {
    let mut renewed = tokio::time::Instant::now();
    loop {
        tokio::time::sleep(HEARTBEAT).await;
        let started = tokio::time::Instant::now();
        if services.shared_database && lapsed(started - renewed) {
            let old = services.store.holder();
            let new = services.store.become_new_holder();
            tracing::error!(
                "this server could not renew its lease for {}s: the others may have taken \
                 its builds over; it carries on as {new} (what it placed as {old} is \
                 recovered like a dead server's)",
                (started - renewed).as_secs()
            );
        }
        if renew_own(&services).await {
            renewed = started;
        }
    }
}

/// Whether a server whose last successful renewal started `since` ago
/// must take it that its lease expired.
fn lapsed(since: Duration) -> bool {
    since >= LAPSE
}

/// Whether this server runs loop `name`'s next tick: it holds the loop's
/// lease (taken or renewed now for `ttl`, which must outlast a tick).
pub async fn leads(services: &Services, name: &str, ttl: Duration) -> bool {
    claim(services, &format!("loop:{name}"), ttl).await
}

/// Take lease `name` for this server (or renew it) for `ttl`; whether it
/// holds it now.
pub async fn claim(services: &Services, name: &str, ttl: Duration) -> bool {
    let holder = services.store.holder();
    match services.store.take_lease(name, &holder, ttl).await {
        Ok(held) => held,
        Err(e) => {
            tracing::warn!("cannot take the lease {name}: {e}");
            false
        }
    }
}

/// Give lease `name` up (the work it guarded is done).
pub async fn release(services: &Services, name: &str) {
    if let Err(e) = services
        .store
        .release_lease(name, &services.store.holder())
        .await
    {
        tracing::warn!("cannot give the lease {name} up: {e}");
    }
}

/// Re-queue or end the builds of servers that stopped (shared database
/// only).
pub async fn recovery(services: Arc<Services>) {
    if !services.shared_database {
        return;
    }
    loop {
        tokio::time::sleep(RECOVERY_TICK).await;
        if !leads(&services, "recovery", RECOVERY_TICK * 3).await {
            continue;
        }
        match services.store.recover_interrupted().await {
            Ok(list) if !list.is_empty() => {
                for (id, decision) in &list {
                    tracing::warn!(
                        "build {id}: the server running it stopped; {}",
                        match decision {
                            slipway_core::build::phase::RestartDecision::Requeue => "re-queued",
                            slipway_core::build::phase::RestartDecision::GiveUp =>
                                "marked Error (interrupted twice)",
                        }
                    );
                }
                services.events.queue.notify_one();
            }
            Ok(_) => {}
            Err(e) => tracing::error!("cannot recover the builds of stopped servers: {e}"),
        }
    }
}

/// A lease held across servers for one piece of work (see [`hold`]);
/// given up when dropped.
pub struct Held {
    services: Arc<Services>,
    name: String,
}

impl Drop for Held {
    fn drop(&mut self) {
        let (services, name) = (self.services.clone(), std::mem::take(&mut self.name));
        tokio::spawn(async move { release(&services, &name).await });
    }
}

/// Wait (up to `wait`) until this server holds lease `name` for `ttl`:
/// work one server at a time among those sharing the database (applying
/// configs checks the whole graph before writing it). Within a server the
/// caller keeps its own lock too: the lease is the server's.
pub async fn hold(
    services: &Arc<Services>,
    name: &str,
    ttl: Duration,
    wait: Duration,
) -> Result<Held, String> {
    let deadline = tokio::time::Instant::now() + wait;
    while !claim(services, name, ttl).await {
        if tokio::time::Instant::now() >= deadline {
            return Err(format!(
                "another server has been doing {name} for over {}s; try again",
                wait.as_secs()
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(Held {
        services: services.clone(),
        name: name.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_takes_its_lease_for_lost_before_it_can_have_expired() {
        // Renewed on time (a heartbeat late by a few seconds): still held.
        assert!(!lapsed(HEARTBEAT));
        assert!(!lapsed(HEARTBEAT * 4));
        // By the time the database could expire it, the server has
        // already changed its name.
        assert!(lapsed(LAPSE));
        assert!(lapsed(SERVER_TTL));
        assert!(LAPSE < SERVER_TTL && LAPSE > HEARTBEAT * 2);
    }
}
