//! Package-repository tracking: rebuild a config when a repository it
//! tracks (`triggers.packages`, reading `scan.repositories`) gets a newer
//! version of a package its latest image has installed.
//!
//! ```text
//! timers tick ─► each repository some config tracks, when due:
//!     read its metadata (blocking thread) ─► same digest: nothing changed
//!     first read: kept as the baseline
//!     changed: the packages with versions not offered before
//!         ─► per tracking config: its newest complete build's scan
//!            inventory ─► installed packages with a newer version among
//!            them ─► trigger (force) through the rebuild planner
//! ```
//!
//! Triggers join the wave that is gathering, so one burst of repository
//! changes (several repositories, several configs) is one wave, and a
//! child whose parent is in the wave is built once, after it.

use crate::Services;
use jiff::{SignedDuration, Timestamp};
use slipway_core::rebuild::image_config::parse_interval;
use slipway_core::rebuild::trigger::Trigger;
use slipway_core::scan::inventory::Inventory;
use slipway_core::scan::{Finding, PackageRepository, ScanOutcome, TrackedRepository};
use slipway_scan::updates::{self, RepositoryIndex};
use slipway_store::StoredConfig;
use std::collections::BTreeMap;
use std::sync::Arc;

/// How often tracking looks at the configs.
const TICK: std::time::Duration = std::time::Duration::from_secs(5);

/// The tracking loop.
pub async fn run(services: Arc<Services>) {
    loop {
        if !super::leases::leads(&services, "tracking", std::time::Duration::from_secs(120)).await {
            tokio::time::sleep(TICK).await;
            continue;
        }
        match services.store.list_configs().await {
            Ok(configs) => tick(&services, &configs).await,
            Err(e) => tracing::error!("tracking: cannot list the configs: {e}"),
        }
        tokio::time::sleep(TICK).await;
    }
}

/// Check the repositories tracked by `configs` that are due.
async fn tick(services: &Arc<Services>, configs: &[StoredConfig]) {
    // Repository → (shortest interval asking for it, the configs tracking it).
    let mut tracked: BTreeMap<PackageRepository, (SignedDuration, Vec<&StoredConfig>)> =
        BTreeMap::new();
    for s in configs {
        let Some(every) = s
            .config
            .triggers
            .packages
            .as_deref()
            .and_then(|p| parse_interval(p).ok())
        else {
            continue;
        };
        for repo in &s.config.scan.repositories {
            let entry = tracked.entry(repo.clone()).or_insert((every, Vec::new()));
            entry.0 = entry.0.min(every);
            entry.1.push(s);
        }
    }
    let now = Timestamp::now();
    for (repo, (every, users)) in tracked {
        let last = match services.store.tracked_repository(&repo.url).await {
            Ok(l) => l,
            Err(e) => {
                tracing::error!("tracking {}: {e}", repo.url);
                continue;
            }
        };
        if last
            .as_ref()
            .is_some_and(|l| l.checked_at.checked_add(every).is_ok_and(|due| due > now))
        {
            continue;
        }
        check(services, &repo, last, &users, now).await;
    }
}

async fn check(
    services: &Arc<Services>,
    repo: &PackageRepository,
    last: Option<TrackedRepository>,
    users: &[&StoredConfig],
    now: Timestamp,
) {
    let r = repo.clone();
    let read = tokio::task::spawn_blocking(move || RepositoryIndex::load(&r))
        .await
        .unwrap_or_else(|e| Err(format!("the read crashed: {e}")));
    let index = match read {
        Ok(i) => i,
        Err(e) => {
            tracing::warn!("tracking {}: cannot read it: {e}", repo.url);
            if last.is_some() {
                let _ = services
                    .store
                    .touch_tracked_repository(&repo.url, now)
                    .await;
            }
            return;
        }
    };
    if last.as_ref().is_some_and(|l| l.digest == index.digest) {
        let _ = services
            .store
            .touch_tracked_repository(&repo.url, now)
            .await;
        return;
    }
    let changed = last
        .as_ref()
        .map(|l| updates::new_versions(&l.packages, &index))
        .unwrap_or_default();
    let kept = TrackedRepository {
        url: repo.url.clone(),
        kind: repo.kind,
        digest: index.digest.clone(),
        packages: index.packages.clone(),
        checked_at: now,
    };
    if let Err(e) = services.store.put_tracked_repository(&kept).await {
        tracing::error!("tracking {}: cannot keep what it offers: {e}", repo.url);
        return;
    }
    if last.is_none() {
        for s in users {
            let _ = services
                .store
                .record_config_event(
                    &s.config.name,
                    &format!(
                        "tracking packages in {}: {} packages read",
                        repo.url,
                        index.packages.len()
                    ),
                    None,
                )
                .await;
        }
        return;
    }
    tracing::info!(
        "tracking {}: new versions of {} packages",
        repo.url,
        changed.len()
    );
    if changed.is_empty() {
        return;
    }
    for s in users {
        let name = &s.config.name;
        let Some(inventory) = latest_inventory(services, name).await else {
            continue; // never built (or never scanned): nothing installed to update
        };
        let updates: Vec<String> = updates::check(&inventory, std::slice::from_ref(&index))
            .into_iter()
            .filter_map(|f| match f {
                Finding::Update {
                    package,
                    installed,
                    available,
                    ..
                } if changed.contains(&package) => {
                    Some(format!("{package} {installed} -> {available}"))
                }
                _ => None,
            })
            .collect();
        if updates.is_empty() {
            continue;
        }
        let trigger = Trigger::Packages {
            repository: repo.url.clone(),
            updates,
        };
        // Forced: the config's inputs (commit, parents) are unchanged; what
        // changed is what its package manager would install.
        match crate::steps::configs::trigger(services, name, trigger.clone(), true).await {
            Ok(wave) => tracing::info!("config {name}: {trigger} → wave {wave}"),
            Err(e) => tracing::warn!("config {name}: cannot trigger {trigger}: {}", e.message),
        }
    }
}

/// What the config's newest complete build's image has installed, from
/// its latest scan that read it.
async fn latest_inventory(services: &Services, config: &str) -> Option<Inventory> {
    let (build, _, _) = services.store.last_complete_build(config).await.ok()??;
    services
        .store
        .scans_of_build(build)
        .await
        .ok()?
        .into_iter()
        .rev()
        .find(|s| matches!(s.report.outcome, ScanOutcome::Passed | ScanOutcome::Failed))
        .map(|s| s.report.inventory)
}
