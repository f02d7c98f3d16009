//! One worker build: one platform of a build, from source to a pushed image.
//!
//! ```text
//! clone     the build's commit (recorded when the build was prepared)
//! locate    context dir and Dockerfile, canonicalised, never outside the checkout
//! parse     base images (FROM lines, ARG substitution)
//! prebuild  slipway.yaml's prebuild command, in the context, no network
//! build     buildah pull --platform each base; unshare --net buildah bud
//!           --platform … --label (the build's labels + architecture)
//! push    to the platform's unique tag, read back with skopeo
//! ```
//!
//! This is the only build pipeline. The server runs it in-process for local
//! clusters; `slipway worker` runs it in a Kubernetes Job and reports over
//! the API. [`WorkerHost`] is all that differs between the two: where the
//! commit, stage timings and registry credentials come from and go to.
//!
//! Outcome mapping: anything the user can fix (bad ref, missing Dockerfile,
//! failing RUN, refused push) is `Failed` with a one-line reason; a cancel is
//! `Cancelled`; Slipway's own trouble (disk, database) is `Error`.

mod checkout;
pub mod remote;
pub mod secrets;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use slipway_builder::{BuildJob, Buildah, BuilderError, LogSink};
use slipway_core::build::{Stage, StageTiming};
use slipway_core::paths::join_relative;
use slipway_core::scan::ScanReport;
use slipway_core::{BuildId, BuildSpec, ImageRef, Platform, PushedImage, WorkerBuildId};
use std::path::{Path, PathBuf};
use std::time::Instant;
use tokio_util::sync::CancellationToken;

pub use checkout::{Want, checkout, checkout_with, locate};

/// What a worker needs to know to run one worker build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignment {
    pub build: BuildId,
    pub worker: WorkerBuildId,
    pub platform: Platform,
    pub spec: BuildSpec,
    /// How many times the build has been started (2 after a restart).
    pub attempts: u32,
    /// The config's scan policy, when the worker is to scan the image it
    /// pushes to another registry from the layout it pushes it from
    /// (while it is pushed), and report it ([`WorkerHost::record_scan`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scan: Option<slipway_core::scan::ScanPolicy>,
}

/// User name and password for the embedded registry, valid on `hosts`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistryCredentials {
    pub hosts: Vec<String>,
    pub username: String,
    pub password: String,
}

/// Where a worker build gets what it does not decide itself and reports
/// what the build record keeps.
#[async_trait]
pub trait WorkerHost: Send + Sync {
    /// The commit the build already resolved to (by another platform, or
    /// before a restart).
    async fn known_commit(&self) -> Result<Option<String>, String>;
    /// The host's git mirrors, when builds on it read sources through
    /// them ([`slipway_source::Mirrors`]); `None` fetches every checkout.
    fn mirrors(&self) -> Option<&slipway_source::Mirrors> {
        None
    }
    /// Where the image of `platform` is kept as an OCI layout after its
    /// push to another registry, for the scan to read instead of
    /// downloading it again; `None` pushes directly.
    fn image_layout(&self, _platform: &str) -> Option<PathBuf> {
        None
    }
    /// Where the worker's scans keep what they read of layers (`None`: no
    /// cache).
    fn scan_cache(&self) -> Option<slipway_scan::layers::LayerCache> {
        None
    }
    /// Keep the scan the worker made of `platform`'s image
    /// ([`slipway_scan::scan_layout`]: the scanners that read only the
    /// image, and the inventory) for the build's scan step to finish.
    async fn record_scan(&self, platform: &str, report: ScanReport);
    /// Record that `ref_name` resolved to `commit`, unless a commit is
    /// recorded already; returns the recorded one, which this worker builds.
    async fn record_commit(&self, ref_name: &str, commit: &str) -> Result<String, String>;
    async fn record_stage(&self, timing: StageTiming);
    /// Fresh credentials for the embedded registry.
    async fn own_registry(&self) -> Result<RegistryCredentials, String>;
    /// The values of the build secrets `names` of the build's project;
    /// an error names one it does not have.
    async fn secrets(
        &self,
        names: &[String],
    ) -> Result<std::collections::BTreeMap<String, Vec<u8>>, String>;
    /// The build's project's logins to those of `registries` (other than
    /// the embedded one) it has one for.
    async fn registry_logins(
        &self,
        registries: &[String],
    ) -> Result<Vec<RegistryCredentials>, String>;
}

/// How a worker build ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Complete(PushedImage),
    Failed(String),
    Cancelled,
    Error(String),
}

impl From<BuilderError> for Outcome {
    fn from(e: BuilderError) -> Self {
        match e {
            BuilderError::Cancelled => Outcome::Cancelled,
            BuilderError::Failed(r) => Outcome::failed(r),
            e @ BuilderError::Spawn { .. } => Outcome::Error(e.to_string()),
        }
    }
}

impl Outcome {
    /// A tool failed with `reason`: the user's to fix (`Failed`), unless
    /// the machine ran out of disk, which is the service's (`Error`).
    pub fn failed(reason: String) -> Outcome {
        if reason
            .to_ascii_lowercase()
            .contains("no space left on device")
        {
            Outcome::Error(reason)
        } else {
            Outcome::Failed(reason)
        }
    }
}

impl Outcome {
    /// The log line that ends a platform's part of the log.
    pub fn summary(&self, platform: &Platform) -> String {
        match self {
            Outcome::Complete(img) => format!("==> {platform} complete: {}", img.reference),
            Outcome::Failed(r) => format!("==> {platform} failed: {r}"),
            Outcome::Cancelled => format!("==> {platform} cancelled"),
            Outcome::Error(r) => format!("==> {platform} error: {r}"),
        }
    }
}

/// Where a worker keeps the image of `platform` as an OCI layout for its
/// scan, under `work`: `<build>-<platform>-image`.
pub fn image_layout_in(work: &Path, build: BuildId, platform: &str) -> PathBuf {
    work.join(format!("{build}-{platform}-image"))
}

/// Where a worker build pushes: the build's repository, under a tag no
/// other build or platform uses (`build-12-x86_64`).
pub fn platform_image(output: &ImageRef, build: BuildId, platform: &Platform) -> ImageRef {
    ImageRef {
        tag: Some(format!("build-{build}-{platform}")),
        digest: None,
        ..output.clone()
    }
}

/// Write `content` to `path` with mode 0600, atomically (a temporary file,
/// fsynced, then renamed).
pub fn write_secret_file(path: &Path, content: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(content.as_bytes())?;
    f.write_all(b"\n")?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// A containers-auth.json (mode 0600) in `dir` with `creds` for each of
/// their hosts, for buildah and skopeo's `--authfile`.
pub fn write_registry_auth(creds: &RegistryCredentials, dir: &Path) -> std::io::Result<PathBuf> {
    use base64::Engine;
    let auth = base64::engine::general_purpose::STANDARD
        .encode(format!("{}:{}", creds.username, creds.password));
    let auths: serde_json::Map<String, serde_json::Value> = creds
        .hosts
        .iter()
        .map(|host| (host.clone(), serde_json::json!({ "auth": auth })))
        .collect();
    let path = dir.join("registry-auth.json");
    write_secret_file(&path, &serde_json::json!({ "auths": auths }).to_string())?;
    Ok(path)
}

/// Whether `image` lives on a registry in `hosts`.
pub fn on_registry(hosts: &[String], image: &str) -> bool {
    ImageRef::parse(image).is_ok_and(|r| hosts.contains(&r.registry))
}

/// An auth file (in `work`) for `image`'s registry: fresh credentials
/// when it is the embedded one, else the project's login there (`slipway
/// registry login`), else `None` (anonymous, or the host user's own).
pub async fn auth_for(
    host: &dyn WorkerHost,
    own_hosts: &[String],
    image: &str,
    work: &Path,
) -> Result<Option<PathBuf>, BuilderError> {
    if on_registry(own_hosts, image) {
        return own_auth_for(host, own_hosts, image, work).await;
    }
    let Ok(r) = ImageRef::parse(image) else {
        return Ok(None);
    };
    let logins = host
        .registry_logins(std::slice::from_ref(&r.registry))
        .await
        .map_err(BuilderError::Failed)?;
    match logins.first() {
        Some(creds) => write_registry_auth(creds, work)
            .map(Some)
            .map_err(|e| BuilderError::Failed(format!("cannot write the registry auth file: {e}"))),
        None => Ok(None),
    }
}

/// An auth file (in `work`) with fresh credentials for the embedded
/// registry when `image` is on it, else `None`.
pub async fn own_auth_for(
    host: &dyn WorkerHost,
    own_hosts: &[String],
    image: &str,
    work: &Path,
) -> Result<Option<PathBuf>, BuilderError> {
    if !on_registry(own_hosts, image) {
        return Ok(None);
    }
    let creds = host.own_registry().await.map_err(BuilderError::Failed)?;
    write_registry_auth(&creds, work)
        .map(Some)
        .map_err(|e| BuilderError::Failed(format!("cannot write the registry auth file: {e}")))
}

/// Run `f` and record how long it took as `stage`.
pub async fn timed<T>(host: &dyn WorkerHost, stage: Stage, f: impl Future<Output = T>) -> T {
    let start = Instant::now();
    let out = f.await;
    let duration_ms = u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
    host.record_stage(StageTiming { stage, duration_ms }).await;
    out
}

/// Run one worker build in `work` (emptied first), writing its output to
/// `log`. `own_hosts` are the names of the embedded registry.
pub async fn run(
    host: &dyn WorkerHost,
    buildah: &Buildah,
    a: &Assignment,
    own_hosts: &[String],
    work: &Path,
    log: &dyn LogSink,
    cancel: &CancellationToken,
) -> Outcome {
    let id = a.build;
    let spec = &a.spec;
    let platform = &a.platform;
    if let Err(e) = tokio::fs::remove_dir_all(work).await
        && e.kind() != std::io::ErrorKind::NotFound
    {
        return Outcome::Error(format!("cannot clean work dir {}: {e}", work.display()));
    }
    if let Err(e) = tokio::fs::create_dir_all(work).await {
        return Outcome::Error(format!("cannot make work dir {}: {e}", work.display()));
    }
    let src = work.join("src");

    // Clone: every platform builds the commit preparation resolved.
    let cloned = timed(host, Stage::Clone, checkout(host, spec, &src, log, cancel)).await;
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

    let secret_ids = match slipway_dockerfile::secret_ids(&text) {
        Ok(ids) => ids,
        Err(e) => return Outcome::Failed(format!("the Dockerfile has a syntax error: {e}")),
    };

    // Prebuild: the repository's own generation step, in the context.
    if let Some(command) = &spec.prebuild {
        log.line(&format!("==> prebuild: {command}"));
        let ran = timed(host, Stage::Prebuild, async {
            // `secrets:` as files at /run/secrets, for this step only.
            let secrets =
                secrets::prepare(host, &spec.command_secrets, &work.join("prebuild-secrets"))
                    .await
                    .map_err(BuilderError::Failed)?;
            let masked = secrets::Masking {
                inner: log,
                needles: &secrets.needles,
            };
            slipway_builder::run_prebuild(
                &context,
                command,
                spec.network,
                secrets.dir(),
                &masked,
                cancel,
            )
            .await
        })
        .await;
        if let Err(e) = ran {
            return e.into();
        }
    }

    // Build.
    let local_tag = format!("localhost/slipway/build-{id}-{platform}:latest");
    let oci_platform = platform.oci();
    let built = timed(host, Stage::Build, async {
        for base in &bases {
            // The embedded registry's credentials, or the project's login
            // to the base's registry.
            let auth = auth_for(host, own_hosts, base, work).await?;
            let auth = auth.as_deref();
            match spec.parent_digests.get(base) {
                // A parent rebuilt in this wave: build on exactly its new
                // digest, under the name the FROM line uses.
                Some(pinned) => {
                    log.line(&format!("==> {base} is pinned to {pinned}"));
                    buildah
                        .pull(pinned, &oci_platform, auth, log, cancel)
                        .await?;
                    buildah.tag(pinned, base, log, cancel).await?;
                }
                None => buildah.pull(base, &oci_platform, auth, log, cancel).await?,
            }
        }
        log.line(&format!(
            "==> building {oci_platform} with buildah ({})",
            if spec.network {
                "network allowed"
            } else {
                "no network"
            }
        ));
        // Secrets the Dockerfile mounts, as files for this step only;
        // their values never reach the log.
        let secrets = secrets::prepare(host, &secret_ids, &work.join("secrets"))
            .await
            .map_err(BuilderError::Failed)?;
        let masked = secrets::Masking {
            inner: log,
            needles: &secrets.needles,
        };
        let job = BuildJob {
            context: context.clone(),
            dockerfile: dockerfile.clone(),
            build_args: spec.build_args.clone(),
            network: spec.network,
            local_tag: local_tag.clone(),
            platform: oci_platform.clone(),
            labels: {
                let mut labels = spec.labels.clone();
                let (k, v) = slipway_core::build::conventions::architecture_label(platform);
                labels.insert(k, v);
                labels
            },
            secrets: secrets.files.clone(),
            timestamp: spec.source_date_epoch,
        };
        buildah.build(&job, &masked, cancel).await
    })
    .await;
    if let Err(e) = built {
        return e.into();
    }

    // Push, to the platform's unique tag; the orchestrator tags the result
    // (or the index of all platforms) as the build asked.
    let unique = platform_image(&spec.output, id, platform);
    let pushed = timed(host, Stage::Push, async {
        // Fresh credentials: the build may have outlived those used to pull.
        let auth = auth_for(host, own_hosts, &unique.to_string(), work).await?;
        // The embedded registry's images are scanned in place: only an
        // image for another registry is kept as a layout for its scan.
        match host
            .image_layout(&platform.to_string())
            .filter(|_| !on_registry(own_hosts, &unique.to_string()))
        {
            Some(layout) => {
                buildah
                    .write_layout(&local_tag, &layout, log, cancel)
                    .await?;
                // The scan reads the layout while skopeo pushes it.
                let scan = a.scan.clone().map(|policy| {
                    let (name, layout, scratch) =
                        (unique.name(), layout.clone(), work.join("scan"));
                    let cache = host.scan_cache();
                    tokio::task::spawn_blocking(move || {
                        let report = slipway_scan::scan_layout(
                            &name,
                            &layout,
                            &scratch,
                            &policy,
                            cache.as_ref(),
                        );
                        let _ = std::fs::remove_dir_all(&scratch);
                        report
                    })
                });
                let pushed = buildah
                    .copy_layout(&layout, &unique, work, auth.as_deref(), log, cancel)
                    .await;
                if let (Ok(img), Some(scan)) = (&pushed, scan) {
                    match scan.await {
                        Ok(report) if report.reference == img.reference => {
                            host.record_scan(&platform.to_string(), report).await;
                        }
                        Ok(report) => log.line(&format!(
                            "scan note: the layout held {}, not the pushed {}; the image is scanned again",
                            report.reference, img.reference
                        )),
                        Err(e) => log.line(&format!("scan note: the scan crashed: {e}")),
                    }
                }
                pushed
            }
            None => {
                buildah
                    .push(&local_tag, &unique, work, auth.as_deref(), log, cancel)
                    .await
            }
        }
    })
    .await;
    buildah.remove(&local_tag, log).await;
    match pushed {
        Ok(img) => Outcome::Complete(img),
        Err(e) => e.into(),
    }
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

    #[test]
    fn registry_auth_files_are_private_and_name_each_host() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let creds = RegistryCredentials {
            hosts: vec!["127.0.0.1:8080".into(), "localhost:8080".into()],
            username: "slipway".into(),
            password: "slr_x".into(),
        };
        let path = write_registry_auth(&creds, d.path()).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        // base64("slipway:slr_x")
        assert_eq!(v["auths"]["localhost:8080"]["auth"], "c2xpcHdheTpzbHJfeA==");
        assert_eq!(v["auths"]["127.0.0.1:8080"]["auth"], "c2xpcHdheTpzbHJfeA==");
        assert!(on_registry(&creds.hosts, "localhost:8080/a/b:1"));
        assert!(!on_registry(&creds.hosts, "quay.io/a/b:1"));
    }

    #[test]
    fn unique_tags_name_build_and_platform() {
        let out = ImageRef::parse("reg:5000/team/app:1.0").unwrap();
        let p = Platform::parse("aarch64").unwrap();
        assert_eq!(
            platform_image(&out, 12, &p).to_string(),
            "reg:5000/team/app:build-12-aarch64"
        );
    }
}
