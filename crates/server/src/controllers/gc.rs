//! Scheduled garbage collection of the embedded registry: every
//! `registry_gc_interval_hours` (default daily) it frees the blobs no
//! manifest needs (pruned builds' layers) and stale upload sessions, and
//! says in the server's log what it removed. The first run is one interval
//! after start, so a restart loop never collects in a hurry. Daily too, the
//! git mirrors no build has used for 30 days go (`prune_mirrors`).

use crate::Services;
use std::sync::Arc;
use std::time::Duration;

/// Unreferenced blobs younger than this stay: a client pushes layers
/// before the manifest that needs them.
const GRACE: Duration = Duration::from_secs(3600);
/// Upload sessions older than this are abandoned.
const UPLOAD_AGE: Duration = Duration::from_secs(86_400);

pub async fn run(services: Arc<Services>) {
    let Some(every) = services.registry_gc_interval else {
        tracing::info!("registry gc: not scheduled (registry_gc_interval_hours: 0)");
        return;
    };
    loop {
        tokio::time::sleep(every).await;
        // Once per interval across the servers (another takes over when
        // this one stops).
        if !super::leases::leads(&services, "gc", every.mul_f64(0.9)).await {
            continue;
        }
        let collected =
            slipway_registry::gc::collect(&services.registry, false, GRACE, UPLOAD_AGE).await;
        services.metrics.gc_run(collected.is_ok());
        match collected {
            Ok(r) => tracing::info!(
                "registry gc: freed {} blob{} ({} bytes), kept {}, removed {} stale upload{}",
                r.deleted_blobs.len(),
                if r.deleted_blobs.len() == 1 { "" } else { "s" },
                r.freed_bytes,
                r.kept_blobs,
                r.stale_uploads.len(),
                if r.stale_uploads.len() == 1 { "" } else { "s" },
            ),
            Err(e) => tracing::error!("registry gc failed: {e}; next try in {every:?}"),
        }
    }
}

/// Git mirrors unused this long are removed (a build needing one again
/// makes it again).
const MIRROR_UNUSED: Duration = Duration::from_secs(30 * 86_400);
/// How often they are looked at (the first time soon after start).
const MIRROR_CHECK: Duration = Duration::from_secs(86_400);

pub async fn prune_mirrors(services: Arc<Services>) {
    tokio::time::sleep(Duration::from_secs(600)).await;
    loop {
        let removed = services.mirrors.prune_unused(MIRROR_UNUSED).await;
        if !removed.is_empty() {
            tracing::info!(
                "git mirrors: removed {} unused for 30 days: {}",
                removed.len(),
                removed
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        tokio::time::sleep(MIRROR_CHECK).await;
    }
}

/// Changes in the event feed are kept this long (a client reconnecting
/// with an older `Last-Event-ID` resumes from the oldest kept).
const FEED_KEPT: jiff::SignedDuration = jiff::SignedDuration::from_hours(7 * 24);

/// Prune the event feed every hour.
pub async fn prune_feed(services: Arc<Services>) {
    loop {
        if super::leases::leads(&services, "prune-feed", Duration::from_secs(3000)).await
            && let Ok(before) = jiff::Timestamp::now().checked_sub(FEED_KEPT)
        {
            match services.store.prune_feed(before).await {
                Ok(0) => {}
                Ok(n) => tracing::info!("event feed: pruned {n} changes older than a week"),
                Err(e) => tracing::warn!("event feed: cannot prune: {e}"),
            }
        }
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
}
