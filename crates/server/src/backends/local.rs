//! Local clusters: worker builds run as tasks of this process, through the
//! one pipeline in `slipway-worker`, with [`LocalHost`] writing straight to
//! the store, or as `slipway worker` child processes that report over the
//! worker API as a Kubernetes pod would.

use super::{LocalHost, PlatformLog, issue_worker_token, record_end};
use crate::Services;
use slipway_builder::LogSink;
use slipway_core::BuildPhase;
use slipway_store::Placement;
use slipway_worker::{Assignment, Outcome};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

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
pub(super) async fn run_process(services: Arc<Services>, p: Placement, url: Option<String>) {
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
    let mut args = vec!["worker".to_string(), "--url".into()];
    match url {
        Some(url) => {
            // Over TLS, the server's CA (when it has a private one).
            if url.starts_with("https://")
                && let Some(ca) = &services.worker_ca_file
            {
                args.extend([url, "--ca-file".into(), ca.display().to_string()]);
            } else {
                args.push(url);
            }
        }
        None => args.push(format!("http://{}", services.own_registry)),
    }
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
pub(super) async fn run_guarded(services: Arc<Services>, p: Placement) {
    let task = tracing::Instrument::in_current_span(run(services.clone(), p.clone()));
    if let Err(e) = tokio::spawn(task).await {
        tracing::error!("worker build {} (build {}) crashed: {e}", p.worker, p.build);
        let reason = "internal error: the worker crashed; see the server log";
        record_end(&services, &p, BuildPhase::Error, Some(reason), None).await;
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
                .finish_worker_build(
                    p.worker,
                    BuildPhase::Error,
                    Some(&reason),
                    None,
                    p.owner.as_deref(),
                )
                .await;
            services.events.queue.notify_one();
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
            let host = LocalHost::for_build(&services, id);
            let scan =
                crate::steps::scanning::policy_of(&services, build.spec.config.as_deref()).await;
            let assignment = Assignment {
                build: id,
                worker: p.worker,
                platform: p.platform.clone(),
                spec: build.spec.clone(),
                attempts: build.attempts,
                scan: Some(scan),
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
