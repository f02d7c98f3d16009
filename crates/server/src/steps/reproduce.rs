//! Reproducible builds: a rebuild of a complete build's inputs
//! (`slipway rebuild --verify`, or `verify_reproducible: true` in its
//! config) and the comparison of the two builds' images.
//!
//! The rebuild is a scratch build of the original's prepared spec: the
//! same commit, labels (its release too), build arguments, platforms and
//! `SOURCE_DATE_EPOCH`, its base images named as the original named them
//! (a wave's pins kept; a tag that moved since is reported as the
//! difference). It publishes only its unique tag, is not
//! signed, scanned, tested or imported, and ends Failed when its images
//! differ, naming the first differing layer and the step that made it.

use crate::Services;
use slipway_builder::LogSink;
use slipway_core::build::conventions::BuildKind;
use slipway_core::supply::reproduce::{PlatformResult, Reproduction, first_difference};
use slipway_core::{Build, BuildPhase, PushedImage, WorkerBuild};
use slipway_scan::image::FetchOptions;
use std::path::Path;
use std::sync::Arc;

/// Why `original` cannot be rebuilt to check it, if it cannot.
fn refusal(original: &Build) -> Option<String> {
    let id = original.id;
    if original.spec.reproduces.is_some() {
        return Some(format!(
            "build {id} is itself a rebuild; verify the build it checked"
        ));
    }
    if original.phase != BuildPhase::Complete || original.image.is_none() {
        return Some(format!(
            "build {id} is {}: only a complete build's image can be rebuilt and compared",
            original.phase.as_str().to_lowercase()
        ));
    }
    if original.commit.is_none() || original.spec.source_date_epoch.is_none() {
        return Some(format!(
            "build {id} was built before Slipway recorded a build's commit time (SOURCE_DATE_EPOCH): its image cannot be reproduced; build it again and verify the new build"
        ));
    }
    None
}

/// Queue a rebuild of `original` that checks it. The caller has checked
/// that it may build in the original's project.
pub async fn queue(services: &Arc<Services>, original: &Build) -> Result<Build, RebuildError> {
    if let Some(why) = refusal(original) {
        return Err(RebuildError::Refused(why));
    }
    let mut spec = original.spec.clone();
    spec.reproduces = Some(original.id);
    spec.kind = BuildKind::Scratch;
    spec.release = None;
    spec.tags = Vec::new();
    spec.config = None;
    spec.wave = None;
    spec.force = true;
    spec.input_key = None;
    spec.explicit_platforms = true;
    spec.trigger = slipway_core::rebuild::trigger::Trigger::Manual;
    spec.output.tag = None;
    spec.output.digest = None;
    // The same commit, whatever the branch says now.
    spec.source.git_ref = original.commit.clone();
    // The base images as the original named them: pinning one the
    // original pulled by tag would change the image (buildah records the
    // name it pulled in the history); a wave's pins stay.
    let build = services
        .store
        .create_build(&spec)
        .await
        .map_err(|e| RebuildError::Store(e.to_string()))?;
    let _ = services
        .store
        .record_event(
            original.id,
            &format!("rebuild {} queued to verify it is reproducible", build.id),
        )
        .await;
    services.events.prepare.notify_one();
    Ok(build)
}

/// Why a rebuild was not queued.
#[derive(Debug)]
pub enum RebuildError {
    Refused(String),
    Store(String),
}

/// After a complete build of a config that asks for it
/// (`verify_reproducible: true`), queue its rebuild.
pub async fn auto(services: &Arc<Services>, id: slipway_core::BuildId, config: &str) {
    let Ok(Some(stored)) = services.store.get_config(config).await else {
        return;
    };
    if !stored.config.verify_reproducible {
        return;
    }
    let Ok(Some(build)) = services.store.get_build(id).await else {
        return;
    };
    let message = match queue(services, &build).await {
        Ok(rebuild) => format!(
            "build {id}: rebuild {} queued to verify it is reproducible",
            rebuild.id
        ),
        Err(RebuildError::Refused(why) | RebuildError::Store(why)) => {
            format!("build {id}: cannot verify it is reproducible: {why}")
        }
    };
    let _ = services
        .store
        .record_config_event(config, &message, Some(id))
        .await;
}

/// Compare the rebuild `rebuild`'s images with its original's, keep the
/// result with the original, and say it. `Err` when they differ (the
/// rebuild fails with it) or cannot be compared.
pub async fn compare(
    services: &Services,
    rebuild: &Build,
    platforms: &[(&WorkerBuild, &PushedImage)],
    published: &PushedImage,
    auth: Option<&Path>,
    log: &dyn LogSink,
) -> Result<(), String> {
    let Some(original_id) = rebuild.spec.reproduces else {
        return Ok(());
    };
    let original = services
        .store
        .get_build(original_id)
        .await
        .map_err(|e| format!("cannot read build {original_id}: {e}"))?
        .ok_or_else(|| format!("build {original_id} is gone: nothing to compare with"))?;
    let original_image = original
        .image
        .as_ref()
        .ok_or_else(|| format!("build {original_id} has no image to compare with"))?;
    let output = &rebuild.spec.output;
    let opts = FetchOptions {
        authfile: auth.map(Path::to_path_buf),
        tls_verify: services.buildah.tls_verify(&output.to_string()),
        ..Default::default()
    };
    log.line(&format!(
        "==> comparing with build {original_id}: {} and {}",
        original_image.digest, published.digest
    ));
    let mut results = Vec::new();
    for (worker, image) in platforms {
        let theirs = original
            .workers
            .iter()
            .find(|w| w.platform == worker.platform && w.phase == BuildPhase::Complete)
            .and_then(|w| w.image.as_ref())
            .ok_or_else(|| {
                format!(
                    "build {original_id} has no {} image to compare with",
                    worker.platform
                )
            })?;
        let identical = theirs.digest == image.digest;
        let difference = if identical {
            None
        } else {
            let (a, b, opts) = (
                theirs.reference.clone(),
                image.reference.clone(),
                opts.clone(),
            );
            let read = tokio::task::spawn_blocking(move || {
                let a = slipway_scan::distribution::read_image(&a, &opts)?;
                let b = slipway_scan::distribution::read_image(&b, &opts)?;
                Ok::<_, String>((a, b))
            })
            .await
            .map_err(|e| format!("the image reader crashed: {e}"))?
            .map_err(|e| format!("cannot read the images to compare them: {e}"))?;
            let ((am, ac), (bm, bc)) = read;
            first_difference((&am, &ac), (&bm, &bc))
        };
        results.push(PlatformResult {
            platform: worker.platform.to_string(),
            original: theirs.digest.clone(),
            rebuilt: image.digest.clone(),
            identical,
            difference,
        });
    }
    let reproduction = Reproduction {
        build: original_id,
        rebuild: rebuild.id,
        identical: original_image.digest == published.digest && results.iter().all(|p| p.identical),
        original: original_image.digest.clone(),
        rebuilt: published.digest.clone(),
        platforms: results,
        checked_at: slipway_core::api::time::to_second(jiff::Timestamp::now()).to_string(),
    };
    let summary = reproduction.summary();
    log.line(&format!("==> {summary}"));
    for p in &reproduction.platforms {
        if let Some(d) = &p.difference {
            log.line(&format!("    {}: {}", p.platform, d.describe()));
        }
    }
    let detail = serde_json::to_string(&reproduction).map_err(|e| e.to_string())?;
    services
        .store
        .put_reproduction(original_id, rebuild.id, reproduction.identical, &detail)
        .await
        .map_err(|e| format!("cannot keep the comparison with build {original_id}: {e}"))?;
    let _ = services.store.record_event(original_id, &summary).await;
    if reproduction.identical {
        Ok(())
    } else {
        Err(summary)
    }
}
