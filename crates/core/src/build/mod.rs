//! Build requests, validated build specs, and the build record the API shows.

//!
//! Around it: which phase transitions are legal ([`phase`]), build
//! conventions (`slipway.yaml`, labels, releases, tags: [`conventions`]) and
//! git source locations and ref rules ([`source`]).

pub mod conventions;
mod limits;
pub mod phase;
mod reason;
pub mod source;
pub mod test_stage;

pub use limits::Limits;
pub use reason::short_reason;

use crate::build::conventions::{BuildKind, LintReport, RepoConfig, check_nvr_part};
use crate::build::phase::BuildPhase;
use crate::build::source::{SourceError, SourceLocation, validate_ref};
use crate::cluster::Platform;
use crate::image_ref::{ImageRef, ImageRefError};
use crate::paths::{PathError, clean_relative};
use crate::rebuild::trigger::Trigger;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

pub type BuildId = i64;

/// What a client sends to start a build.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildRequest {
    pub source: SourceRequest,
    #[serde(default)]
    pub build_args: BTreeMap<String, String>,
    /// Where to push the image (`host[:port]/name[:tag]`).
    #[serde(default)]
    pub output: Option<String>,
    /// Give RUN steps network access (off by default).
    #[serde(default)]
    pub network: bool,
    /// Platforms to build (`x86_64`, `aarch64`, …); the server's own when empty.
    #[serde(default)]
    pub platforms: Vec<String>,
    /// Higher first; equal priorities run in submission order.
    #[serde(default)]
    pub priority: i32,
    /// Labels for the image (`name`, `version`, `component`, …); they win
    /// over the Dockerfile's.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// An explicit release; the next free one for the name and version
    /// when absent.
    #[serde(default)]
    pub release: Option<String>,
    /// A throw-away build: no label requirement, no release, only the
    /// unique tag.
    #[serde(default)]
    pub scratch: bool,
    /// A rebuild with an explicit release that moves no floating tag.
    #[serde(default)]
    pub isolated: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceRequest {
    /// A git URL or an absolute path to a local repository.
    pub url: String,
    /// Branch, tag or commit; the remote's default branch when absent.
    #[serde(default, rename = "ref")]
    pub git_ref: Option<String>,
    /// Directory inside the repository used as the build context.
    #[serde(default)]
    pub context_dir: Option<String>,
    /// Dockerfile path, relative to the context directory.
    #[serde(default)]
    pub dockerfile: Option<String>,
}

/// A request that passed validation: every field is in canonical form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildSpec {
    pub source: SourceSpec,
    pub build_args: BTreeMap<String, String>,
    pub output: ImageRef,
    pub network: bool,
    /// One worker build per platform, in this order; never empty.
    #[serde(default = "host_platforms")]
    pub platforms: Vec<Platform>,
    #[serde(default)]
    pub priority: i32,
    /// Whether the request named the platforms (else `slipway.yaml`'s
    /// `only` list may choose them).
    #[serde(default = "yes")]
    pub explicit_platforms: bool,
    #[serde(default)]
    pub kind: BuildKind,
    /// The request's labels; once prepared, every label the images get
    /// (except the per-platform `architecture`).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// The requested release; once prepared, the release assigned.
    #[serde(default)]
    pub release: Option<String>,
    /// Set by preparation: `slipway.yaml`'s prebuild command.
    #[serde(default)]
    pub prebuild: Option<String>,
    /// Set by preparation: `slipway.yaml`'s `secrets:`, the project's
    /// secrets the prebuild and test commands read as files.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command_secrets: Vec<String>,
    /// Set by preparation: every tag the build publishes, unique tag first.
    #[serde(default)]
    pub tags: Vec<String>,
    /// The image config the build belongs to, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<String>,
    /// The project it belongs to (`None`: the default project; builds
    /// from before projects).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// What started the build.
    #[serde(default = "manual")]
    pub trigger: Trigger,
    /// The rebuild wave the build is part of.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wave: Option<i64>,
    /// Build even when the inputs equal the last successful build's.
    #[serde(default, skip_serializing_if = "is_false")]
    pub force: bool,
    /// Base images pinned to a digest: the FROM image as the Dockerfile
    /// names it → `registry/repository@digest` (a parent rebuilt in the same
    /// wave). Workers pull the digest and give it the FROM name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub parent_digests: BTreeMap<String, String>,
    /// Set by preparation: the build's input key (build avoidance).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_key: Option<String>,
    /// Set by preparation: the images the Dockerfile builds on (FROM and
    /// `COPY --from` images, build args substituted). The build's registry
    /// token may pull these repositories and no others.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub base_images: Vec<String>,
    /// Set by preparation: the commit's time, seconds since the epoch.
    /// Workers build with it as buildah's `--timestamp` (the created time
    /// of the image, its history and every file of every layer) and as the
    /// build argument `SOURCE_DATE_EPOCH`, so the same inputs give the same
    /// image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_date_epoch: Option<i64>,
    /// This build rebuilds that build's inputs to check they give the same
    /// image (`slipway rebuild --verify`): it publishes only its unique tag
    /// and is compared with it, not signed, scanned or imported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reproduces: Option<BuildId>,
}

impl BuildSpec {
    /// The project it belongs to.
    pub fn project_name(&self) -> &str {
        self.project
            .as_deref()
            .unwrap_or(crate::access::DEFAULT_PROJECT)
    }

    /// What this build may do on the registry reached as one of
    /// `own_hosts`: pull and push its output repository, pull the
    /// repositories of its base images (and of parents pinned by digest)
    /// that `may_pull` allows its project (a base in another project's
    /// namespace is left out, so the registry refuses it).
    pub fn registry_grants(
        &self,
        own_hosts: &[String],
        may_pull: &dyn Fn(&str) -> bool,
    ) -> Vec<crate::token::Grant> {
        use crate::token::{Action, Grant};
        let mut grants = Vec::new();
        if own_hosts.contains(&self.output.registry) {
            grants.push(Grant::new(
                &self.output.repository,
                &[Action::Pull, Action::Push],
            ));
        }
        let pinned = self.parent_digests.values();
        for image in self.base_images.iter().chain(pinned) {
            if let Ok(r) = ImageRef::parse(image)
                && own_hosts.contains(&r.registry)
                && !grants.iter().any(|g| g.repository == r.repository)
                && may_pull(&r.repository)
            {
                grants.push(Grant::new(&r.repository, &[Action::Pull]));
            }
        }
        grants
    }
}

fn manual() -> Trigger {
    Trigger::Manual
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn yes() -> bool {
    true
}

fn host_platforms() -> Vec<Platform> {
    vec![Platform::host()]
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceSpec {
    pub location: SourceLocation,
    #[serde(rename = "ref")]
    pub git_ref: Option<String>,
    pub context_dir: String,
    pub dockerfile: String,
}

/// Why a request was refused; `field` names the JSON field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct InvalidRequest {
    pub field: &'static str,
    pub message: String,
}

fn invalid(field: &'static str, e: impl fmt::Display) -> InvalidRequest {
    InvalidRequest {
        field,
        message: e.to_string(),
    }
}

impl BuildRequest {
    /// Validate and canonicalise. `default_registry` (`host[:port][/prefix]`)
    /// completes an output that names no registry, and makes
    /// `<default_registry>/<source name>` when there is no output. A tag in
    /// the output is published as one more tag of the build.
    pub fn validate(&self, default_registry: Option<&str>) -> Result<BuildSpec, InvalidRequest> {
        let location = SourceLocation::parse(&self.source.url)
            .map_err(|e: SourceError| invalid("source.url", e))?;
        let git_ref = match self.source.git_ref.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(r) => {
                validate_ref(r).map_err(|e| invalid("source.ref", e))?;
                Some(r.to_string())
            }
        };
        let context_dir = clean_relative(self.source.context_dir.as_deref().unwrap_or("."))
            .map_err(|e: PathError| invalid("source.context_dir", e))?;
        let dockerfile = clean_relative(self.source.dockerfile.as_deref().unwrap_or("Dockerfile"))
            .map_err(|e| invalid("source.dockerfile", e))?;
        if dockerfile == "." {
            return Err(invalid(
                "source.dockerfile",
                "the Dockerfile path names a directory",
            ));
        }
        check_build_args(&self.build_args).map_err(|e| invalid("build_args", e))?;
        let output = match self.output.as_deref().map(str::trim) {
            Some(o) if !o.is_empty() => {
                let r = ImageRef::parse_with_default(o, default_registry)
                    .map_err(|e: ImageRefError| invalid("output", e))?;
                let mut r = r;
                // `parse` defaults the tag to `latest`; here only a tag the
                // user wrote is kept (it becomes one of the build's tags).
                let tagged = o.rsplit('/').next().is_some_and(|last| last.contains(':'));
                if !tagged {
                    r.tag = None;
                }
                if r.digest.is_some() {
                    return Err(invalid(
                        "output",
                        "an output reference cannot carry a digest; the digest is known only after the push",
                    ));
                }
                r
            }
            _ => {
                let reg = default_registry.ok_or_else(|| {
                    invalid(
                        "output",
                        "no output image given and the server has no default registry; name one, e.g. --tag 127.0.0.1:5000/app:latest",
                    )
                })?;
                let mut r =
                    ImageRef::parse(&format!("{reg}/{}", default_repository_name(&location)))
                        .map_err(|e| invalid("output", e))?;
                r.tag = None;
                r
            }
        };
        let mut platforms = Vec::new();
        for name in &self.platforms {
            let p = Platform::parse(name.trim()).map_err(|e| invalid("platforms", e))?;
            if platforms.contains(&p) {
                return Err(invalid("platforms", format!("{p} is listed twice")));
            }
            platforms.push(p);
        }
        let explicit_platforms = !platforms.is_empty();
        if platforms.is_empty() {
            platforms = host_platforms();
        }
        for (k, v) in &self.labels {
            if k.trim().is_empty() || k.contains('=') || k.chars().any(char::is_whitespace) {
                return Err(invalid(
                    "labels",
                    format!("label key {k:?} is invalid: no spaces or '='"),
                ));
            }
            if v.contains('\0') {
                return Err(invalid("labels", format!("label {k} contains a NUL byte")));
            }
        }
        let kind = match (self.scratch, self.isolated) {
            (true, true) => {
                return Err(invalid(
                    "isolated",
                    "a build is either scratch or isolated, not both",
                ));
            }
            (true, false) => BuildKind::Scratch,
            (false, true) => BuildKind::Isolated,
            (false, false) => BuildKind::Normal,
        };
        let release = match self.release.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(r) => {
                check_nvr_part("release", r).map_err(|e| invalid("release", e))?;
                Some(r.to_string())
            }
        };
        match (kind, &release) {
            (BuildKind::Scratch, Some(_)) => {
                return Err(invalid(
                    "release",
                    "a scratch build gets no release; drop --release or --scratch",
                ));
            }
            (BuildKind::Isolated, None) => {
                return Err(invalid(
                    "release",
                    "an isolated build needs an explicit release (--release N)",
                ));
            }
            _ => {}
        }
        Ok(BuildSpec {
            source: SourceSpec {
                location,
                git_ref,
                context_dir,
                dockerfile,
            },
            build_args: self.build_args.clone(),
            output,
            network: self.network,
            platforms,
            priority: self.priority,
            explicit_platforms,
            kind,
            labels: self.labels.clone(),
            release,
            prebuild: None,
            command_secrets: Vec::new(),
            tags: Vec::new(),
            config: None,
            project: None,
            trigger: Trigger::Manual,
            wave: None,
            force: false,
            parent_digests: BTreeMap::new(),
            input_key: None,
            base_images: Vec::new(),
            source_date_epoch: None,
            reproduces: None,
        })
    }
}

/// A repository name made from the source's last path component
/// (`https://git.example.com/team/My_App.git` → `my-app`).
pub fn default_repository_name(location: &SourceLocation) -> String {
    let url = location.git_url();
    let trimmed = url.trim_end_matches('/');
    let trimmed = trimmed.strip_suffix(".git").unwrap_or(trimmed);
    let last = trimmed.rsplit(['/', ':']).next().unwrap_or("");
    let mut name = String::new();
    for c in last.chars() {
        if c.is_ascii_alphanumeric() {
            name.push(c.to_ascii_lowercase());
        } else if !name.is_empty() && !name.ends_with('-') {
            name.push('-');
        }
    }
    let name = name.trim_end_matches('-');
    if name.is_empty() {
        "build".to_string()
    } else {
        name.to_string()
    }
}

pub(crate) fn valid_arg_name(k: &str) -> bool {
    !k.is_empty()
        && !k.starts_with(|c: char| c.is_ascii_digit())
        && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Build args reach buildah through its environment, never its command
/// line (where `ps` shows them to anyone), and buildah's `--build-arg
/// NAME` reads the variable of that very name. So names that change how
/// buildah itself, the dynamic loader, the C library or the Go runtime
/// behave are refused: `LD_PRELOAD` as a build arg would load a library
/// into buildah on the host.
const RESERVED_ARG_NAMES: [&str; 42] = [
    "PATH",
    "HOME",
    "SHELL",
    "PWD",
    "OLDPWD",
    "TMPDIR",
    "TMP",
    "TEMP",
    "IFS",
    "ENV",
    "BASH_ENV",
    "CDPATH",
    "TZ",
    "TZDIR",
    "LANG",
    "LANGUAGE",
    "TERM",
    "TERMINFO",
    "GCONV_PATH",
    "GETCONF_DIR",
    "HOSTALIASES",
    "LOCALDOMAIN",
    "LOCPATH",
    "NLSPATH",
    "RES_OPTIONS",
    "RESOLV_HOST_CONF",
    "GLIBC_TUNABLES",
    "NOTIFY_SOCKET",
    "LISTEN_FDS",
    "LISTEN_PID",
    "DBUS_SESSION_BUS_ADDRESS",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "GODEBUG",
    "GOGC",
    "GOMAXPROCS",
    "GOTRACEBACK",
    "GOMEMLIMIT",
    "DOCKER_CONFIG",
    "REGISTRY_AUTH_FILE",
    "STORAGE_DRIVER",
    "STORAGE_OPTS",
];

/// Prefixes of reserved build arg names (see [`RESERVED_ARG_NAMES`]).
const RESERVED_ARG_PREFIXES: [&str; 10] = [
    "LD_",
    "LC_",
    "MALLOC_",
    "XDG_",
    "BUILDAH_",
    "CONTAINERS_",
    "_CONTAINERS_",
    "_BUILDAH_",
    "PODMAN_",
    "SLIPWAY_",
];

/// Why build arg `name` cannot be used, if it cannot.
pub fn reserved_arg_name(name: &str) -> Option<String> {
    let reserved = RESERVED_ARG_NAMES.contains(&name)
        || RESERVED_ARG_PREFIXES.iter().any(|p| name.starts_with(p));
    reserved.then(|| {
        format!(
            "build arg name {name} is reserved: build args reach buildah as environment variables, and {name} would change how buildah itself runs; rename the ARG"
        )
    })
}

/// Check build arg names and values (shared by requests, `slipway.yaml`
/// and image configs).
pub fn check_build_args(args: &BTreeMap<String, String>) -> Result<(), String> {
    for (k, v) in args {
        if !valid_arg_name(k) {
            return Err(format!(
                "build arg name {k:?} is invalid: use letters, digits and _, not starting with a digit"
            ));
        }
        if let Some(why) = reserved_arg_name(k) {
            return Err(why);
        }
        if v.contains('\0') {
            return Err(format!("build arg {k} contains a NUL byte"));
        }
    }
    Ok(())
}

/// The stages of a build whose durations are recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Once per build, before any platform: checkout, lint, labels, release.
    Prepare,
    Clone,
    Prebuild,
    Build,
    Push,
    /// Once per build, after the push: the image scanned.
    Scan,
    /// Once per build, after the scan: `slipway.yaml`'s `test:`.
    Test,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Clone => "clone",
            Stage::Prepare => "prepare",
            Stage::Prebuild => "prebuild",
            Stage::Build => "build",
            Stage::Push => "push",
            Stage::Scan => "scan",
            Stage::Test => "test",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageTiming {
    pub stage: Stage,
    pub duration_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildEvent {
    #[serde(with = "crate::api::time::seconds")]
    pub at: Timestamp,
    /// The phase the build entered, when the event is a phase change.
    pub phase: Option<BuildPhase>,
    pub message: String,
}

/// What the registry holds after a successful push.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushedImage {
    /// `registry/name@sha256:…`
    pub reference: String,
    /// The tag reference that was pushed, `registry/name:tag`.
    pub tag_reference: String,
    /// The manifest digest.
    pub digest: String,
    /// Total bytes in the registry: manifest + config + layers.
    pub size: u64,
    /// Layer digests as stored in the registry, base layer first.
    pub layers: Vec<String>,
}

pub type WorkerBuildId = i64;

/// The part of a build that runs on one platform, on one cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerBuild {
    pub id: WorkerBuildId,
    pub build_id: BuildId,
    pub platform: Platform,
    pub priority: i32,
    /// Pending (queued), Running (placed on `cluster`), or final.
    pub phase: BuildPhase,
    pub cluster: Option<String>,
    /// Clusters that refused or could not take it, in order.
    pub tried: Vec<String>,
    pub reason: Option<String>,
    /// The platform image under its unique tag.
    pub image: Option<PushedImage>,
    #[serde(with = "crate::api::time::seconds")]
    pub created_at: Timestamp,
    #[serde(default, with = "crate::api::time::seconds_opt")]
    pub started_at: Option<Timestamp>,
    #[serde(default, with = "crate::api::time::seconds_opt")]
    pub finished_at: Option<Timestamp>,
}

/// A build as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Build {
    pub id: BuildId,
    pub phase: BuildPhase,
    /// One line saying why the build ended the way it did (for non-Complete endings).
    pub reason: Option<String>,
    pub spec: BuildSpec,
    /// The commit the ref resolved to.
    pub commit: Option<String>,
    pub image: Option<PushedImage>,
    pub stages: Vec<StageTiming>,
    pub events: Vec<BuildEvent>,
    /// How many times a worker started this build.
    pub attempts: u32,
    /// One per platform.
    #[serde(default)]
    pub workers: Vec<WorkerBuild>,
    /// The lint step's findings (absent until the build is prepared).
    #[serde(default)]
    pub lint: Option<LintReport>,
    /// The `slipway.yaml` the build was prepared with, if the source has one.
    #[serde(default)]
    pub repo_config: Option<RepoConfig>,
    #[serde(with = "crate::api::time::seconds")]
    pub created_at: Timestamp,
    #[serde(default, with = "crate::api::time::seconds_opt")]
    pub started_at: Option<Timestamp>,
    #[serde(default, with = "crate::api::time::seconds_opt")]
    pub finished_at: Option<Timestamp>,
}

impl Build {
    /// The build as the API shows it: a password in the source URL hidden.
    /// (Workers get the build's own spec, with it.)
    pub fn redacted(mut self) -> Build {
        if let source::SourceLocation::Url(u) = &self.spec.source.location {
            self.spec.source.location = source::SourceLocation::Url(source::redact_url(u));
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(url: &str) -> BuildRequest {
        BuildRequest {
            source: SourceRequest {
                url: url.into(),
                ..Default::default()
            },
            output: Some("127.0.0.1:5000/app:1".into()),
            ..Default::default()
        }
    }

    #[test]
    fn defaults_are_filled_in() {
        let spec = req("/srv/repo").validate(None).unwrap();
        assert_eq!(spec.source.context_dir, ".");
        assert_eq!(spec.source.dockerfile, "Dockerfile");
        assert_eq!(spec.source.git_ref, None);
        assert!(!spec.network);
        assert_eq!(spec.output.to_string(), "127.0.0.1:5000/app:1");
    }

    #[test]
    fn default_registry_completes_the_output() {
        let mut r = req("/srv/My_App");
        r.output = None;
        assert_eq!(r.validate(None).unwrap_err().field, "output");
        let reg = Some("127.0.0.1:8080");
        assert_eq!(
            r.validate(reg).unwrap().output.to_string(),
            "127.0.0.1:8080/my-app"
        );
        r.output = Some("team/app:2".into());
        assert_eq!(
            r.validate(reg).unwrap().output.to_string(),
            "127.0.0.1:8080/team/app:2"
        );
        assert_eq!(r.validate(None).unwrap_err().field, "output");
        r.output = Some("quay.io/team/app:2".into());
        assert_eq!(
            r.validate(reg).unwrap().output.to_string(),
            "quay.io/team/app:2"
        );
    }

    #[test]
    fn repository_names_from_sources() {
        let name = |s: &str| default_repository_name(&SourceLocation::parse(s).unwrap());
        assert_eq!(name("https://git.example.com/team/My_App.git"), "my-app");
        assert_eq!(name("git@example.com:team/tool.git/"), "tool");
        assert_eq!(name("/srv/repos/hello"), "hello");
        assert_eq!(name("/srv/___/"), "build");
    }

    #[test]
    fn rejects_bad_fields_naming_them() {
        let mut r = req("/srv/repo");
        r.source.context_dir = Some("../up".into());
        assert_eq!(r.validate(None).unwrap_err().field, "source.context_dir");

        let mut r = req("/srv/repo");
        r.source.dockerfile = Some("/etc/passwd".into());
        assert_eq!(r.validate(None).unwrap_err().field, "source.dockerfile");

        let mut r = req("/srv/repo");
        r.source.git_ref = Some("--upload-pack=x".into());
        assert_eq!(r.validate(None).unwrap_err().field, "source.ref");

        let mut r = req("/srv/repo");
        r.build_args.insert("1X".into(), "v".into());
        assert_eq!(r.validate(None).unwrap_err().field, "build_args");

        // Names that would steer buildah itself are refused, with why.
        for name in ["LD_PRELOAD", "PATH", "GODEBUG", "_CONTAINERS_ROOTLESS_UID"] {
            let mut r = req("/srv/repo");
            r.build_args.insert(name.into(), "x".into());
            let e = r.validate(None).unwrap_err();
            assert_eq!(e.field, "build_args");
            assert!(e.to_string().contains("reserved"), "{e}");
        }
        // Common ARG names are fine.
        let mut r = req("/srv/repo");
        for name in [
            "GO_VERSION",
            "GOLANG_VERSION",
            "HTTP_PROXY",
            "http_proxy",
            "VERSION",
        ] {
            r.build_args.insert(name.into(), "1".into());
        }
        assert!(r.validate(None).is_ok());

        let mut r = req("/srv/repo");
        r.output = Some(format!("localhost/app@sha256:{}", "0".repeat(64)));
        assert_eq!(r.validate(None).unwrap_err().field, "output");

        assert_eq!(
            req("not a url").validate(None).unwrap_err().field,
            "source.url"
        );
    }

    #[test]
    fn platforms_default_to_the_host_and_are_checked() {
        let mut r = req("/srv/repo");
        assert_eq!(r.validate(None).unwrap().platforms, vec![Platform::host()]);
        r.platforms = vec!["aarch64".into(), "x86_64".into()];
        let p = r.validate(None).unwrap().platforms;
        assert_eq!(
            p.iter().map(Platform::as_str).collect::<Vec<_>>(),
            ["aarch64", "x86_64"]
        );
        r.platforms = vec!["x86_64".into(), "x86_64".into()];
        assert!(r.validate(None).unwrap_err().message.contains("twice"));
        r.platforms = vec!["linux/mips".into()];
        let e = r.validate(None).unwrap_err();
        assert_eq!(e.field, "platforms");
        assert!(e.message.contains("x86_64, aarch64"), "{e}");
    }

    #[test]
    fn build_kinds_and_releases() {
        let mut r = req("/srv/repo");
        let spec = r.validate(None).unwrap();
        assert_eq!((spec.kind, spec.release), (BuildKind::Normal, None));
        r.release = Some("4".into());
        assert_eq!(r.validate(None).unwrap().release.as_deref(), Some("4"));
        r.scratch = true;
        assert_eq!(r.validate(None).unwrap_err().field, "release");
        r.release = None;
        assert_eq!(r.validate(None).unwrap().kind, BuildKind::Scratch);
        r.isolated = true;
        assert_eq!(r.validate(None).unwrap_err().field, "isolated");
        r.scratch = false;
        assert!(
            r.validate(None)
                .unwrap_err()
                .message
                .contains("explicit release")
        );
        r.release = Some("2-1".into());
        assert_eq!(r.validate(None).unwrap_err().field, "release");
        r.release = Some("2".into());
        assert_eq!(r.validate(None).unwrap().kind, BuildKind::Isolated);
        r.labels.insert("bad key".into(), "v".into());
        assert_eq!(r.validate(None).unwrap_err().field, "labels");
    }

    #[test]
    fn unknown_json_fields_are_refused() {
        let err = serde_json::from_str::<BuildRequest>(r#"{"source":{"url":"/x"},"netwrk":true}"#)
            .unwrap_err();
        assert!(err.to_string().contains("netwrk"), "{err}");
    }
}
