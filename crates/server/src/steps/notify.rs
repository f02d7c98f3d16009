//! Filling the outbox: who hears about a config's builds and scans (its
//! own targets, then its project's), and the deliveries queued for a
//! scan of a config's image. Sending is the notifications controller's.

use crate::Services;
use crate::config::{ProjectSettings, SmtpSettings};
use slipway_core::notify::{self, Message, NotifyTarget};
use slipway_core::scan::StoredScan;
use slipway_core::{Build, ImageRef};
use slipway_store::NewDelivery;
use std::collections::BTreeMap;

/// What the outbox needs from the server config.
pub struct Notifier {
    /// Links in messages start with this.
    pub public_url: String,
    pub smtp: Option<SmtpSettings>,
    pub projects: BTreeMap<String, ProjectSettings>,
}

/// The project a config belongs to: its `project`, else the first path
/// component of its output repository.
fn project_of(config: &slipway_core::rebuild::image_config::ImageConfig) -> Option<String> {
    if let Some(p) = &config.project {
        return Some(p.clone());
    }
    let output = ImageRef::parse(&config.output).ok()?;
    output
        .repository
        .split_once('/')
        .map(|(first, _)| first.to_string())
}

/// The targets that hear about `config`: its own, then its project's.
async fn targets_of(services: &Services, config: Option<&str>) -> Vec<NotifyTarget> {
    let Some(name) = config else {
        return Vec::new();
    };
    let Ok(Some(stored)) = services.store.get_config(name).await else {
        return Vec::new();
    };
    let mut out = stored.config.notify.clone();
    if let Some(project) = project_of(&stored.config)
        && let Some(p) = services.notifier.projects.get(&project)
    {
        out.extend(p.notify.iter().cloned());
    }
    out
}

fn deliveries(
    targets: Vec<NotifyTarget>,
    message: &Message,
    (build, scan, config): (Option<i64>, Option<i64>, Option<&str>),
) -> Vec<NewDelivery> {
    targets
        .into_iter()
        .filter(|t| t.wants(message))
        .map(|target| NewDelivery {
            build,
            scan,
            config: config.map(str::to_string),
            target,
            message: message.clone(),
        })
        .collect()
}

pub async fn build_deliveries(services: &Services, build: &Build) -> Vec<NewDelivery> {
    let config = build.spec.config.as_deref();
    let targets = targets_of(services, config).await;
    if targets.is_empty() {
        return Vec::new();
    }
    let scan = services
        .store
        .scans_of_build(build.id)
        .await
        .ok()
        .and_then(|s| s.into_iter().next());
    let message = notify::build_message(build, &services.notifier.public_url, scan.as_ref());
    deliveries(targets, &message, (Some(build.id), None, config))
}

/// Queue the message for a rescan or manual scan of a config's image.
pub async fn scan_done(services: &Services, scan: &StoredScan) {
    let config = scan.config.as_deref();
    let targets = targets_of(services, config).await;
    if targets.is_empty() {
        return;
    }
    let message = notify::scan_message(scan, &services.notifier.public_url);
    let queued = deliveries(targets, &message, (scan.build, Some(scan.id), config));
    if let Err(e) = services.store.queue_deliveries(None, &queued).await {
        tracing::error!("scan {}: cannot queue its notifications: {e}", scan.id);
    }
    services.events.outbox.notify_one();
}

/// Queue the message that build `build` of `config` was promoted (or an
/// automatic promotion refused) for the config's targets.
pub async fn promotion_done(
    services: &Services,
    build: i64,
    config: Option<&str>,
    message: &Message,
) {
    let targets = targets_of(services, config).await;
    if targets.is_empty() {
        return;
    }
    let queued = deliveries(targets, message, (Some(build), None, config));
    if let Err(e) = services.store.queue_deliveries(None, &queued).await {
        tracing::error!("build {build}: cannot queue its promotion's notifications: {e}");
    }
    services.events.outbox.notify_one();
}
