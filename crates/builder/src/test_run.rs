//! The test stage's runners: a repository's test command against a built
//! image, in a container made from it (with the isolation of `RUN`
//! steps) or on the host (in the prebuild sandbox, `IMAGE` set).

use crate::process::run_env;
use crate::sandbox::sandboxed;
use crate::{Buildah, BuilderError, LogSink, authfile_args, succeeded};
use slipway_core::build::conventions::COMMAND_SECRETS_DIR;
use slipway_core::build::test_stage::{RESULTS_DIR, TEST_DIR};
use std::path::Path;
use tokio_util::sync::CancellationToken;

/// One test run.
#[derive(Debug, Clone)]
pub struct TestJob<'a> {
    /// The image, by digest (`registry/repo@sha256:…`).
    pub image: &'a str,
    /// `os/arch` of the image to test.
    pub platform: &'a str,
    /// The repository at the build's commit; read-only to the test.
    pub source: &'a Path,
    /// Where the test may write results (`$TEST_RESULTS`).
    pub results: &'a Path,
    pub command: &'a str,
    pub network: bool,
    /// Credentials to pull the image.
    pub authfile: Option<&'a Path>,
    /// The container's name (unique per build).
    pub name: &'a str,
    /// A directory of secret files (`secrets:` in `slipway.yaml`),
    /// read-only at `/run/secrets` (`$SLIPWAY_SECRETS`).
    pub secrets: Option<&'a Path>,
}

impl Buildah {
    /// Container mode: `buildah from` the image, then `buildah run` the
    /// command in it under `unshare --pid --fork --kill-child --mount-proc
    /// --ipc` (and `--net` without network), the repository at
    /// [`TEST_DIR`] read-only, [`RESULTS_DIR`] writable. The command's
    /// exit code (`None`: it did not end by itself); `Err` when the
    /// container could not be made.
    pub async fn test_in_container(
        &self,
        job: &TestJob<'_>,
        log: &dyn LogSink,
        cancel: &CancellationToken,
    ) -> Result<Option<i32>, BuilderError> {
        let mut from = self.global_args();
        from.extend([
            "from".into(),
            "--quiet".into(),
            "--platform".into(),
            job.platform.to_string(),
            format!("--tls-verify={}", self.tls_verify(job.image)),
            "--name".into(),
            job.name.to_string(),
        ]);
        from.extend(authfile_args(job.authfile));
        from.push(format!("docker://{}", job.image));
        log.line(&format!("--> making a test container from {}", job.image));
        let out = run_env("buildah", &from, &[], log, cancel).await?;
        succeeded(&out, format!("cannot make a container from {}", job.image))?;
        let mut args = self.isolated_buildah(job.network);
        args.extend([
            "run".into(),
            "--isolation".into(),
            "chroot".into(),
            "--volume".into(),
            format!("{}:{TEST_DIR}:ro", job.source.display()),
            "--volume".into(),
            format!("{}:{RESULTS_DIR}", job.results.display()),
            "--workingdir".into(),
            TEST_DIR.into(),
            "--env".into(),
            format!("TEST_RESULTS={RESULTS_DIR}"),
        ]);
        if let Some(dir) = job.secrets {
            args.extend([
                "--volume".into(),
                format!("{}:{COMMAND_SECRETS_DIR}:ro", dir.display()),
                "--env".into(),
                format!("SLIPWAY_SECRETS={COMMAND_SECRETS_DIR}"),
            ]);
        }
        args.extend([
            job.name.to_string(),
            "--".into(),
            "sh".into(),
            "-c".into(),
            job.command.to_string(),
        ]);
        let ran = run_env("unshare", &args, &[], log, cancel).await;
        // The container goes whatever happened.
        let mut rm = self.global_args();
        rm.extend(["rm".into(), job.name.to_string()]);
        let quiet = crate::process::Collect::default();
        let _ = run_env("buildah", &rm, &[], &quiet, &CancellationToken::new()).await;
        Ok(ran?.code)
    }

    /// Host mode: the command in the repository, in the prebuild sandbox
    /// with network (it must reach the registry), `IMAGE` set to the
    /// image, `TEST_RESULTS` to the results directory and
    /// `REGISTRY_AUTH_FILE` to credentials that may pull it.
    pub async fn test_on_host(
        &self,
        job: &TestJob<'_>,
        log: &dyn LogSink,
        cancel: &CancellationToken,
    ) -> Result<Option<i32>, BuilderError> {
        let results = job.results.display().to_string();
        let auth = job.authfile.map(|p| p.display().to_string());
        let mut env = vec![("IMAGE", job.image), ("TEST_RESULTS", results.as_str())];
        let mut ro = Vec::new();
        if let (Some(a), Some(p)) = (&auth, job.authfile) {
            env.push(("REGISTRY_AUTH_FILE", a.as_str()));
            ro.push(p);
        }
        let out = sandboxed(
            job.source,
            job.command,
            true,
            &crate::sandbox::Sandbox {
                env,
                ro,
                rw: vec![job.results],
                secrets: job.secrets,
            },
            log,
            cancel,
        )
        .await?;
        Ok(out.code)
    }
}
