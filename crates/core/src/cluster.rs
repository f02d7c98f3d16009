//! Worker clusters and placement: which cluster runs a worker build.
//!
//! The cluster file has the shape of OSBS's reactor config (seed 002,
//! `clusters:`): for each platform, a list of clusters in order of
//! preference, each with a `max_concurrent_builds` and an `enabled` flag.
//! Placement follows the seed exactly:
//!
//! 1. clusters with `enabled: false` are dropped;
//! 2. a cluster's load is its active worker builds (not complete, failed,
//!    in error or cancelled) divided by its `max_concurrent_builds`;
//! 3. the worker build goes to the cluster with the lowest load; ties go to
//!    the cluster listed first.
//!
//! Slipway adds one rule: a cluster whose active builds reach its maximum
//! gets nothing more; the build waits in the queue. Loads are compared as
//! exact fractions (`a/m < b/n` ⇔ `a·n < b·m`), never as floats.

use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

/// How many clusters a worker build is offered to before it fails: the best
/// one and, when submission fails or the cluster is unreachable, the next
/// best ones.
pub const MAX_SUBMIT_ATTEMPTS: u32 = 3;

/// The platforms Slipway knows, by their Koji/RPM names (as in the seed's
/// cluster file), with the OCI `os/architecture[/variant]` they build.
const PLATFORMS: &[(&str, &str, Option<&str>)] = &[
    ("x86_64", "amd64", None),
    ("aarch64", "arm64", None),
    ("ppc64le", "ppc64le", None),
    ("s390x", "s390x", None),
    ("i686", "386", None),
    ("armv7hl", "arm", Some("v7")),
];

/// A platform name from the cluster file or a build request (`x86_64`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Platform(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown platform {0:?}: use one of {known}", known = Platform::known().join(", "))]
pub struct UnknownPlatform(pub String);

impl Platform {
    /// An RPM architecture name (`x86_64`), or a Docker/OCI one as
    /// buildx writes it (`amd64`, `linux/amd64`, `linux/arm/v7`).
    pub fn parse(name: &str) -> Result<Platform, UnknownPlatform> {
        let oci = name.strip_prefix("linux/").unwrap_or(name);
        PLATFORMS
            .iter()
            .find(|p| {
                p.0 == name || p.1 == oci || p.2.is_some_and(|v| format!("{}/{v}", p.1) == oci)
            })
            .map(|p| Platform(p.0.to_string()))
            .ok_or_else(|| UnknownPlatform(name.to_string()))
    }

    pub fn known() -> Vec<&'static str> {
        PLATFORMS.iter().map(|p| p.0).collect()
    }

    /// The platform this binary was built for, which a local cluster serves
    /// by default.
    pub fn host() -> Platform {
        let name = match std::env::consts::ARCH {
            "aarch64" => "aarch64",
            "powerpc64" => "ppc64le",
            "s390x" => "s390x",
            "x86" => "i686",
            "arm" => "armv7hl",
            _ => "x86_64",
        };
        Platform(name.to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn entry(&self) -> (&'static str, &'static str, Option<&'static str>) {
        PLATFORMS
            .iter()
            .copied()
            .find(|p| p.0 == self.0)
            .unwrap_or(PLATFORMS[0])
    }

    /// OCI architecture (`amd64`, `arm64`, …).
    pub fn oci_architecture(&self) -> &'static str {
        self.entry().1
    }

    pub fn oci_variant(&self) -> Option<&'static str> {
        self.entry().2
    }

    /// `linux/amd64`, `linux/arm/v7`: what `buildah build --platform` takes.
    pub fn oci(&self) -> String {
        match self.oci_variant() {
            Some(v) => format!("linux/{}/{v}", self.oci_architecture()),
            None => format!("linux/{}", self.oci_architecture()),
        }
    }
}

impl TryFrom<String> for Platform {
    type Error = UnknownPlatform;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Platform::parse(&s)
    }
}

impl From<Platform> for String {
    fn from(p: Platform) -> String {
        p.0
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The cluster file as written (YAML, parsed by the server).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterFile {
    /// Platform name → clusters in order of preference.
    #[serde(default)]
    pub clusters: BTreeMap<String, Vec<ClusterSpec>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterSpec {
    pub name: String,
    pub max_concurrent_builds: u32,
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Run worker builds as Kubernetes Jobs; without it the cluster is
    /// local (worker builds run on the server's machine).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes: Option<KubernetesCluster>,
    /// Local clusters only: run each worker build as a `slipway worker`
    /// child process that reports over the API, exactly as a Kubernetes
    /// Job does, instead of as a task of the server.
    #[serde(default)]
    pub worker_process: bool,
    /// With `worker_process`: the URL the worker processes reach the API
    /// on (say `https://slipway.example.com:8443`, verified against the
    /// server's `tls.ca_file`); default: plain HTTP over loopback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_url: Option<String>,
}

fn yes() -> bool {
    true
}

/// Where and how a Kubernetes cluster runs worker builds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KubernetesCluster {
    /// A kubeconfig file; `context` picks one of its contexts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubeconfig: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    /// Or the API server's URL, a file with a bearer token and a CA file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<String>,
    pub namespace: String,
    /// The image that holds `slipway` and buildah; its entry point runs
    /// `slipway worker`.
    pub builder_image: String,
    #[serde(default)]
    pub resources: Resources,
    /// Seconds a worker build may run before Kubernetes stops it.
    #[serde(default = "default_deadline")]
    pub deadline_seconds: u64,
    /// The URL worker pods use to reach this server's API (defaults to the
    /// address the server listens on, which pods can rarely reach).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_url: Option<String>,
}

fn default_deadline() -> u64 {
    3 * 3600
}

/// Container resource requests and limits (`cpu: "2"`, `memory: 4Gi`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    #[serde(default)]
    pub requests: BTreeMap<String, String>,
    #[serde(default)]
    pub limits: BTreeMap<String, String>,
}

/// One cluster after validation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cluster {
    pub name: String,
    pub platform: Platform,
    pub max_concurrent_builds: u32,
    pub enabled: bool,
    pub backend: Backend,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Backend {
    Local {
        /// Each worker build is a `slipway worker` child process.
        process: bool,
        /// Where such a process reaches the API (default: loopback).
        #[serde(skip_serializing_if = "Option::is_none")]
        callback_url: Option<String>,
    },
    Kubernetes(Box<KubernetesCluster>),
}

impl Backend {
    pub fn kind(&self) -> &'static str {
        match self {
            Backend::Local { .. } => "local",
            Backend::Kubernetes(_) => "kubernetes",
        }
    }
}

/// The validated cluster file: every platform's clusters in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Clusters {
    pub by_platform: BTreeMap<Platform, Vec<Cluster>>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClusterConfigError {
    #[error("clusters.{0}: {1}")]
    Platform(String, UnknownPlatform),
    #[error("clusters.{platform}[{index}]: {message}")]
    Cluster {
        platform: String,
        index: usize,
        message: String,
    },
    #[error(
        "cluster {0:?} is listed more than once; a cluster serves one platform, give each entry its own name"
    )]
    Duplicate(String),
    #[error("the cluster file lists no clusters; add at least one under clusters.<platform>")]
    Empty,
}

impl ClusterFile {
    pub fn validate(&self) -> Result<Clusters, ClusterConfigError> {
        let mut by_platform = BTreeMap::new();
        let mut seen = HashSet::new();
        for (platform_name, specs) in &self.clusters {
            let platform = Platform::parse(platform_name)
                .map_err(|e| ClusterConfigError::Platform(platform_name.clone(), e))?;
            let mut list = Vec::with_capacity(specs.len());
            for (index, spec) in specs.iter().enumerate() {
                let bad = |message: String| ClusterConfigError::Cluster {
                    platform: platform_name.clone(),
                    index,
                    message,
                };
                if !valid_cluster_name(&spec.name) {
                    return Err(bad(format!(
                        "name {:?} is invalid: use 1-63 lowercase letters, digits and '-', starting and ending with a letter or digit",
                        spec.name
                    )));
                }
                if spec.max_concurrent_builds == 0 {
                    return Err(bad(format!(
                        "{}: max_concurrent_builds must be at least 1 (set enabled: false to stop using a cluster)",
                        spec.name
                    )));
                }
                if !seen.insert(spec.name.clone()) {
                    return Err(ClusterConfigError::Duplicate(spec.name.clone()));
                }
                if spec.callback_url.is_some() && !spec.worker_process {
                    return Err(bad(format!(
                        "{}: callback_url is where `slipway worker` processes reach the API: it needs worker_process: true (a kubernetes cluster has its own, under kubernetes:)",
                        spec.name
                    )));
                }
                if let Some(u) = &spec.callback_url
                    && !(u.starts_with("https://") || u.starts_with("http://"))
                {
                    return Err(bad(format!(
                        "{}: callback_url {u:?} must start with https:// or http://",
                        spec.name
                    )));
                }
                let backend = match &spec.kubernetes {
                    None => Backend::Local {
                        process: spec.worker_process,
                        callback_url: spec.callback_url.clone(),
                    },
                    Some(_) if spec.worker_process => {
                        return Err(bad(format!(
                            "{}: worker_process applies to local clusters; a kubernetes cluster always runs `slipway worker` in a Job",
                            spec.name
                        )));
                    }
                    Some(k) => {
                        k.check()
                            .map_err(|m| bad(format!("{}: kubernetes: {m}", spec.name)))?;
                        Backend::Kubernetes(Box::new(k.clone()))
                    }
                };
                list.push(Cluster {
                    name: spec.name.clone(),
                    platform: platform.clone(),
                    max_concurrent_builds: spec.max_concurrent_builds,
                    enabled: spec.enabled,
                    backend,
                });
            }
            if !list.is_empty() {
                by_platform.insert(platform, list);
            }
        }
        if by_platform.is_empty() {
            return Err(ClusterConfigError::Empty);
        }
        Ok(Clusters { by_platform })
    }
}

impl KubernetesCluster {
    fn check(&self) -> Result<(), String> {
        match (&self.kubeconfig, &self.api_url) {
            (Some(_), Some(_)) => {
                return Err("give either kubeconfig (and context) or api_url, not both".into());
            }
            (None, None) => {
                return Err(
                    "give kubeconfig (and context), or api_url with token_file and ca_file".into(),
                );
            }
            (None, Some(url)) => {
                if !(url.starts_with("https://") || url.starts_with("http://")) {
                    return Err(format!("api_url {url:?} must be an http(s) URL"));
                }
                if self.token_file.is_none() {
                    return Err("api_url needs token_file".into());
                }
                if self.context.is_some() {
                    return Err("context applies to a kubeconfig, not to api_url".into());
                }
            }
            (Some(_), None) => {
                if self.token_file.is_some() || self.ca_file.is_some() {
                    return Err(
                        "token_file and ca_file go with api_url; a kubeconfig carries its own credentials"
                            .into(),
                    );
                }
            }
        }
        if !valid_cluster_name(&self.namespace) {
            return Err(format!(
                "namespace {:?} is not a valid Kubernetes namespace name",
                self.namespace
            ));
        }
        crate::ImageRef::parse(&self.builder_image).map_err(|e| format!("builder_image: {e}"))?;
        if self.deadline_seconds == 0 {
            return Err("deadline_seconds must be at least 1".into());
        }
        Ok(())
    }
}

/// DNS-1123 labels: usable as Kubernetes names and label values.
pub fn valid_cluster_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

impl Clusters {
    /// One local cluster for the host's platform: what `slipway serve` runs
    /// when no cluster file is given.
    pub fn local_default(max_concurrent_builds: u32) -> Clusters {
        let platform = Platform::host();
        let cluster = Cluster {
            name: "local".into(),
            platform: platform.clone(),
            max_concurrent_builds: max_concurrent_builds.max(1),
            enabled: true,
            backend: Backend::Local {
                process: false,
                callback_url: None,
            },
        };
        Clusters {
            by_platform: BTreeMap::from([(platform, vec![cluster])]),
        }
    }

    /// The clusters with runtime switches (`slipway cluster disable|enable`)
    /// applied over the file's `enabled`.
    pub fn with_overrides(&self, enabled: &HashMap<String, bool>) -> Clusters {
        let mut out = self.clone();
        for c in out.by_platform.values_mut().flatten() {
            if let Some(on) = enabled.get(&c.name) {
                c.enabled = *on;
            }
        }
        out
    }

    pub fn all(&self) -> impl Iterator<Item = &Cluster> {
        self.by_platform.values().flatten()
    }

    pub fn get(&self, name: &str) -> Option<&Cluster> {
        self.all().find(|c| c.name == name)
    }

    /// Platforms that at least one enabled cluster serves.
    pub fn served(&self, platform: &Platform) -> bool {
        self.by_platform
            .get(platform)
            .is_some_and(|cs| cs.iter().any(|c| c.enabled))
    }
}

/// A cluster as placement sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterLoad {
    pub name: String,
    pub active: u32,
    pub max: u32,
    pub enabled: bool,
}

impl ClusterLoad {
    /// Whether the cluster may take one more worker build.
    pub fn has_room(&self) -> bool {
        self.enabled && self.active < self.max
    }

    /// The load as a float, for display only; placement compares fractions.
    pub fn load(&self) -> f64 {
        if self.max == 0 {
            return f64::INFINITY;
        }
        f64::from(self.active) / f64::from(self.max)
    }

    /// `self.active / self.max` against `other.active / other.max`, exactly.
    pub fn cmp_load(&self, other: &ClusterLoad) -> Ordering {
        (u64::from(self.active) * u64::from(other.max))
            .cmp(&(u64::from(other.active) * u64::from(self.max)))
    }
}

/// Candidate clusters best first: enabled ones with a free slot, by load,
/// ties in file order. The first is where a worker build goes; the rest are
/// the fallbacks when submission fails.
pub fn rank(loads: &[ClusterLoad]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..loads.len()).filter(|&i| loads[i].has_room()).collect();
    // A stable sort: equal loads keep file order.
    order.sort_by(|&a, &b| loads[a].cmp_load(&loads[b]));
    order
}

/// The best cluster not in `tried`, if any has room.
pub fn select(loads: &[ClusterLoad], tried: &[&str]) -> Option<usize> {
    let mut best: Option<usize> = None;
    for (i, c) in loads.iter().enumerate() {
        if !c.has_room() || tried.contains(&c.name.as_str()) {
            continue;
        }
        // Strictly lower only: an equal load keeps the earlier cluster.
        if best.is_none_or(|b| c.cmp_load(&loads[b]) == Ordering::Less) {
            best = Some(i);
        }
    }
    best
}

/// Places queued worker builds one after another, counting each placement
/// as an active build so that the next one sees the new loads.
#[derive(Debug, Clone, Default)]
pub struct Placer {
    by_platform: HashMap<Platform, Vec<ClusterLoad>>,
}

impl Placer {
    /// `active` counts the active worker builds per cluster name; clusters
    /// missing from it have none.
    pub fn new(clusters: &Clusters, active: &HashMap<String, u32>) -> Placer {
        let by_platform = clusters
            .by_platform
            .iter()
            .map(|(p, cs)| {
                let loads = cs
                    .iter()
                    .map(|c| ClusterLoad {
                        name: c.name.clone(),
                        active: active.get(&c.name).copied().unwrap_or(0),
                        max: c.max_concurrent_builds,
                        enabled: c.enabled,
                    })
                    .collect();
                (p.clone(), loads)
            })
            .collect();
        Placer { by_platform }
    }

    /// Place one worker build of `platform`, skipping clusters in `tried`;
    /// `None` when every remaining cluster is full or disabled.
    pub fn place(&mut self, platform: &Platform, tried: &[&str]) -> Option<&str> {
        let loads = self.by_platform.get_mut(platform)?;
        let i = select(loads, tried)?;
        loads[i].active += 1;
        Some(&loads[i].name)
    }

    /// Give back a slot (a placement that was not used).
    pub fn release(&mut self, platform: &Platform, cluster: &str) {
        if let Some(c) = self
            .by_platform
            .get_mut(platform)
            .and_then(|l| l.iter_mut().find(|c| c.name == cluster))
        {
            c.active = c.active.saturating_sub(1);
        }
    }

    pub fn loads(&self, platform: &Platform) -> &[ClusterLoad] {
        self.by_platform.get(platform).map_or(&[], Vec::as_slice)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(name: &str, active: u32, max: u32) -> ClusterLoad {
        ClusterLoad {
            name: name.into(),
            active,
            max,
            enabled: true,
        }
    }

    #[test]
    fn lowest_load_wins_computed_as_active_over_max() {
        // 2/6 = 0.333 < 5/10 = 0.5 < 3/4 = 0.75
        let loads = [load("a", 3, 4), load("b", 2, 6), load("c", 5, 10)];
        assert_eq!(rank(&loads), vec![1, 2, 0]);
        assert_eq!(select(&loads, &[]), Some(1));
    }

    #[test]
    fn the_seed_example_fills_clusters_in_proportion() {
        // prod-x86_64-osd (16) and prod-x86_64 (6), prod-other disabled.
        let mut file = ClusterFile::default();
        file.clusters.insert(
            "x86_64".into(),
            vec![
                spec("prod-x86-64-osd", 16, true),
                spec("prod-x86-64", 6, true),
                spec("prod-other", 2, false),
            ],
        );
        let clusters = file.validate().unwrap();
        let mut placer = Placer::new(&clusters, &HashMap::new());
        let x86 = Platform::parse("x86_64").unwrap();
        let mut got = Vec::new();
        while let Some(c) = placer.place(&x86, &[]) {
            got.push(c.to_string());
        }
        // Every slot of both enabled clusters, none on the disabled one.
        assert_eq!(got.len(), 22);
        assert_eq!(got.iter().filter(|c| *c == "prod-x86-64-osd").count(), 16);
        assert_eq!(got.iter().filter(|c| *c == "prod-x86-64").count(), 6);
        // The first: both at 0/n, the tie goes to the first in the file.
        assert_eq!(got[0], "prod-x86-64-osd");
        // Then 1/16 > 0/6: the second goes to the other cluster.
        assert_eq!(got[1], "prod-x86-64");
        // 1/16 < 1/6: the third goes back to the big one, and so on until
        // 3/16 = 0.1875 > 1/6: the fifth goes to the small one again.
        assert_eq!(
            &got[2..5],
            ["prod-x86-64-osd", "prod-x86-64-osd", "prod-x86-64"]
        );
    }

    #[test]
    fn ties_go_to_the_earlier_cluster_even_with_different_maxima() {
        // 1/2 == 2/4 == 3/6 exactly; floats would agree here, but the
        // fraction comparison is what guarantees it.
        let loads = [load("a", 1, 2), load("b", 2, 4), load("c", 3, 6)];
        assert_eq!(rank(&loads), vec![0, 1, 2]);
        let loads = [load("b", 2, 4), load("a", 1, 2)];
        assert_eq!(select(&loads, &[]), Some(0));
        // 1/3 vs 2/6 vs 3/9: float division gives 0.333.. for each but the
        // exact comparison must too.
        let loads = [load("x", 3, 9), load("y", 1, 3), load("z", 2, 6)];
        assert_eq!(rank(&loads), vec![0, 1, 2]);
    }

    #[test]
    fn disabled_and_full_clusters_get_nothing() {
        let mut off = load("off", 0, 10);
        off.enabled = false;
        let loads = [off, load("full", 2, 2), load("busy", 9, 10)];
        assert_eq!(rank(&loads), vec![2]);
        assert_eq!(select(&loads, &[]), Some(2));
        let loads = [load("full", 2, 2), load("full2", 5, 5)];
        assert!(rank(&loads).is_empty());
        assert_eq!(select(&loads, &[]), None);
    }

    #[test]
    fn fallback_goes_to_the_next_best_cluster() {
        let loads = [load("a", 1, 4), load("b", 0, 4), load("c", 1, 2)];
        assert_eq!(rank(&loads), vec![1, 0, 2]);
        assert_eq!(select(&loads, &["b"]), Some(0));
        assert_eq!(select(&loads, &["b", "a"]), Some(2));
        assert_eq!(select(&loads, &["b", "a", "c"]), None);
    }

    #[test]
    fn placer_never_exceeds_a_maximum_and_releases_slots() {
        let mut file = ClusterFile::default();
        file.clusters.insert(
            "x86_64".into(),
            vec![spec("one", 1, true), spec("three", 3, true)],
        );
        let clusters = file.validate().unwrap();
        let active = HashMap::from([("three".to_string(), 1)]);
        let mut placer = Placer::new(&clusters, &active);
        let p = Platform::parse("x86_64").unwrap();
        // one: 0/1, three: 1/3 → one; then one: 1/1 (full) → three, three.
        assert_eq!(placer.place(&p, &[]), Some("one"));
        assert_eq!(placer.place(&p, &[]), Some("three"));
        assert_eq!(placer.place(&p, &[]), Some("three"));
        assert_eq!(placer.place(&p, &[]), None);
        placer.release(&p, "one");
        assert_eq!(placer.place(&p, &[]), Some("one"));
        // A platform without clusters places nothing.
        assert_eq!(placer.place(&Platform::parse("s390x").unwrap(), &[]), None);
    }

    #[test]
    fn huge_counts_compare_without_overflow() {
        let loads = [
            load("a", u32::MAX - 1, u32::MAX),
            load("b", u32::MAX - 2, u32::MAX),
        ];
        assert_eq!(rank(&loads), vec![1, 0]);
    }

    fn spec(name: &str, max: u32, enabled: bool) -> ClusterSpec {
        ClusterSpec {
            name: name.into(),
            max_concurrent_builds: max,
            enabled,
            kubernetes: None,
            worker_process: false,
            callback_url: None,
        }
    }

    fn kube() -> KubernetesCluster {
        KubernetesCluster {
            kubeconfig: Some("/etc/kubeconfig".into()),
            namespace: "builds".into(),
            builder_image: "quay.io/slipway/builder:0.1".into(),
            deadline_seconds: 60,
            ..Default::default()
        }
    }

    fn invalid(file: ClusterFile) -> String {
        file.validate().unwrap_err().to_string()
    }

    #[test]
    fn validation_names_the_entry_at_fault() {
        let one = |platform: &str, s: ClusterSpec| ClusterFile {
            clusters: BTreeMap::from([(platform.to_string(), vec![s])]),
        };
        assert!(invalid(one("sparc", spec("a", 1, true))).contains("unknown platform \"sparc\""));
        assert!(invalid(one("x86_64", spec("A_b", 1, true))).contains("clusters.x86_64[0]"));
        assert!(invalid(one("x86_64", spec("a", 0, true))).contains("at least 1"));
        assert_eq!(
            invalid(ClusterFile::default()),
            ClusterConfigError::Empty.to_string()
        );
        let dup = ClusterFile {
            clusters: BTreeMap::from([
                ("x86_64".into(), vec![spec("a", 1, true)]),
                ("aarch64".into(), vec![spec("a", 1, true)]),
            ]),
        };
        assert!(invalid(dup).contains("listed more than once"));

        let mut k = spec("k", 2, true);
        k.kubernetes = Some(kube());
        assert!(one("x86_64", k.clone()).validate().is_ok());
        let mut both = kube();
        both.api_url = Some("https://k8s:6443".into());
        k.kubernetes = Some(both);
        assert!(invalid(one("x86_64", k.clone())).contains("not both"));
        let mut no_token = kube();
        no_token.kubeconfig = None;
        no_token.api_url = Some("https://k8s:6443".into());
        k.kubernetes = Some(no_token);
        assert!(invalid(one("x86_64", k.clone())).contains("needs token_file"));
        let mut bad_ns = kube();
        bad_ns.namespace = "Builds".into();
        k.kubernetes = Some(bad_ns);
        assert!(invalid(one("x86_64", k.clone())).contains("namespace"));
        let mut bad_image = kube();
        bad_image.builder_image = "no registry".into();
        k.kubernetes = Some(bad_image);
        assert!(invalid(one("x86_64", k)).contains("builder_image"));
    }

    #[test]
    fn platforms_map_to_oci() {
        assert_eq!(Platform::parse("x86_64").unwrap().oci(), "linux/amd64");
        assert_eq!(Platform::parse("aarch64").unwrap().oci(), "linux/arm64");
        assert_eq!(Platform::parse("armv7hl").unwrap().oci(), "linux/arm/v7");
        assert!(Platform::known().contains(&Platform::host().as_str()));
        for (alias, name) in [
            ("amd64", "x86_64"),
            ("linux/amd64", "x86_64"),
            ("arm64", "aarch64"),
            ("linux/arm64", "aarch64"),
            ("linux/arm/v7", "armv7hl"),
            ("386", "i686"),
            ("ppc64le", "ppc64le"),
        ] {
            assert_eq!(Platform::parse(alias).unwrap().as_str(), name, "{alias}");
        }
        assert!(Platform::parse("linux/mips").is_err());
        assert!(Platform::parse("windows/amd64").is_err());
        let c = Clusters::local_default(2);
        assert!(c.served(&Platform::host()));
        assert_eq!(c.get("local").unwrap().max_concurrent_builds, 2);
        let off = c.with_overrides(&HashMap::from([("local".to_string(), false)]));
        assert!(!off.served(&Platform::host()));
        assert!(!off.get("local").unwrap().enabled);
    }
}
