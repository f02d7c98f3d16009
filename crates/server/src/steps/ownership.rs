//! Who owns a repository, and the tags that never move.
//!
//! A repository belongs to at most one config (`apply` refuses a second;
//! see `slipway_core::rebuild::check_ownership`). An ad-hoc build into a
//! config's repository moves only the tags it names, never the config's
//! floating tags. A build's unique and primary tags are never overwritten:
//! before they are pushed Slipway checks that they are free (in any
//! registry), and once pushed to the embedded registry they are locked
//! there, so not even a direct push with a push token can move them.

use crate::Services;
use crate::error::ApiError;
use slipway_builder::LogSink;
use slipway_core::{Build, ImageRef};
use std::path::Path;
use tokio_util::sync::CancellationToken;

/// The config whose output repository is `output`'s (registry and path),
/// if one is.
pub async fn owner_of(services: &Services, output: &ImageRef) -> Option<String> {
    let repository = output.name();
    let configs = services.store.list_configs().await.ok()?;
    configs
        .into_iter()
        .find(|s| {
            s.config
                .output_ref()
                .is_some_and(|r| r.name() == repository)
        })
        .map(|s| s.config.name)
}

/// The kinds of tags that never move, by their place in a build's tags:
/// the unique tag first, the primary `{version}-{release}` second (scratch
/// builds have only the unique one).
pub fn immutable_tags(build: &Build) -> Vec<(String, &'static str)> {
    let tags = &build.spec.tags;
    let mut out = Vec::new();
    if let Some(unique) = tags.first() {
        out.push((unique.clone(), "unique"));
    }
    if build.spec.release.is_some()
        && let Some(primary) = tags.get(1)
    {
        out.push((primary.clone(), "primary"));
    }
    out
}

/// Before anything is pushed: each immutable tag must be free, in any
/// registry. On a later attempt of the same build (re-queued after a
/// restart) its own earlier push may hold them, and is replaced.
pub async fn check_free(
    services: &Services,
    build: &Build,
    tags: &[(String, &'static str)],
    auth: Option<&Path>,
    log: &dyn LogSink,
) -> Result<(), String> {
    let output = &build.spec.output;
    let own = output.registry == services.own_registry;
    for (tag, kind) in tags {
        let tagged = output.with_tag(tag);
        let held = if own {
            match services
                .registry
                .meta
                .tag_lock(&output.repository, tag)
                .await
            {
                Ok(Some(lock)) if lock.build == build.id => {
                    // This build's own earlier attempt: it may move them.
                    let _ = services.registry.meta.unlock_build_tags(build.id).await;
                    None
                }
                Ok(Some(lock)) => Some(format!("{} (build {})", lock.digest, lock.build)),
                Ok(None) => match services.registry.meta.tag(&output.repository, tag).await {
                    Ok(Some(d)) if build.attempts <= 1 => Some(d),
                    Ok(_) => None,
                    Err(e) => return Err(format!("cannot read tag {tagged}: {e}")),
                },
                Err(e) => return Err(format!("cannot read tag {tagged}: {e}")),
            }
        } else if build.attempts <= 1 {
            external_digest(services, &tagged, auth).await?
        } else {
            None
        };
        if let Some(what) = held {
            return Err(format!(
                "the {kind} tag {tagged} exists already, naming {what}; unique and primary tags are never overwritten: give the build another release, or another repository"
            ));
        }
        log.line(&format!("==> {kind} tag {tag} is free"));
    }
    Ok(())
}

/// The digest `tagged` names in a registry other than ours, `None` when
/// the tag does not exist.
pub(crate) async fn external_digest(
    services: &Services,
    tagged: &ImageRef,
    auth: Option<&Path>,
) -> Result<Option<String>, String> {
    let never = CancellationToken::new();
    let read = services
        .buildah
        .inspect_raw(
            &tagged.to_string(),
            false,
            auth,
            &crate::steps::metadata::Discard,
            &never,
        )
        .await;
    match read {
        Ok(raw) => Ok(Some(crate::steps::inputs::manifest_digest(&raw))),
        Err(e) => {
            let text = e.to_string();
            let lower = text.to_ascii_lowercase();
            if lower.contains("manifest unknown") || lower.contains("not found") {
                Ok(None)
            } else {
                Err(format!(
                    "cannot check that {tagged} is free before pushing it: {text}"
                ))
            }
        }
    }
}

/// After the push: lock the immutable tags in the embedded registry to
/// `digest`.
pub async fn lock(
    services: &Services,
    build: &Build,
    tags: &[(String, &'static str)],
    digest: &str,
) -> Result<(), String> {
    let output = &build.spec.output;
    if output.registry != services.own_registry {
        return Ok(());
    }
    for (tag, kind) in tags {
        services
            .registry
            .meta
            .lock_tag(&output.repository, tag, digest, build.id, kind)
            .await
            .map_err(|e| format!("cannot lock {kind} tag {tag}: {e}"))?;
    }
    Ok(())
}

/// A reference into the embedded registry: `REPO[:TAG|@DIGEST]`, with or
/// without the registry's host.
pub fn own_ref(s: &Services, text: &str) -> Result<ImageRef, ApiError> {
    let r = ImageRef::parse_with_default(text, Some(&s.own_registry))
        .map_err(|e| ApiError::invalid(e.to_string()))?;
    if !s.own_registry_hosts().contains(&r.registry) {
        return Err(ApiError::invalid(format!(
            "{} is not this server's registry ({}); Slipway keeps the history of its own registry's tags only",
            r.registry, s.own_registry
        )));
    }
    Ok(r)
}
