//! The orchestrator: what happens to a build when one of its worker builds
//! ends.
//!
//! - A platform failed (or errored, or was stopped): the build fails at
//!   once, naming the platform and its reason, and its running siblings are
//!   cancelled. A user's cancel ends it Cancelled instead.
//! - The last platform completed: the build's tag is published (the one
//!   platform image tagged, or an OCI image index of all platforms pushed)
//!   and the build completes.
//!
//! Exactly one caller publishes: the one whose worker build left no other
//! unfinished (`last`, decided inside the store's transaction). Ending the
//! build is a conditional update, so concurrent failures end it once.

use crate::Services;
use slipway_builder::LogSink;
use slipway_core::build::{Stage, StageTiming};
use slipway_core::{Build, BuildId, BuildPhase, ImageRef, PushedImage};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

pub async fn worker_ended(services: &Arc<Services>, id: BuildId, last: bool) {
    let build = match services.store.get_build(id).await {
        Ok(Some(b)) => b,
        Ok(None) => return,
        Err(e) => {
            tracing::error!("build {id}: cannot read it after a worker build ended: {e}");
            return;
        }
    };
    if build.phase.is_final() {
        if last {
            services.logs.close(id);
        }
        return;
    }
    let cancelled = services.store.cancel_requested(id).await.unwrap_or(false);
    let failed = build.workers.iter().find(|w| {
        matches!(
            w.phase,
            BuildPhase::Failed | BuildPhase::Error | BuildPhase::Cancelled
        )
    });
    let (phase, reason, image) = if cancelled {
        if !last {
            // Let the other platforms stop; the last one ends the build.
            services.cancel_running(id);
            return;
        }
        (
            BuildPhase::Cancelled,
            Some("cancelled by user".to_string()),
            None,
        )
    } else if let Some(w) = failed {
        let why = w.reason.clone().unwrap_or_else(|| w.phase.to_string());
        let reason = if build.spec.platforms.len() > 1 {
            format!("platform {} failed: {why}", w.platform)
        } else {
            why
        };
        let phase = match w.phase {
            BuildPhase::Error => BuildPhase::Error,
            _ => BuildPhase::Failed,
        };
        (phase, Some(reason), None)
    } else if last {
        match publish(services, &build).await {
            Ok(image) => (BuildPhase::Complete, None, Some(image)),
            Err(reason) => (BuildPhase::Failed, Some(reason), None),
        }
    } else {
        // Others still running.
        return;
    };
    let log = services.logs.open(id).ok();
    let end = match (&phase, &reason, &image) {
        (BuildPhase::Complete, _, Some(img)) => {
            format!("==> build {id} complete: {}", img.reference)
        }
        (BuildPhase::Cancelled, _, _) => format!("==> build {id} cancelled"),
        (p, Some(r), _) => format!("==> build {id} {}: {r}", p.as_str().to_lowercase()),
        (p, None, _) => format!("==> build {id} {}", p.as_str().to_lowercase()),
    };
    match services
        .store
        .finish(id, phase, reason.as_deref(), image.as_ref())
        .await
    {
        Ok(true) => {
            tracing::info!("build {id} {phase}");
            if let Some(log) = &log {
                log.line(&end);
            }
        }
        Ok(false) => tracing::info!("build {id} was already final"),
        Err(e) => tracing::error!("build {id}: cannot record the end ({phase}): {e}"),
    }
    // A wave may be waiting for this build.
    services.waves.notify_one();
    // Siblings still running have nothing left to do.
    services.cancel_running(id);
    if last || !has_running(services, id) {
        services.logs.close(id);
    }
}

fn has_running(services: &Services, id: BuildId) -> bool {
    services
        .running
        .lock()
        .map(|r| r.values().any(|(b, _)| *b == id))
        .unwrap_or(false)
}

/// Publish the build under each of its tags (unique tag first): the
/// platform image itself when there is one platform, an OCI image index of
/// all of them otherwise; then record its metadata. Returns the image under
/// its primary tag.
async fn publish(services: &Arc<Services>, build: &Build) -> Result<PushedImage, String> {
    let id = build.id;
    // Each platform's complete worker build and its image, in spec order.
    let mut platforms = Vec::new();
    for platform in &build.spec.platforms {
        let (worker, image) = build
            .workers
            .iter()
            .find(|w| &w.platform == platform && w.phase == BuildPhase::Complete)
            .and_then(|w| w.image.as_ref().map(|i| (w, i)))
            .ok_or_else(|| format!("platform {platform} completed without an image"))?;
        platforms.push((worker, image));
    }
    let images: Vec<PushedImage> = platforms.iter().map(|(_, i)| (*i).clone()).collect();
    let output = &build.spec.output;
    let work = services.work_dir.join(format!("{id}-publish"));
    tokio::fs::create_dir_all(&work)
        .await
        .map_err(|e| format!("cannot make work dir {}: {e}", work.display()))?;
    let host = crate::worker::LocalHost {
        services,
        build: id,
    };
    let auth = slipway_worker::own_auth_for(
        &host,
        &services.own_registry_hosts(),
        &output.to_string(),
        &work,
    )
    .await
    .map_err(|e| e.to_string())?;
    let log = services
        .logs
        .open(id)
        .map_err(|e| format!("cannot open the build log: {e}"))?;
    let log: &dyn LogSink = log.as_ref();
    // Publishing is short and is not cancelled half-way.
    let never = CancellationToken::new();
    // Builds prepared before tags were planned publish the output's tag.
    let tags = if build.spec.tags.is_empty() {
        vec![output.tag.clone().unwrap_or_else(|| "latest".into())]
    } else {
        build.spec.tags.clone()
    };
    let tagged = |tag: &str| ImageRef {
        tag: Some(tag.to_string()),
        digest: None,
        ..output.clone()
    };
    let result = async {
        let first = tagged(&tags[0]);
        let published = match images.as_slice() {
            [one] => {
                services
                    .buildah
                    .retag(one, &first, auth.as_deref(), log, &never)
                    .await
            }
            many => {
                services
                    .buildah
                    .push_index(many, &first, &work, auth.as_deref(), log, &never)
                    .await
            }
        }
        .map_err(|e| e.to_string())?;
        // Scan before the other tags move: an image that fails the
        // config's policy keeps only its unique tag. Each platform's
        // image is scanned (and gets its SBOMs) on its own.
        let started = std::time::Instant::now();
        let platform_images: Vec<(&str, &str)> = platforms
            .iter()
            .map(|(w, i)| (w.platform.as_str(), i.reference.as_str()))
            .collect();
        let scanned =
            crate::scanning::scan_build(services, build, &platform_images, auth.as_deref(), log)
                .await;
        let _ = services
            .store
            .record_stage(
                id,
                StageTiming {
                    stage: Stage::Scan,
                    duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                },
            )
            .await;
        scanned?;
        // The primary tag (the second, after the unique one) names the result.
        let mut primary = published.clone();
        for (i, tag) in tags.iter().enumerate().skip(1) {
            let image = services
                .buildah
                .retag(&published, &tagged(tag), auth.as_deref(), log, &never)
                .await
                .map_err(|e| e.to_string())?;
            if i == 1 {
                primary = image;
            }
        }
        // While the registry credentials are at hand.
        crate::metadata::record(services, build, &platforms, &primary, auth.as_deref()).await;
        Ok(primary)
    }
    .await;
    let _ = tokio::fs::remove_dir_all(&work).await;
    result
}
