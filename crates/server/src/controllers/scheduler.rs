//! The scheduler: place queued worker builds on clusters by least load and
//! launch them on their cluster's backend.

use crate::Services;
use slipway_store::PLACEMENT_BATCH;
use std::sync::Arc;
use std::time::Duration;

/// The scheduler: place queued worker builds on clusters by least load and
/// start them on their cluster's backend; again whenever a build is queued,
/// a slot frees or the clusters change, and every 2 s as a safety net.
pub async fn run(services: Arc<Services>) {
    loop {
        let placed = match services.effective_clusters().await {
            Ok(clusters) => match services
                .store
                .place_queued(&clusters, PLACEMENT_BATCH)
                .await
            {
                Ok(placed) => {
                    let n = placed.len();
                    for p in placed {
                        // In placement order: operators (and the clusters
                        // test) read the order here, events keep seconds.
                        tracing::info!(
                            "build {} {}: placed on cluster {} (worker build {})",
                            p.build,
                            p.platform,
                            p.cluster,
                            p.worker
                        );
                        let waited = p.queued_at.map_or(0.0, |t| {
                            jiff::Timestamp::now().duration_since(t).as_secs_f64()
                        });
                        services.metrics.placed(&p.cluster, waited.max(0.0));
                        crate::backends::launch(&services, &clusters, p).await;
                    }
                    n
                }
                Err(e) => {
                    tracing::error!("cannot place queued builds: {e}");
                    0
                }
            },
            Err(e) => {
                tracing::error!("cannot read cluster switches: {e}");
                0
            }
        };
        if placed < PLACEMENT_BATCH {
            let _ = tokio::time::timeout(Duration::from_secs(2), services.events.queue.notified())
                .await;
        }
    }
}
