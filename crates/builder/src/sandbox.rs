//! The bubblewrap sandbox that repository commands run in on the host: a
//! prebuild command, and a test command in host mode.

use crate::process::{RunOutput, run_env};
use crate::{BuilderError, LogSink, succeeded};
use slipway_core::build::conventions::COMMAND_SECRETS_DIR;
use std::path::Path;
use tokio_util::sync::CancellationToken;

/// Run a repository's prebuild command (`sh -c`) in `context`, in a
/// bubblewrap sandbox: the system's `/usr` and `/etc` read-only, the
/// context the only writable directory, an empty `/tmp`, nothing else of
/// the host (no data directory, no tokens), new namespaces, and no network
/// unless `network`; `secrets`, a directory of secret files, read-only at
/// `/run/secrets` (`$SLIPWAY_SECRETS`). Its output goes to `log`.
pub async fn run_prebuild(
    context: &Path,
    command: &str,
    network: bool,
    secrets: Option<&Path>,
    log: &dyn LogSink,
    cancel: &CancellationToken,
) -> Result<(), BuilderError> {
    let out = sandboxed(
        context,
        command,
        network,
        &Sandbox {
            secrets,
            ..Sandbox::default()
        },
        log,
        cancel,
    )
    .await?;
    succeeded(&out, "prebuild command failed")
}

/// What a sandboxed command sees beyond its directory.
#[derive(Default)]
pub(crate) struct Sandbox<'a> {
    /// Environment variables set.
    pub env: Vec<(&'a str, &'a str)>,
    /// Paths readable (at their own paths).
    pub ro: Vec<&'a Path>,
    /// Paths writable (at their own paths).
    pub rw: Vec<&'a Path>,
    /// A directory of secret files, read-only at `/run/secrets`.
    pub secrets: Option<&'a Path>,
}

/// `sh -c command` in `dir` in the sandbox, with what `with` adds.
pub(crate) async fn sandboxed(
    dir: &Path,
    command: &str,
    network: bool,
    with: &Sandbox<'_>,
    log: &dyn LogSink,
    cancel: &CancellationToken,
) -> Result<RunOutput, BuilderError> {
    let ctx = dir.display().to_string();
    let mut args: Vec<String> = [
        "--ro-bind",
        "/usr",
        "/usr",
        "--symlink",
        "usr/bin",
        "/bin",
        "--symlink",
        "usr/sbin",
        "/sbin",
        "--symlink",
        "usr/lib",
        "/lib",
        "--symlink",
        "usr/lib64",
        "/lib64",
        "--ro-bind",
        "/etc",
        "/etc",
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--tmpfs",
        "/tmp",
        "--bind",
        &ctx,
        &ctx,
        "--chdir",
        &ctx,
        "--unshare-all",
        "--die-with-parent",
        "--new-session",
        "--setenv",
        "HOME",
        "/tmp",
    ]
    .map(String::from)
    .to_vec();
    for f in &with.ro {
        let f = f.display().to_string();
        args.extend(["--ro-bind".into(), f.clone(), f]);
    }
    for f in &with.rw {
        let f = f.display().to_string();
        args.extend(["--bind".into(), f.clone(), f]);
    }
    if let Some(dir) = with.secrets {
        args.extend([
            "--ro-bind".into(),
            dir.display().to_string(),
            COMMAND_SECRETS_DIR.into(),
            "--setenv".into(),
            "SLIPWAY_SECRETS".into(),
            COMMAND_SECRETS_DIR.into(),
        ]);
    }
    for (k, v) in &with.env {
        args.extend(["--setenv".into(), (*k).to_string(), (*v).to_string()]);
    }
    if network {
        args.push("--share-net".into());
    }
    args.extend(["sh".into(), "-c".into(), command.to_string()]);
    Ok(run_env("bwrap", &args, &[], log, cancel).await?)
}
