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
use slipway_core::{BuildId, BuildPhase};
use std::sync::Arc;
use tracing::Instrument;

/// The orchestrator loop: each worker build's end is handled in a task of
/// its own (publishing one build must not hold up another's).
pub async fn run(services: Arc<Services>) {
    let Some(mut ended) = services.events.take_worker_ended() else {
        tracing::error!("the orchestrator was started twice");
        return;
    };
    while let Some(e) = ended.recv().await {
        let services = services.clone();
        let span = tracing::info_span!("build", id = e.build);
        tokio::spawn(
            async move { worker_ended(&services, e.build, e.last).await }.instrument(span),
        );
    }
}

async fn worker_ended(services: &Arc<Services>, id: BuildId, last: bool) {
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
        match crate::steps::publish::publish(services, &build).await {
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
    // The layouts the scan read are no longer needed.
    services.drop_image_layouts(&build).await;
    // A config may promote its complete builds on its own (before its
    // wave ends, so children following the environment see it).
    if phase == BuildPhase::Complete
        && let Some(config) = &build.spec.config
    {
        crate::steps::promotion::auto(services, id, config).await;
        crate::steps::reproduce::auto(services, id, config).await;
    }
    // A wave may be waiting for this build.
    services.events.waves.notify_one();
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
