//! Preparing a build (phase New): what is decided once per build, before
//! any platform builds (OSBS's orchestrator pre-build steps).
//!
//! ```text
//! checkout  resolve the ref, record the commit, fetch it (depth 1)
//! config    slipway.yaml at the context root (unknown keys are errors)
//! lint      the Dockerfile, with .hadolint.yaml; findings stored with the build;
//!           a gating lint fails the build on error-level findings
//! labels    Dockerfile (final stage) + request labels; name, version and a
//!           component are required unless the build is scratch
//! plan      platforms (request ∩ only − not), build args (request over
//!           slipway.yaml), added labels, unique/floating/extra tags
//! reserve   with Koji configured, the NVR is reserved there (CGInitBuild):
//!           Koji's next free release, or the given one unless Koji has it
//! queue     the store reserves the release and queues one worker build per
//!           platform, in one transaction
//! ```
//!
//! Every refusal ends the build Failed with one line saying what to fix,
//! before any worker build is queued.

use crate::Services;
use crate::backends::LocalHost;
use slipway_builder::LogSink;
use slipway_core::build::Stage;
use slipway_core::build::conventions::{
    BuildKind, ImageIdentity, LabelSource, LintFinding, LintMode, LintReport, Preparation,
    REPO_CONFIG_FILE, RepoConfig, added_labels, unique_tag,
};
use slipway_core::paths::join_relative;
use slipway_core::{Build, BuildId, BuildPhase};
use slipway_dockerfile::lint::{self, LintConfig, Severity};
use slipway_store::Queued;
use slipway_worker::Outcome;
use std::collections::HashSet;
use std::path::Path;
use std::sync::{Arc, Mutex};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// How many builds are prepared at once (each fetches its source).
pub const CONCURRENT_PREPARATIONS: usize = 4;

/// Why preparation stopped: the build ends in `phase` with `reason`,
/// keeping what was found so far.
struct Refusal {
    phase: BuildPhase,
    reason: String,
    lint: Option<LintReport>,
    repo_config: Option<RepoConfig>,
}

impl Refusal {
    fn failed(reason: impl Into<String>) -> Refusal {
        Refusal {
            phase: BuildPhase::Failed,
            reason: reason.into(),
            lint: None,
            repo_config: None,
        }
    }

    fn from_outcome(o: Outcome) -> Refusal {
        match o {
            Outcome::Failed(r) => Refusal::failed(r),
            Outcome::Error(r) => Refusal {
                phase: BuildPhase::Error,
                ..Refusal::failed(r)
            },
            Outcome::Cancelled => Refusal::failed("cancelled"),
            Outcome::Complete(_) => Refusal::failed("preparation ended unexpectedly"),
        }
    }
}

/// The preparer: every build in New is prepared once, at most
/// [`CONCURRENT_PREPARATIONS`] at a time; woken when a build is created
/// (by the API or the wave driver) and every few seconds. Builds left in
/// New by a server that stopped are found at the first look.
pub async fn run(services: Arc<Services>) {
    let in_flight: Arc<Mutex<HashSet<BuildId>>> = Arc::default();
    loop {
        match services.store.builds_to_prepare().await {
            Ok(ids) => {
                for id in ids {
                    let fresh = in_flight.lock().is_ok_and(|mut f| f.insert(id));
                    // One server prepares a build, whichever saw it first
                    // (several may share the database).
                    let lease = format!("prepare:{id}");
                    if fresh && !super::leases::claim(&services, &lease, PREPARE_LEASE).await {
                        if let Ok(mut f) = in_flight.lock() {
                            f.remove(&id);
                        }
                        continue;
                    }
                    if fresh {
                        let (services, in_flight) = (services.clone(), in_flight.clone());
                        let span = tracing::info_span!("build", id);
                        tokio::spawn(
                            async move {
                                if let Ok(_slot) = services.preparations.acquire().await {
                                    prepare(&services, id).await;
                                }
                                super::leases::release(&services, &lease).await;
                                if let Ok(mut f) = in_flight.lock() {
                                    f.remove(&id);
                                }
                            }
                            .instrument(span),
                        );
                    }
                }
            }
            Err(e) => tracing::error!("cannot list the builds to prepare: {e}"),
        }
        let _ = tokio::time::timeout(PREPARE_TICK, services.events.prepare.notified()).await;
    }
}

/// How long a server may take to prepare a build before another may take
/// it over (a clone of a large repository, under a queue of others).
const PREPARE_LEASE: std::time::Duration = std::time::Duration::from_secs(30 * 60);

/// How often the preparer looks for New builds without being woken.
const PREPARE_TICK: std::time::Duration = std::time::Duration::from_secs(5);

async fn prepare(services: &Arc<Services>, id: BuildId) {
    let build = match services.store.get_build(id).await {
        Ok(Some(b)) if b.phase == BuildPhase::New => b,
        Ok(_) => return,
        Err(e) => {
            tracing::error!("build {id}: cannot read it to prepare it: {e}");
            return;
        }
    };
    let log = match services.logs.open(id) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!("build {id}: cannot open its log: {e}");
            return;
        }
    };
    let log: &dyn LogSink = log.as_ref();
    log.line(&format!("==> preparing build {id}"));
    let work = services.work_dir.join(format!("{id}-prepare"));
    if let Some(why) = stale_webhook_push(services, &build).await {
        let reason = format!("skipped: {why}");
        match services.store.skip_build(id, &build.spec, &reason).await {
            Ok(true) => {
                log.line(&format!("==> build {id} {reason}"));
                tracing::info!("build {id} {reason}");
            }
            Ok(false) => {}
            Err(e) => tracing::error!("build {id}: cannot record that it is skipped: {e}"),
        }
        services.logs.close(id);
        services.events.waves.notify_one();
        return;
    }
    let host = LocalHost::for_build(services, id);
    let decided = slipway_worker::timed(
        &host,
        Stage::Prepare,
        decide(services, &host, &build, &work, log),
    )
    .await;
    let _ = tokio::fs::remove_dir_all(&work).await;
    let refusal = match decided {
        Ok(prep) if up_to_date(services, id, &prep, log).await => {
            services.logs.close(id);
            services.events.waves.notify_one();
            return;
        }
        Ok(mut prep) => match crate::steps::koji::reserve(services, id, &mut prep, log).await {
            Err(taken) => Refusal {
                lint: prep.lint,
                repo_config: prep.repo_config,
                ..Refusal::failed(taken)
            },
            Ok(()) => match services.store.queue_build(id, &prep).await {
                Ok(Queued::Queued(b)) => {
                    log.line(&format!(
                        "==> queued{}: tags {}",
                        b.spec
                            .release
                            .as_deref()
                            .map(|r| format!(" with release {r}"))
                            .unwrap_or_default(),
                        b.spec.tags.join(", ")
                    ));
                    services.events.queue.notify_one();
                    return;
                }
                Ok(Queued::Refused(reason)) => Refusal {
                    lint: prep.lint,
                    repo_config: prep.repo_config,
                    ..Refusal::failed(reason)
                },
                Ok(Queued::NotNew(phase)) => {
                    log.line(&format!("==> build {id} {}", phase.as_str().to_lowercase()));
                    services.logs.close(id);
                    return;
                }
                Err(e) => Refusal {
                    phase: BuildPhase::Error,
                    ..Refusal::failed(format!("cannot queue the build: {e}"))
                },
            },
        },
        Err(r) => r,
    };
    match services
        .store
        .fail_preparation(
            id,
            refusal.phase,
            &refusal.reason,
            refusal.lint.as_ref(),
            refusal.repo_config.as_ref(),
        )
        .await
    {
        Ok(true) => {
            tracing::info!("build {id} {}: {}", refusal.phase, refusal.reason);
            log.line(&format!(
                "==> build {id} {}: {}",
                refusal.phase.as_str().to_lowercase(),
                refusal.reason
            ));
        }
        Ok(false) => {}
        Err(e) => tracing::error!("build {id}: cannot record that preparation failed: {e}"),
    }
    services.logs.close(id);
    services.events.waves.notify_one();
}

/// A webhook's build whose commit is no longer its branch's head (a newer
/// push came while it waited), or is older than the config's last built
/// commit: why it must not build.
async fn stale_webhook_push(services: &Arc<Services>, build: &Build) -> Option<String> {
    let (slipway_core::rebuild::trigger::Trigger::Webhook { commit, .. }, Some(config)) =
        (&build.spec.trigger, &build.spec.config)
    else {
        return None;
    };
    let stored = services.store.get_config(config).await.ok()??;
    match crate::steps::configs::stale_push(services, &stored.config, commit).await {
        Ok(why) => why,
        Err(e) => {
            tracing::warn!("build {}: cannot check its commit: {}", build.id, e.message);
            None
        }
    }
}

/// Build avoidance: a build of a config whose input key equals the
/// config's last complete build's ends Skipped instead of being queued
/// (unless forced). True when it was skipped.
async fn up_to_date(
    services: &Arc<Services>,
    id: BuildId,
    prep: &Preparation,
    log: &dyn LogSink,
) -> bool {
    let (Some(config), Some(key)) = (&prep.spec.config, &prep.spec.input_key) else {
        return false;
    };
    if prep.spec.force {
        log.line("==> forced: building even if up to date");
        return false;
    }
    let last = match services.store.last_complete_build(config).await {
        Ok(Some((last, Some(last_key), _))) if last_key == *key => last,
        Ok(_) => return false,
        Err(e) => {
            tracing::warn!("build {id}: cannot read config {config}'s last build: {e}");
            return false;
        }
    };
    let reason = format!("skipped: up to date (same inputs as build {last}, {key})");
    match services.store.skip_build(id, &prep.spec, &reason).await {
        Ok(true) => {
            log.line(&format!("==> build {id} {reason}"));
            tracing::info!("build {id} of {config} {reason}");
            let _ = services
                .store
                .record_config_event(config, &reason, Some(id))
                .await;
            true
        }
        Ok(false) => false,
        Err(e) => {
            tracing::error!("build {id}: cannot record that it is up to date: {e}");
            false
        }
    }
}

async fn decide(
    services: &Arc<Services>,
    host: &LocalHost<'_>,
    build: &Build,
    work: &Path,
    log: &dyn LogSink,
) -> Result<Preparation, Refusal> {
    let id = build.id;
    let spec = &build.spec;
    if let Err(e) = tokio::fs::remove_dir_all(work).await
        && e.kind() != std::io::ErrorKind::NotFound
    {
        return Err(Refusal::from_outcome(Outcome::Error(format!(
            "cannot clean work dir {}: {e}",
            work.display()
        ))));
    }
    let src = work.join("src");
    // A cancel stops the checkout (and git with it); later steps are short
    // and a cancel shows when the build is queued.
    let cancel = CancellationToken::new();
    if let Ok(mut p) = services.preparing.lock() {
        p.insert(id, cancel.clone());
    }
    if services.store.cancel_requested(id).await.unwrap_or(false) {
        cancel.cancel();
    }
    // Only the files read here: the Dockerfile, slipway.yaml and the
    // .hadolint.yaml files (the whole tree when one is behind a symlink).
    let ctx = &spec.source.context_dir;
    let wanted = [
        join_relative(ctx, &spec.source.dockerfile),
        join_relative(ctx, REPO_CONFIG_FILE),
        join_relative(ctx, ".hadolint.yaml"),
        ".hadolint.yaml".to_string(),
    ];
    let checked_out = slipway_worker::checkout_with(
        host,
        spec,
        &src,
        slipway_worker::Want::Files(&wanted),
        log,
        &cancel,
    )
    .await;
    if let Ok(mut p) = services.preparing.lock() {
        p.remove(&id);
    }
    let (commit, mirror) = checked_out.map_err(Refusal::from_outcome)?;
    let (context, dockerfile) =
        slipway_worker::locate(&src, &spec.source.context_dir, &spec.source.dockerfile)
            .map_err(Refusal::from_outcome)?;
    let shown_dockerfile = join_relative(&spec.source.context_dir, &spec.source.dockerfile);

    // slipway.yaml
    let repo_config = match read_optional(&context.join(REPO_CONFIG_FILE)).await? {
        Some(text) => {
            let shown = join_relative(&spec.source.context_dir, REPO_CONFIG_FILE);
            let c = RepoConfig::parse(&text)
                .map_err(|e| Refusal::failed(format!("{shown} is invalid: {}", e.0)))?;
            log.line(&format!("==> read {shown}"));
            Some(c)
        }
        None => None,
    };
    let config = repo_config.clone().unwrap_or_default();
    let with_config = |mut r: Refusal| {
        r.repo_config = repo_config.clone();
        r
    };
    let mut build_args = config.build_args.clone();
    build_args.extend(spec.build_args.clone());

    // The Dockerfile, parsed and linted.
    let size = tokio::fs::metadata(&dockerfile)
        .await
        .map_or(0, |m| m.len());
    services
        .limits
        .check_dockerfile(&shown_dockerfile, size)
        .map_err(|e| with_config(Refusal::failed(e)))?;
    let text = tokio::fs::read_to_string(&dockerfile).await.map_err(|e| {
        with_config(Refusal::failed(format!(
            "cannot read the Dockerfile {shown_dockerfile}: {e}"
        )))
    })?;
    let doc = slipway_dockerfile::parse(&text).map_err(|e| {
        with_config(Refusal::failed(format!(
            "Dockerfile {shown_dockerfile} has a syntax error: {e}"
        )))
    })?;
    let lint_config = read_lint_config(&context, &src, &spec.source.context_dir)
        .await
        .map_err(with_config)?;
    // With ShellCheck when the server has it (a process: off the runtime).
    let (findings, sc_skipped) = {
        let (doc, cfg) = (doc.clone(), lint_config.clone());
        let cache = services.data_dir.join("cache/shellcheck");
        tokio::task::spawn_blocking(move || match slipway_shellcheck::Program::find() {
            Some(p) => lint::lint_with(
                &doc,
                &cfg,
                &p.with_timeout(std::time::Duration::from_secs(60))
                    .with_cache(cache),
            ),
            None => (
                lint::lint(&doc, &cfg),
                Some("shellcheck is not installed on the server".to_string()),
            ),
        })
        .await
        .unwrap_or_else(|e| (Vec::new(), Some(format!("the linter crashed: {e}"))))
    };
    let mode = config.lint.unwrap_or_default();
    let fails = lint::fails(&findings, Severity::Error);
    let report = LintReport {
        mode,
        dockerfile: shown_dockerfile.clone(),
        findings: findings
            .iter()
            .map(|f| LintFinding {
                code: f.code.clone(),
                level: f.level.as_str().to_string(),
                message: f.message.clone(),
                line: f.line,
                column: f.column,
            })
            .collect(),
        fails,
    };
    let errors = findings
        .iter()
        .filter(|f| f.level == Severity::Error)
        .count();
    let mode_name = mode.as_str();
    log.line(&format!(
        "==> lint ({mode_name}): {} finding{}, {errors} error{}",
        findings.len(),
        if findings.len() == 1 { "" } else { "s" },
        if errors == 1 { "" } else { "s" }
    ));
    for line in lint::format::tty(&shown_dockerfile, &findings).lines() {
        log.line(line);
    }
    if let Some(why) = sc_skipped {
        log.line(&format!("    ShellCheck (SC) checks skipped: {why}"));
    }
    let _ = services
        .store
        .record_event(
            id,
            &format!(
                "lint ({mode_name}): {} findings, {errors} errors",
                findings.len()
            ),
        )
        .await;
    let refuse = |reason: String| Refusal {
        lint: Some(report.clone()),
        repo_config: repo_config.clone(),
        ..Refusal::failed(reason)
    };
    if mode == LintMode::Gating && fails {
        let first = findings
            .iter()
            .find(|f| f.level == Severity::Error)
            .map(|f| format!(" (first: line {} {} {})", f.line, f.code, f.message))
            .unwrap_or_default();
        return Err(refuse(format!(
            "lint is gating and {shown_dockerfile} has {errors} error-level finding{}{first}; fix them, ignore them in .hadolint.yaml, or set lint: advisory in {REPO_CONFIG_FILE}",
            if errors == 1 { "" } else { "s" }
        )));
    }

    // Platforms.
    let platforms = config
        .platforms(&spec.platforms, spec.explicit_platforms)
        .map_err(|e| refuse(e.to_string()))?;
    services
        .check_served(&platforms)
        .await
        .map_err(|m| refuse(format!("platforms: {m}")))?;

    // Labels and identity.
    let mut image_labels = slipway_dockerfile::final_labels(&doc, &build_args).map_err(|e| {
        refuse(format!(
            "Dockerfile {shown_dockerfile} has a syntax error: {e}"
        ))
    })?;
    image_labels.extend(spec.labels.clone());
    let identity = match spec.kind {
        BuildKind::Scratch => None,
        BuildKind::Normal | BuildKind::Isolated => {
            Some(ImageIdentity::from_labels(&image_labels).map_err(&refuse)?)
        }
    };
    let vcs_url = spec.source.location.redacted();
    // The commit's time is the one time the image carries (reproducible
    // builds: SOURCE_DATE_EPOCH).
    let epoch = match &mirror {
        Some(m) => m.commit_time(&commit).await,
        None => slipway_source::commit_time(&src, &commit).await,
    }
    .map_err(|e| refuse(e.to_string()))?;
    let build_date = jiff::Timestamp::from_second(epoch).map_err(|e| {
        refuse(format!(
            "commit {commit} has an impossible time {epoch}: {e}"
        ))
    })?;
    let mut labels = spec.labels.clone();
    labels.extend(added_labels(&LabelSource {
        build_date,
        vcs_url: &vcs_url,
        commit: &commit,
        release: None,
    }));
    // An ad-hoc build into a config's repository moves only the tag it
    // names: the config's floating and extra tags are the config's.
    let owner = match &spec.config {
        None => crate::steps::ownership::owner_of(services, &spec.output).await,
        Some(_) => None,
    };
    let (floating, mut extra) = match &owner {
        Some(name) => {
            log.line(&format!(
                "==> {} belongs to config {name}: this build moves only the tag it names",
                spec.output.name()
            ));
            (Vec::new(), Vec::new())
        }
        None => (config.floating_tags(), config.tags.clone()),
    };
    if let Some(tag) = &spec.output.tag {
        extra.push(tag.clone());
    }
    // The unique and primary tags, the floating ones and the extra ones.
    services
        .limits
        .check_tags(2 + floating.len() + extra.len())
        .map_err(&refuse)?;
    let mut prepared = spec.clone();
    prepared.platforms = platforms;
    prepared.build_args = build_args;
    prepared.labels = labels;
    prepared.source_date_epoch = Some(epoch);
    prepared.prebuild = config.prebuild.clone();
    prepared.command_secrets = config.secrets.clone();
    // The repositories its registry token may pull.
    prepared.base_images = slipway_dockerfile::base_images(&text, &prepared.build_args)
        .map_err(|e| refuse(format!("the Dockerfile has an error: {e}")))?;
    if let Some(name) = &spec.config {
        let tree = match &mirror {
            Some(m) => m.tree_id(&commit, ctx).await,
            None => slipway_source::tree_id(&src, ctx).await,
        }
        .map_err(|e| refuse(e.to_string()))?;
        let key = crate::steps::inputs::input_key(services, name, &prepared, &text, tree, &commit)
            .await
            .map_err(&refuse)?;
        log.line(&format!("==> input key {key}"));
        prepared.input_key = Some(key);
    }
    Ok(Preparation {
        spec: prepared,
        identity,
        unique_tag: unique_tag(id, build.created_at),
        floating,
        extra,
        lint: Some(report),
        repo_config,
    })
}

/// `.hadolint.yaml` from the context directory, else the repository root.
async fn read_lint_config(
    context: &Path,
    root: &Path,
    context_dir: &str,
) -> Result<LintConfig, Refusal> {
    for (dir, shown) in [
        (context, join_relative(context_dir, ".hadolint.yaml")),
        (root, ".hadolint.yaml".to_string()),
    ] {
        if let Some(text) = read_optional(&dir.join(".hadolint.yaml")).await? {
            return LintConfig::parse(&text)
                .map_err(|e| Refusal::failed(format!("{shown} is invalid: {}", e.0)));
        }
    }
    Ok(LintConfig::default())
}

/// A file of the checkout, `None` when it does not exist. Symlinks that
/// lead outside the checkout were refused by `locate` for the Dockerfile;
/// config files are read only when they are regular files.
async fn read_optional(path: &Path) -> Result<Option<String>, Refusal> {
    match tokio::fs::symlink_metadata(path).await {
        Ok(m) if m.is_file() => tokio::fs::read_to_string(path)
            .await
            .map(Some)
            .map_err(|e| Refusal::failed(format!("cannot read {}: {e}", shown_name(path)))),
        Ok(_) => Err(Refusal::failed(format!(
            "{} must be a regular file (not a symlink or directory)",
            shown_name(path)
        ))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Refusal::failed(format!(
            "cannot read {}: {e}",
            shown_name(path)
        ))),
    }
}

fn shown_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default()
}
