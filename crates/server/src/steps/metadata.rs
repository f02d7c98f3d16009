//! Koji content-generator metadata: made when a build publishes (from what
//! the registry holds), kept in the store, served with the build log's
//! entry added once the build has ended.

use crate::Services;
use sha2::{Digest, Sha256};
use slipway_core::build::conventions::BuildKind;
use slipway_core::koji::{self, Buildroot, PlatformImage, Published, Tool};
use slipway_core::{Build, BuildId, ImageRef, PushedImage, WorkerBuild};
use std::path::Path;
use tokio::sync::OnceCell;

/// Make and keep the metadata of `build`, just published as `image` from
/// the `platforms`' worker builds, reading the registry with `auth`.
/// Failing here never fails the build: the reason becomes an event and the
/// metadata endpoint says it is missing.
pub async fn record(
    services: &Services,
    build: &Build,
    platforms: &[(&WorkerBuild, &PushedImage)],
    image: &PushedImage,
    auth: Option<&Path>,
) {
    let id = build.id;
    match make(services, build, platforms, image, auth).await {
        Ok(doc) => {
            // Scratch builds are throw-aways: never Koji builds (as in OSBS).
            if let Err(e) = services.store.set_metadata(id, &doc).await {
                tracing::error!("build {id}: cannot store its metadata: {e}");
            } else if services.koji.is_some()
                && build.spec.kind != BuildKind::Scratch
                && let Err(e) = services.store.queue_koji_import(id).await
            {
                // The Koji controller imports it once the build is Complete.
                tracing::error!("build {id}: cannot queue its Koji import: {e}");
            }
        }
        Err(e) => {
            tracing::warn!("build {id}: no metadata: {e}");
            let _ = services
                .store
                .record_event(id, &format!("no content-generator metadata: {e}"))
                .await;
        }
    }
}

async fn make(
    services: &Services,
    build: &Build,
    platforms: &[(&WorkerBuild, &PushedImage)],
    image: &PushedImage,
    auth: Option<&Path>,
) -> Result<serde_json::Value, String> {
    let repository = ImageRef {
        tag: None,
        digest: None,
        ..build.spec.output.clone()
    }
    .to_string();
    // Straight from the registry's API (a manifest and a config GET per
    // platform, one more for an index): no `skopeo inspect` processes.
    let opts = slipway_scan::image::FetchOptions {
        authfile: auth.map(Path::to_path_buf),
        tls_verify: services.buildah.tls_verify(&repository),
        ..Default::default()
    };
    let wanted: Vec<String> = platforms.iter().map(|(_, p)| p.reference.clone()).collect();
    let top_ref = image.reference.clone();
    // Published as an index unless it is a platform image itself.
    let index = !platforms.iter().any(|(_, p)| p.digest == image.digest);
    let (read, top) = tokio::task::spawn_blocking(move || {
        let read = wanted
            .iter()
            .map(|r| slipway_scan::distribution::read_image(r, &opts))
            .collect::<Result<Vec<_>, String>>()?;
        let top = if index {
            let (bytes, _) = slipway_scan::distribution::read_manifest(&top_ref, &opts)?;
            serde_json::from_slice::<serde_json::Value>(&bytes)
                .map_err(|e| format!("{top_ref}: the index is not JSON: {e}"))?
        } else {
            read.first().map(|(m, _)| m.clone()).unwrap_or_default()
        };
        Ok::<_, String>((read, top))
    })
    .await
    .map_err(|e| format!("the registry reader crashed: {e}"))??;
    let mut images = Vec::new();
    for ((worker, pushed), (manifest, config)) in platforms.iter().zip(read) {
        images.push(PlatformImage {
            platform: worker.platform.clone(),
            cluster: worker.cluster.clone(),
            manifest_digest: pushed.digest.clone(),
            manifest,
            config,
        });
    }
    let media_type = top
        .get("mediaType")
        .and_then(|m| m.as_str())
        .unwrap_or("application/vnd.oci.image.manifest.v1+json")
        .to_string();
    let published = Published {
        repository,
        digest: image.digest.clone(),
        is_index: top.get("manifests").is_some(),
        media_type,
    };
    let mut doc = koji::cg_metadata(
        build,
        &published,
        &images,
        buildroot().await,
        jiff::Timestamp::now(),
    )
    .map_err(|e| e.to_string())?;
    // Each image output names its file; record its size and checksum now:
    // a placeholder archive (the same bytes are made again when it is
    // uploaded), or with `upload_mode: archive` the platform image saved
    // as a docker-archive, kept until it is imported. Outputs are in the
    // platforms' order.
    let archives = services
        .koji
        .as_ref()
        .is_some_and(|k| k.upload_mode == crate::config::UploadMode::Archive);
    if let Some(outputs) = doc["output"].as_array_mut() {
        let images = outputs.iter_mut().filter(|o| o["type"] == "docker-image");
        for (o, (_, pushed)) in images.zip(platforms) {
            let (size, sum) = if archives {
                crate::steps::koji::save_archive(services, build.id, &pushed.reference, o, auth)
                    .await?
            } else {
                let bytes = slipway_koji::placeholder::archive(&koji::placeholder_readme(o));
                slipway_koji::placeholder::size_and_sha256(&bytes)
            };
            koji::set_file(o, size, &sum);
        }
    }
    Ok(doc)
}

/// A log sink for tool output that is not part of any build log.
pub(crate) struct Discard;

impl slipway_builder::LogSink for Discard {
    fn line(&self, _: &str) {}
}

/// This host and its build tools, read once.
pub(crate) async fn buildroot() -> &'static Buildroot {
    static ROOT: OnceCell<Buildroot> = OnceCell::const_new();
    ROOT.get_or_init(|| async {
        let os = tokio::fs::read_to_string("/etc/os-release")
            .await
            .ok()
            .and_then(|t| {
                t.lines()
                    .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                    .map(|v| v.trim_matches('"').to_string())
            })
            .unwrap_or_else(|| std::env::consts::OS.to_string());
        let mut tools = Vec::new();
        for name in ["buildah", "skopeo"] {
            tools.push(Tool {
                name: name.into(),
                version: tool_version(name).await.unwrap_or_else(|| "unknown".into()),
            });
        }
        Buildroot {
            os,
            tools,
            generator_version: env!("CARGO_PKG_VERSION").to_string(),
        }
    })
    .await
}

/// The served document: the stored one with the build log's entry.
pub async fn served(services: &Services, id: BuildId) -> Result<Option<serde_json::Value>, String> {
    let Some(mut doc) = services
        .store
        .metadata(id)
        .await
        .map_err(|e| e.to_string())?
    else {
        return Ok(None);
    };
    if let Ok(bytes) = services.logs.snapshot(id, 0).await {
        let sum = hex::encode(Sha256::digest(&bytes));
        if let Some(out) = doc.get_mut("output").and_then(|o| o.as_array_mut()) {
            out.push(koji::log_output(bytes.len() as u64, &sum));
        }
    }
    Ok(Some(doc))
}

/// The version a tool prints for `--version`: the word after `version`
/// (`buildah version 1.28.2 (…)`, `git version 2.47.3`) or `version:`
/// (ShellCheck's second line); `None` when it does not run within 10 s.
pub(crate) async fn tool_version(name: &str) -> Option<String> {
    let out = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        tokio::process::Command::new(name)
            .arg("--version")
            .kill_on_drop(true)
            .output(),
    )
    .await
    .ok()?
    .ok()
    .filter(|o| o.status.success())?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut words = text.split_whitespace();
    words.find(|w| *w == "version" || *w == "version:")?;
    words.next().map(str::to_string)
}
