//! Scanning images: at the end of every build (before its tags move), on
//! each config's rescan schedule, and when a user asks
//! (`POST /scans`). `slipway-scan` does the work on a blocking thread;
//! this module picks the policy, reaches the registry with the right
//! credentials and TLS setting, and keeps the result.

use crate::Services;
use slipway_builder::LogSink;
use slipway_core::scan::{ScanOutcome, ScanPolicy, ScanReason, ScanReport, Scanner, StoredScan};
use slipway_core::{Build, BuildId};
use slipway_scan::image::FetchOptions;
use std::path::Path;
use std::sync::Arc;

/// The policy a build's image is scanned with: its config's, or the
/// default (integrity and capabilities, report only) for builds without
/// one or whose config is gone.
pub async fn policy_of(services: &Services, config: Option<&str>) -> ScanPolicy {
    let Some(name) = config else {
        return ScanPolicy::default();
    };
    match services.store.get_config(name).await {
        Ok(Some(c)) => c.config.scan,
        _ => ScanPolicy::default(),
    }
}

/// The most the layer cache of scans (`<data-dir>/scan-cache`) keeps: the
/// descriptions of layers already read (file tables, digests, package
/// databases), the least recently used going first.
const SCAN_CACHE_BYTES: u64 = 2 * 1024 * 1024 * 1024;

/// The layer cache of scans, the server's and its local workers'.
pub fn layer_cache(services: &Services) -> slipway_scan::layers::LayerCache {
    slipway_scan::layers::LayerCache {
        dir: services.data_dir.join("scan-cache"),
        max_bytes: SCAN_CACHE_BYTES,
    }
}

/// Where a scan read the image from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReadFrom {
    /// The worker scanned it from its layout while pushing it; the server
    /// ran only the policy's inventory scanners.
    Worker,
    /// The OCI layout a local worker pushed it from.
    Layout,
    /// The embedded registry's blob store, or downloaded.
    Registry,
}

/// Scan `reference` and keep the report. An image of the embedded
/// registry is read in place from its blob store; another registry's is
/// fetched with `auth`, a registry auth file, when the caller has one.
pub async fn scan(
    services: &Arc<Services>,
    reference: &str,
    policy: &ScanPolicy,
    by: (ScanReason, Option<BuildId>, Option<&str>),
    auth: Option<&Path>,
) -> Result<StoredScan, String> {
    scan_from(services, reference, policy, by, auth, None, None)
        .await
        .map(|(stored, _)| stored)
}

/// [`scan`], finishing the scan a worker made of exactly `reference`
/// (`worker`), else reading the image from the OCI layout `layout` when it
/// holds exactly `reference` (the one a local worker pushed from); and
/// where it read it.
async fn scan_from(
    services: &Arc<Services>,
    reference: &str,
    policy: &ScanPolicy,
    by: (ScanReason, Option<BuildId>, Option<&str>),
    auth: Option<&Path>,
    layout: Option<std::path::PathBuf>,
    worker: Option<ScanReport>,
) -> Result<(StoredScan, ReadFrom), String> {
    let (reason, build, config) = by;
    let wanted = reference.rsplit_once('@').map(|(_, d)| d.to_string());
    // Only a report of this very image, by digest, is taken.
    let worker = worker.filter(|r| {
        r.reference == reference
            && r.manifest_digest.is_some()
            && r.manifest_digest == wanted
            && matches!(r.outcome, ScanOutcome::Passed | ScanOutcome::Failed)
    });
    let work = services.scratch_dir("scan").await?;
    let cache = layer_cache(services);
    // In place: nothing is copied, and no layer goes through HTTP.
    let local = match worker {
        Some(_) => None,
        None => in_own_registry(services, reference).await,
    };
    let opts = FetchOptions {
        authfile: auth.map(Path::to_path_buf),
        tls_verify: services.buildah.tls_verify(reference),
        ..FetchOptions::default()
    };
    let (r, p, w) = (reference.to_string(), policy.clone(), work.clone());
    let started = std::time::Instant::now();
    let report = tokio::task::spawn_blocking(move || {
        // Another registry's image: from the layout the worker pushed it
        // from, when that holds exactly this image; else downloaded.
        let from_layout = || {
            let img = slipway_scan::image::read_layout(&r, layout.as_deref()?).ok()?;
            (Some(&img.manifest_digest) == wanted.as_ref()).then_some(img)
        };
        let scanned = match (worker, local) {
            (Some(report), _) => (slipway_scan::complete(report, &p), ReadFrom::Worker),
            (None, Some(Ok(img))) => (
                slipway_scan::scan_fetched(&img, &w, &p, Some(&cache)),
                ReadFrom::Registry,
            ),
            (None, Some(Err((outcome, why)))) => {
                (ScanReport::unscanned(&r, outcome, why), ReadFrom::Registry)
            }
            (None, None) => match from_layout() {
                Some(img) => (
                    slipway_scan::scan_fetched(&img, &w, &p, Some(&cache)),
                    ReadFrom::Layout,
                ),
                None => (
                    slipway_scan::scan_image(&r, &w.join("image"), &opts, &p, Some(&cache)),
                    ReadFrom::Registry,
                ),
            },
        };
        crate::memory::give_back();
        scanned
    })
    .await
    .unwrap_or_else(|e| {
        let why = format!("the scan crashed: {e}");
        (
            ScanReport::unscanned(reference, ScanOutcome::Error, why),
            ReadFrom::Registry,
        )
    });
    let _ = tokio::fs::remove_dir_all(&work).await;
    services
        .metrics
        .scanned(&report.0, reason.as_str(), started.elapsed().as_secs_f64());
    services
        .store
        .record_scan(build, config, reason, &report.0)
        .await
        .map(|stored| (stored, report.1))
        .map_err(|e| format!("cannot keep the scan report: {e}"))
}

/// `reference` as the embedded registry holds it (`None`: it names
/// another registry): its manifest (for this machine's platform, from an
/// index), config and layer files in the blob store, or why it cannot be
/// read. Callers have checked the right to read it.
async fn in_own_registry(
    services: &Services,
    reference: &str,
) -> Option<Result<slipway_scan::image::FetchedImage, (ScanOutcome, String)>> {
    let r = slipway_core::ImageRef::parse(reference).ok()?;
    if !services.own_registry_hosts().contains(&r.registry) {
        return None;
    }
    let meta = &services.registry.meta;
    let found = match (&r.digest, &r.tag) {
        (Some(d), _) => meta
            .manifest(&r.repository, d)
            .await
            .map(|m| m.map(|m| m.digest)),
        (None, tag) => {
            meta.tag(&r.repository, tag.as_deref().unwrap_or("latest"))
                .await
        }
    };
    let digest = match found {
        Ok(Some(d)) => d,
        Ok(None) => {
            return Some(Err((
                ScanOutcome::Absent,
                format!("{reference} does not exist in the embedded registry"),
            )));
        }
        Err(e) => return Some(Err((ScanOutcome::Error, e.to_string()))),
    };
    let registry = services.registry.clone();
    let reference = reference.to_string();
    // Blobs in object storage are fetched into a scratch dir of the
    // scan's own (files on disk are read where they are).
    let scratch = match services.scratch_dir("scan-blobs").await {
        Ok(d) => d,
        Err(e) => return Some(Err((ScanOutcome::Error, e))),
    };
    let dir = scratch.clone();
    let rt = tokio::runtime::Handle::current();
    let read = tokio::task::spawn_blocking(move || {
        slipway_scan::image::read_store(&reference, &digest, None, &|algo, hex| {
            let d: slipway_core::oci::digest::Digest = format!("{algo}:{hex}").parse().ok()?;
            rt.block_on(registry.blobs.local_file(&d, &dir))
                .ok()
                .flatten()
        })
    })
    .await;
    let _ = tokio::fs::remove_dir_all(&scratch).await;
    Some(match read {
        Ok(Ok(img)) => Ok(img),
        Ok(Err(e)) => Err((ScanOutcome::Error, e.to_string())),
        Err(e) => Err((ScanOutcome::Error, format!("the scan crashed: {e}"))),
    })
}

/// Scan a build's freshly pushed platform images (`(platform,
/// registry/name@sha256:…)`, each on its own) into its log and attach
/// their SBOMs. `Err` with the reason when findings fail the config's
/// policy on any platform; a scan that could not run is logged and
/// recorded but never fails the build.
pub async fn scan_build(
    services: &Arc<Services>,
    build: &Build,
    images: &[(&str, &str)],
    auth: Option<&Path>,
    log: &dyn LogSink,
) -> Result<(), String> {
    let config = build.spec.config.as_deref();
    let policy = policy_of(services, config).await;
    let several = images.len() > 1;
    let mut failing: Vec<String> = Vec::new();
    for &(platform, reference) in images {
        let on = if several {
            format!(" [{platform}]")
        } else {
            String::new()
        };
        log.line(&format!(
            "==> scanning {reference}{on} ({})",
            policy
                .enabled()
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
        let layout = services.image_layout(build.id, platform);
        let stored = match scan_from(
            services,
            reference,
            &policy,
            (ScanReason::Build, Some(build.id), config),
            auth,
            Some(layout),
            services.take_worker_scan(build.id, platform),
        )
        .await
        {
            Ok((s, from)) => {
                match from {
                    ReadFrom::Worker => log.line(
                        "    the worker scanned the image while it pushed it (nothing downloaded)",
                    ),
                    ReadFrom::Layout => log.line(
                        "    read from the image the worker pushed from (nothing downloaded)",
                    ),
                    ReadFrom::Registry => {}
                }
                s
            }
            Err(e) => {
                log.line(&format!("scan not recorded: {e}"));
                let _ = services
                    .store
                    .record_event(build.id, &format!("scan{on} not recorded: {e}"))
                    .await;
                continue;
            }
        };
        let report = &stored.report;
        for line in summary(report, &policy.fail_on) {
            log.line(&line);
        }
        // SBOMs from what the scan found installed, whether or not the
        // findings fail the build: the image keeps its unique tag either way.
        if matches!(report.outcome, ScanOutcome::Passed | ScanOutcome::Failed) {
            crate::steps::sboms::attach(
                services,
                (build.id, platform),
                reference,
                &report.inventory,
                auth,
                log,
            )
            .await;
        }
        let _ = services
            .store
            .record_event(
                build.id,
                &match report.outcome {
                    ScanOutcome::Absent | ScanOutcome::Error => format!(
                        "scan {}{on}: {}: {}",
                        stored.id,
                        report.outcome,
                        report.problems.first().map_or("", String::as_str)
                    ),
                    _ => format!(
                        "scan {}{on}: {} ({} findings)",
                        stored.id,
                        report.outcome,
                        report.findings.len()
                    ),
                },
            )
            .await;
        if report.outcome == ScanOutcome::Failed {
            failing.extend(report.failing(&policy.fail_on).map(|f| format!("{f}{on}")));
        }
    }
    if let Some(first) = failing.first() {
        return Err(format!(
            "the scan failed the config's policy (fail_on: {}): {} finding{}, first: {first}; see `slipway show {} --scan`",
            policy
                .fail_on
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            failing.len(),
            if failing.len() == 1 { "" } else { "s" },
            build.id
        ));
    }
    Ok(())
}

/// Log lines for a report: one per finding (failing ones marked), one
/// per problem, and the outcome.
pub fn summary(report: &ScanReport, fail_on: &[Scanner]) -> Vec<String> {
    let mut out = Vec::new();
    for f in &report.findings {
        let mark = if fail_on.contains(&f.scanner()) {
            "FAIL"
        } else {
            "info"
        };
        out.push(format!("scan {mark} [{}] {f}", f.scanner()));
    }
    for p in &report.problems {
        out.push(format!("scan note: {p}"));
    }
    out.push(format!(
        "==> scan {}: {} findings, {} packages",
        report.outcome,
        report.findings.len(),
        report.inventory.packages.len()
    ));
    out
}

/// Scan the image of `config`'s newest complete build again; `None` when
/// it has none or the scan could not be kept.
pub async fn rescan(
    services: &Arc<Services>,
    name: &str,
    policy: &ScanPolicy,
) -> Option<StoredScan> {
    // By digest: if the image was deleted from the registry, the scan
    // says it is absent.
    let Ok(Some((build, _, _))) = services.store.last_complete_build(name).await else {
        return None; // never built: nothing to rescan yet
    };
    let reference = services
        .store
        .get_build(build)
        .await
        .ok()
        .flatten()
        .and_then(|b| b.image)
        .map(|i| i.reference)?;
    match scan(
        services,
        &reference,
        policy,
        (ScanReason::Rescan, Some(build), Some(name)),
        None,
    )
    .await
    {
        Ok(s) => {
            crate::steps::sboms::reattach(services, build, &reference, &s.report).await;
            crate::steps::notify::scan_done(services, &s).await;
            tracing::info!(
                "config {name}: rescan {} of {reference}: {}",
                s.id,
                s.report.outcome
            );
            let _ = services
                .store
                .record_config_event(
                    name,
                    &format!(
                        "rescan {} of {reference}: {} ({} findings)",
                        s.id,
                        s.report.outcome,
                        s.report.findings.len()
                    ),
                    Some(build),
                )
                .await;
            Some(s)
        }
        Err(e) => {
            tracing::warn!("config {name}: rescan of {reference} not recorded: {e}");
            None
        }
    }
}
