//! Build conventions: what makes an image traceable (OSBS's and the CentOS
//! pipeline's rules, done once, here).
//!
//! - [`RepoConfig`]: the optional `slipway.yaml` at the context root.
//! - [`ImageIdentity`]: the `name`, `version` and component labels every
//!   non-scratch build needs.
//! - [`added_labels`]: the labels Slipway adds to every image.
//! - [`next_release`], [`check_nvr_part`]: release numbering.
//! - [`plan_tags`], [`unique_tag`]: which tags a build publishes.
//!
//! Pure functions; the store reserves releases and the server applies the rest.

use crate::cluster::Platform;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The repo config file, read from the build's context directory.
pub const REPO_CONFIG_FILE: &str = "slipway.yaml";

/// What kind of build this is (OSBS's build types).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BuildKind {
    /// Labels required, a release assigned, every tag published.
    #[default]
    Normal,
    /// A throw-away build: no label requirement, no release, only the
    /// unique tag.
    Scratch,
    /// A rebuild of an existing version with an explicit, new release:
    /// the primary and unique tags only; no floating tag moves.
    Isolated,
}

impl BuildKind {
    /// The name on the wire (`normal`, `scratch`, `isolated`).
    pub fn as_str(self) -> &'static str {
        match self {
            BuildKind::Normal => "normal",
            BuildKind::Scratch => "scratch",
            BuildKind::Isolated => "isolated",
        }
    }
}

/// Whether lint findings can fail a build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LintMode {
    /// Findings are stored and shown; the build goes on.
    #[default]
    Advisory,
    /// Findings at or above the failure threshold (`error` unless
    /// `.hadolint.yaml` says otherwise) fail the build before it starts.
    Gating,
}

impl LintMode {
    /// The name on the wire and in `slipway.yaml` (`advisory`, `gating`).
    pub fn as_str(self) -> &'static str {
        match self {
            LintMode::Advisory => "advisory",
            LintMode::Gating => "gating",
        }
    }
}

/// `slipway.yaml`. Every key is optional; unknown keys are errors that
/// name the key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepoConfig {
    #[serde(default)]
    pub platforms: PlatformFilter,
    /// Extra tags, moved like floating tags (`{version}` and `{release}`
    /// are replaced).
    #[serde(default)]
    pub tags: Vec<String>,
    /// The floating tags; `["{version}", "latest"]` when absent.
    #[serde(default)]
    pub floating_tags: Option<Vec<String>>,
    #[serde(default)]
    pub lint: Option<LintMode>,
    /// Defaults for build args; the build request's values win.
    #[serde(default)]
    pub build_args: BTreeMap<String, String>,
    /// A shell command run in the context directory before the build, in
    /// its own step (`sh -c`, no network unless the build has network).
    #[serde(default)]
    pub prebuild: Option<String>,
    /// What tests the built image before any tag but the unique one moves
    /// (`crate::build::test_stage`).
    #[serde(default)]
    pub test: Option<crate::build::test_stage::TestSetting>,
    /// The project's build secrets the prebuild and test commands read, as
    /// files under [`COMMAND_SECRETS_DIR`] (never in their environment).
    /// The Dockerfile's `RUN` steps mount what they name themselves.
    #[serde(default)]
    pub secrets: Vec<String>,
    /// Who is told about the build's result.
    #[serde(default)]
    pub notify: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlatformFilter {
    /// Build only these (when the request names none, these are built).
    #[serde(default)]
    pub only: Vec<String>,
    /// Never build these.
    #[serde(default)]
    pub not: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{REPO_CONFIG_FILE}: {0}")]
pub struct RepoConfigError(pub String);

pub const DEFAULT_FLOATING_TAGS: [&str; 2] = ["{version}", "latest"];

/// Where the prebuild and test commands find `secrets:` (one file per
/// secret, named as the secret); `$SLIPWAY_SECRETS` says so too.
pub const COMMAND_SECRETS_DIR: &str = "/run/secrets";

impl RepoConfig {
    /// Read and check `slipway.yaml` text; an unknown key is an error that
    /// names it.
    pub fn parse(text: &str) -> Result<RepoConfig, RepoConfigError> {
        if text.trim().is_empty() {
            return Ok(RepoConfig::default());
        }
        let c: RepoConfig =
            serde_saphyr::from_str(text).map_err(|e| RepoConfigError(e.to_string()))?;
        c.check()?;
        Ok(c)
    }

    /// Check the values (names, templates, addresses).
    pub fn check(&self) -> Result<(), RepoConfigError> {
        for p in self.platforms.only.iter().chain(&self.platforms.not) {
            Platform::parse(p).map_err(|e| RepoConfigError(format!("platforms: {e}")))?;
        }
        for t in self.tags.iter().chain(self.floating_tags.iter().flatten()) {
            // Check the template with sample values: the result must be a tag.
            let sample = expand_tag(t, "1.0", Some("1"))
                .map_err(|e| RepoConfigError(format!("tags: {e}")))?;
            check_tag(&sample).map_err(|e| RepoConfigError(format!("tags: {t:?}: {e}")))?;
        }
        crate::build::check_build_args(&self.build_args)
            .map_err(|e| RepoConfigError(format!("build_args: {e}")))?;
        let test = self.test.as_ref().map(|t| t.stage().command);
        for (key, cmd) in [("prebuild", &self.prebuild), ("test", &test)] {
            if cmd.as_deref().is_some_and(|c| c.trim().is_empty()) {
                return Err(RepoConfigError(format!(
                    "{key}: the command is empty; remove the key or give a command"
                )));
            }
        }
        for n in &self.secrets {
            crate::api::access::check_secret_name(n)
                .map_err(|e| RepoConfigError(format!("secrets: {e}")))?;
        }
        if !self.secrets.is_empty() && self.prebuild.is_none() && self.test.is_none() {
            return Err(RepoConfigError(
                "secrets: only the prebuild and test commands read these, and there is neither; a Dockerfile mounts its own (RUN --mount=type=secret,id=NAME)".into(),
            ));
        }
        for a in &self.notify {
            let ok = a
                .split_once('@')
                .is_some_and(|(u, d)| !u.is_empty() && d.contains('.') && !d.contains('@'))
                && !a.chars().any(char::is_whitespace);
            if !ok {
                return Err(RepoConfigError(format!(
                    "notify: {a:?} is not an email address"
                )));
            }
        }
        Ok(())
    }

    /// The platforms to build: the requested ones (or `only`, when the
    /// request named none and `only` is set), without `not`.
    pub fn platforms(
        &self,
        requested: &[Platform],
        explicit: bool,
    ) -> Result<Vec<Platform>, RepoConfigError> {
        let parse = |l: &[String]| -> Result<Vec<Platform>, RepoConfigError> {
            l.iter()
                .map(|p| Platform::parse(p).map_err(|e| RepoConfigError(format!("platforms: {e}"))))
                .collect()
        };
        let only = parse(&self.platforms.only)?;
        let not = parse(&self.platforms.not)?;
        let start: Vec<Platform> = if !explicit && !only.is_empty() {
            only.clone()
        } else {
            requested.to_vec()
        };
        let kept: Vec<Platform> = start
            .into_iter()
            .filter(|p| (only.is_empty() || only.contains(p)) && !not.contains(p))
            .collect();
        if kept.is_empty() {
            let names = |l: &[Platform]| {
                l.iter()
                    .map(Platform::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            return Err(RepoConfigError(format!(
                "platforms: no platform is left to build: requested [{}], only [{}], not [{}]",
                names(requested),
                names(&only),
                names(&not)
            )));
        }
        Ok(kept)
    }

    pub fn floating_tags(&self) -> Vec<String> {
        match &self.floating_tags {
            Some(t) => t.clone(),
            None => DEFAULT_FLOATING_TAGS.map(String::from).to_vec(),
        }
    }
}

/// The labels that say what an image is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageIdentity {
    pub name: String,
    pub version: String,
    /// `component`, or its alias `com.redhat.component`.
    pub component: String,
}

/// The label keys accepted for the component, in order of preference.
pub const COMPONENT_LABELS: [&str; 2] = ["component", "com.redhat.component"];

impl ImageIdentity {
    /// Read the identity from an image's labels; the error names every
    /// missing label and says where to set it.
    pub fn from_labels(labels: &BTreeMap<String, String>) -> Result<ImageIdentity, String> {
        let get = |k: &str| labels.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
        let component = COMPONENT_LABELS.iter().find_map(|k| get(k));
        let mut missing = Vec::new();
        if get("name").is_none() {
            missing.push("name");
        }
        if get("version").is_none() {
            missing.push("version");
        }
        if component.is_none() {
            missing.push("component (or com.redhat.component)");
        }
        if !missing.is_empty() {
            return Err(format!(
                "missing required label{} {}: set {} with LABEL in the Dockerfile or with --label KEY=VALUE (a --scratch build needs none)",
                if missing.len() > 1 { "s" } else { "" },
                missing.join(", "),
                if missing.len() > 1 { "them" } else { "it" },
            ));
        }
        let (Some(name), Some(version), Some(component)) = (get("name"), get("version"), component)
        else {
            return Err("missing required labels".into());
        };
        check_nvr_part("version", version)?;
        Ok(ImageIdentity {
            name: name.to_string(),
            version: version.to_string(),
            component: component.to_string(),
        })
    }
}

/// Versions and releases become part of a tag (`{version}-{release}`) and
/// of Koji's name-version-release: letters, digits, `.` and `_`, no `-`.
pub fn check_nvr_part(what: &str, value: &str) -> Result<(), String> {
    let ok = !value.is_empty()
        && value.len() <= 64
        && !value.starts_with('.')
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{what} {value:?} is invalid: use letters, digits, '.' and '_' (no '-', at most 64 characters)"
        ))
    }
}

/// The next free release: one more than the highest numeric release in
/// `taken` (non-numeric releases are skipped), `1` when there is none.
pub fn next_release<'a>(taken: impl IntoIterator<Item = &'a str>) -> String {
    let max = taken
        .into_iter()
        .filter_map(|r| r.parse::<u64>().ok())
        .max()
        .unwrap_or(0);
    (max.saturating_add(1)).to_string()
}

/// What the added labels are made from.
#[derive(Debug, Clone)]
pub struct LabelSource<'a> {
    /// The commit's time (the build's `SOURCE_DATE_EPOCH`), not the
    /// build's: two builds of one commit carry the same date, so their
    /// images can be identical.
    pub build_date: Timestamp,
    /// The source URL without credentials.
    pub vcs_url: &'a str,
    pub commit: &'a str,
    /// `None` for scratch builds.
    pub release: Option<&'a str>,
}

/// The labels Slipway adds to every image of a build (the per-platform
/// `architecture` label is added by the worker, see [`architecture_label`]).
/// Nothing in them is the build's own (no build id, no clock time): the
/// image says what it was built from, its provenance says by which build.
pub fn added_labels(s: &LabelSource<'_>) -> BTreeMap<String, String> {
    let mut l = BTreeMap::new();
    let date = s
        .build_date
        .round(jiff::Unit::Second)
        .unwrap_or(s.build_date);
    l.insert("build-date".into(), date.to_string());
    l.insert("vcs-type".into(), "git".into());
    l.insert("vcs-url".into(), s.vcs_url.to_string());
    l.insert("vcs-ref".into(), s.commit.to_string());
    if let Some(r) = s.release {
        l.insert("release".into(), r.to_string());
    }
    l
}

/// The `architecture` label of one platform's image (Red Hat's spelling:
/// `x86_64`, `aarch64`, …).
pub fn architecture_label(platform: &Platform) -> (String, String) {
    ("architecture".to_string(), platform.as_str().to_string())
}

/// The tag no other build ever gets: `{build-id}-{UTC timestamp}`.
pub fn unique_tag(build_id: i64, at: Timestamp) -> String {
    format!("{build_id}-{}", at.strftime("%Y%m%d%H%M%S"))
}

/// Replace `{version}` and `{release}` in a tag template.
pub fn expand_tag(template: &str, version: &str, release: Option<&str>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("{template:?} has a '{{' without '}}'"))?;
        match &after[..end] {
            "version" => out.push_str(version),
            "release" => match release {
                Some(r) => out.push_str(r),
                None => {
                    return Err(format!(
                        "{template:?} uses {{release}}, which this build has not"
                    ));
                }
            },
            other => {
                return Err(format!(
                    "{template:?} uses {{{other}}}; only {{version}} and {{release}} are replaced"
                ));
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// An OCI tag: `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`.
pub fn check_tag(tag: &str) -> Result<(), String> {
    let mut chars = tag.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
    if first_ok
        && tag.len() <= 128
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
    {
        Ok(())
    } else {
        Err(format!("{tag:?} is not a valid tag"))
    }
}

/// What [`plan_tags`] needs.
#[derive(Debug, Clone)]
pub struct TagInputs<'a> {
    pub kind: BuildKind,
    pub unique: &'a str,
    /// Version and release; both `None` for scratch builds.
    pub version: Option<&'a str>,
    pub release: Option<&'a str>,
    pub floating: &'a [String],
    /// `slipway.yaml` tags and the tag of the requested output, if any.
    pub extra: &'a [String],
}

/// The tags a build publishes, in the order they are pushed: unique first,
/// then primary `{version}-{release}`, then floating and extra tags.
/// Scratch builds get only the unique tag; isolated builds move no
/// floating or extra tag.
pub fn plan_tags(t: &TagInputs<'_>) -> Result<Vec<String>, String> {
    let mut out = vec![t.unique.to_string()];
    if t.kind == BuildKind::Scratch {
        return Ok(out);
    }
    let (Some(version), Some(release)) = (t.version, t.release) else {
        return Err("a non-scratch build needs a version and a release".into());
    };
    out.push(format!("{version}-{release}"));
    if t.kind == BuildKind::Normal {
        for template in t.floating.iter().chain(t.extra) {
            out.push(expand_tag(template, version, Some(release))?);
        }
    }
    let mut seen = std::collections::HashSet::new();
    out.retain(|tag| seen.insert(tag.clone()));
    for tag in &out {
        check_tag(tag)?;
    }
    Ok(out)
}

/// What preparing a build decided; the store reserves the release and
/// completes the spec with [`Preparation::complete`] in one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preparation {
    /// The spec with the final platforms, build args, labels (without
    /// `release`) and prebuild command.
    pub spec: crate::BuildSpec,
    /// `None` only for scratch builds.
    pub identity: Option<ImageIdentity>,
    pub unique_tag: String,
    pub floating: Vec<String>,
    pub extra: Vec<String>,
    pub lint: Option<LintReport>,
    pub repo_config: Option<RepoConfig>,
}

impl Preparation {
    /// The spec to build once `release` is reserved: the `release` label
    /// added and the tags planned.
    pub fn complete(&self, release: Option<&str>) -> Result<crate::BuildSpec, String> {
        let mut spec = self.spec.clone();
        let kind = spec.kind;
        if kind != BuildKind::Scratch && self.identity.is_none() {
            return Err("a non-scratch build needs name, version and component labels".into());
        }
        spec.release = release.map(str::to_string);
        if let Some(r) = release {
            spec.labels.insert("release".into(), r.to_string());
        }
        spec.tags = plan_tags(&TagInputs {
            kind,
            unique: &self.unique_tag,
            version: self.identity.as_ref().map(|i| i.version.as_str()),
            release,
            floating: &self.floating,
            extra: &self.extra,
        })?;
        Ok(spec)
    }
}

/// One lint finding as the build record keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LintFinding {
    pub code: String,
    /// `error`, `warning`, `info` or `style`.
    pub level: String,
    pub message: String,
    pub line: usize,
    pub column: usize,
}

/// The lint step's result, stored with the build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LintReport {
    pub mode: LintMode,
    /// The Dockerfile linted, relative to the repository.
    pub dockerfile: String,
    pub findings: Vec<LintFinding>,
    /// Whether the findings reach the failure threshold (a gating lint
    /// then fails the build).
    pub fails: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn identity_needs_name_version_and_a_component() {
        let id = ImageIdentity::from_labels(&labels(&[
            ("name", "team/app"),
            ("version", "1.2"),
            ("com.redhat.component", "app-container"),
        ]))
        .unwrap();
        assert_eq!(id.component, "app-container");
        let id = ImageIdentity::from_labels(&labels(&[
            ("name", "a"),
            ("version", "1"),
            ("component", "c"),
            ("com.redhat.component", "alias"),
        ]))
        .unwrap();
        assert_eq!(id.component, "c", "component wins over its alias");
        let e = ImageIdentity::from_labels(&labels(&[("version", "1")])).unwrap_err();
        assert!(
            e.starts_with("missing required labels name, component (or com.redhat.component)"),
            "{e}"
        );
        let e = ImageIdentity::from_labels(&labels(&[
            ("name", " "),
            ("version", "1"),
            ("component", "c"),
        ]))
        .unwrap_err();
        assert!(e.starts_with("missing required label name:"), "{e}");
        let e = ImageIdentity::from_labels(&labels(&[
            ("name", "a"),
            ("version", "1-2"),
            ("component", "c"),
        ]))
        .unwrap_err();
        assert!(e.contains("no '-'"), "{e}");
    }

    #[test]
    fn releases_count_up_past_the_highest_number() {
        assert_eq!(next_release([]), "1");
        assert_eq!(next_release(["1", "2"]), "3");
        assert_eq!(next_release(["7", "2", "x.1"]), "8");
        assert!(check_nvr_part("release", "3").is_ok());
        assert!(check_nvr_part("release", "3.el9").is_ok());
        assert!(check_nvr_part("release", "3-1").is_err());
        assert!(check_nvr_part("release", "").is_err());
    }

    #[test]
    fn tags_by_build_kind() {
        let floating = DEFAULT_FLOATING_TAGS.map(String::from).to_vec();
        let extra = vec!["stable".to_string(), "{version}".to_string()];
        let mut t = TagInputs {
            kind: BuildKind::Normal,
            unique: "12-20261123101500",
            version: Some("1.0"),
            release: Some("3"),
            floating: &floating,
            extra: &extra,
        };
        assert_eq!(
            plan_tags(&t).unwrap(),
            ["12-20261123101500", "1.0-3", "1.0", "latest", "stable"]
        );
        t.kind = BuildKind::Isolated;
        assert_eq!(plan_tags(&t).unwrap(), ["12-20261123101500", "1.0-3"]);
        t.kind = BuildKind::Scratch;
        t.version = None;
        t.release = None;
        assert_eq!(plan_tags(&t).unwrap(), ["12-20261123101500"]);
        t.kind = BuildKind::Normal;
        assert!(plan_tags(&t).is_err());
    }

    #[test]
    fn names_match_the_wire_form() {
        for k in [BuildKind::Normal, BuildKind::Scratch, BuildKind::Isolated] {
            assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
        }
        for m in [LintMode::Advisory, LintMode::Gating] {
            assert_eq!(serde_json::to_value(m).unwrap(), m.as_str());
        }
    }

    #[test]
    fn tag_templates() {
        assert_eq!(
            expand_tag("v{version}-r{release}", "2", Some("5")).unwrap(),
            "v2-r5"
        );
        assert!(
            expand_tag("{name}", "2", Some("5"))
                .unwrap_err()
                .contains("{name}")
        );
        assert!(expand_tag("{version", "2", None).is_err());
        assert!(check_tag("-x").is_err());
        assert!(check_tag("a/b").is_err());
        assert!(check_tag("1.0_rc-1").is_ok());
    }

    #[test]
    fn unique_tags_and_added_labels() {
        let at: Timestamp = "2026-11-23T10:15:00.6Z".parse().unwrap();
        assert_eq!(unique_tag(12, at), "12-20261123101500");
        let l = added_labels(&LabelSource {
            build_date: at,
            vcs_url: "https://git.example.com/app.git",
            commit: "abc",
            release: Some("2"),
        });
        assert_eq!(l["build-date"], "2026-11-23T10:15:01Z");
        assert_eq!(l["vcs-type"], "git");
        assert_eq!(l["vcs-ref"], "abc");
        assert!(!l.contains_key("io.slipway.build-id"));
        assert_eq!(l["release"], "2");
    }

    #[test]
    fn repo_config_reads_every_key_and_names_unknown_ones() {
        let c = RepoConfig::parse(
            "platforms:\n  only: [x86_64]\n  not: [s390x]\ntags: [stable]\nfloating_tags: [latest]\nlint: gating\nbuild_args:\n  FLAVOUR: fast\nprebuild: ./gen.sh\ntest: ./test.sh\nnotify: [team@example.com]\n",
        )
        .unwrap();
        assert_eq!(c.platforms.only, ["x86_64"]);
        assert_eq!(c.lint, Some(LintMode::Gating));
        assert_eq!(c.floating_tags(), ["latest"]);
        assert_eq!(c.build_args["FLAVOUR"], "fast");
        assert_eq!(c.prebuild.as_deref(), Some("./gen.sh"));
        assert_eq!(c.notify, ["team@example.com"]);
        assert_eq!(RepoConfig::parse("").unwrap(), RepoConfig::default());
        assert_eq!(
            RepoConfig::default().floating_tags(),
            ["{version}", "latest"]
        );
        let e = RepoConfig::parse("lint: gating\nprebuilt: make\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("prebuilt"), "{e}");
        let e = RepoConfig::parse("platforms:\n  except: [x86_64]\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("except"), "{e}");
        let e = RepoConfig::parse("lint: strict\n").unwrap_err().to_string();
        assert!(e.contains("strict"), "{e}");
    }

    #[test]
    fn repo_config_checks_values_and_filters_platforms() {
        let x86 = Platform::parse("x86_64").unwrap();
        let arm = Platform::parse("aarch64").unwrap();
        let mut c = RepoConfig::default();
        assert!(c.check().is_ok());
        assert_eq!(
            c.platforms(std::slice::from_ref(&x86), false).unwrap(),
            std::slice::from_ref(&x86)
        );
        c.platforms.only = vec!["aarch64".into(), "x86_64".into()];
        assert_eq!(
            c.platforms(std::slice::from_ref(&x86), false).unwrap(),
            [arm.clone(), x86.clone()],
            "only is the default set when the request names none"
        );
        c.platforms.not = vec!["aarch64".into()];
        assert_eq!(
            c.platforms(&[arm.clone(), x86.clone()], true).unwrap(),
            std::slice::from_ref(&x86)
        );
        let e = c
            .platforms(std::slice::from_ref(&arm), true)
            .unwrap_err()
            .to_string();
        assert!(e.contains("no platform is left"), "{e}");
        c.platforms.not = vec!["mips".into()];
        assert!(c.check().unwrap_err().to_string().contains("platforms"));

        let c = RepoConfig {
            notify: vec!["not-an-address".into()],
            ..Default::default()
        };
        assert!(c.check().unwrap_err().to_string().contains("notify"));
        let c = RepoConfig {
            tags: vec!["{build}".into()],
            ..Default::default()
        };
        assert!(c.check().unwrap_err().to_string().contains("{build}"));
        let c = RepoConfig {
            prebuild: Some(" ".into()),
            ..Default::default()
        };
        assert!(c.check().unwrap_err().to_string().contains("prebuild"));
        // secrets: names only, and only with a command to read them.
        let c = RepoConfig::parse("secrets: [tok]\nprebuild: ./gen.sh\n").unwrap();
        assert_eq!(c.secrets, ["tok"]);
        let e = RepoConfig::parse("secrets: [../x]\nprebuild: ./gen.sh\n").unwrap_err();
        assert!(e.to_string().contains("is not a secret name"), "{e}");
        let e = RepoConfig::parse("secrets: [tok]\n").unwrap_err();
        assert!(e.to_string().contains("RUN --mount=type=secret"), "{e}");
    }
}
