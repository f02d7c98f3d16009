//! The local worker: runs one worker build (one platform of a build)
//! through clone → build → push to the platform's unique tag. What happens
//! to the build as a whole (failing it, cancelling the siblings, the image
//! index) is the orchestrator's business ([`crate::orchestrator`]).
//!
//! Outcome mapping: anything the user can fix (bad ref, missing Dockerfile,
//! failing RUN, refused push) ends the worker build `Failed` with a one-line
//! reason; a cancel ends it `Cancelled`; Slipway's own trouble (disk,
//! database) ends it `Error`.

use crate::Services;
use crate::logs::BuildLog;
use slipway_builder::{BuildJob, BuilderError, LogSink};
use slipway_core::build::{Stage, StageTiming};
use slipway_core::cluster::Backend;
use slipway_core::paths::join_relative;
use slipway_core::{Build, BuildPhase, Clusters, ImageRef, Platform, PushedImage};
use slipway_store::Placement;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;
use tokio_util::sync::CancellationToken;

/// How a worker build ended, before it is written to the store.
enum Outcome {
    Complete(PushedImage),
    Failed(String),
    Cancelled,
    Error(String),
}

impl From<BuilderError> for Outcome {
    fn from(e: BuilderError) -> Self {
        match e {
            BuilderError::Cancelled => Outcome::Cancelled,
            BuilderError::Failed(r) => Outcome::Failed(r),
            e @ BuilderError::Spawn { .. } => Outcome::Error(e.to_string()),
        }
    }
}

/// Start a placed worker build on its cluster's backend.
pub async fn launch(services: &Arc<Services>, clusters: &Clusters, p: Placement) {
    let refused = match clusters.get(&p.cluster).map(|c| &c.backend) {
        Some(Backend::Local) => {
            tokio::spawn(run_guarded(services.clone(), p));
            return;
        }
        Some(Backend::Kubernetes(_)) => {
            "the kubernetes backend is not available in this version".to_string()
        }
        None => format!("cluster {} is no longer in the cluster file", p.cluster),
    };
    tracing::warn!("worker build {}: {refused}", p.worker);
    match services.store.submission_failed(p.worker, &refused).await {
        Ok(BuildPhase::Error) => crate::orchestrator::worker_ended(services, p.build, false).await,
        Ok(_) => services.queue.notify_one(),
        Err(e) => tracing::error!("worker build {}: cannot record the refusal: {e}", p.worker),
    }
}

/// Run a worker build in a task of its own, so that a bug that panics ends
/// it as Error instead of leaving it Running and its slot taken.
async fn run_guarded(services: Arc<Services>, p: Placement) {
    let (worker, build) = (p.worker, p.build);
    if let Err(e) = tokio::spawn(run(services.clone(), p)).await {
        tracing::error!("worker build {worker} (build {build}) crashed: {e}");
        let reason = "internal error: the worker crashed; see the server log";
        let end = services
            .store
            .finish_worker_build(worker, BuildPhase::Error, Some(reason), None)
            .await;
        if let Ok(mut running) = services.running.lock() {
            running.remove(&worker);
        }
        services.queue.notify_one();
        match end {
            Ok(Some(end)) => {
                crate::orchestrator::worker_ended(&services, build, end.remaining == 0).await;
            }
            Ok(None) => {}
            Err(e) => tracing::error!("worker build {worker}: cannot record the crash: {e}"),
        }
    }
}

/// A build's log as one platform writes it: lines carry `[platform] ` when
/// the build has more than one.
struct PlatformLog {
    log: Arc<BuildLog>,
    prefix: Option<String>,
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
            let log = PlatformLog {
                log,
                prefix: (build.spec.platforms.len() > 1).then(|| format!("[{}] ", p.platform)),
            };
            if build.attempts > 1 {
                log.line(&format!(
                    "==> build {id}: attempt {} after a server restart",
                    build.attempts
                ));
            }
            let o = pipeline(&services, &build, &p.platform, &work, &log, &cancel).await;
            if build.spec.platforms.len() > 1 {
                let end = match &o {
                    Outcome::Complete(img) => {
                        format!("==> {} complete: {}", p.platform, img.reference)
                    }
                    Outcome::Failed(r) => format!("==> {} failed: {r}", p.platform),
                    Outcome::Cancelled => format!("==> {} cancelled", p.platform),
                    Outcome::Error(r) => format!("==> {} error: {r}", p.platform),
                };
                log.line(&end);
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
    let end = services
        .store
        .finish_worker_build(p.worker, phase, reason.as_deref(), image.as_ref())
        .await;
    if let Ok(mut running) = services.running.lock() {
        running.remove(&p.worker);
    }
    // A slot is free.
    services.queue.notify_one();
    match end {
        Ok(Some(end)) => {
            tracing::info!("build {id} {}: {phase}", p.platform);
            crate::orchestrator::worker_ended(&services, id, end.remaining == 0).await;
        }
        Ok(None) => tracing::info!("build {id} {}: was already final", p.platform),
        Err(e) => tracing::error!(
            "build {id} {}: cannot record the end ({phase}): {e}",
            p.platform
        ),
    }
}

async fn timed<T>(services: &Services, id: i64, stage: Stage, f: impl Future<Output = T>) -> T {
    let start = Instant::now();
    let out = f.await;
    let duration_ms = u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
    if let Err(e) = services
        .store
        .record_stage(id, StageTiming { stage, duration_ms })
        .await
    {
        tracing::warn!("build {id}: cannot record {} duration: {e}", stage.as_str());
    }
    out
}

async fn pipeline(
    services: &Services,
    build: &Build,
    platform: &Platform,
    work: &Path,
    log: &PlatformLog,
    cancel: &CancellationToken,
) -> Outcome {
    let id = build.id;
    let spec = &build.spec;
    let log: &dyn LogSink = log;
    if let Err(e) = tokio::fs::remove_dir_all(work).await
        && e.kind() != std::io::ErrorKind::NotFound
    {
        return Outcome::Error(format!("cannot clean work dir {}: {e}", work.display()));
    }
    let src = work.join("src");

    // Clone.
    let cloned = timed(services, id, Stage::Clone, async {
        let loc = &spec.source.location;
        // Every platform builds the commit the first one resolved.
        let commit = match services.store.get_build(id).await.ok().flatten().and_then(|b| b.commit) {
            Some(c) => c,
            None => {
                log.line(&format!(
                    "==> resolving {} in {}",
                    spec.source.git_ref.as_deref().unwrap_or("HEAD"),
                    loc.redacted()
                ));
                let resolved = slipway_source::resolve(loc, spec.source.git_ref.as_deref())
                    .await
                    .map_err(|e| Outcome::Failed(e.to_string()))?;
                let stored = services
                    .store
                    .set_commit_once(id, &resolved.commit)
                    .await
                    .map_err(|e| Outcome::Error(e.to_string()))?;
                if stored == resolved.commit {
                    let _ = services
                        .store
                        .record_event(id, &format!("resolved {} to {}", resolved.ref_name, resolved.commit))
                        .await;
                }
                stored
            }
        };
        log.line(&format!("==> fetching commit {commit} (depth 1)"));
        tokio::select! {
            r = slipway_source::fetch(loc, &commit, &src) => r.map_err(|e| Outcome::Failed(e.to_string())),
            () = cancel.cancelled() => Err(Outcome::Cancelled),
        }
    })
    .await;
    if let Err(o) = cloned {
        return o;
    }
    if cancel.is_cancelled() {
        return Outcome::Cancelled;
    }

    // Find the context and the Dockerfile, never outside the checkout.
    let (context, dockerfile) =
        match locate(&src, &spec.source.context_dir, &spec.source.dockerfile) {
            Ok(p) => p,
            Err(o) => return o,
        };
    let text = match tokio::fs::read_to_string(&dockerfile).await {
        Ok(t) => t,
        Err(e) => return Outcome::Failed(format!("cannot read the Dockerfile: {e}")),
    };
    let bases = match slipway_dockerfile::base_images(&text, &spec.build_args) {
        Ok(b) => b,
        Err(e) => {
            return Outcome::Failed(format!(
                "Dockerfile {} has a syntax error: {e}",
                join_relative(&spec.source.context_dir, &spec.source.dockerfile)
            ));
        }
    };

    // Build.
    let local_tag = format!("localhost/slipway/build-{id}-{platform}:latest");
    let oci_platform = platform.oci();
    let built = timed(services, id, Stage::Build, async {
        // One auth file for all base images on the embedded registry.
        let mut own_auth: Option<PathBuf> = None;
        for base in &bases {
            let auth = if on_own_registry(services, base) {
                if own_auth.is_none() {
                    own_auth = Some(
                        write_own_registry_auth(services, work)
                            .map_err(|e| BuilderError::Failed(e.to_string()))?,
                    );
                }
                own_auth.as_deref()
            } else {
                None
            };
            services
                .buildah
                .pull(base, &oci_platform, auth, log, cancel)
                .await?;
        }
        log.line(&format!(
            "==> building {oci_platform} with buildah ({})",
            if spec.network {
                "network allowed"
            } else {
                "no network"
            }
        ));
        let job = BuildJob {
            context: context.clone(),
            dockerfile: dockerfile.clone(),
            build_args: spec.build_args.clone(),
            network: spec.network,
            local_tag: local_tag.clone(),
            platform: oci_platform.clone(),
        };
        services.buildah.build(&job, log, cancel).await
    })
    .await;
    if let Err(e) = built {
        return e.into();
    }

    // Push, to the platform's unique tag; the orchestrator tags the
    // result (or the index of all platforms) as the build asked.
    let unique = platform_image(&spec.output, id, platform);
    let pushed = timed(services, id, Stage::Push, async {
        // A fresh token: the build may have outlived the one used to pull.
        let auth = if on_own_registry(services, &spec.output.to_string()) {
            Some(
                write_own_registry_auth(services, work)
                    .map_err(|e| BuilderError::Failed(e.to_string()))?,
            )
        } else {
            None
        };
        services
            .buildah
            .push(&local_tag, &unique, work, auth.as_deref(), log, cancel)
            .await
    })
    .await;
    services.buildah.remove(&local_tag, log).await;
    match pushed {
        Ok(img) => Outcome::Complete(img),
        Err(e) => e.into(),
    }
}

/// Where a worker build pushes: the build's repository, under a tag no
/// other build or platform uses (`build-12-x86_64`).
pub fn platform_image(
    output: &ImageRef,
    build: slipway_core::BuildId,
    platform: &Platform,
) -> ImageRef {
    ImageRef {
        tag: Some(format!("build-{build}-{platform}")),
        digest: None,
        ..output.clone()
    }
}

/// The names builds use for the embedded registry: its address, and
/// `localhost:PORT` when that address is 127.0.0.1.
fn own_registry_hosts(services: &Services) -> Vec<String> {
    let own = &services.own_registry;
    let alias = own
        .strip_prefix("127.0.0.1:")
        .map(|port| format!("localhost:{port}"));
    std::iter::once(own.clone()).chain(alias).collect()
}

/// Whether `image` lives on the embedded registry. Only those images get
/// Slipway's auth file, so the user's own credentials keep applying elsewhere.
pub(crate) fn on_own_registry(services: &Services, image: &str) -> bool {
    slipway_core::ImageRef::parse(image)
        .is_ok_and(|r| own_registry_hosts(services).contains(&r.registry))
}

/// An auth file (mode 0600, in the build's work dir) with a fresh
/// short-lived token for the embedded registry.
pub(crate) fn write_own_registry_auth(
    services: &Services,
    work: &Path,
) -> std::io::Result<PathBuf> {
    use base64::Engine;
    let token = services
        .registry
        .auth
        .issue(slipway_registry::auth::Access::PushPull);
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("slipway:{token}"));
    let auths: serde_json::Map<String, serde_json::Value> = own_registry_hosts(services)
        .into_iter()
        .map(|host| (host, serde_json::json!({ "auth": auth })))
        .collect();
    let path = work.join("registry-auth.json");
    crate::auth::write_secret_file(&path, &serde_json::json!({ "auths": auths }).to_string())?;
    Ok(path)
}

/// The build context and Dockerfile inside the checkout `src`, with symlinks
/// resolved; anything that points outside `src` is refused.
fn locate(src: &Path, context_dir: &str, dockerfile: &str) -> Result<(PathBuf, PathBuf), Outcome> {
    let root = src
        .canonicalize()
        .map_err(|e| Outcome::Error(format!("checkout missing: {e}")))?;
    let context = root.join(context_dir);
    let context = context.canonicalize().map_err(|_| {
        Outcome::Failed(format!(
            "context directory {context_dir:?} does not exist in the repository"
        ))
    })?;
    if !context.starts_with(&root) || !context.is_dir() {
        return Err(Outcome::Failed(format!(
            "context directory {context_dir:?} is not a directory inside the repository"
        )));
    }
    let shown = join_relative(context_dir, dockerfile);
    let df = context.join(dockerfile).canonicalize().map_err(|_| {
        Outcome::Failed(format!(
            "Dockerfile not found: {shown} does not exist in the repository; pass --file to name another"
        ))
    })?;
    if !df.starts_with(&root) {
        return Err(Outcome::Failed(format!(
            "Dockerfile {shown} points outside the repository"
        )));
    }
    if !df.is_file() {
        return Err(Outcome::Failed(format!("Dockerfile {shown} is not a file")));
    }
    Ok((context, df))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(r: Result<(PathBuf, PathBuf), Outcome>) -> String {
        match r {
            Err(Outcome::Failed(m)) => m,
            Err(_) => "other outcome".into(),
            Ok(_) => "ok".into(),
        }
    }

    #[test]
    fn locate_refuses_escapes_and_missing_files() {
        let d = tempfile::tempdir().unwrap();
        let src = d.path().join("src");
        std::fs::create_dir_all(src.join("app")).unwrap();
        std::fs::write(src.join("app/Dockerfile"), "FROM x\n").unwrap();
        std::fs::write(d.path().join("secret"), "s").unwrap();
        std::os::unix::fs::symlink(d.path().join("secret"), src.join("app/Evil")).unwrap();
        std::os::unix::fs::symlink("/", src.join("root")).unwrap();

        let (ctx, df) = locate(&src, "app", "Dockerfile").ok().unwrap();
        assert!(ctx.ends_with("src/app") && df.ends_with("src/app/Dockerfile"));
        assert!(reason(locate(&src, "app", "Nope")).starts_with("Dockerfile not found: app/Nope"));
        assert!(reason(locate(&src, "app", "Evil")).contains("outside the repository"));
        assert!(reason(locate(&src, "root", "Dockerfile")).contains("not a directory inside"));
        assert!(reason(locate(&src, "missing", "Dockerfile")).contains("does not exist"));
    }
}
