//! The image builder: buildah does the building, we drive it.
//!
//! One build is three buildah calls: `pull` each base image (outside any
//! network namespace, so registries are reachable), `bud` with
//! `--isolation chroot --pull=never` inside fresh PID, mount, IPC and
//! (unless the build asked for network) network namespaces, and `push` with
//! a digest file. `skopeo inspect --raw` then reads the pushed manifest back so the
//! build records exactly what the registry holds (layer digests change on
//! push, when layers are compressed).
//!
//! Every child runs in its own process group with `PR_SET_PDEATHSIG`, so a
//! cancel kills the whole tree (buildah and the RUN step it started), and a
//! server that dies takes its builds down with it.

mod archive;
mod copy;
mod process;
mod sandbox;
mod test_run;

pub use process::{LogSink, ProcessError, RunOutput, run as run_command};
pub use sandbox::run_prebuild;
pub use test_run::TestJob;

use process::{run, run_env, run_split};
use slipway_core::image_ref::{ImageRef, is_loopback_host};
use slipway_core::{PushedImage, image_ref::host_of};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tokio_util::sync::CancellationToken;

#[derive(Debug, thiserror::Error)]
pub enum BuilderError {
    #[error("cannot run {program}: {source}; is it installed?")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("cancelled")]
    Cancelled,
    #[error("{0}")]
    Failed(String),
}

impl From<ProcessError> for BuilderError {
    fn from(e: ProcessError) -> Self {
        match e {
            ProcessError::Spawn { program, source } => BuilderError::Spawn { program, source },
            ProcessError::Cancelled => BuilderError::Cancelled,
        }
    }
}

/// Where buildah keeps its images, and which registries may be reached
/// without TLS verification.
#[derive(Debug, Clone)]
pub struct BuildahConfig {
    pub storage_root: PathBuf,
    pub run_root: PathBuf,
    pub storage_driver: String,
    /// `host[:port]` entries; loopback registries are always allowed plain HTTP.
    pub insecure_registries: Vec<String>,
}

/// One image build.
#[derive(Debug, Clone)]
pub struct BuildJob {
    pub context: PathBuf,
    pub dockerfile: PathBuf,
    pub build_args: BTreeMap<String, String>,
    pub network: bool,
    /// The name the image gets in local storage until it is pushed.
    pub local_tag: String,
    /// `os/arch[/variant]` to build for (`linux/arm64`).
    pub platform: String,
    /// Labels added to the image (`--label`).
    pub labels: BTreeMap<String, String>,
    /// Build secrets: id and the file (0600) holding the value, mounted
    /// only into the `RUN` steps that ask (`--secret`); never in a layer.
    pub secrets: Vec<(String, PathBuf)>,
    /// Seconds since the epoch (the commit's time): buildah's
    /// `--timestamp`, the created time of the image and its history and
    /// the time of every file in every layer; and the build argument
    /// `SOURCE_DATE_EPOCH` for a Dockerfile that declares it (unless the
    /// build gives it another value).
    pub timestamp: Option<i64>,
}

/// The build argument that tells tools in RUN steps which time to use
/// (<https://reproducible-builds.org/specs/source-date-epoch/>).
pub const SOURCE_DATE_EPOCH: &str = "SOURCE_DATE_EPOCH";

/// buildah failures that say nothing about the Dockerfile: what buildah
/// says, and what it means.
const TRANSIENT_BUILD_FAULTS: [(&str, &str); 2] = [
    (
        "sealing memfd copy",
        "buildah could not start a RUN step (sealing its memfd copy was busy)",
    ),
    (
        "layer not known",
        "buildah's commit lost a layer it shared with another build that removed it",
    ),
];

pub struct Buildah {
    config: BuildahConfig,
}

impl Buildah {
    pub fn new(config: BuildahConfig) -> Self {
        Buildah { config }
    }

    /// `unshare` arguments that run buildah (with its global arguments)
    /// in a PID, mount and IPC namespace of its own — and a network one
    /// unless `network` — that dies with `unshare`.
    pub(crate) fn isolated_buildah(&self, network: bool) -> Vec<String> {
        let mut args: Vec<String> = ["--pid", "--fork", "--kill-child", "--mount-proc", "--ipc"]
            .map(String::from)
            .to_vec();
        if !network {
            args.push("--net".into());
        }
        args.extend(["--".into(), "buildah".into()]);
        args.extend(self.global_args());
        args
    }

    pub(crate) fn global_args(&self) -> Vec<String> {
        vec![
            "--root".into(),
            self.config.storage_root.display().to_string(),
            "--runroot".into(),
            self.config.run_root.display().to_string(),
            "--storage-driver".into(),
            self.config.storage_driver.clone(),
        ]
    }

    /// Whether TLS must be verified for the registry of `image`.
    pub fn tls_verify(&self, image: &str) -> bool {
        let registry = match ImageRef::parse(image) {
            Ok(r) => r.registry,
            // No registry part: a short name on a public registry; verify.
            Err(_) => return true,
        };
        let insecure = is_loopback_host(host_of(&registry))
            || self
                .config
                .insecure_registries
                .iter()
                .any(|r| r == &registry || r == host_of(&registry));
        !insecure
    }

    /// Pull a base image into local storage. `authfile` holds credentials
    /// for its registry when the default lookup should not be used.
    pub async fn pull(
        &self,
        image: &str,
        platform: &str,
        authfile: Option<&Path>,
        log: &dyn LogSink,
        cancel: &CancellationToken,
    ) -> Result<(), BuilderError> {
        let mut args = self.global_args();
        // `always`: the registry is asked every time, with this build's
        // credentials. buildah's default (`missing`) would hand a build an
        // image another project pulled into the shared storage, without
        // asking whether this one may read it; layers it holds are reused.
        args.extend([
            "pull".into(),
            "--quiet".into(),
            "--policy".into(),
            "always".into(),
            "--platform".into(),
            platform.to_string(),
            format!("--tls-verify={}", self.tls_verify(image)),
        ]);
        args.extend(authfile_args(authfile));
        args.push(image.to_string());
        log.line(&format!("--> pulling base image {image}"));
        let out = run("buildah", &args, log, cancel).await?;
        succeeded(&out, format!("cannot pull base image {image}"))
    }

    /// Give the local image `source` the name `name` too (a base image
    /// pulled by digest gets the name its FROM line uses).
    pub async fn tag(
        &self,
        source: &str,
        name: &str,
        log: &dyn LogSink,
        cancel: &CancellationToken,
    ) -> Result<(), BuilderError> {
        let mut args = self.global_args();
        args.extend(["tag".into(), source.to_string(), name.to_string()]);
        let out = run("buildah", &args, log, cancel).await?;
        succeeded(&out, format!("cannot name {source} {name}"))
    }

    /// Build the image. RUN steps get no network unless `job.network`.
    ///
    /// `buildah bud` runs under `unshare --pid --fork --kill-child
    /// --mount-proc --ipc` (and `--net` without network): RUN steps live
    /// in a PID namespace of their own with their own `/proc`, so they see
    /// and signal only this build's processes (not the server, not other
    /// builds' command lines), and when `unshare` dies — a cancel, or the
    /// server killed — the namespace's init dies with it and the kernel
    /// kills every process left in it. Build args reach buildah through its
    /// environment (`--build-arg NAME` reads the variable NAME), never its
    /// command line.
    pub async fn build(
        &self,
        job: &BuildJob,
        log: &dyn LogSink,
        cancel: &CancellationToken,
    ) -> Result<(), BuilderError> {
        if let Some(why) = job
            .build_args
            .keys()
            .find_map(|k| slipway_core::build::reserved_arg_name(k))
        {
            return Err(BuilderError::Failed(why));
        }
        let mut args = self.isolated_buildah(job.network);
        args.extend([
            "bud".into(),
            "--isolation".into(),
            "chroot".into(),
            "--pull=never".into(),
            "--platform".into(),
            job.platform.clone(),
            "-f".into(),
            job.dockerfile.display().to_string(),
            "-t".into(),
            job.local_tag.clone(),
        ]);
        let mut build_args = job.build_args.clone();
        if let Some(t) = job.timestamp {
            args.push("--timestamp".into());
            args.push(t.to_string());
            // Only for a Dockerfile that uses it: buildah warns about a
            // build argument no ARG consumes.
            let declared = tokio::fs::read_to_string(&job.dockerfile)
                .await
                .is_ok_and(|text| text.contains(SOURCE_DATE_EPOCH));
            if declared && !build_args.contains_key(SOURCE_DATE_EPOCH) {
                build_args.insert(SOURCE_DATE_EPOCH.into(), t.to_string());
            }
        }
        for k in build_args.keys() {
            args.push("--build-arg".into());
            args.push(k.clone());
        }
        for (k, v) in &job.labels {
            args.push("--label".into());
            args.push(format!("{k}={v}"));
        }
        for (id, file) in &job.secrets {
            args.push("--secret".into());
            args.push(format!("id={id},src={}", file.display()));
        }
        args.push(job.context.display().to_string());
        let env: Vec<(String, String)> = build_args
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut out = run_env("unshare", &args, &env, log, cancel).await?;
        // Transient faults of the machine, not of the Dockerfile, under
        // concurrent builds on one storage; built again (twice at most):
        // - buildah's chroot isolation copies itself into a sealed memfd
        //   to run a RUN step, and the sealing can fail with EBUSY;
        // - reproducible builds make identical layers, and buildah's
        //   commit may reuse another build's copy of one that build then
        //   removes with its image ("layer not known").
        for _ in 0..2 {
            let transient = TRANSIENT_BUILD_FAULTS
                .iter()
                .find(|(needle, _)| out.stderr_tail.iter().any(|l| l.contains(needle)));
            match transient {
                Some((_, what)) if !out.success => {
                    log.line(&format!("--> {what}; building once more"));
                    out = run_env("unshare", &args, &env, log, cancel).await?;
                }
                _ => break,
            }
        }
        succeeded(&out, "build failed")
    }

    /// Push the locally built image to `dest` and read back what the registry holds.
    pub async fn push(
        &self,
        local_tag: &str,
        dest: &ImageRef,
        work_dir: &Path,
        authfile: Option<&Path>,
        log: &dyn LogSink,
        cancel: &CancellationToken,
    ) -> Result<PushedImage, BuilderError> {
        let dest_s = dest.to_string();
        log.line(&format!("--> pushing {dest_s}"));
        let digest_file = work_dir.join("pushed-digest");
        let mut args = self.global_args();
        args.extend([
            "push".to_string(),
            format!("--tls-verify={}", self.tls_verify(&dest_s)),
            "--digestfile".into(),
            digest_file.display().to_string(),
        ]);
        args.extend(authfile_args(authfile));
        args.extend([local_tag.to_string(), format!("docker://{dest}")]);
        let out = run("buildah", &args, log, cancel).await?;
        succeeded(&out, format!("push to {} refused", dest.registry))?;
        let digest = digest_in(&digest_file, "buildah").await?;
        self.read_back(dest, &digest, authfile, log, cancel).await
    }

    /// Write the image `local_tag` into the OCI layout `layout` (replaced),
    /// for [`Buildah::copy_layout`] to push and a scan to read meanwhile.
    pub async fn write_layout(
        &self,
        local_tag: &str,
        layout: &Path,
        log: &dyn LogSink,
        cancel: &CancellationToken,
    ) -> Result<(), BuilderError> {
        let _ = tokio::fs::remove_dir_all(layout).await;
        let mut args = self.global_args();
        args.extend([
            "push".to_string(),
            "--quiet".into(),
            local_tag.to_string(),
            format!("oci:{}:image", layout.display()),
        ]);
        let out = run("buildah", &args, log, cancel).await?;
        succeeded(
            &out,
            format!("cannot write the image to {}", layout.display()),
        )
    }

    /// Push the image in the OCI layout `layout` ([`Buildah::write_layout`])
    /// to `dest`, digests preserved (what a scan of the layout read is what
    /// the registry holds).
    pub async fn copy_layout(
        &self,
        layout: &Path,
        dest: &ImageRef,
        work_dir: &Path,
        authfile: Option<&Path>,
        log: &dyn LogSink,
        cancel: &CancellationToken,
    ) -> Result<PushedImage, BuilderError> {
        let dest_s = dest.to_string();
        log.line(&format!("--> pushing {dest_s}"));
        let digest_file = work_dir.join("pushed-digest");
        let tls = self.tls_verify(&dest_s);
        let mut args = vec![
            "copy".to_string(),
            "--quiet".into(),
            "--preserve-digests".into(),
            format!("--dest-tls-verify={tls}"),
            "--digestfile".into(),
            digest_file.display().to_string(),
        ];
        args.extend(authfile_args(authfile));
        args.extend([
            format!("oci:{}:image", layout.display()),
            format!("docker://{dest}"),
        ]);
        let out = run("skopeo", &args, log, cancel).await?;
        succeeded(&out, format!("push to {} refused", dest.registry))?;
        let digest = digest_in(&digest_file, "skopeo").await?;
        self.read_back(dest, &digest, authfile, log, cancel).await
    }

    /// What the registry holds for `dest` pushed as `digest`.
    async fn read_back(
        &self,
        dest: &ImageRef,
        digest: &str,
        authfile: Option<&Path>,
        log: &dyn LogSink,
        cancel: &CancellationToken,
    ) -> Result<PushedImage, BuilderError> {
        let reference = dest.with_digest(digest);
        let raw = self
            .inspect_raw(&reference, false, authfile, log, cancel)
            .await
            .map_err(|e| match e {
                BuilderError::Failed(m) => {
                    BuilderError::Failed(format!("pushed {reference} but {m}"))
                }
                e => e,
            })?;
        let image = pushed_image(dest, &reference, digest, &raw).map_err(BuilderError::Failed)?;
        log.line(&format!(
            "--> pushed {reference} ({} bytes, {} layers)",
            image.size,
            image.layers.len()
        ));
        Ok(image)
    }

    /// The manifest (or, with `config`, the image configuration) of
    /// `reference` as the registry serves it (`skopeo inspect --raw`).
    pub async fn inspect_raw(
        &self,
        reference: &str,
        config: bool,
        authfile: Option<&Path>,
        log: &dyn LogSink,
        cancel: &CancellationToken,
    ) -> Result<String, BuilderError> {
        let tls = self.tls_verify(reference);
        let mut args = vec!["inspect".to_string()];
        if config {
            args.push("--config".into());
        }
        args.extend(["--raw".into(), format!("--tls-verify={tls}")]);
        args.extend(authfile_args(authfile));
        args.push(format!("docker://{reference}"));
        let data = process::Collect::default();
        let out = run_split("skopeo", &args, &data, log, cancel).await?;
        succeeded(&out, format!("cannot read {reference} back"))?;
        Ok(data.text())
    }

    /// After a crash: remove every working container in this storage
    /// (nothing builds while this runs), the local images and image
    /// indexes builds make (`localhost/slipway/build-…`,
    /// `localhost/slipway-index/…`) and dangling layers. Base images stay
    /// (they are a cache). Returns (containers, images) removed.
    pub async fn remove_leftovers(&self) -> (usize, usize) {
        let quiet = process::Collect::default();
        let never = CancellationToken::new();
        let list = |what: &'static [&'static str]| {
            let mut args = self.global_args();
            args.extend(what.iter().map(|s| s.to_string()));
            args
        };
        let lines = |out: &process::Collect| {
            out.text()
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_string)
                .collect::<Vec<_>>()
        };
        let containers = process::Collect::default();
        let n_containers = match run_split(
            "buildah",
            &list(&["containers", "--quiet"]),
            &containers,
            &quiet,
            &never,
        )
        .await
        {
            Ok(o) if o.success => lines(&containers).len(),
            _ => 0,
        };
        if n_containers > 0 {
            let _ = run("buildah", &list(&["rm", "--all"]), &quiet, &never).await;
        }
        let images = process::Collect::default();
        let ours: Vec<String> = match run_split(
            "buildah",
            &list(&["images", "--noheading", "--format", "{{.Name}}:{{.Tag}}"]),
            &images,
            &quiet,
            &never,
        )
        .await
        {
            Ok(o) if o.success => lines(&images)
                .into_iter()
                .filter(|n| {
                    n.starts_with("localhost/slipway/build-")
                        || n.starts_with("localhost/slipway-index/")
                })
                .collect(),
            _ => Vec::new(),
        };
        for name in &ours {
            let mut args = self.global_args();
            args.extend(["rmi".into(), "--force".into(), name.clone()]);
            let _ = run("buildah", &args, &quiet, &never).await;
        }
        let _ = run("buildah", &list(&["rmi", "--prune"]), &quiet, &never).await;
        (n_containers, ours.len())
    }

    /// Remove the local copy of an image; failures are only logged.
    pub async fn remove(&self, local_tag: &str, log: &dyn LogSink) {
        let mut args = self.global_args();
        args.extend(["rmi".into(), "--force".into(), local_tag.to_string()]);
        let quiet = process::Collect::default();
        if let Ok(out) = run("buildah", &args, &quiet, &CancellationToken::new()).await
            && !out.success
        {
            log.line(&format!(
                "warning: could not remove local image {local_tag}: {}",
                out.error_line()
            ));
        }
    }
}

/// `Ok` when the tool succeeded, else `Failed` with `what` and the tool's
/// own reason (`cannot tag reg/app:1: manifest unknown`).
pub(crate) fn succeeded(out: &RunOutput, what: impl std::fmt::Display) -> Result<(), BuilderError> {
    if out.success {
        Ok(())
    } else {
        // One or two readable lines; the tool's whole output is in the log.
        Err(BuilderError::Failed(slipway_core::build::short_reason(
            &format!("{what}: {}", out.error_line()),
        )))
    }
}

pub(crate) fn authfile_args(authfile: Option<&Path>) -> Vec<String> {
    match authfile {
        Some(p) => vec!["--authfile".into(), p.display().to_string()],
        None => Vec::new(),
    }
}

/// Read a pushed manifest (OCI or Docker schema 2; same shape for what we need).
pub fn pushed_image(
    dest: &ImageRef,
    reference: &str,
    digest: &str,
    manifest: &str,
) -> Result<PushedImage, String> {
    let v: serde_json::Value = serde_json::from_str(manifest)
        .map_err(|e| format!("registry returned a manifest that is not JSON: {e}"))?;
    let size_of = |d: &serde_json::Value| d.get("size").and_then(|s| s.as_u64()).unwrap_or(0);
    let config = v.get("config").ok_or("pushed manifest has no config")?;
    let layers = v
        .get("layers")
        .and_then(|l| l.as_array())
        .ok_or("pushed manifest has no layers list")?;
    let size = manifest.len() as u64 + size_of(config) + layers.iter().map(size_of).sum::<u64>();
    let layers = layers
        .iter()
        .map(|l| {
            l.get("digest")
                .and_then(|d| d.as_str())
                .map(str::to_string)
                .ok_or_else(|| "a layer in the pushed manifest has no digest".to_string())
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(PushedImage {
        reference: reference.to_string(),
        tag_reference: dest.to_string(),
        digest: digest.to_string(),
        size,
        layers,
    })
}

/// The digest `tool` wrote to `file` (`--digestfile`).
async fn digest_in(file: &Path, tool: &str) -> Result<String, BuilderError> {
    tokio::fs::read_to_string(file)
        .await
        .map(|d| d.trim().to_string())
        .map_err(|e| BuilderError::Failed(format!("{tool} wrote no digest file: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_manifest() {
        let m = r#"{"schemaVersion":2,"config":{"digest":"sha256:c","size":100},
            "layers":[{"digest":"sha256:l1","size":1000},{"digest":"sha256:l2","size":24}]}"#;
        let dest = ImageRef::parse("127.0.0.1:5000/app:1").unwrap();
        let p = pushed_image(&dest, "127.0.0.1:5000/app@sha256:d", "sha256:d", m).unwrap();
        assert_eq!(p.layers, ["sha256:l1", "sha256:l2"]);
        assert_eq!(p.size, m.len() as u64 + 1124);
        assert_eq!(p.tag_reference, "127.0.0.1:5000/app:1");
        assert!(pushed_image(&dest, "r", "d", "{}").is_err());
        assert!(pushed_image(&dest, "r", "d", "nope").is_err());
    }

    #[test]
    fn tls_rules() {
        let b = Buildah::new(BuildahConfig {
            storage_root: "/s".into(),
            run_root: "/r".into(),
            storage_driver: "vfs".into(),
            insecure_registries: vec!["reg.lan:5000".into(), "other.lan".into()],
        });
        assert!(!b.tls_verify("127.0.0.1:5000/a"));
        assert!(!b.tls_verify("localhost/a"));
        assert!(!b.tls_verify("reg.lan:5000/a"));
        assert!(!b.tls_verify("other.lan:443/a"));
        assert!(
            b.tls_verify("reg.lan:5001/a:1"),
            "only the listed port is insecure"
        );
        assert!(b.tls_verify("quay.io/a"));
        assert!(b.tls_verify("busybox"));
    }
}
