//! Scheduled garbage collection of the embedded registry: every
//! `registry_gc_interval_hours` (default daily) it frees the blobs no
//! manifest needs (pruned builds' layers) and stale upload sessions, and
//! says in the server's log what it removed. The first run is one interval
//! after start, so a restart loop never collects in a hurry.

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
        match slipway_registry::gc::collect(&services.registry, false, GRACE, UPLOAD_AGE).await {
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
