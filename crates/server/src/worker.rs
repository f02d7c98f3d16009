//! The local worker: runs one claimed build through clone → build → push.
//!
//! Outcome mapping: anything the user can fix (bad ref, missing Dockerfile,
//! failing RUN, refused push) ends the build `Failed` with a one-line reason;
//! a cancel ends it `Cancelled`; Slipway's own trouble (disk, database) ends
//! it `Error`.

use crate::Services;
use crate::logs::BuildLog;
use slipway_builder::{BuildJob, BuilderError, LogSink};
use slipway_core::build::{Stage, StageTiming};
use slipway_core::paths::join_relative;
use slipway_core::{Build, BuildPhase, PushedImage};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;
use tokio_util::sync::CancellationToken;

/// How a build ended, before it is written to the store.
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

/// Run a build that the store has just marked Running.
pub async fn run(services: Arc<Services>, build: Build) {
    let id = build.id;
    let cancel = CancellationToken::new();
    if let Ok(mut running) = services.running.lock() {
        running.insert(id, cancel.clone());
    }
    // A cancel that arrived between the claim and the registration above.
    if services.store.cancel_requested(id).await.unwrap_or(false) {
        cancel.cancel();
    }
    let work = services.work_dir.join(id.to_string());
    let outcome = match services.logs.open(id) {
        Ok(log) => {
            if build.attempts > 1 {
                log.line(&format!(
                    "==> build {id}: attempt {} after a server restart",
                    build.attempts
                ));
            }
            let o = pipeline(&services, &build, &work, &log, &cancel).await;
            let end = match &o {
                Outcome::Complete(img) => format!("==> build {id} complete: {}", img.reference),
                Outcome::Failed(r) => format!("==> build {id} failed: {r}"),
                Outcome::Cancelled => format!("==> build {id} cancelled"),
                Outcome::Error(r) => format!("==> build {id} error: {r}"),
            };
            log.line(&end);
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
        Outcome::Cancelled => (
            BuildPhase::Cancelled,
            Some("cancelled by user".to_string()),
            None,
        ),
        Outcome::Error(r) => (BuildPhase::Error, Some(r), None),
    };
    match services
        .store
        .finish(id, phase, reason.as_deref(), image.as_ref())
        .await
    {
        Ok(true) => tracing::info!("build {id} {phase}"),
        Ok(false) => tracing::info!("build {id} was already final"),
        Err(e) => tracing::error!("build {id}: cannot record the end ({phase}): {e}"),
    }
    if let Ok(mut running) = services.running.lock() {
        running.remove(&id);
    }
    services.logs.close(id);
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
    work: &Path,
    log: &Arc<BuildLog>,
    cancel: &CancellationToken,
) -> Outcome {
    let id = build.id;
    let spec = &build.spec;
    let log: &dyn LogSink = log.as_ref();
    if let Err(e) = tokio::fs::remove_dir_all(work).await
        && e.kind() != std::io::ErrorKind::NotFound
    {
        return Outcome::Error(format!("cannot clean work dir {}: {e}", work.display()));
    }
    let src = work.join("src");

    // Clone.
    let cloned = timed(services, id, Stage::Clone, async {
        let loc = &spec.source.location;
        log.line(&format!(
            "==> resolving {} in {}",
            spec.source.git_ref.as_deref().unwrap_or("HEAD"),
            loc.redacted()
        ));
        let resolved = slipway_source::resolve(loc, spec.source.git_ref.as_deref())
            .await
            .map_err(|e| Outcome::Failed(e.to_string()))?;
        let _ = services.store.set_commit(id, &resolved.commit).await;
        let _ = services
            .store
            .record_event(id, &format!("resolved {} to {}", resolved.ref_name, resolved.commit))
            .await;
        log.line(&format!("==> fetching commit {} (depth 1)", resolved.commit));
        tokio::select! {
            r = slipway_source::fetch(loc, &resolved.commit, &src) => r.map_err(|e| Outcome::Failed(e.to_string())),
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
    let local_tag = format!("localhost/slipway/build-{id}:latest");
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
            services.buildah.pull(base, auth, log, cancel).await?;
        }
        log.line(&format!(
            "==> building with buildah ({})",
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
        };
        services.buildah.build(&job, log, cancel).await
    })
    .await;
    if let Err(e) = built {
        return e.into();
    }

    // Push.
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
            .push(&local_tag, &spec.output, work, auth.as_deref(), log, cancel)
            .await
    })
    .await;
    services.buildah.remove(&local_tag, log).await;
    match pushed {
        Ok(img) => Outcome::Complete(img),
        Err(e) => e.into(),
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
fn on_own_registry(services: &Services, image: &str) -> bool {
    slipway_core::ImageRef::parse(image)
        .is_ok_and(|r| own_registry_hosts(services).contains(&r.registry))
}

/// An auth file (mode 0600, in the build's work dir) with a fresh
/// short-lived token for the embedded registry.
fn write_own_registry_auth(services: &Services, work: &Path) -> std::io::Result<PathBuf> {
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
