//! Prometheus metrics (`GET /metrics`, OpenMetrics text from the
//! `prometheus-client` crate). Counters and histograms are fed where the
//! work happens (a build announced as ended, a placement, a scan, a
//! delivery, a registry or API request); gauges are read at each scrape
//! from the store, the clusters and `/proc`. Labels are low-cardinality
//! only: phases, triggers, stages, clusters, scanners, routes (as
//! templates), never a build id, a repository or a user.

mod http;

pub use http::{api_layer, registry_layer};

use crate::Services;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use slipway_core::Build;
use std::sync::atomic::AtomicU64;

/// The labels every family here uses: a few named, low-cardinality values.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PhaseTrigger {
    pub phase: String,
    pub trigger: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StageL {
    pub stage: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ClusterL {
    pub cluster: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PlacementL {
    pub cluster: String,
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ScanL {
    pub reason: String,
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ScannerL {
    pub scanner: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DeliveryL {
    pub channel: String,
    pub state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestL {
    pub method: String,
    pub route: String,
    pub status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteL {
    pub method: String,
    pub route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DirectionL {
    pub direction: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultL {
    pub result: String,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

/// Seconds, 5 ms to ~45 min.
fn seconds() -> Histogram {
    Histogram::new(exponential_buckets(0.005, 2.0, 20))
}

/// Request latencies, 0.5 ms to ~16 s.
fn request_seconds() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

/// Counts (wave sizes), 1 to 1,024.
fn sizes() -> Histogram {
    Histogram::new(exponential_buckets(1.0, 2.0, 11))
}

/// Every metric the server keeps between scrapes.
pub struct Metrics {
    registry: Registry,
    builds_ended: Family<PhaseTrigger, Counter>,
    build_seconds: Histograms<PhaseTrigger>,
    stage_seconds: Histograms<StageL>,
    queue_wait_seconds: Histogram,
    placements: Family<PlacementL, Counter>,
    wave_size: Histogram,
    wave_makespan_seconds: Histogram,
    scan_seconds: Histograms<ScanL>,
    scan_findings: Family<ScannerL, Counter>,
    deliveries: Family<DeliveryL, Counter>,
    registry_requests: Family<RequestL, Counter>,
    registry_seconds: Histograms<RouteL>,
    registry_bytes: Family<DirectionL, Counter>,
    http_requests: Family<RequestL, Counter>,
    http_seconds: Histograms<RouteL>,
    gc_runs: Family<ResultL, Counter>,
    koji_imports: Family<ResultL, Counter>,
    // Read at each scrape.
    builds: Family<PhaseTrigger, Gauge>,
    queue_length: Gauge,
    oldest_queued_seconds: Gauge<f64, AtomicU64>,
    cluster_active: Family<ClusterL, Gauge>,
    cluster_max: Family<ClusterL, Gauge>,
    cluster_load: Family<ClusterL, Gauge<f64, AtomicU64>>,
    cluster_enabled: Family<ClusterL, Gauge>,
    blob_bytes: Gauge,
    rss_bytes: Gauge,
    open_fds: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        macro_rules! reg {
            ($name:literal, $help:literal, $metric:expr) => {{
                let m = $metric;
                registry.register($name, $help, m.clone());
                m
            }};
        }
        // Set once; the registry keeps it.
        let up_since: Gauge = Gauge::default();
        up_since.set(jiff::Timestamp::now().as_second());
        registry.register(
            "process_start_time_seconds",
            "When the server started, in seconds since the Unix epoch",
            up_since,
        );
        Metrics {
            builds_ended: reg!(
                "slipway_builds_ended",
                "Builds that ended, by final phase and trigger kind",
                Family::default()
            ),
            build_seconds: reg!(
                "slipway_build_duration_seconds",
                "From a build's creation to its end, by final phase and trigger kind",
                Family::new_with_constructor(seconds as fn() -> Histogram)
            ),
            stage_seconds: reg!(
                "slipway_stage_duration_seconds",
                "Stage durations of ended builds (prepare, clone, build, push, scan, test…)",
                Family::new_with_constructor(seconds as fn() -> Histogram)
            ),
            queue_wait_seconds: reg!(
                "slipway_queue_wait_seconds",
                "How long worker builds waited for a cluster",
                seconds()
            ),
            placements: reg!(
                "slipway_placements",
                "Worker builds placed on a cluster, and refused by one, by cluster",
                Family::default()
            ),
            wave_size: reg!(
                "slipway_wave_size",
                "Configs in each rebuild wave that ended",
                sizes()
            ),
            wave_makespan_seconds: reg!(
                "slipway_wave_makespan_seconds",
                "From a wave's start to its end",
                seconds()
            ),
            scan_seconds: reg!(
                "slipway_scan_duration_seconds",
                "Image scans, by reason (build, rescan, request) and outcome",
                Family::new_with_constructor(seconds as fn() -> Histogram)
            ),
            scan_findings: reg!(
                "slipway_scan_findings",
                "Findings of scans, by scanner",
                Family::default()
            ),
            deliveries: reg!(
                "slipway_notification_deliveries",
                "Notification attempts, by channel (mail, webhook) and state (delivered, retry, failed)",
                Family::default()
            ),
            registry_requests: reg!(
                "slipway_registry_requests",
                "Embedded registry requests, by method, route and status",
                Family::default()
            ),
            registry_seconds: reg!(
                "slipway_registry_request_duration_seconds",
                "Embedded registry request latency (to the response's head), by method and route",
                Family::new_with_constructor(request_seconds as fn() -> Histogram)
            ),
            registry_bytes: reg!(
                "slipway_registry_bytes",
                "Bytes of request (in) and response (out) bodies of the embedded registry",
                Family::default()
            ),
            http_requests: reg!(
                "slipway_http_requests",
                "API requests, by method, route template and status",
                Family::default()
            ),
            http_seconds: reg!(
                "slipway_http_request_duration_seconds",
                "API request latency (to the response's head), by method and route template",
                Family::new_with_constructor(request_seconds as fn() -> Histogram)
            ),
            gc_runs: reg!(
                "slipway_registry_gc_runs",
                "Registry garbage collections, by result",
                Family::default()
            ),
            koji_imports: reg!(
                "slipway_koji_imports",
                "Koji content-generator imports, by result (imported, postponed, failed)",
                Family::default()
            ),
            builds: reg!(
                "slipway_builds",
                "Builds stored, by phase and trigger kind",
                Family::default()
            ),
            queue_length: reg!(
                "slipway_queue_length",
                "Worker builds waiting for a cluster",
                Gauge::default()
            ),
            oldest_queued_seconds: reg!(
                "slipway_queue_oldest_wait_seconds",
                "How long the oldest queued worker build has waited",
                Gauge::default()
            ),
            cluster_active: reg!(
                "slipway_cluster_active_builds",
                "Worker builds running on each cluster",
                Family::default()
            ),
            cluster_max: reg!(
                "slipway_cluster_max_builds",
                "Each cluster's max_concurrent_builds",
                Family::default()
            ),
            cluster_load: reg!(
                "slipway_cluster_load",
                "Each cluster's load: active / max",
                Family::default()
            ),
            cluster_enabled: reg!(
                "slipway_cluster_enabled",
                "1 when the cluster takes new builds, 0 when disabled",
                Family::default()
            ),
            blob_bytes: reg!(
                "slipway_registry_blob_bytes",
                "Bytes of the distinct blobs the embedded registry's repositories hold",
                Gauge::default()
            ),
            rss_bytes: reg!(
                "process_resident_memory_bytes",
                "Resident memory of the server process",
                Gauge::default()
            ),
            open_fds: reg!(
                "process_open_fds",
                "Open file descriptors of the server process",
                Gauge::default()
            ),
            registry,
        }
    }

    /// A build ended (counted once, when it is announced).
    pub fn build_ended(&self, build: &Build) {
        let labels = PhaseTrigger {
            phase: build.phase.as_str().to_string(),
            trigger: trigger_of(build),
        };
        self.builds_ended.get_or_create(&labels).inc();
        if let Some(end) = build.finished_at {
            let secs = end.duration_since(build.created_at).as_secs_f64();
            self.build_seconds
                .get_or_create(&labels)
                .observe(secs.max(0.0));
        }
        for s in &build.stages {
            self.stage_seconds
                .get_or_create(&StageL {
                    stage: s.stage.as_str().to_string(),
                })
                .observe(s.duration_ms as f64 / 1000.0);
        }
    }

    /// A worker build was placed on `cluster` after waiting `waited` seconds.
    pub fn placed(&self, cluster: &str, waited: f64) {
        self.placements
            .get_or_create(&PlacementL {
                cluster: cluster.to_string(),
                outcome: "placed".into(),
            })
            .inc();
        self.queue_wait_seconds.observe(waited);
    }

    /// `cluster` refused a worker build it was given.
    pub fn refused(&self, cluster: &str) {
        self.placements
            .get_or_create(&PlacementL {
                cluster: cluster.to_string(),
                outcome: "refused".into(),
            })
            .inc();
    }

    /// A wave of `size` configs ended after `makespan`.
    pub fn wave_done(&self, size: usize, makespan: Option<f64>) {
        self.wave_size.observe(size as f64);
        if let Some(m) = makespan {
            self.wave_makespan_seconds.observe(m);
        }
    }

    /// A scan ran.
    pub fn scanned(&self, report: &slipway_core::scan::ScanReport, reason: &str, took: f64) {
        self.scan_seconds
            .get_or_create(&ScanL {
                reason: reason.to_string(),
                outcome: report.outcome.to_string(),
            })
            .observe(took);
        for f in &report.findings {
            self.scan_findings
                .get_or_create(&ScannerL {
                    scanner: f.scanner().as_str().to_string(),
                })
                .inc();
        }
    }

    /// A notification attempt on `channel` ended in `state`.
    pub fn delivery(&self, channel: &str, state: &str) {
        self.deliveries
            .get_or_create(&DeliveryL {
                channel: channel.to_string(),
                state: state.to_string(),
            })
            .inc();
    }

    pub fn gc_run(&self, ok: bool) {
        self.gc_runs
            .get_or_create(&ResultL {
                result: if ok { "ok" } else { "error" }.into(),
            })
            .inc();
    }

    pub fn koji_import(&self, result: &str) {
        self.koji_imports
            .get_or_create(&ResultL {
                result: result.to_string(),
            })
            .inc();
    }

    /// The text `/metrics` answers: the gauges read now, then everything.
    pub async fn render(&self, services: &Services) -> Result<String, String> {
        let g = services.store.gauges().await.map_err(|e| e.to_string())?;
        self.builds.clear();
        for (phase, trigger, n) in &g.builds {
            self.builds
                .get_or_create(&PhaseTrigger {
                    phase: phase.clone(),
                    trigger: trigger.clone(),
                })
                .set(i64::try_from(*n).unwrap_or(i64::MAX));
        }
        self.queue_length
            .set(i64::try_from(g.queued_worker_builds).unwrap_or(i64::MAX));
        self.oldest_queued_seconds
            .set(g.oldest_queued.map_or(0.0, |t| {
                jiff::Timestamp::now()
                    .duration_since(t)
                    .as_secs_f64()
                    .max(0.0)
            }));
        self.blob_bytes
            .set(i64::try_from(g.blob_bytes).unwrap_or(i64::MAX));
        let active = services
            .store
            .active_per_cluster()
            .await
            .map_err(|e| e.to_string())?;
        let clusters = services
            .effective_clusters()
            .await
            .map_err(|e| e.to_string())?;
        for c in clusters.all() {
            let l = ClusterL {
                cluster: c.name.clone(),
            };
            let n = active.get(&c.name).copied().unwrap_or(0);
            self.cluster_active.get_or_create(&l).set(i64::from(n));
            self.cluster_max
                .get_or_create(&l)
                .set(i64::from(c.max_concurrent_builds));
            self.cluster_load
                .get_or_create(&l)
                .set(if c.max_concurrent_builds == 0 {
                    0.0
                } else {
                    f64::from(n) / f64::from(c.max_concurrent_builds)
                });
            self.cluster_enabled
                .get_or_create(&l)
                .set(i64::from(c.enabled));
        }
        let (rss, fds) = process_stats();
        self.rss_bytes.set(rss);
        self.open_fds.set(fds);
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .map_err(|e| e.to_string())?;
        Ok(out)
    }

    pub(crate) fn http(&self, labels: RequestL, took: f64) {
        let route = RouteL {
            method: labels.method.clone(),
            route: labels.route.clone(),
        };
        self.http_requests.get_or_create(&labels).inc();
        self.http_seconds.get_or_create(&route).observe(took);
    }

    pub(crate) fn registry_request(&self, labels: RequestL, took: f64, bytes: (u64, u64)) {
        let route = RouteL {
            method: labels.method.clone(),
            route: labels.route.clone(),
        };
        self.registry_requests.get_or_create(&labels).inc();
        self.registry_seconds.get_or_create(&route).observe(took);
        for (direction, n) in [("in", bytes.0), ("out", bytes.1)] {
            if n > 0 {
                self.registry_bytes
                    .get_or_create(&DirectionL {
                        direction: direction.into(),
                    })
                    .inc_by(n);
            }
        }
    }
}

/// The build's trigger kind (`manual`, `webhook`, `poll`, …).
fn trigger_of(build: &Build) -> String {
    build.spec.trigger.kind().to_string()
}

/// Resident bytes and open descriptors of this process (Linux `/proc`).
fn process_stats() -> (i64, i64) {
    let rss = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let kib = s.lines().find_map(|l| l.strip_prefix("VmRSS:"))?;
            kib.trim().trim_end_matches("kB").trim().parse::<i64>().ok()
        })
        .map_or(0, |kib| kib * 1024);
    let fds = std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count() as i64);
    (rss, fds)
}
