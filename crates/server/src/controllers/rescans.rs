//! Scheduled rescans: each config's newest complete image, scanned again
//! by digest on its `scan.rescan` cron (weekly by default).

use crate::Services;
use jiff::Timestamp;
use slipway_core::rebuild::image_config::Schedule;
use slipway_core::scan::ScanPolicy;
use slipway_store::StoredConfig;
use std::sync::Arc;

/// How often the rescan schedules are looked at.
const TICK: std::time::Duration = std::time::Duration::from_secs(5);

/// The rescan loop.
pub async fn run(services: Arc<Services>) {
    loop {
        if !super::leases::leads(&services, "rescans", std::time::Duration::from_secs(120)).await {
            tokio::time::sleep(TICK).await;
            continue;
        }
        match services.store.list_configs().await {
            Ok(configs) => {
                for s in &configs {
                    tick_rescan(&services, s).await;
                }
            }
            Err(e) => tracing::error!("rescans: cannot list the configs: {e}"),
        }
        tokio::time::sleep(TICK).await;
    }
}

/// The next rescan of a config after `after`, `None` when off.
pub fn next_rescan(policy: &ScanPolicy, after: Timestamp) -> Option<Timestamp> {
    let cron = policy.rescan_schedule()?;
    Schedule::parse(cron, "UTC").ok()?.next_after(after)
}

/// Keep a config's rescan on schedule: the first tick after it is
/// applied sets its next time; when that time comes, its next time is set
/// first (so a slow or failing scan is not retried in a loop) and its
/// latest image is scanned in the background.
async fn tick_rescan(services: &Arc<Services>, stored: &StoredConfig) {
    let now = Timestamp::now();
    let (config, policy) = (stored.config.name.as_str(), &stored.config.scan);
    match (stored.next_rescan_at, policy.rescan_schedule()) {
        (Some(_), None) => {
            let _ = services.store.set_next_rescan(config, None).await;
        }
        (None, Some(_)) => {
            let _ = services
                .store
                .set_next_rescan(config, next_rescan(policy, now))
                .await;
        }
        (Some(due), Some(_)) if due <= now => {
            let _ = services
                .store
                .set_next_rescan(config, next_rescan(policy, now))
                .await;
            let (services, config, policy) = (services.clone(), config.to_string(), policy.clone());
            tokio::spawn(async move {
                crate::steps::scanning::rescan(&services, &config, &policy).await
            });
        }
        _ => {}
    }
}
