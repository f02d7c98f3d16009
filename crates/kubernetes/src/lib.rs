//! Kubernetes worker clusters.
//!
//! A worker build on a Kubernetes cluster is one Secret (the worker build's
//! short-lived API token) and one Job whose single pod runs the builder
//! image with `slipway worker`, which runs the same pipeline as local
//! builds and reports over the API. The objects are made by pure functions
//! ([`secret`], [`job`]) so every field is unit-tested; [`KubeCluster`] is
//! the thin kube-rs client that creates, follows and deletes them.
//!
//! Choices, and why:
//! - `backoffLimit: 0`: Kubernetes never retries a worker build; Slipway
//!   decides (a failed build is a result, not a crash).
//! - `activeDeadlineSeconds` is the cluster's `deadline_seconds`;
//!   `ttlSecondsAfterFinished` (1 h) cleans up if Slipway could not.
//! - The pod runs on nodes of the platform (`kubernetes.io/arch`).
//! - The container is privileged: buildah needs to mount and to make
//!   network namespaces (`unshare --net` keeps `RUN` steps offline), as
//!   OSBS's builder pods did. The service account token is not mounted; the
//!   worker needs only its own Slipway token, read from the Secret's file.

use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::core::v1::{
    Container, EmptyDirVolumeSource, KeyToPath, PodSpec, PodTemplateSpec, ResourceRequirements,
    Secret, SecretVolumeSource, SecurityContext, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, DeleteParams, PostParams, PropagationPolicy};
use slipway_core::cluster::KubernetesCluster;
use slipway_core::{BuildId, Platform, WorkerBuildId};
use std::collections::BTreeMap;

/// Where the pod finds its token and keeps its scratch space.
pub const TOKEN_DIR: &str = "/run/slipway";
pub const TOKEN_KEY: &str = "token";
/// The Secret's key (and file) for the API's CA certificate.
pub const CA_KEY: &str = "ca.crt";
pub const DATA_DIR: &str = "/var/lib/slipway-worker";
/// Seconds a finished Job stays before Kubernetes removes it by itself.
pub const TTL_AFTER_FINISHED: i32 = 3600;

/// One worker build as a Job.
#[derive(Debug, Clone)]
pub struct WorkerPod<'a> {
    pub cluster: &'a KubernetesCluster,
    pub cluster_name: &'a str,
    pub build: BuildId,
    pub worker: WorkerBuildId,
    pub platform: &'a Platform,
    /// The URL the pod reaches Slipway's API on.
    pub api_url: &'a str,
    /// Registries the worker may reach over plain HTTP.
    pub insecure_registries: &'a [String],
    /// The CA (PEM) that signed the API's certificate, when the pod's
    /// system roots do not cover it: in the Secret beside the token.
    pub ca_pem: Option<&'a str>,
}

/// The name of the Job and of its Secret.
pub fn object_name(worker: WorkerBuildId) -> String {
    format!("slipway-worker-{worker}")
}

fn labels(p: &WorkerPod) -> BTreeMap<String, String> {
    BTreeMap::from([
        (
            "app.kubernetes.io/managed-by".to_string(),
            "slipway".to_string(),
        ),
        ("app.kubernetes.io/name".into(), "slipway-worker".into()),
        ("slipway.io/build".into(), p.build.to_string()),
        ("slipway.io/worker-build".into(), p.worker.to_string()),
        ("slipway.io/platform".into(), p.platform.to_string()),
        ("slipway.io/cluster".into(), p.cluster_name.to_string()),
    ])
}

fn metadata(p: &WorkerPod) -> ObjectMeta {
    ObjectMeta {
        name: Some(object_name(p.worker)),
        namespace: Some(p.cluster.namespace.clone()),
        labels: Some(labels(p)),
        ..Default::default()
    }
}

/// The Secret holding the worker build's API token.
pub fn secret(p: &WorkerPod, token: &str) -> Secret {
    Secret {
        metadata: metadata(p),
        type_: Some("Opaque".into()),
        string_data: Some(
            std::iter::once((TOKEN_KEY.to_string(), token.to_string()))
                .chain(p.ca_pem.map(|ca| (CA_KEY.to_string(), ca.to_string())))
                .collect(),
        ),
        immutable: Some(true),
        ..Default::default()
    }
}

/// The `slipway worker` command line the pod runs.
pub fn worker_args(p: &WorkerPod) -> Vec<String> {
    let mut args = vec![
        "worker".to_string(),
        "--worker-build".into(),
        p.worker.to_string(),
        "--url".into(),
        p.api_url.to_string(),
        "--token-file".into(),
        format!("{TOKEN_DIR}/{TOKEN_KEY}"),
        "--data-dir".into(),
        DATA_DIR.into(),
    ];
    if p.ca_pem.is_some() {
        args.extend(["--ca-file".to_string(), format!("{TOKEN_DIR}/{CA_KEY}")]);
    }
    for r in p.insecure_registries {
        args.extend(["--insecure-registry".to_string(), r.clone()]);
    }
    args
}

fn quantities(m: &BTreeMap<String, String>) -> Option<BTreeMap<String, Quantity>> {
    (!m.is_empty()).then(|| {
        m.iter()
            .map(|(k, v)| (k.clone(), Quantity(v.clone())))
            .collect()
    })
}

/// The Job that runs the worker build.
pub fn job(p: &WorkerPod) -> Job {
    let name = object_name(p.worker);
    let resources = &p.cluster.resources;
    let container = Container {
        name: "worker".into(),
        image: Some(p.cluster.builder_image.clone()),
        args: Some(worker_args(p)),
        resources: Some(ResourceRequirements {
            requests: quantities(&resources.requests),
            limits: quantities(&resources.limits),
            ..Default::default()
        }),
        security_context: Some(SecurityContext {
            privileged: Some(true),
            ..Default::default()
        }),
        volume_mounts: Some(vec![
            VolumeMount {
                name: "token".into(),
                mount_path: TOKEN_DIR.into(),
                read_only: Some(true),
                ..Default::default()
            },
            VolumeMount {
                name: "data".into(),
                mount_path: DATA_DIR.into(),
                ..Default::default()
            },
        ]),
        ..Default::default()
    };
    let pod = PodSpec {
        restart_policy: Some("Never".into()),
        automount_service_account_token: Some(false),
        node_selector: Some(BTreeMap::from([(
            "kubernetes.io/arch".to_string(),
            p.platform.oci_architecture().to_string(),
        )])),
        containers: vec![container],
        volumes: Some(vec![
            Volume {
                name: "token".into(),
                secret: Some(SecretVolumeSource {
                    secret_name: Some(name.clone()),
                    default_mode: Some(0o400),
                    items: Some(
                        std::iter::once(TOKEN_KEY)
                            .chain(p.ca_pem.map(|_| CA_KEY))
                            .map(|key| KeyToPath {
                                key: key.into(),
                                path: key.into(),
                                ..Default::default()
                            })
                            .collect(),
                    ),
                    ..Default::default()
                }),
                ..Default::default()
            },
            Volume {
                name: "data".into(),
                empty_dir: Some(EmptyDirVolumeSource::default()),
                ..Default::default()
            },
        ]),
        ..Default::default()
    };
    Job {
        metadata: metadata(p),
        spec: Some(JobSpec {
            backoff_limit: Some(0),
            active_deadline_seconds: i64::try_from(p.cluster.deadline_seconds).ok(),
            ttl_seconds_after_finished: Some(TTL_AFTER_FINISHED),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels(p)),
                    ..Default::default()
                }),
                spec: Some(pod),
            },
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KubeError {
    #[error("cannot read kubeconfig {path}: {message}")]
    Kubeconfig { path: String, message: String },
    #[error("invalid api_url {0:?}")]
    Url(String),
    #[error("cannot make a Kubernetes client: {0}")]
    Client(String),
    #[error("the Kubernetes API refused to {action}: {message}")]
    Api { action: String, message: String },
}

/// Where a worker build's Job is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobState {
    /// Created; its pod is pending or running.
    Active,
    Succeeded,
    /// With Kubernetes' reason (`DeadlineExceeded`, `BackoffLimitExceeded`).
    Failed(String),
    /// No such Job (deleted, or removed after its TTL).
    Missing,
}

/// A client for one Kubernetes cluster's namespace.
#[derive(Clone)]
pub struct KubeCluster {
    client: kube::Client,
    namespace: String,
}

impl KubeCluster {
    /// Connect as the cluster file says: a kubeconfig (and context), or an
    /// API URL with a token file and a CA file. Nothing is requested yet.
    pub async fn connect(c: &KubernetesCluster) -> Result<KubeCluster, KubeError> {
        let config = match (&c.kubeconfig, &c.api_url) {
            (Some(path), _) => {
                let kc = kube::config::Kubeconfig::read_from(path).map_err(|e| {
                    KubeError::Kubeconfig {
                        path: path.clone(),
                        message: e.to_string(),
                    }
                })?;
                let options = kube::config::KubeConfigOptions {
                    context: c.context.clone(),
                    ..Default::default()
                };
                kube::Config::from_custom_kubeconfig(kc, &options)
                    .await
                    .map_err(|e| KubeError::Kubeconfig {
                        path: path.clone(),
                        message: e.to_string(),
                    })?
            }
            (None, Some(url)) => {
                let uri = url
                    .parse::<http::Uri>()
                    .map_err(|_| KubeError::Url(url.clone()))?;
                let mut config = kube::Config::new(uri);
                if let Some(path) = &c.token_file {
                    let text = std::fs::read_to_string(path).map_err(|e| {
                        KubeError::Client(format!("cannot read token_file {path}: {e}"))
                    })?;
                    if text.trim() == text {
                        // kube re-reads it, so rotated tokens keep working.
                        config.auth_info.token_file = Some(path.clone());
                    } else {
                        // A trailing newline would break the header.
                        config.auth_info.token = Some(text.trim().to_string().into());
                    }
                }
                config.root_cert_file = c.ca_file.as_ref().map(Into::into);
                config
            }
            (None, None) => {
                return Err(KubeError::Client(
                    "the cluster names neither kubeconfig nor api_url".into(),
                ));
            }
        };
        let client =
            kube::Client::try_from(config).map_err(|e| KubeError::Client(e.to_string()))?;
        Ok(KubeCluster {
            client,
            namespace: c.namespace.clone(),
        })
    }

    fn api_error(action: &str, e: kube::Error) -> KubeError {
        KubeError::Api {
            action: action.to_string(),
            message: e.to_string(),
        }
    }

    /// Create the Secret, then the Job. If the Job is refused, the Secret
    /// is deleted again.
    pub async fn submit(&self, p: &WorkerPod<'_>, token: &str) -> Result<(), KubeError> {
        let secrets: Api<Secret> = Api::namespaced(self.client.clone(), &self.namespace);
        let jobs: Api<Job> = Api::namespaced(self.client.clone(), &self.namespace);
        let pp = PostParams::default();
        secrets
            .create(&pp, &secret(p, token))
            .await
            .map_err(|e| Self::api_error("create the worker's Secret", e))?;
        if let Err(e) = jobs.create(&pp, &job(p)).await {
            let _ = secrets
                .delete(&object_name(p.worker), &DeleteParams::default())
                .await;
            return Err(Self::api_error("create the worker's Job", e));
        }
        Ok(())
    }

    pub async fn job_state(&self, worker: WorkerBuildId) -> Result<JobState, KubeError> {
        let jobs: Api<Job> = Api::namespaced(self.client.clone(), &self.namespace);
        let job = jobs
            .get_opt(&object_name(worker))
            .await
            .map_err(|e| Self::api_error("read the worker's Job", e))?;
        Ok(match job.and_then(|j| j.status) {
            None => JobState::Missing,
            Some(s) => {
                let failed = s
                    .conditions
                    .iter()
                    .flatten()
                    .find(|c| c.type_ == "Failed" && c.status == "True");
                if let Some(c) = failed {
                    JobState::Failed(
                        c.reason
                            .clone()
                            .or_else(|| c.message.clone())
                            .unwrap_or_else(|| "failed".into()),
                    )
                } else if s.succeeded.unwrap_or(0) > 0 {
                    JobState::Succeeded
                } else {
                    JobState::Active
                }
            }
        })
    }

    /// Delete the Job (and its pod) and the Secret; missing ones are fine.
    pub async fn delete(&self, worker: WorkerBuildId) -> Result<(), KubeError> {
        let name = object_name(worker);
        let jobs: Api<Job> = Api::namespaced(self.client.clone(), &self.namespace);
        let secrets: Api<Secret> = Api::namespaced(self.client.clone(), &self.namespace);
        let background = DeleteParams {
            propagation_policy: Some(PropagationPolicy::Background),
            ..Default::default()
        };
        for (what, r) in [
            (
                "delete the worker's Job",
                jobs.delete(&name, &background).await.map(|_| ()),
            ),
            (
                "delete the worker's Secret",
                secrets
                    .delete(&name, &DeleteParams::default())
                    .await
                    .map(|_| ()),
            ),
        ] {
            match r {
                Ok(()) => {}
                Err(kube::Error::Api(s)) if s.code == 404 => {}
                Err(e) => return Err(Self::api_error(what, e)),
            }
        }
        Ok(())
    }

    /// Whether the API server answers (`/version`).
    pub async fn reachable(&self) -> bool {
        self.client.apiserver_version().await.is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster() -> KubernetesCluster {
        KubernetesCluster {
            kubeconfig: Some("/etc/slipway/kubeconfig".into()),
            namespace: "builds".into(),
            builder_image: "quay.io/slipway/builder:0.1".into(),
            resources: slipway_core::cluster::Resources {
                requests: BTreeMap::from([
                    ("cpu".into(), "1".into()),
                    ("memory".into(), "2Gi".into()),
                ]),
                limits: BTreeMap::from([("memory".into(), "4Gi".into())]),
            },
            deadline_seconds: 3600,
            ..Default::default()
        }
    }

    fn pod<'a>(c: &'a KubernetesCluster, platform: &'a Platform) -> WorkerPod<'a> {
        WorkerPod {
            cluster: c,
            cluster_name: "prod-arm",
            build: 12,
            worker: 34,
            platform,
            api_url: "https://slipway.example.com",
            insecure_registries: &[],
            ca_pem: None,
        }
    }

    #[test]
    fn a_private_ca_rides_in_the_secret_and_is_passed_to_the_worker() {
        let c = cluster();
        let p = Platform::parse("aarch64").unwrap();
        let pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
        let with_ca = WorkerPod {
            ca_pem: Some(pem),
            ..pod(&c, &p)
        };
        let s = secret(&with_ca, "slw_secret");
        assert_eq!(s.string_data.unwrap()["ca.crt"], pem);
        let args = worker_args(&with_ca);
        let at = args.iter().position(|a| a == "--ca-file").unwrap();
        assert_eq!(args[at + 1], "/run/slipway/ca.crt");
        let j = job(&with_ca);
        let vols = j.spec.unwrap().template.spec.unwrap().volumes.unwrap();
        let items = vols[0].secret.as_ref().unwrap().items.clone().unwrap();
        let keys: Vec<&str> = items.iter().map(|i| i.key.as_str()).collect();
        assert_eq!(keys, ["token", "ca.crt"]);
        assert!(!worker_args(&pod(&c, &p)).contains(&"--ca-file".to_string()));
    }

    #[test]
    fn the_secret_holds_only_the_token() {
        let c = cluster();
        let p = Platform::parse("aarch64").unwrap();
        let s = secret(&pod(&c, &p), "slw_secret");
        assert_eq!(s.metadata.name.as_deref(), Some("slipway-worker-34"));
        assert_eq!(s.metadata.namespace.as_deref(), Some("builds"));
        assert_eq!(s.type_.as_deref(), Some("Opaque"));
        assert_eq!(s.immutable, Some(true));
        assert_eq!(
            s.string_data,
            Some(BTreeMap::from([(
                "token".to_string(),
                "slw_secret".to_string()
            )]))
        );
        assert!(s.data.is_none());
        let l = s.metadata.labels.unwrap();
        assert_eq!(l["slipway.io/worker-build"], "34");
        assert_eq!(l["slipway.io/build"], "12");
        assert_eq!(l["app.kubernetes.io/managed-by"], "slipway");
    }

    #[test]
    fn the_job_runs_slipway_worker_once_on_the_platforms_nodes() {
        let c = cluster();
        let p = Platform::parse("aarch64").unwrap();
        let j = job(&pod(&c, &p));
        assert_eq!(j.metadata.name.as_deref(), Some("slipway-worker-34"));
        assert_eq!(j.metadata.namespace.as_deref(), Some("builds"));
        let spec = j.spec.unwrap();
        assert_eq!(spec.backoff_limit, Some(0));
        assert_eq!(spec.active_deadline_seconds, Some(3600));
        assert_eq!(spec.ttl_seconds_after_finished, Some(3600));
        let tmpl_labels = spec.template.metadata.unwrap().labels.unwrap();
        assert_eq!(tmpl_labels["slipway.io/platform"], "aarch64");
        assert_eq!(tmpl_labels["slipway.io/cluster"], "prod-arm");
        let pod = spec.template.spec.unwrap();
        assert_eq!(pod.restart_policy.as_deref(), Some("Never"));
        assert_eq!(pod.automount_service_account_token, Some(false));
        assert_eq!(pod.node_selector.unwrap()["kubernetes.io/arch"], "arm64");
        assert_eq!(pod.containers.len(), 1);
        let ctr = &pod.containers[0];
        assert_eq!(ctr.image.as_deref(), Some("quay.io/slipway/builder:0.1"));
        assert_eq!(
            ctr.args.clone().unwrap(),
            [
                "worker",
                "--worker-build",
                "34",
                "--url",
                "https://slipway.example.com",
                "--token-file",
                "/run/slipway/token",
                "--data-dir",
                "/var/lib/slipway-worker"
            ]
        );
        assert!(ctr.command.is_none(), "the image's entry point is slipway");
        let res = ctr.resources.clone().unwrap();
        assert_eq!(res.requests.unwrap()["memory"], Quantity("2Gi".into()));
        assert_eq!(res.limits.unwrap()["memory"], Quantity("4Gi".into()));
        assert_eq!(ctr.security_context.clone().unwrap().privileged, Some(true));
        let mounts = ctr.volume_mounts.clone().unwrap();
        assert_eq!(mounts[0].mount_path, "/run/slipway");
        assert_eq!(mounts[0].read_only, Some(true));
        assert_eq!(mounts[1].mount_path, "/var/lib/slipway-worker");
        let vols = pod.volumes.unwrap();
        let secret_vol = vols[0].secret.clone().unwrap();
        assert_eq!(secret_vol.secret_name.as_deref(), Some("slipway-worker-34"));
        assert_eq!(secret_vol.default_mode, Some(0o400));
        assert!(vols[1].empty_dir.is_some());
    }

    #[test]
    fn insecure_registries_and_empty_resources() {
        let mut c = cluster();
        c.resources = Default::default();
        let p = Platform::parse("x86_64").unwrap();
        let insecure = vec!["reg.lan:5000".to_string()];
        let mut wp = pod(&c, &p);
        wp.insecure_registries = &insecure;
        let j = job(&wp);
        let pod = j.spec.unwrap().template.spec.unwrap();
        let args = pod.containers[0].args.clone().unwrap();
        assert_eq!(
            args[args.len() - 2..],
            ["--insecure-registry", "reg.lan:5000"]
        );
        let res = pod.containers[0].resources.clone().unwrap();
        assert!(res.requests.is_none() && res.limits.is_none());
        assert_eq!(pod.node_selector.unwrap()["kubernetes.io/arch"], "amd64");
    }
}
