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
use jiff::{SignedDuration, Timestamp};
use slipway_core::api::{ApplyRequest, ApplyResponse, GraphNode, GraphView};
use slipway_core::image_config::{ImageConfig, Schedule, parse_interval};
use slipway_core::rebuild::{
    ConfigGraph, Decision, GraphInput, MemberState, Wave, WaveMember, WaveMemberRecord,
    WavePlanner, WaveState,
};
use slipway_core::trigger::Trigger;
use slipway_core::{BuildId, BuildPhase, ImageRef};
use slipway_store::{ConfigWrite, StoredConfig};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The debounce window when the server config names none.
pub const DEFAULT_DEBOUNCE: SignedDuration = SignedDuration::from_secs(10);

/// The duration the planner assumes for a config that never built.
const DEFAULT_ESTIMATE_SECONDS: u64 = 300;

/// How often the poll and schedule loop looks at the configs.
const TRIGGER_TICK: Duration = Duration::from_secs(5);

/// What the graph needs of a config whose Dockerfile names `bases`.
pub(crate) fn graph_input(config: &ImageConfig, bases: &[String]) -> Option<GraphInput> {
    Some(GraphInput {
        name: config.name.clone(),
        output: config.output_ref()?,
        base_images: bases.to_vec(),
        depends_on: config.depends_on.clone(),
    })
}

/// The graph of the stored configs.
pub async fn current_graph(
    services: &Services,
) -> Result<(Vec<StoredConfig>, ConfigGraph), ApiError> {
    let stored = services.store.list_configs().await?;
    let inputs: Vec<GraphInput> = stored
        .iter()
        .filter_map(|s| graph_input(&s.config, &s.base_images))
        .collect();
    let graph = ConfigGraph::build(&inputs).map_err(|e| {
        ApiError::new(
            axum::http::StatusCode::CONFLICT,
            slipway_core::api::codes::CONFLICT,
            format!("the stored configs do not form a valid graph: {e}"),
        )
    })?;
    Ok((stored, graph))
}

/// The graph as the API shows it; with `around`, only that config's
/// ancestors and descendants.
pub async fn graph_view(services: &Services, around: Option<&str>) -> Result<GraphView, ApiError> {
    let (stored, graph) = current_graph(services).await?;
    let order: Vec<usize> = match around {
        None => graph.topological().to_vec(),
        Some(name) => {
            let i = graph
                .index_of(name)
                .ok_or_else(|| ApiError::not_found(format!("config {name} does not exist")))?;
            graph.lineage(i)
        }
    };
    let level = graph.levels();
    let by_name: HashMap<&str, &StoredConfig> =
        stored.iter().map(|s| (s.config.name.as_str(), s)).collect();
    Ok(GraphView {
        nodes: order
            .into_iter()
            .map(|i| GraphNode {
                name: graph.name(i).to_string(),
                output: by_name
                    .get(graph.name(i))
                    .map(|s| s.config.output.clone())
                    .unwrap_or_default(),
                parents: graph
                    .parents(i)
                    .iter()
                    .map(|&p| graph.name(p).to_string())
                    .collect(),
                level: level[i],
            })
            .collect(),
    })
}

/// Read the FROM images of `config`'s Dockerfile at its branch head.
async fn read_base_images(
    services: &Arc<Services>,
    config: &ImageConfig,
) -> Result<(Vec<String>, String), String> {
    let spec = config
        .spec(Some(&services.default_registry))
        .map_err(|e| e.to_string())?;
    let work = services
        .work_dir
        .join(format!("apply-{}-{}", config.name, rand::random::<u64>()));
    let result = async {
        let resolved = slipway_source::resolve(&spec.source.location, Some(&config.source.branch))
            .await
            .map_err(|e| e.to_string())?;
        let src = work.join("src");
        slipway_source::fetch(&spec.source.location, &resolved.commit, &src)
            .await
            .map_err(|e| e.to_string())?;
        let (_, dockerfile) =
            slipway_worker::locate(&src, &spec.source.context_dir, &spec.source.dockerfile)
                .map_err(|o| format!("{o:?}"))?;
        let text = tokio::fs::read_to_string(&dockerfile)
            .await
            .map_err(|e| format!("cannot read the Dockerfile: {e}"))?;
        let bases = slipway_dockerfile::base_images(&text, &config.build_args)
            .map_err(|e| format!("the Dockerfile has an error: {e}"))?;
        Ok((bases, resolved.commit))
    }
    .await;
    let _ = tokio::fs::remove_dir_all(&work).await;
    result
}

/// Create, update and (with `prune`) delete configs. Every config is
/// checked, its Dockerfile's FROM lines read at its branch head, and the
/// resulting graph checked for cycles before anything is written.
pub async fn apply(services: &Arc<Services>, req: ApplyRequest) -> Result<ApplyResponse, ApiError> {
    let _one_at_a_time = services.apply_lock.lock().await;
    let mut seen = HashSet::new();
    let mut valid = Vec::with_capacity(req.configs.len());
    for c in &req.configs {
        let v = c
            .validate(Some(&services.default_registry))
            .map_err(|e| ApiError::invalid(e.to_string()))?;
        if !seen.insert(v.name.clone()) {
            return Err(ApiError::invalid(format!(
                "config {} is given twice",
                v.name
            )));
        }
        valid.push(v);
    }
    // Read the Dockerfiles, a few at a time.
    let reads = futures::future::join_all(valid.iter().map(|c| {
        let services = services.clone();
        let c = c.clone();
        async move {
            let _slot = services.preparations.acquire().await;
            read_base_images(&services, &c).await
        }
    }))
    .await;
    let mut writes = Vec::with_capacity(valid.len());
    for (c, read) in valid.into_iter().zip(reads) {
        let (bases, commit) = read.map_err(|e| {
            ApiError::invalid(format!(
                "config {}: cannot read its Dockerfile on branch {}: {e}",
                c.name, c.source.branch
            ))
        })?;
        writes.push(ConfigWrite {
            config: c,
            base_images: bases,
            base_commit: Some(commit),
        });
    }
    // The graph after the apply.
    let stored = services.store.list_configs().await?;
    let kept = stored
        .iter()
        .filter(|s| !req.prune && !seen.contains(&s.config.name))
        .filter_map(|s| graph_input(&s.config, &s.base_images));
    let written = writes
        .iter()
        .filter_map(|w| graph_input(&w.config, &w.base_images));
    let after: Vec<GraphInput> = kept.chain(written).collect();
    ConfigGraph::build(&after).map_err(|e| ApiError::invalid(e.to_string()))?;
    let out = services.store.apply_configs(&writes, req.prune).await?;
    // Changed history limits apply at once (unchanged configs' limits
    // were applied when their builds ended).
    for w in writes
        .iter()
        .filter(|w| out.created.contains(&w.config.name) || out.updated.contains(&w.config.name))
    {
        prune_history(services, &w.config).await?;
    }
    tracing::info!(
        "apply: {} created, {} updated, {} unchanged, {} deleted",
        out.created.len(),
        out.updated.len(),
        out.unchanged.len(),
        out.deleted.len()
    );
    Ok(out)
}

/// Add a trigger for `config`; it joins the wave that is gathering. Under
/// SerialLatestOnly it supersedes the config's builds that have not
/// started and the trigger of a wave still waiting to start.
pub async fn trigger(
    services: &Services,
    config: &str,
    trigger: Trigger,
    force: bool,
) -> Result<i64, ApiError> {
    use slipway_core::image_config::RunPolicy;
    let Some(stored) = services.store.get_config(config).await? else {
        return Err(ApiError::not_found(format!(
            "config {config} does not exist; `slipway configs` lists them"
        )));
    };
    let latest_only = stored.config.run_policy == RunPolicy::SerialLatestOnly;
    let wave = services
        .store
        .add_trigger(
            config,
            &trigger,
            force,
            services.rebuild_debounce,
            latest_only,
        )
        .await?;
    tracing::info!("config {config}: {trigger} joins wave {wave}");
    if latest_only {
        let reason = format!("superseded by a newer trigger ({trigger}, wave {wave})");
        for (id, phase) in services.store.active_builds(config).await? {
            if phase != BuildPhase::Running.as_str()
                && services.store.cancel_superseded(id, &reason).await?
            {
                services
                    .store
                    .record_config_event(config, &format!("build {id} {reason}"), Some(id))
                    .await?;
                tracing::info!("config {config}: build {id} {reason}");
            }
        }
    }
    services.waves.notify_one();
    Ok(wave)
}

/// Delete the config's builds beyond its history limits, and their logs.
async fn prune_history(services: &Services, config: &ImageConfig) -> Result<(), ApiError> {
    let pruned = services
        .store
        .prune_history(&config.name, config.history)
        .await?;
    if pruned.is_empty() {
        return Ok(());
    }
    for &id in &pruned {
        services.logs.remove(id);
    }
    let ids: Vec<String> = pruned.iter().map(ToString::to_string).collect();
    let message = format!(
        "pruned build{} {} (history keeps {} successful and {} failed)",
        if pruned.len() == 1 { "" } else { "s" },
        ids.join(", "),
        config.history.successful,
        config.history.failed
    );
    tracing::info!("config {}: {message}", config.name);
    services
        .store
        .record_config_event(&config.name, &message, None)
        .await?;
    Ok(())
}

/// The wave driver: forms and advances waves, every second and when woken.
pub async fn driver(services: Arc<Services>) {
    loop {
        if let Err(e) = drive(&services).await {
            tracing::error!("rebuild waves: {}", e.message);
        }
        let _ = tokio::time::timeout(Duration::from_secs(1), services.waves.notified()).await;
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
        configs
            .get(name)
            .is_some_and(|s| s.config.run_policy == slipway_core::image_config::RunPolicy::Parallel)
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
    use slipway_core::image_config::RunPolicy;
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
    crate::prepare::spawn(services, build.id);
    Ok(Some(build.id))
}

/// Polling, cron schedules, rescans and package tracking: every few
/// seconds, trigger the configs whose branch head moved, whose schedule
/// came due, or whose tracked repositories have newer packages.
pub async fn timers(services: Arc<Services>) {
    loop {
        if let Err(e) = tick_timers(&services).await {
            tracing::error!("rebuild timers: {}", e.message);
        }
        tokio::time::sleep(TRIGGER_TICK).await;
    }
}

async fn tick_timers(services: &Arc<Services>) -> Result<(), ApiError> {
    let now = Timestamp::now();
    let configs = services.store.list_configs().await?;
    crate::tracking::tick(services, &configs).await;
    for s in &configs {
        let c = &s.config;
        crate::scanning::tick_rescan(services, s).await;
        let mut polled = false;
        if let Some(interval) = c
            .triggers
            .poll
            .as_deref()
            .and_then(|p| parse_interval(p).ok())
            && s.next_poll_at.is_none_or(|t| t <= now)
        {
            let head = match c.spec(Some(&services.default_registry)) {
                Ok(spec) => {
                    slipway_source::resolve(&spec.source.location, Some(&c.source.branch)).await
                }
                Err(e) => {
                    tracing::warn!("config {}: {e}", c.name);
                    continue;
                }
            };
            let next = now.checked_add(interval).ok();
            match head {
                Ok(r) => {
                    if let Some(old) = &s.poll_head
                        && *old != r.commit
                    {
                        trigger(
                            services,
                            &c.name,
                            Trigger::Poll {
                                commit: r.commit.clone(),
                            },
                            false,
                        )
                        .await?;
                        polled = true;
                    }
                    services
                        .store
                        .set_poll_state(&c.name, Some(&r.commit), next)
                        .await?;
                }
                Err(e) => {
                    tracing::warn!("config {}: polling {}: {e}", c.name, c.source.branch);
                    services.store.set_poll_state(&c.name, None, next).await?;
                }
            }
        }
        if let Some(sched) = &c.triggers.schedule
            && let Ok(parsed) = Schedule::parse(&sched.cron, &sched.timezone)
        {
            match s.next_schedule_at {
                None => {
                    services
                        .store
                        .set_next_schedule(&c.name, parsed.next_after(now))
                        .await?;
                }
                // A poll that just found a new commit covers a schedule
                // coming due in the same tick: one wave, by the commit.
                Some(due) if due <= now && polled => {
                    services
                        .store
                        .set_next_schedule(&c.name, parsed.next_after(now))
                        .await?;
                }
                Some(due) if due <= now => {
                    trigger(
                        services,
                        &c.name,
                        Trigger::Schedule {
                            cron: sched.cron.clone(),
                            timezone: sched.timezone.clone(),
                        },
                        false,
                    )
                    .await?;
                    services
                        .store
                        .set_next_schedule(&c.name, parsed.next_after(now))
                        .await?;
                }
                Some(_) => {}
            }
        }
    }
    Ok(())
}

/// Slipway's and the build tools' versions (read once, with the Koji
/// buildroot), part of every input key.
pub async fn builder_version() -> String {
    let root = crate::metadata::buildroot().await;
    let tools: Vec<String> = root
        .tools
        .iter()
        .map(|t| format!("{} {}", t.name, t.version))
        .collect();
    format!("slipway {}, {}", root.generator_version, tools.join(", "))
}

/// The digest `image` resolves to now: from the embedded registry's tags
/// directly, else by asking its registry (`unresolved` when it cannot say).
pub async fn resolve_digest(services: &Services, image: &str) -> String {
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
    let never = CancellationToken::new();
    let read = tokio::time::timeout(
        Duration::from_secs(30),
        services
            .buildah
            .inspect_raw(image, false, None, &crate::metadata::Discard, &never),
    )
    .await;
    match read {
        Ok(Ok(raw)) => {
            use sha2::Digest;
            format!(
                "sha256:{}",
                hex::encode(sha2::Sha256::digest(raw.as_bytes()))
            )
        }
        _ => "unresolved".into(),
    }
}
