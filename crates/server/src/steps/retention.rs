//! Retention: a config's builds beyond its history limits go, and with
//! them their tags in the embedded registry — the unique and primary tags
//! (unlocked first), the per-platform tags, and the other tags that still
//! name the build's image because the build put them there — then the
//! manifests nothing needs any more, so registry garbage collection frees
//! their blobs. Every tag removed is in its history (`prune`).

use crate::Services;
use crate::error::ApiError;
use slipway_core::Build;
use slipway_core::api::images::PrunedBuild;
use slipway_core::rebuild::image_config::ImageConfig;
use slipway_store::TagMove;

/// Prune `config`'s history now (or, with `dry_run`, say what would go).
pub async fn prune(
    services: &Services,
    config: &ImageConfig,
    dry_run: bool,
) -> Result<Vec<PrunedBuild>, ApiError> {
    let pruned = services
        .store
        .prune_history(&config.name, config.history, dry_run)
        .await?;
    let mut out = Vec::with_capacity(pruned.len());
    for build in &pruned {
        let (tags, manifests) = remove_tags(services, build, dry_run).await?;
        if !dry_run {
            services.logs.remove(build.id).await;
        }
        out.push(PrunedBuild {
            build: build.id,
            config: config.name.clone(),
            phase: build.phase.to_string(),
            tags,
            manifests,
        });
    }
    if !dry_run && !out.is_empty() {
        let ids: Vec<String> = out.iter().map(|b| b.build.to_string()).collect();
        let tags: usize = out.iter().map(|b| b.tags.len()).sum();
        let message = format!(
            "pruned build{} {} and {tags} tag{} (history keeps {} successful and {} failed)",
            if out.len() == 1 { "" } else { "s" },
            ids.join(", "),
            if tags == 1 { "" } else { "s" },
            config.history.successful,
            config.history.failed
        );
        tracing::info!("config {}: {message}", config.name);
        services
            .store
            .record_config_event(&config.name, &message, None)
            .await?;
    }
    Ok(out)
}

/// The tags of `build` that go with it, removed unless `dry_run`, and the
/// manifests deleted after them.
async fn remove_tags(
    services: &Services,
    build: &Build,
    dry_run: bool,
) -> Result<(Vec<String>, Vec<String>), ApiError> {
    let output = &build.spec.output;
    if !services.own_registry_hosts().contains(&output.registry) {
        // Another registry's tags are its owner's to manage.
        return Ok((Vec::new(), Vec::new()));
    }
    let meta = &services.registry.meta;
    let repository = &output.repository;
    let platform_tags: Vec<String> = build
        .spec
        .platforms
        .iter()
        .map(|p| format!("build-{}-{p}", build.id))
        .collect();
    let image = build.image.as_ref().map(|i| i.digest.as_str());
    let mut going: Vec<(String, String)> = Vec::new();
    for tag in build.spec.tags.iter().chain(&platform_tags) {
        let Some(digest) = meta.tag(repository, tag).await? else {
            continue;
        };
        let ours = if meta
            .tag_lock(repository, tag)
            .await?
            .is_some_and(|l| l.build == build.id)
            || platform_tags.contains(tag)
        {
            true
        } else if Some(digest.as_str()) == image {
            // A floating tag goes only if this build was the last to move
            // it (not if someone rolled it back to this image since).
            meta.tag_history(repository, tag, 1)
                .await?
                .first()
                .is_some_and(|e| e.build == Some(build.id))
        } else {
            false
        };
        if ours && !going.iter().any(|(t, _)| t == tag) {
            going.push((tag.clone(), digest));
        }
    }
    let shown = going
        .iter()
        .map(|(t, _)| format!("{}:{t}", output.name()))
        .collect();
    if dry_run {
        return Ok((shown, Vec::new()));
    }
    meta.unlock_build_tags(build.id).await?;
    let by = TagMove::new("slipway", Some(build.id), "prune");
    for (tag, _) in &going {
        meta.delete_tag(repository, tag, &by).await?;
    }
    let mut manifests = Vec::new();
    let mut digests: Vec<&str> = going.iter().map(|(_, d)| d.as_str()).collect();
    digests.sort_unstable();
    digests.dedup();
    for d in digests {
        manifests.extend(meta.prune_manifest(repository, d).await?);
    }
    Ok((shown, manifests))
}
