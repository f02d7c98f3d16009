//! The cluster file: loading, reloading on SIGHUP, the runtime view with
//! `slipway cluster enable|disable` applied, and what `slipway clusters`
//! shows.

use crate::Services;
use slipway_core::api::ClusterStatus;
use slipway_core::cluster::{Backend, ClusterFile};
use slipway_core::{Clusters, Platform};
use slipway_kubernetes::KubeCluster;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ClusterFileError {
    #[error("cannot read cluster file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cluster file {path} is invalid: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// Read and validate a cluster file.
pub fn load(path: &Path) -> Result<Clusters, ClusterFileError> {
    let text = std::fs::read_to_string(path).map_err(|source| ClusterFileError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&text).map_err(|message| ClusterFileError::Invalid {
        path: path.to_path_buf(),
        message,
    })
}

pub fn parse(text: &str) -> Result<Clusters, String> {
    let file: ClusterFile = serde_saphyr::from_str(text).map_err(|e| e.to_string())?;
    file.validate().map_err(|e| e.to_string())
}

/// A client for every Kubernetes cluster in `clusters` (nothing is
/// requested yet; a bad kubeconfig or token file is an error here).
pub async fn connect_all(
    path: &Path,
    clusters: &Clusters,
) -> Result<HashMap<String, KubeCluster>, ClusterFileError> {
    let mut out = HashMap::new();
    for c in clusters.all() {
        if let Backend::Kubernetes(k) = &c.backend {
            let client = KubeCluster::connect(k)
                .await
                .map_err(|e| ClusterFileError::Invalid {
                    path: path.to_path_buf(),
                    message: format!("cluster {}: {e}", c.name),
                })?;
            out.insert(c.name.clone(), client);
        }
    }
    Ok(out)
}

impl Services {
    /// The clusters with runtime switches applied: what placement uses.
    pub async fn effective_clusters(&self) -> Result<Clusters, slipway_store::StoreError> {
        let file = self.cluster_file();
        let overrides = self.store.cluster_overrides().await?;
        Ok(file.with_overrides(&overrides))
    }

    /// The client of a Kubernetes cluster in the loaded file.
    pub fn kube_client(&self, name: &str) -> Option<KubeCluster> {
        self.kube
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .cloned()
    }

    pub fn cluster_file(&self) -> Arc<Clusters> {
        self.clusters
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub async fn cluster_status(&self) -> Result<Vec<ClusterStatus>, slipway_store::StoreError> {
        let file = self.cluster_file();
        let effective = self.effective_clusters().await?;
        let active = self.store.active_per_cluster().await?;
        let mut reachable = HashMap::new();
        for c in effective.all() {
            let ok = match &c.backend {
                // Local clusters are this process.
                Backend::Local { .. } => true,
                Backend::Kubernetes(_) => match self.kube_client(&c.name) {
                    Some(k) => tokio::time::timeout(Duration::from_secs(3), k.reachable())
                        .await
                        .unwrap_or(false),
                    None => false,
                },
            };
            reachable.insert(c.name.clone(), ok);
        }
        Ok(effective
            .all()
            .map(|c| {
                let n = active.get(&c.name).copied().unwrap_or(0);
                ClusterStatus {
                    name: c.name.clone(),
                    platform: c.platform.to_string(),
                    backend: c.backend.kind().to_string(),
                    active: n,
                    max_concurrent_builds: c.max_concurrent_builds,
                    load: f64::from(n) / f64::from(c.max_concurrent_builds.max(1)),
                    enabled: c.enabled,
                    enabled_in_file: file.get(&c.name).is_some_and(|f| f.enabled),
                    reachable: reachable.get(&c.name).copied().unwrap_or(false),
                }
            })
            .collect())
    }

    /// Re-read the cluster file; on error keep the old clusters.
    pub async fn reload_clusters(&self) -> Result<(), ClusterFileError> {
        let Some(path) = &self.clusters_path else {
            return Ok(());
        };
        let new = load(path)?;
        let kube = connect_all(path, &new).await?;
        *self.kube.write().unwrap_or_else(|p| p.into_inner()) = kube;
        *self.clusters.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(new);
        // Freed or added slots: let the scheduler look again.
        self.events.queue.notify_one();
        Ok(())
    }

    /// Whether some enabled cluster serves each platform; the error names
    /// the first that none does.
    pub async fn check_served(&self, platforms: &[Platform]) -> Result<(), String> {
        let clusters = self.effective_clusters().await.map_err(|e| e.to_string())?;
        for p in platforms {
            if !clusters.served(p) {
                let served: Vec<String> = clusters
                    .by_platform
                    .keys()
                    .filter(|p| clusters.served(p))
                    .map(Platform::to_string)
                    .collect();
                return Err(format!(
                    "no enabled cluster builds for platform {p}; clusters serve: {}",
                    if served.is_empty() {
                        "none (all are disabled)".to_string()
                    } else {
                        served.join(", ")
                    }
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_seed_shape() {
        let c = parse(
            "clusters:\n  x86_64:\n  - name: prod-x86-64-osd\n    max_concurrent_builds: 16\n  - name: prod-x86-64\n    max_concurrent_builds: 6\n    enabled: true\n  - name: prod-other\n    max_concurrent_builds: 2\n    enabled: false\n  aarch64:\n  - name: arm\n    max_concurrent_builds: 6\n",
        )
        .unwrap();
        let x86 = &c.by_platform[&Platform::parse("x86_64").unwrap()];
        assert_eq!(
            x86.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
            ["prod-x86-64-osd", "prod-x86-64", "prod-other"]
        );
        assert!(!x86[2].enabled && x86[1].enabled && x86[0].enabled);
        assert_eq!(c.get("arm").unwrap().max_concurrent_builds, 6);
    }

    #[test]
    fn errors_name_the_problem() {
        let e =
            parse("clusters:\n  x86_64:\n  - name: a\n    max_concurent_builds: 1\n").unwrap_err();
        assert!(e.contains("max_concurent_builds"), "{e}");
        let e =
            parse("clusters:\n  x86_64:\n  - name: a\n    max_concurrent_builds: 0\n").unwrap_err();
        assert!(e.contains("at least 1"), "{e}");
        let e = parse("clusters: {}\n").unwrap_err();
        assert!(e.contains("lists no clusters"), "{e}");
        let k = parse("clusters:\n  x86_64:\n  - name: k\n    max_concurrent_builds: 1\n    kubernetes:\n      kubeconfig: /k\n      namespace: b\n      builder_image: quay.io/s/b:1\n").unwrap();
        assert_eq!(k.get("k").unwrap().backend.kind(), "kubernetes");
        let e = parse("clusters:\n  x86_64:\n  - name: k\n    max_concurrent_builds: 1\n    worker_process: true\n    kubernetes:\n      kubeconfig: /k\n      namespace: b\n      builder_image: quay.io/s/b:1\n").unwrap_err();
        assert!(
            e.contains("worker_process applies to local clusters"),
            "{e}"
        );
    }
}
