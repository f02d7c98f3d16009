//! SBOMs of builds: made from the inventory of a build's scan, attached
//! to its image as OCI referrers (one per format) and kept with the build.
//! An SBOM that cannot be attached is kept with the reason and never fails
//! the build.

use crate::Services;
use jiff::Timestamp;
use slipway_builder::LogSink;
use slipway_core::BuildId;
use slipway_core::scan::inventory::Inventory;
use slipway_core::scan::sbom::{self, SbomFormat, SbomSubject, StoredSbom};
use slipway_scan::image::FetchOptions;
use slipway_scan::referrer::{self, Artifact};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

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
