//! Triggers that will most likely build nothing: answered at once instead
//! of after the debounce window.
//!
//! A manual, schedule or webhook trigger of a config whose branch head is
//! the commit of its last complete build, applied before that build and
//! with no build active, is a no-op unless a base image moved. Such a
//! trigger opens a wave with no window (when no wave is gathering: a burst
//! still coalesces into the one that is) and the API waits briefly for its
//! build to be prepared, so `slipway start --wait` and a webhook answer
//! with Skipped in a fraction of a second. The skip itself is still the
//! preparation's decision (the input key: commit, context tree, base
//! digests, args); a guess that was wrong only builds at once.

use crate::Services;
use slipway_core::BuildPhase;
use slipway_core::rebuild::trigger::Trigger;
use slipway_store::StoredConfig;
use std::time::{Duration, Instant};

/// How long reading the branch head may take before the trigger is
/// treated as an ordinary one.
const HEAD_TIMEOUT: Duration = Duration::from_secs(2);

/// How long the API waits for a likely no-op's build to be prepared.
const SETTLE: Duration = Duration::from_secs(3);

/// Whether `trigger` of `stored` will most likely build nothing.
pub async fn likely(
    services: &Services,
    stored: &StoredConfig,
    trigger: &Trigger,
    force: bool,
) -> bool {
    if force {
        return false;
    }
    let name = &stored.config.name;
    let Ok(Some((last, Some(_key), _))) = services.store.last_complete_build(name).await else {
        return false;
    };
    let Ok(Some(build)) = services.store.get_build(last).await else {
        return false;
    };
    let Some(built) = build.commit.as_deref() else {
        return false;
    };
    // Applied since: other args, context or platforms may change the key.
    if stored.updated_at >= build.created_at {
        return false;
    }
    if !matches!(services.store.active_builds(name).await.as_deref(), Ok([])) {
        return false;
    }
    let head = match trigger {
        // The webhook handler checked that the pushed commit is the head.
        Trigger::Webhook { commit, .. } => commit.clone(),
        Trigger::Manual | Trigger::Schedule { .. } => {
            let Ok(spec) = stored.config.spec(Some(&services.default_registry)) else {
                return false;
            };
            let branch = Some(stored.config.source.branch.as_str());
            match tokio::time::timeout(
                HEAD_TIMEOUT,
                slipway_source::resolve(&spec.source.location, branch),
            )
            .await
            {
                Ok(Ok(head)) => head.commit,
                _ => return false,
            }
        }
        // A poll fires because the head moved; parents, promotions and
        // package updates change the inputs.
        _ => return false,
    };
    head == built
}

/// Wait (up to [`SETTLE`]) until `config`'s member of `wave` has ended
/// or its build is past preparation.
pub async fn settle(services: &Services, wave: i64, config: &str) {
    let deadline = Instant::now() + SETTLE;
    while Instant::now() < deadline {
        let Ok(Some(w)) = services.store.get_wave(wave).await else {
            return;
        };
        let Some(m) = w.members.iter().find(|m| m.config == config) else {
            return;
        };
        if m.state.is_terminal() {
            return;
        }
        // Its build is really building (past preparation, not ended): the
        // answer will not come soon. An ended build's member is marked by
        // the wave controller a moment later: wait for that.
        if let Some(id) = m.build
            && !matches!(
                services.store.get_build(id).await,
                Ok(Some(b)) if b.phase == BuildPhase::New || b.phase.is_final()
            )
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
