//! Checking out a build's commit (from the host's mirror, or fetched) and
//! finding its context and Dockerfile inside the checkout.

use crate::{Outcome, WorkerHost};
use slipway_builder::LogSink;
use slipway_core::BuildSpec;
use slipway_core::paths::join_relative;
use std::path::{Path, PathBuf};
use tokio_util::sync::CancellationToken;

/// What a checkout writes.
#[derive(Debug, Clone, Copy)]
pub enum Want<'a> {
    /// The whole tree.
    All,
    /// Only these files (relative paths), when the host has mirrors and
    /// none of them goes through a symlink or a submodule; the whole tree
    /// otherwise.
    Files(&'a [String]),
}

/// Check out the build's commit into `src`: the one already recorded, or
/// the ref resolved now and recorded (the first to record wins). Returns
/// the commit.
pub async fn checkout(
    host: &dyn WorkerHost,
    spec: &BuildSpec,
    src: &Path,
    log: &dyn LogSink,
    cancel: &CancellationToken,
) -> Result<String, Outcome> {
    checkout_with(host, spec, src, Want::All, log, cancel)
        .await
        .map(|(commit, _)| commit)
}

/// [`checkout`], writing what `want` says; also the mirror the commit is
/// in, when the host has mirrors (a commit with submodules is then cloned
/// into `src` with them, [`slipway_source::Mirror::write_tree`]).
pub async fn checkout_with(
    host: &dyn WorkerHost,
    spec: &BuildSpec,
    src: &Path,
    want: Want<'_>,
    log: &dyn LogSink,
    cancel: &CancellationToken,
) -> Result<(String, Option<slipway_source::Mirror>), Outcome> {
    let loc = &spec.source.location;
    let commit = match host.known_commit().await.map_err(Outcome::Error)? {
        Some(c) => c,
        None => {
            log.line(&format!(
                "==> resolving {} in {}",
                spec.source.git_ref.as_deref().unwrap_or("HEAD"),
                loc.redacted()
            ));
            // A cancel drops the call, which kills git's whole process group.
            let resolved = tokio::select! {
                r = slipway_source::resolve(loc, spec.source.git_ref.as_deref()) => {
                    r.map_err(|e| Outcome::failed(e.to_string()))?
                }
                () = cancel.cancelled() => return Err(Outcome::Cancelled),
            };
            host.record_commit(&resolved.ref_name, &resolved.commit)
                .await
                .map_err(Outcome::Error)?
        }
    };
    let failed = |e: slipway_source::SourceError| Outcome::failed(e.to_string());
    if let Some(mirrors) = host.mirrors() {
        log.line(&format!("==> commit {commit} from the source's mirror"));
        let from_mirror = async {
            let mirror = mirrors
                .open(loc, spec.project_name())
                .await
                .map_err(failed)?;
            mirror.ensure_commit(&commit).await.map_err(failed)?;
            let only = match want {
                Want::All => None,
                Want::Files(paths) => Some(paths),
            };
            let cloned = mirror
                .write_tree(&commit, src, only)
                .await
                .map_err(failed)?;
            Ok::<_, Outcome>((mirror, cloned))
        };
        let (mirror, cloned) = tokio::select! {
            r = from_mirror => r?,
            () = cancel.cancelled() => return Err(Outcome::Cancelled),
        };
        if cloned {
            log.line("==> the commit has submodules: cloned it with them");
        }
        return Ok((commit, Some(mirror)));
    }
    log.line(&format!("==> fetching commit {commit} (depth 1)"));
    tokio::select! {
        r = slipway_source::fetch(loc, &commit, src) => r.map_err(failed)?,
        () = cancel.cancelled() => return Err(Outcome::Cancelled),
    }
    Ok((commit, None))
}

/// The build context and Dockerfile inside the checkout `src`, with symlinks
/// resolved; anything that points outside `src` is refused.
pub fn locate(
    src: &Path,
    context_dir: &str,
    dockerfile: &str,
) -> Result<(PathBuf, PathBuf), Outcome> {
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
