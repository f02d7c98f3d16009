//! Local clusters: worker builds run as tasks of this process, through the
//! one pipeline in `slipway-worker`, with [`LocalHost`] writing straight to
//! the store. What happens to the build as a whole (failing it, cancelling
//! the siblings, the image index) is the orchestrator's business
//! ([`crate::orchestrator`]).

use crate::Services;
use crate::logs::BuildLog;
use async_trait::async_trait;
use slipway_builder::LogSink;
use slipway_core::build::StageTiming;
use slipway_core::cluster::Backend;
use slipway_core::{Build, BuildId, BuildPhase, Clusters, Platform};
use slipway_store::Placement;
use slipway_worker::{Assignment, Outcome, RegistryCredentials, WorkerHost};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// A worker build's host inside the server: the store and the embedded
/// registry, directly.
pub(crate) struct LocalHost<'a> {
    pub(crate) services: &'a Services,
    pub(crate) build: BuildId,
}

#[async_trait]
impl WorkerHost for LocalHost<'_> {
    async fn known_commit(&self) -> Result<Option<String>, String> {
        Ok(self
            .services
            .store
            .get_build(self.build)
            .await
            .map_err(|e| e.to_string())?
            .and_then(|b| b.commit))
    }

    async fn record_commit(&self, ref_name: &str, commit: &str) -> Result<String, String> {
        record_commit(self.services, self.build, ref_name, commit).await
    }

    async fn record_stage(&self, timing: StageTiming) {
        let stage = timing.stage;
        if let Err(e) = self.services.store.record_stage(self.build, timing).await {
            tracing::warn!(
                "build {}: cannot record {} duration: {e}",
                self.build,
                stage.as_str()
            );
        }
    }

    async fn own_registry(&self) -> Result<RegistryCredentials, String> {
        Ok(self.services.own_registry_credentials())
    }
}

/// Record the commit a worker resolved (the first platform's wins) and say
/// so in the build's events.
pub(crate) async fn record_commit(
    services: &Services,
    build: BuildId,
    ref_name: &str,
    commit: &str,
) -> Result<String, String> {
    let stored = services
        .store
        .set_commit_once(build, commit)
        .await
        .map_err(|e| e.to_string())?;
    if stored == commit {
        let _ = services
            .store
            .record_event(build, &format!("resolved {ref_name} to {commit}"))
            .await;
    }
    Ok(stored)
}

impl Services {
    /// The names builds use for the embedded registry: its address, and
    /// `localhost:PORT` when that address is 127.0.0.1.
    pub fn own_registry_hosts(&self) -> Vec<String> {
        let own = &self.own_registry;
        let alias = own
            .strip_prefix("127.0.0.1:")
            .map(|port| format!("localhost:{port}"));
        std::iter::once(own.clone()).chain(alias).collect()
    }

    /// A fresh short-lived push/pull token for the embedded registry.
    pub fn own_registry_credentials(&self) -> RegistryCredentials {
        RegistryCredentials {
            hosts: self.own_registry_hosts(),
            username: "slipway".into(),
            password: self
                .registry
                .auth
                .issue(slipway_registry::auth::Access::PushPull),
        }
    }
}

/// Start a placed worker build on its cluster's backend.
pub async fn launch(services: &Arc<Services>, clusters: &Clusters, p: Placement) {
    let reason = match clusters.get(&p.cluster).map(|c| &c.backend) {
        Some(Backend::Local { process: false }) => {
            tokio::spawn(run_guarded(services.clone(), p));
            return;
        }
        Some(Backend::Local { process: true }) => {
            tokio::spawn(run_process(services.clone(), p));
            return;
        }
        Some(Backend::Kubernetes(k)) => {
            tokio::spawn(crate::kube_backend::run(
                services.clone(),
                p,
                k.as_ref().clone(),
            ));
            return;
        }
        None => format!("cluster {} is no longer in the cluster file", p.cluster),
    };
    refused(services, &p, &reason).await;
}

/// Its cluster could not take the worker build: placement tries another,
/// or the worker build ends Error once too many clusters failed.
pub(crate) async fn refused(services: &Arc<Services>, p: &Placement, reason: &str) {
    tracing::warn!(
        "worker build {}: cluster {} refused it: {reason}",
        p.worker,
        p.cluster
    );
    match services.store.submission_failed(p.worker, reason).await {
        Ok(BuildPhase::Error) => crate::orchestrator::worker_ended(services, p.build, false).await,
        Ok(_) => services.queue.notify_one(),
        Err(e) => tracing::error!("worker build {}: cannot record the refusal: {e}", p.worker),
    }
}

/// A fresh token for a remote worker build's calls to the API, valid for
/// `ttl`; the store keeps only its hash.
pub(crate) async fn issue_worker_token(
    services: &Services,
    worker: slipway_core::WorkerBuildId,
    ttl: jiff::SignedDuration,
) -> Result<String, String> {
    let token = crate::auth::new_token();
    let expires = jiff::Timestamp::now()
        .checked_add(ttl)
        .unwrap_or(jiff::Timestamp::MAX);
    services
        .store
        .add_worker_token(worker, &slipway_core::token::hash_token(&token), expires)
        .await
        .map_err(|e| format!("cannot issue the worker's token: {e}"))?;
    Ok(token)
}

/// How long a worker build's token lasts: longer than any build should.
const WORKER_TOKEN_TTL: jiff::SignedDuration = jiff::SignedDuration::from_hours(48);

/// Log lines of a worker child process (its own log goes over the API).
struct ServerLogSink(i64);

impl LogSink for ServerLogSink {
    fn line(&self, text: &str) {
        tracing::debug!("worker build {}: {text}", self.0);
    }
}

/// Run a worker build as a `slipway worker` child process with its own
/// token, as a Kubernetes Job would; it reports over the API. If it exits
/// without reporting its end, the worker build ends Error.
async fn run_process(services: Arc<Services>, p: Placement) {
    let fail = |reason: String| {
        let (services, p) = (services.clone(), p.clone());
        async move {
            tracing::error!("worker build {}: {reason}", p.worker);
            record_end(&services, &p, BuildPhase::Error, Some(&reason), None).await;
        }
    };
    let token = match issue_worker_token(&services, p.worker, WORKER_TOKEN_TTL).await {
        Ok(t) => t,
        Err(reason) => return fail(reason).await,
    };
    let dir = services.work_dir.join("tokens");
    let token_file = dir.join(format!("worker-{}", p.worker));
    if let Err(e) = std::fs::create_dir_all(&dir)
        .and_then(|()| slipway_worker::write_secret_file(&token_file, &token))
    {
        return fail(format!("cannot write the worker's token file: {e}")).await;
    }
    let exe = match std::env::current_exe() {
        Ok(e) => e.display().to_string(),
        Err(e) => return fail(format!("cannot find the slipway binary: {e}")).await,
    };
    let mut args = vec!["worker".to_string()];
    args.extend(services.worker_args.iter().cloned());
    args.extend([
        "--worker-build".into(),
        p.worker.to_string(),
        "--token-file".into(),
        token_file.display().to_string(),
    ]);
    // The worker stops itself when it sees a cancel (as a pod does); this
    // handle only marks it as running here.
    let marker = CancellationToken::new();
    if let Ok(mut running) = services.running.lock() {
        running.insert(p.worker, (p.build, marker));
    }
    let out = slipway_builder::run_command(
        &exe,
        &args,
        &ServerLogSink(p.worker),
        &CancellationToken::new(),
    )
    .await;
    let _ = std::fs::remove_file(&token_file);
    let still_running = matches!(
        services.store.get_worker_build(p.worker).await,
        Ok(Some(w)) if w.phase == BuildPhase::Running
    );
    if still_running {
        let why = match out {
            Ok(o) => o.error_line(),
            Err(e) => e.to_string(),
        };
        fail(format!("the worker process ended without reporting: {why}")).await;
    } else if let Ok(mut running) = services.running.lock() {
        running.remove(&p.worker);
    }
}

/// Run a worker build in a task of its own, so that a bug that panics ends
/// it as Error instead of leaving it Running and its slot taken.
async fn run_guarded(services: Arc<Services>, p: Placement) {
    if let Err(e) = tokio::spawn(run(services.clone(), p.clone())).await {
        tracing::error!("worker build {} (build {}) crashed: {e}", p.worker, p.build);
        let reason = "internal error: the worker crashed; see the server log";
        record_end(&services, &p, BuildPhase::Error, Some(reason), None).await;
    }
}

/// A build's log as one platform writes it: lines carry `[platform] ` when
/// the build has more than one.
pub(crate) struct PlatformLog {
    log: Arc<BuildLog>,
    prefix: Option<String>,
}

impl PlatformLog {
    pub(crate) fn new(log: Arc<BuildLog>, build: &Build, platform: &Platform) -> PlatformLog {
        PlatformLog {
            log,
            prefix: (build.spec.platforms.len() > 1).then(|| format!("[{platform}] ")),
        }
    }
}

impl LogSink for PlatformLog {
    fn line(&self, text: &str) {
        match &self.prefix {
            Some(p) => self.log.line(&format!("{p}{text}")),
            None => self.log.line(text),
        }
    }
}

/// Run a worker build that placement has just marked Running.
async fn run(services: Arc<Services>, p: Placement) {
    let build = match services.store.get_build(p.build).await {
        Ok(Some(b)) => b,
        other => {
            let reason = match other {
                Err(e) => format!("cannot read the build: {e}"),
                _ => "the build record is missing".to_string(),
            };
            let _ = services
                .store
                .finish_worker_build(p.worker, BuildPhase::Error, Some(&reason), None)
                .await;
            services.queue.notify_one();
            return;
        }
    };
    let id = build.id;
    let cancel = CancellationToken::new();
    if let Ok(mut running) = services.running.lock() {
        running.insert(p.worker, (id, cancel.clone()));
    }
    // A cancel (or a sibling's failure) that came before the registration.
    if build.phase.is_final() || services.store.cancel_requested(id).await.unwrap_or(false) {
        cancel.cancel();
    }
    let work = services.work_dir.join(format!("{id}-{}", p.platform));
    let outcome = match services.logs.open(id) {
        Ok(log) => {
            let log = PlatformLog::new(log, &build, &p.platform);
            if build.attempts > 1 {
                log.line(&format!(
                    "==> build {id}: attempt {} after a server restart",
                    build.attempts
                ));
            }
            let host = LocalHost {
                services: &services,
                build: id,
            };
            let assignment = Assignment {
                build: id,
                worker: p.worker,
                platform: p.platform.clone(),
                spec: build.spec.clone(),
                attempts: build.attempts,
            };
            let o = slipway_worker::run(
                &host,
                &services.buildah,
                &assignment,
                &services.own_registry_hosts(),
                &work,
                &log,
                &cancel,
            )
            .await;
            if build.spec.platforms.len() > 1 {
                log.line(&o.summary(&p.platform));
            }
            o
        }
        Err(e) => Outcome::Error(format!("cannot open the build log: {e}")),
    };
    if let Err(e) = tokio::fs::remove_dir_all(&work).await
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!("build {id}: cannot remove work dir {}: {e}", work.display());
    }
    let (phase, reason, image) = match outcome {
        Outcome::Complete(img) => (BuildPhase::Complete, None, Some(img)),
        Outcome::Failed(r) => (BuildPhase::Failed, Some(r), None),
        Outcome::Cancelled => (BuildPhase::Cancelled, Some("cancelled".to_string()), None),
        Outcome::Error(r) => (BuildPhase::Error, Some(r), None),
    };
    record_end(&services, &p, phase, reason.as_deref(), image.as_ref()).await;
}

/// A worker build ended (in this process or reported over the API): record
/// it, free its slot and token, and let the orchestrator decide about the
/// build.
pub(crate) async fn record_end(
    services: &Arc<Services>,
    p: &Placement,
    phase: BuildPhase,
    reason: Option<&str>,
    image: Option<&slipway_core::PushedImage>,
) -> bool {
    let end = services
        .store
        .finish_worker_build(p.worker, phase, reason, image)
        .await;
    if let Ok(mut running) = services.running.lock() {
        running.remove(&p.worker);
    }
    if let Err(e) = services.store.drop_worker_tokens(p.worker).await {
        tracing::warn!("worker build {}: cannot revoke its tokens: {e}", p.worker);
    }
    // A slot is free.
    services.queue.notify_one();
    let id = p.build;
    match end {
        Ok(Some(end)) => {
            tracing::info!("build {id} {}: {phase}", p.platform);
            crate::orchestrator::worker_ended(services, id, end.remaining == 0).await;
            true
        }
        Ok(None) => {
            tracing::info!("build {id} {}: was already final", p.platform);
            false
        }
        Err(e) => {
            tracing::error!(
                "build {id} {}: cannot record the end ({phase}): {e}",
                p.platform
            );
            false
        }
    }
}
