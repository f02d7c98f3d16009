//! Image configs as a unit of work shared by the API and the controllers:
//! applying them (validate, read each Dockerfile's FROM lines at its branch
//! head, check the whole graph, then write), the graph the stored configs
//! form, adding a trigger to the wave that is gathering, and pruning a
//! config's history.

use crate::Services;
use crate::caller::Caller;
use crate::error::ApiError;
use jiff::SignedDuration;
use slipway_core::BuildPhase;
use slipway_core::access::Permission;
use slipway_core::api::{ApplyRequest, ApplyResponse, GraphNode, GraphView};
use slipway_core::paths::join_relative;
use slipway_core::rebuild::image_config::ImageConfig;
use slipway_core::rebuild::trigger::Trigger;
use slipway_core::rebuild::{ConfigGraph, GraphInput};
use slipway_store::{ConfigWrite, StoredConfig};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// The debounce window when the server config names none.
pub const DEFAULT_DEBOUNCE: SignedDuration = SignedDuration::from_secs(10);

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

/// How many configs an apply reads at once (each an `ls-remote`, and a
/// fetch into the source's mirror when its branch moved).
const APPLY_READS: usize = 16;

/// Read the FROM images of `config`'s Dockerfile at its branch head, from
/// the source's mirror. When the head is the commit `known` (the stored
/// config) read them at, with the same source and build args, they are
/// the ones it read: nothing but an `ls-remote` runs.
async fn read_base_images(
    services: &Arc<Services>,
    config: &ImageConfig,
    known: Option<&StoredConfig>,
) -> Result<(Vec<String>, String), String> {
    let spec = config
        .spec(Some(&services.default_registry))
        .map_err(|e| e.to_string())?;
    let resolved = slipway_source::resolve(&spec.source.location, Some(&config.source.branch))
        .await
        .map_err(|e| e.to_string())?;
    if let Some(k) = known
        && k.base_commit.as_deref() == Some(resolved.commit.as_str())
        && k.config.source == config.source
        && k.config.build_args == config.build_args
    {
        return Ok((k.base_images.clone(), resolved.commit));
    }
    let work = services
        .work_dir
        .join(format!("apply-{}-{}", config.name, rand::random::<u64>()));
    let result = async {
        let mirror = services
            .mirrors
            .open(&spec.source.location, spec.project_name())
            .await
            .map_err(|e| e.to_string())?;
        mirror
            .ensure_commit(&resolved.commit)
            .await
            .map_err(|e| e.to_string())?;
        let src = work.join("src");
        // The Dockerfile alone (the whole tree when it is behind a
        // symlink), read with the same checks as a build's.
        let path = join_relative(&spec.source.context_dir, &spec.source.dockerfile);
        mirror
            .write_tree(&resolved.commit, &src, Some(&[path]))
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

/// How long one apply may hold the other servers' applies back.
pub const APPLY_LEASE: std::time::Duration = std::time::Duration::from_secs(600);

/// Create, update and (with `prune`) delete configs. Every config is
/// checked, its Dockerfile's FROM lines read at its branch head, and the
/// resulting graph checked for cycles before anything is written.
pub async fn apply(
    services: &Arc<Services>,
    caller: &Caller,
    req: ApplyRequest,
) -> Result<ApplyResponse, ApiError> {
    let _one_at_a_time = services.apply_lock.lock().await;
    let _on_one_server =
        crate::controllers::leases::hold(services, "apply", APPLY_LEASE, APPLY_LEASE)
            .await
            .map_err(ApiError::conflict)?;
    let projects = crate::steps::projects::names(services).await?;
    let stored = services.store.list_configs().await?;
    let project_of = |c: &ImageConfig| {
        crate::steps::projects::of_config(services, c, &projects).map_err(ApiError::invalid)
    };
    let mut seen = HashSet::new();
    let mut valid = Vec::with_capacity(req.configs.len());
    for c in &req.configs {
        let v = c
            .validate(Some(&services.default_registry))
            .map_err(|e| ApiError::invalid(e.to_string()))?;
        // Into its project, and over a config of the same name only where
        // the caller may build too.
        caller.require(&project_of(&v)?, Permission::Build)?;
        if let Some(old) = stored.iter().find(|s| s.config.name == v.name) {
            caller.require(
                &crate::steps::projects::of_stored(services, &old.config, &projects),
                Permission::Build,
            )?;
        }
        if let Some(p) = &v.promote
            && !services.environments.contains_key(&p.to)
        {
            return Err(ApiError::invalid(format!(
                "config {}: promote.to {:?} is no environment of this server (its config's environments:)",
                v.name, p.to
            )));
        }
        if !seen.insert(v.name.clone()) {
            return Err(ApiError::invalid(format!(
                "config {} is given twice",
                v.name
            )));
        }
        valid.push(v);
    }
    // Read the Dockerfiles, a bounded number at a time.
    let slots = tokio::sync::Semaphore::new(APPLY_READS);
    let reads = futures::future::join_all(valid.iter().map(|c| {
        let known = stored.iter().find(|s| s.config.name == c.name);
        let slots = &slots;
        async move {
            let _slot = slots.acquire().await;
            read_base_images(services, c, known).await
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
    // `--prune` deletes the configs not given, of the projects the
    // caller reads (a project's token prunes its own project only), and
    // deleting needs the admin role there.
    let mut delete = Vec::new();
    if req.prune {
        for old in stored.iter().filter(|s| !seen.contains(&s.config.name)) {
            let project = crate::steps::projects::of_stored(services, &old.config, &projects);
            if caller.reads(&project) {
                caller.require(&project, Permission::Manage)?;
                delete.push(old.config.name.clone());
            }
        }
    }
    // The graph after the apply.
    let kept = stored
        .iter()
        .filter(|s| !seen.contains(&s.config.name) && !delete.contains(&s.config.name))
        .filter_map(|s| graph_input(&s.config, &s.base_images));
    let written = writes
        .iter()
        .filter_map(|w| graph_input(&w.config, &w.base_images));
    let after: Vec<GraphInput> = kept.chain(written).collect();
    // A repository has one owner: a config applied now may not build into
    // another's (the unique and primary tags of one would collide with the
    // other's, and each would move the other's floating tags).
    let changed = |name: &str| {
        writes.iter().any(|w| {
            w.config.name == name
                && !stored
                    .iter()
                    .any(|s| s.config.name == name && s.config.output == w.config.output)
        })
    };
    slipway_core::rebuild::check_ownership(&after, &changed)
        .map_err(|e| ApiError::conflict(e.to_string()))?;
    ConfigGraph::build(&after).map_err(|e| ApiError::invalid(e.to_string()))?;
    let out = services.store.apply_configs(&writes, &delete).await?;
    // Changed history limits apply at once (unchanged configs' limits
    // were applied when their builds ended).
    for w in writes
        .iter()
        .filter(|w| out.created.contains(&w.config.name) || out.updated.contains(&w.config.name))
    {
        prune_history(services, &w.config).await?;
    }
    crate::memory::give_back();
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
    trigger_noting(services, config, trigger, force)
        .await
        .map(|(wave, _)| wave)
}

/// [`trigger`], and whether it will most likely build nothing
/// ([`crate::steps::noop`]): then, unless a wave is gathering, its wave
/// has no window.
pub async fn trigger_noting(
    services: &Services,
    config: &str,
    trigger: Trigger,
    force: bool,
) -> Result<(i64, bool), ApiError> {
    use slipway_core::rebuild::image_config::RunPolicy;
    let Some(stored) = services.store.get_config(config).await? else {
        return Err(ApiError::not_found(format!(
            "config {config} does not exist; `slipway configs` lists them"
        )));
    };
    let latest_only = stored.config.run_policy == RunPolicy::SerialLatestOnly;
    let noop = crate::steps::noop::likely(services, &stored, &trigger, force).await;
    let debounce = if noop {
        SignedDuration::ZERO
    } else {
        services.rebuild_debounce
    };
    let wave = services
        .store
        .add_trigger(config, &trigger, force, debounce, latest_only)
        .await?;
    if noop {
        tracing::info!("config {config}: {trigger} is most likely a no-op: wave {wave}");
    } else {
        tracing::info!("config {config}: {trigger} joins wave {wave}");
    }
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
    services.events.waves.notify_one();
    Ok((wave, noop))
}

/// Delete the config's builds beyond its history limits, their logs and
/// their tags (`steps::retention`).
pub async fn prune_history(services: &Services, config: &ImageConfig) -> Result<(), ApiError> {
    crate::steps::retention::prune(services, config, false).await?;
    Ok(())
}

/// Why a pushed `commit` must not be built, if it must not: it is not the
/// head of the config's branch (an old delivery sent again, or overtaken
/// by a newer push), or the config has built it before and built a newer
/// commit since (building it would roll the image back).
pub async fn stale_push(
    s: &Services,
    config: &slipway_core::rebuild::image_config::ImageConfig,
    commit: &str,
) -> Result<Option<String>, ApiError> {
    let branch = &config.source.branch;
    if let Ok(spec) = config.spec(Some(&s.default_registry)) {
        let head = tokio::time::timeout(
            HEAD_CHECK_TIMEOUT,
            slipway_source::resolve(&spec.source.location, Some(branch)),
        )
        .await;
        match head {
            Ok(Ok(head)) if head.commit != commit => {
                return Ok(Some(format!(
                    "commit {commit} is not the head of {branch} ({} is): an old or re-sent delivery builds nothing",
                    head.commit
                )));
            }
            Ok(Ok(_)) => {}
            // The repository cannot be asked now; the build resolves it
            // again when it is prepared.
            Ok(Err(e)) => tracing::warn!(
                "config {}: cannot read the head of {branch}: {e}",
                config.name
            ),
            Err(_) => tracing::warn!(
                "config {}: reading the head of {branch} took over {}s",
                config.name,
                HEAD_CHECK_TIMEOUT.as_secs()
            ),
        }
    }
    if let Some((old, newest)) = s.store.superseded_commit(&config.name, commit).await? {
        return Ok(Some(format!(
            "commit {commit} was built before (build {old}) and commit {newest} has been built since; a webhook never builds an older commit again (`slipway start {} --force` does)",
            config.name
        )));
    }
    Ok(None)
}

/// How long a webhook waits for the branch head before building anyway.
const HEAD_CHECK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);
