//! SBOMs of builds: made from the inventory of a build's scan, attached
//! to its image as OCI referrers (one per format) and kept with the build.
//! An SBOM that cannot be attached is kept with the reason and never fails
//! the build.

use crate::Services;
use jiff::Timestamp;
use slipway_builder::LogSink;
use slipway_core::scan::inventory::Inventory;
use slipway_core::scan::sbom::{self, SbomFormat, SbomSubject, StoredSbom};
use slipway_core::scan::{ScanOutcome, ScanReport};
use slipway_core::{BuildId, ImageRef};
use slipway_scan::image::FetchOptions;
use slipway_scan::referrer::{self, Artifact};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

/// Whether the embedded registry has an SBOM (of any format) attached to
/// `repository@digest` now.
pub(crate) async fn attached(
    services: &Services,
    repository: &str,
    digest: &str,
) -> Result<bool, slipway_store::StoreError> {
    let referrers = services.registry.meta.referrers(repository, digest).await?;
    Ok(referrers.iter().any(|m| {
        m.artifact_type
            .as_deref()
            .is_some_and(|t| SbomFormat::ALL.iter().any(|f| f.media_type() == t))
    }))
}

/// After a rescan of `build`'s image (`reference`, by digest, in the
/// embedded registry): when no SBOM is attached to it any more (deleted
/// since the build), attach them again from the rescan's inventory. Only
/// a single-platform image: an index's SBOMs belong to its platform images.
pub(crate) async fn reattach(
    services: &Arc<Services>,
    build: BuildId,
    reference: &str,
    report: &ScanReport,
) {
    if !matches!(report.outcome, ScanOutcome::Passed | ScanOutcome::Failed) {
        return;
    }
    let Ok(r) = ImageRef::parse(reference) else {
        return;
    };
    let (Some(digest), true) = (
        &r.digest,
        services.own_registry_hosts().contains(&r.registry),
    ) else {
        return;
    };
    let Ok(Some(b)) = services.store.get_build(build).await else {
        return;
    };
    let [platform] = b.spec.platforms.as_slice() else {
        return;
    };
    if !matches!(attached(services, &r.repository, digest).await, Ok(false)) {
        return;
    }
    let Ok(work) = services.scratch_dir(&format!("{build}-sbom")).await else {
        return;
    };
    let host = crate::backends::LocalHost {
        services,
        build,
        reach: crate::backends::Reach::Attach(r.repository.clone()),
    };
    let own = services.own_registry_hosts();
    match slipway_worker::own_auth_for(&host, &own, reference, &work).await {
        Ok(auth) => {
            let log = services.logs.open_or_discard(build);
            let log = log.as_ref();
            log.line(&format!(
                "==> rescan: no SBOM is attached to {reference} any more; attaching them again"
            ));
            attach(
                services,
                (build, platform.as_str()),
                reference,
                &report.inventory,
                auth.as_deref(),
                log,
            )
            .await;
        }
        Err(e) => tracing::warn!("build {build}: cannot attach SBOMs again: {e}"),
    }
    let _ = tokio::fs::remove_dir_all(&work).await;
}

/// Write `inventory` in every format, attach each to `image`
/// (`registry/name@sha256:…`, the image of `platform`) and keep it with
/// `build`.
pub async fn attach(
    services: &Arc<Services>,
    (build, platform): (BuildId, &str),
    image: &str,
    inventory: &Inventory,
    auth: Option<&Path>,
    log: &dyn LogSink,
) {
    let Some((repository, digest)) = image.split_once('@') else {
        log.line(&format!(
            "sbom: {image} is not named by digest; no SBOM attached"
        ));
        return;
    };
    let subject = SbomSubject {
        repository: repository.to_string(),
        digest: digest.to_string(),
    };
    let created = Timestamp::now();
    let opts = FetchOptions {
        authfile: auth.map(Path::to_path_buf),
        tls_verify: services.buildah.tls_verify(image),
        ..FetchOptions::default()
    };
    for format in SbomFormat::ALL {
        let document = sbom::document(format, &subject, inventory, created);
        let text = match serde_json::to_string_pretty(&document) {
            Ok(t) => t,
            Err(e) => {
                log.line(&format!("sbom {format}: cannot write it: {e}"));
                continue;
            }
        };
        let (image_ref, body, opts) = (image.to_string(), text.clone(), opts.clone());
        let attached = tokio::task::spawn_blocking(move || {
            referrer::attach(
                &image_ref,
                &Artifact {
                    artifact_type: format.media_type(),
                    file_name: format.file_name(),
                    content: body.as_bytes(),
                    annotations: BTreeMap::from([
                        (
                            "org.opencontainers.image.created".to_string(),
                            created.to_string(),
                        ),
                        (
                            "org.opencontainers.image.description".to_string(),
                            format!("{} SBOM", format.spec()),
                        ),
                    ]),
                },
                &opts,
            )
            .map_err(|e| e.to_string())
        })
        .await
        .unwrap_or_else(|e| Err(format!("the attach task crashed: {e}")));
        let (reference, problem) = match attached {
            Ok(a) => {
                log.line(&format!(
                    "==> sbom {format} ({}, {} packages) attached: {}",
                    format.spec(),
                    inventory.packages.len(),
                    a.reference
                ));
                (Some(a.reference), None)
            }
            Err(e) => {
                log.line(&format!("sbom {format} not attached: {e}"));
                (None, Some(e))
            }
        };
        let stored = StoredSbom {
            build,
            platform: platform.to_string(),
            format,
            artifact_type: format.media_type().to_string(),
            subject: image.to_string(),
            reference,
            problem,
            packages: inventory.packages.len(),
            created_at: created,
        };
        if let Err(e) = services.store.record_sbom(&stored, &text).await {
            log.line(&format!("sbom {format} not recorded: {e}"));
        }
    }
}
