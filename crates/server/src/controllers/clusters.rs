//! Reload the cluster file on SIGHUP (an invalid file is reported and the
//! clusters loaded before stay).

use crate::Services;
use std::sync::Arc;

/// Reload the cluster file on every SIGHUP.
pub async fn run(services: Arc<Services>) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hup = match signal(SignalKind::hangup()) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!("cannot install SIGHUP handler, the cluster file will not reload: {e}");
            return;
        }
    };
    while hup.recv().await.is_some() {
        match services.reload_clusters().await {
            Ok(()) => tracing::info!("cluster file reloaded"),
            Err(e) => tracing::error!("{e}; keeping the clusters loaded before"),
        }
    }
}
