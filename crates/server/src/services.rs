//! What every handler, controller and backend shares: the store, the log
//! hub, the builder, the embedded registry, the clusters, the event bus,
//! and the settings read at start-up.

use crate::events::Events;
use crate::logs::LogHub;
use slipway_builder::Buildah;
use slipway_core::{BuildId, Clusters, WorkerBuildId};
use slipway_registry::Registry;
use slipway_store::Store;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use tokio_util::sync::CancellationToken;

/// Everything a request handler or worker needs, shared.
pub struct Services {
    pub store: Arc<dyn Store>,
    /// Signs images and their provenance (`steps::signing`).
    pub signing: Arc<slipway_signing::SigningKey>,
    pub logs: Arc<LogHub>,
    pub buildah: Buildah,
    pub work_dir: PathBuf,
    /// A bare git mirror per source (`<data-dir>/git`): preparation, apply
    /// and local workers read commits from it.
    pub mirrors: slipway_source::Mirrors,
    /// Cancel handles of the worker builds running in this process, with
    /// the build each belongs to.
    pub running: Mutex<HashMap<WorkerBuildId, (BuildId, CancellationToken)>>,
    /// How the controllers wake each other.
    pub events: Events,
    /// The cluster file as loaded (or the default local cluster).
    pub clusters: RwLock<Arc<Clusters>>,
    pub clusters_path: Option<PathBuf>,
    /// Clients of the Kubernetes clusters in the cluster file, by name.
    pub kube: RwLock<HashMap<String, slipway_kubernetes::KubeCluster>>,
    /// Registries reached over plain HTTP (from the config file).
    pub insecure_registries: Vec<String>,
    /// Arguments every `slipway worker` child process gets (data dir,
    /// storage driver, insecure registries; the API URL is its cluster's).
    pub worker_args: Vec<String>,
    /// `host:port` of the embedded registry, as builds reach it.
    pub own_registry: String,
    /// Completes outputs that name no registry (default: `own_registry`).
    pub default_registry: String,
    pub registry: Arc<Registry>,
    /// Limits how many builds are prepared (fetched, linted) at once.
    pub preparations: tokio::sync::Semaphore,
    /// Triggers this close together join one wave.
    pub rebuild_debounce: jiff::SignedDuration,
    /// Applies run one at a time (each checks the whole graph).
    pub apply_lock: tokio::sync::Mutex<()>,
    /// Mail and webhook notifications.
    pub notifier: crate::steps::notify::Notifier,
    /// Cancel handles of the builds being prepared (their git calls stop
    /// when cancelled).
    pub preparing: Mutex<HashMap<BuildId, CancellationToken>>,
    /// What clients may send.
    pub limits: slipway_core::build::Limits,
    /// `/readyz` fails below this much free space in the data dir.
    pub min_free_bytes: u64,
    /// The data directory (absolute).
    pub data_dir: PathBuf,
    /// The Koji hub complete builds are imported into, if any.
    pub koji: Option<crate::config::KojiSettings>,
    /// Between scheduled registry garbage collections (`controllers::gc`).
    pub registry_gc_interval: Option<std::time::Duration>,
    /// Where images are promoted to.
    pub environments: std::collections::BTreeMap<String, crate::config::EnvironmentSettings>,
    /// `tls.ca_file`'s certificates, for Kubernetes worker pods.
    pub worker_ca_pem: Option<String>,
    /// `tls.ca_file`, for local `slipway worker` processes with an
    /// `https://` callback URL.
    pub worker_ca_file: Option<std::path::PathBuf>,
    /// The scans workers made of the platform images they pushed, until
    /// the build's scan step takes them (or the build ends).
    pub worker_scans: Mutex<HashMap<(BuildId, String), slipway_core::scan::ScanReport>>,
    /// What `/metrics` answers.
    pub metrics: crate::metrics::Metrics,
    /// The commit the binary was built from, for `GET /api/v1/version`.
    pub commit: Option<String>,
    /// Open `GET /api/v1/events` streams, at most `api::events::MAX_STREAMS`.
    pub event_streams: Arc<tokio::sync::Semaphore>,
    /// Whether other servers may share the database (PostgreSQL): the
    /// builds of a server that stops are recovered by the others.
    pub shared_database: bool,
}

impl Services {
    /// Where a local worker keeps the image of `platform` it pushed to
    /// another registry (an OCI layout), for the build's scan; gone when
    /// the build ends.
    pub fn image_layout(&self, build: slipway_core::BuildId, platform: &str) -> PathBuf {
        slipway_worker::image_layout_in(&self.work_dir, build, platform)
    }

    /// Remove the image layouts of `build`'s platforms, and the scans its
    /// workers made of them that no scan step took.
    pub async fn drop_image_layouts(&self, build: &slipway_core::Build) {
        if let Ok(mut scans) = self.worker_scans.lock() {
            scans.retain(|(b, _), _| *b != build.id);
        }
        for p in &build.spec.platforms {
            let _ = tokio::fs::remove_dir_all(self.image_layout(build.id, &p.to_string())).await;
        }
    }

    /// Keep the scan a worker made of `build`'s `platform` image.
    pub fn keep_worker_scan(
        &self,
        build: BuildId,
        platform: &str,
        report: slipway_core::scan::ScanReport,
    ) {
        if let Ok(mut scans) = self.worker_scans.lock() {
            scans.insert((build, platform.to_string()), report);
        }
    }

    /// Take the scan a worker made of `build`'s `platform` image, if any.
    pub fn take_worker_scan(
        &self,
        build: BuildId,
        platform: &str,
    ) -> Option<slipway_core::scan::ScanReport> {
        self.worker_scans
            .lock()
            .ok()?
            .remove(&(build, platform.to_string()))
    }

    /// A fresh work dir for one piece of work, made: `<work>/LABEL-PID-N`,
    /// never shared with another (the caller removes it).
    pub async fn scratch_dir(&self, label: &str) -> Result<PathBuf, String> {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let dir = self.work_dir.join(format!(
            "{label}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|e| format!("cannot make work dir {}: {e}", dir.display()))?;
        Ok(dir)
    }

    /// Stop every running worker build of `build` (a cancel, or a sibling
    /// platform failed).
    pub fn cancel_running(&self, build: BuildId) {
        if let Ok(running) = self.running.lock() {
            for (b, token) in running.values() {
                if *b == build {
                    token.cancel();
                }
            }
        }
        if let Ok(preparing) = self.preparing.lock()
            && let Some(token) = preparing.get(&build)
        {
            token.cancel();
        }
    }
}
