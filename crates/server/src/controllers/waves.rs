//! Automatic rebuilds: applying image configs, turning triggers into waves,
//! and driving each wave through the planner.
//!
//! ```text
//! webhook / poll / schedule / start ──► store.add_trigger (joins the wave
//!     still gathering, or opens one for the debounce window)
//! driver (every second, and when woken):
//!   gathering wave, window closed ──► members = roots + descendants
//!       (through configs whose parent trigger is on), parents first
//!   running wave ──► member states from their builds ──► WavePlanner
//!       ──► Start: create the build (trigger, wave, priority = remaining
//!                  critical path, parents pinned to their new digests)
//!           Skip / Block: recorded with the reason
//! ```
//!
//! The decisions are [`slipway_core::rebuild`]'s; this module only reads
//! state, asks, and records.

use crate::Services;
use crate::error::ApiError;
use crate::steps::configs::{current_graph, prune_history};
use slipway_core::rebuild::trigger::Trigger;
use slipway_core::rebuild::{
    ConfigGraph, Decision, MemberState, Wave, WaveMember, WaveMemberRecord, WavePlanner, WaveState,
};
use slipway_core::{BuildId, BuildPhase, ImageRef};
use slipway_store::StoredConfig;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

/// The duration the planner assumes for a config that never built.
const DEFAULT_ESTIMATE_SECONDS: u64 = 300;

/// The wave driver: forms and advances waves, every second and when woken.
pub async fn run(services: Arc<Services>) {
    loop {
        if super::leases::leads(&services, "waves", Duration::from_secs(30)).await
            && let Err(e) = drive(&services).await
        {
            tracing::error!("rebuild waves: {}", e.message);
        }
        let _ =
            tokio::time::timeout(Duration::from_secs(1), services.events.waves.notified()).await;
    }
}

async fn drive(services: &Arc<Services>) -> Result<(), ApiError> {
    let waves = services.store.due_waves().await?;
    if waves.is_empty() {
        return Ok(());
    }
    let (stored, graph) = current_graph(services).await?;
    let configs: HashMap<&str, &StoredConfig> =
        stored.iter().map(|s| (s.config.name.as_str(), s)).collect();
    let estimates = services.store.build_durations().await?;
    // Configs with unfinished members in running waves: a gathering wave
    // that shares one waits, so a config is never in two running waves
    // (unless its run policy is Parallel).
    let parallel = |name: &str| {
        configs.get(name).is_some_and(|s| {
            s.config.run_policy == slipway_core::rebuild::image_config::RunPolicy::Parallel
        })
    };
    let mut busy: HashSet<String> = HashSet::new();
    for w in waves.iter().filter(|w| w.state == WaveState::Running) {
        for m in &w.members {
            if !m.state.is_terminal() && !parallel(&m.config) {
                busy.insert(m.config.clone());
            }
        }
    }
    for wave in waves {
        match wave.state {
            WaveState::Gathering => {
                let members = form_wave(services, &wave, &graph, &configs).await?;
                if members.iter().any(|m| busy.contains(&m.config)) {
                    continue;
                }
                for m in members.iter().filter(|m| !parallel(&m.config)) {
                    busy.insert(m.config.clone());
                }
                services.store.start_wave(wave.id, &members).await?;
                tracing::info!("wave {}: {} configs", wave.id, members.len());
                if let Some(w) = services.store.get_wave(wave.id).await? {
                    advance(services, &w, &graph, &configs, &estimates).await?;
                }
            }
            WaveState::Running => advance(services, &wave, &graph, &configs, &estimates).await?,
            WaveState::Done => {}
        }
    }
    Ok(())
}

/// The members of a gathering wave: its roots and their descendants
/// through configs whose parent trigger is on, parents first.
async fn form_wave(
    services: &Services,
    wave: &Wave,
    graph: &ConfigGraph,
    configs: &HashMap<&str, &StoredConfig>,
) -> Result<Vec<WaveMemberRecord>, ApiError> {
    let roots: HashMap<usize, &WaveMemberRecord> = wave
        .members
        .iter()
        .filter_map(|m| graph.index_of(&m.config).map(|i| (i, m)))
        .collect();
    let mut included = vec![false; graph.len()];
    let mut stack: Vec<usize> = roots.keys().copied().collect();
    while let Some(i) = stack.pop() {
        if std::mem::replace(&mut included[i], true) {
            continue;
        }
        for &c in graph.children(i) {
            let follows = configs
                .get(graph.name(c))
                .is_some_and(|s| s.config.triggers.parent);
            if follows {
                stack.push(c);
            }
        }
    }
    let mut members = Vec::new();
    for &i in graph.topological() {
        if !included[i] {
            continue;
        }
        let name = graph.name(i);
        let previous = services
            .store
            .last_complete_build(name)
            .await?
            .and_then(|(_, _, d)| d);
        let root = roots.get(&i);
        members.push(WaveMemberRecord {
            config: name.to_string(),
            root: root.is_some(),
            trigger: root.and_then(|r| r.trigger.clone()),
            force: root.is_some_and(|r| r.force),
            state: MemberState::Waiting,
            build: None,
            previous_digest: previous,
            reason: None,
        });
    }
    // Triggers for configs deleted meanwhile are dropped with a note.
    for m in &wave.members {
        if graph.index_of(&m.config).is_none() {
            members.push(WaveMemberRecord {
                state: MemberState::Skipped,
                reason: Some("the config was deleted".into()),
                ..m.clone()
            });
        }
    }
    Ok(members)
}

/// Bring members up to date with their builds, then act on the planner's
/// decisions.
async fn advance(
    services: &Arc<Services>,
    wave: &Wave,
    graph: &ConfigGraph,
    configs: &HashMap<&str, &StoredConfig>,
    estimates: &HashMap<String, u64>,
) -> Result<(), ApiError> {
    let mut records: HashMap<String, WaveMemberRecord> = HashMap::new();
    for m in &wave.members {
        let mut m = m.clone();
        if m.state == MemberState::Building
            && let Some(id) = m.build
            && let Some(b) = services.store.get_build(id).await?
            && b.phase.is_final()
        {
            let (state, reason) = match b.phase {
                BuildPhase::Complete => {
                    let digest = b.image.as_ref().map(|i| i.digest.clone());
                    let changed = digest.is_some() && digest != m.previous_digest;
                    (MemberState::Built { changed }, None)
                }
                BuildPhase::Skipped => (MemberState::Skipped, b.reason.clone()),
                _ => (
                    MemberState::Failed,
                    Some(format!(
                        "build {id} {}: {}",
                        b.phase.as_str().to_lowercase(),
                        b.reason.as_deref().unwrap_or("no reason recorded")
                    )),
                ),
            };
            services
                .store
                .set_member(wave.id, &m.config, state, None, reason.as_deref())
                .await?;
            m.state = state;
            m.reason = reason;
            if let Some(stored) = configs.get(m.config.as_str()) {
                prune_history(services, &stored.config).await?;
            }
        }
        records.insert(m.config.clone(), m);
    }
    let members: Vec<WaveMember> = records
        .values()
        .filter_map(|m| {
            graph.index_of(&m.config).map(|i| WaveMember {
                config: i,
                root: m.root,
                state: m.state,
            })
        })
        .collect();
    let mut planner = WavePlanner::new(graph, members, |i| {
        estimates
            .get(graph.name(i))
            .copied()
            .unwrap_or(DEFAULT_ESTIMATE_SECONDS)
    });
    let decisions = planner.decide();
    let mut waiting_on_policy = false;
    for d in decisions {
        match d {
            Decision::Start { config, priority } => {
                let name = graph.name(config);
                let (Some(stored), Some(member)) = (configs.get(name), records.get(name)) else {
                    continue;
                };
                match start_member(services, wave, member, stored, graph, &records, priority)
                    .await?
                {
                    Some(id) => {
                        tracing::info!("wave {}: {name} builds as build {id}", wave.id);
                    }
                    None => waiting_on_policy = true,
                }
            }
            Decision::Skip { config } => {
                services
                    .store
                    .set_member(
                        wave.id,
                        graph.name(config),
                        MemberState::Skipped,
                        None,
                        Some("no parent got a new image"),
                    )
                    .await?;
            }
            Decision::Block { config, failed } => {
                let failed_name = graph.name(failed);
                let why = records
                    .get(failed_name)
                    .and_then(|m| m.reason.clone().or(m.build.map(|b| format!("build {b}"))))
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default();
                services
                    .store
                    .set_member(
                        wave.id,
                        graph.name(config),
                        MemberState::Blocked,
                        None,
                        Some(&format!("not built: {failed_name} failed{why}")),
                    )
                    .await?;
            }
        }
    }
    if planner.is_done() && !waiting_on_policy {
        services.store.finish_wave(wave.id).await?;
        tracing::info!("wave {} done", wave.id);
        let makespan = wave.started_at.map(|t| {
            jiff::Timestamp::now()
                .duration_since(t)
                .as_secs_f64()
                .max(0.0)
        });
        services.metrics.wave_done(wave.members.len(), makespan);
    }
    Ok(())
}

/// Queue the build of one wave member, honouring the config's run policy.
/// `None` when the policy makes it wait for another build of the config.
async fn start_member(
    services: &Arc<Services>,
    wave: &Wave,
    member: &WaveMemberRecord,
    stored: &StoredConfig,
    graph: &ConfigGraph,
    records: &HashMap<String, WaveMemberRecord>,
    priority: u64,
) -> Result<Option<BuildId>, ApiError> {
    use slipway_core::rebuild::image_config::RunPolicy;
    let config = &stored.config;
    let active = services.store.active_builds(&config.name).await?;
    // Serial policies wait for the config's other builds (a wave that
    // shares no config with a running one has none, unless the policy was
    // Parallel until a moment ago). SerialLatestOnly cancelled the queued
    // ones when the newer trigger arrived.
    if config.run_policy != RunPolicy::Parallel && !active.is_empty() {
        return Ok(None);
    }
    let Some(index) = graph.index_of(&config.name) else {
        return Ok(None);
    };
    // Parents rebuilt in this wave: the trigger and the pinned digests.
    let mut parent_trigger = None;
    let mut pins = BTreeMap::new();
    for &p in graph.parents(index) {
        let parent = graph.name(p);
        let Some(pm) = records.get(parent) else {
            continue;
        };
        let (MemberState::Built { .. }, Some(pb)) = (pm.state, pm.build) else {
            continue;
        };
        let Some(build) = services.store.get_build(pb).await? else {
            continue;
        };
        let (Some(image), output) = (build.image, &build.spec.output) else {
            continue;
        };
        if pm.state == (MemberState::Built { changed: true }) && parent_trigger.is_none() {
            parent_trigger = Some(Trigger::Parent {
                config: parent.to_string(),
                build: pb,
                digest: image.digest.clone(),
            });
        }
        for base in &stored.base_images {
            if let Ok(r) = ImageRef::parse(base)
                && r.digest.is_none()
                && r.registry == output.registry
                && r.repository == output.repository
            {
                pins.insert(
                    base.clone(),
                    format!("{}/{}@{}", r.registry, r.repository, image.digest),
                );
            }
        }
    }
    let trigger = match (&member.trigger, parent_trigger) {
        (Some(t), _) if member.root => t.clone(),
        (_, Some(t)) => t,
        (Some(t), None) => t.clone(),
        (None, None) => Trigger::Manual,
    };
    let mut spec = config
        .build_request(trigger.commit())
        .validate(Some(&services.default_registry))
        .map_err(|e| ApiError::invalid(format!("config {}: {e}", config.name)))?;
    spec.config = Some(config.name.clone());
    let projects = crate::steps::projects::names(services).await?;
    spec.project = Some(
        crate::steps::projects::of_config(services, config, &projects)
            .map_err(ApiError::invalid)?,
    );
    spec.trigger = trigger;
    spec.wave = Some(wave.id);
    spec.force = member.force;
    spec.priority = i32::try_from(priority).unwrap_or(i32::MAX);
    spec.parent_digests = pins;
    let build = services.store.create_build(&spec).await?;
    services
        .store
        .set_member(
            wave.id,
            &config.name,
            MemberState::Building,
            Some(build.id),
            None,
        )
        .await?;
    services.events.prepare.notify_one();
    Ok(Some(build.id))
}
