//! What a build's input key is made of that needs the world: the build
//! tools' versions and the digests base images resolve to now.

use crate::Services;
use slipway_core::rebuild::input_key::BuildInputs;
use slipway_core::rebuild::{ConfigGraph, GraphInput};
use slipway_core::{BuildSpec, ImageRef};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Slipway's and the build tools' versions (read once, with the Koji
/// buildroot), part of every input key.
pub async fn builder_version() -> String {
    let root = crate::steps::metadata::buildroot().await;
    let tools: Vec<String> = root
        .tools
        .iter()
        .map(|t| format!("{} {}", t.name, t.version))
        .collect();
    format!("slipway {}, {}", root.generator_version, tools.join(", "))
}

/// The digest of a manifest as a registry served it (`skopeo inspect --raw`).
pub fn manifest_digest(raw: &str) -> String {
    use slipway_core::oci::digest::{Algorithm, digest_of};
    digest_of(Algorithm::Sha256, raw.as_bytes()).to_string()
}

/// The digest `image` resolves to now: from the embedded registry's tags
/// directly, else by asking its registry, with `project`'s login there
/// if it has one (`unresolved` when it cannot say).
pub async fn resolve_digest(services: &Services, project: &str, image: &str) -> String {
    let Ok(r) = ImageRef::parse(image) else {
        return "unresolved".into();
    };
    if let Some(d) = &r.digest {
        return d.clone();
    }
    let tag = r.tag.clone().unwrap_or_else(|| "latest".into());
    if r.registry == services.own_registry {
        return match services.registry.meta.tag(&r.repository, &tag).await {
            Ok(Some(d)) => d,
            _ => "absent".into(),
        };
    }
    let logins = services
        .project_registry_logins(project, std::slice::from_ref(&r.registry))
        .await
        .unwrap_or_default();
    let dir = match logins.is_empty() {
        true => None,
        false => services.scratch_dir("resolve").await.ok(),
    };
    let auth = logins
        .first()
        .zip(dir.as_ref())
        .and_then(|(creds, dir)| slipway_worker::write_registry_auth(creds, dir).ok());
    let never = CancellationToken::new();
    let read = tokio::time::timeout(
        Duration::from_secs(30),
        services.buildah.inspect_raw(
            image,
            false,
            auth.as_deref(),
            &crate::steps::metadata::Discard,
            &never,
        ),
    )
    .await;
    if let Some(dir) = &dir {
        let _ = tokio::fs::remove_dir_all(dir).await;
    }
    match read {
        Ok(Ok(raw)) => manifest_digest(&raw),
        _ => "unresolved".into(),
    }
}

/// The input key of a config's build, and its FROM images recorded with
/// the config (refused when they would make the config graph cyclic).
pub async fn input_key(
    services: &Arc<Services>,
    config: &str,
    prepared: &BuildSpec,
    text: &str,
    context: String,
    commit: &str,
) -> Result<String, String> {
    let bases = slipway_dockerfile::base_images(text, &prepared.build_args)
        .map_err(|e| format!("the Dockerfile has an error: {e}"))?;
    if let Ok(stored) = services.store.list_configs().await {
        let pairs: Vec<GraphInput> = stored
            .iter()
            .filter_map(|s| {
                let bases = if s.config.name == config {
                    &bases
                } else {
                    &s.base_images
                };
                crate::steps::configs::graph_input(&s.config, bases)
            })
            .collect();
        ConfigGraph::build(&pairs).map_err(|e| e.to_string())?;
    }
    services
        .store
        .set_base_images(config, &bases, commit)
        .await
        .map_err(|e| format!("cannot record the base images: {e}"))?;
    let mut parents = BTreeMap::new();
    for b in &bases {
        let digest = match prepared.parent_digests.get(b) {
            Some(pinned) => pinned.rsplit('@').next().unwrap_or(pinned).to_string(),
            None => resolve_digest(services, prepared.project_name(), b).await,
        };
        parents.insert(b.clone(), digest);
    }
    let mut labels = prepared.labels.clone();
    for volatile in ["build-date", "io.slipway.build-id", "release"] {
        labels.remove(volatile);
    }
    Ok(BuildInputs {
        commit: commit.to_string(),
        context,
        parents,
        build_args: prepared.build_args.clone(),
        platforms: prepared.platforms.iter().map(|p| p.to_string()).collect(),
        labels,
        builder: builder_version().await,
    }
    .key())
}
