//! Image configs: what to build, from where, and when to build it again.
//!
//! An image config is Slipway's analogue of an OpenShift BuildConfig or a
//! CentOS container-index entry: a git source, an output repository, build
//! options, triggers and a run policy. Users manage them declaratively with
//! YAML files (`slipway apply -f`); one file may hold several configs as
//! YAML documents separated by `---`.
//!
//! ```yaml
//! name: base
//! source:
//!   url: https://git.example.com/team/base.git
//!   branch: main
//! output: 127.0.0.1:5000/team/base:latest
//! triggers:
//!   webhook: { secret_env: BASE_HOOK_SECRET }
//!   poll: 10m
//!   schedule: { cron: "0 3 * * 1", timezone: Europe/Prague }
//! run_policy: SerialLatestOnly
//! ```

use crate::build::{BuildRequest, BuildSpec, SourceRequest};
use crate::image_ref::ImageRef;
use crate::scan::ScanPolicy;
use jiff::SignedDuration;
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// The shortest poll interval accepted: polling faster only loads the git
/// server.
pub const MIN_POLL_INTERVAL: SignedDuration = SignedDuration::from_secs(30);

/// One image config as a user writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageConfig {
    /// Unique name: lowercase letters, digits and `-`, at most 63 characters.
    pub name: String,
    pub source: ConfigSource,
    /// The repository the image is pushed to, with an optional tag
    /// (`127.0.0.1:5000/team/base:latest`); a name without a registry gets
    /// the server's default registry.
    pub output: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub platforms: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub build_args: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Give RUN steps network access.
    #[serde(default, skip_serializing_if = "is_false")]
    pub network: bool,
    /// Parents beyond those the Dockerfile's FROM lines name: config names
    /// or image references (`team/base:latest`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
    #[serde(default)]
    pub triggers: Triggers,
    #[serde(default)]
    pub run_policy: RunPolicy,
    #[serde(default)]
    pub history: HistoryLimits,
    /// Which scanners run on its images, which findings fail a build,
    /// package repositories to compare with and track, rescans.
    #[serde(default, skip_serializing_if = "is_default_scan")]
    pub scan: ScanPolicy,
    /// The project whose notification targets (server config) also hear
    /// about this config; default: the output repository's first path
    /// component (`team` for `team/app`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// Where to say that a build ended or a scan ran.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notify: Vec<crate::notify::NotifyTarget>,
    /// Promote each complete build to an environment on its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promote: Option<crate::promotion::AutoPromote>,
    /// Rebuild each complete build once more from the same inputs and
    /// check the images are identical (`slipway rebuild --verify`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub verify_reproducible: bool,
}

fn is_default_scan(p: &ScanPolicy) -> bool {
    *p == ScanPolicy::default()
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigSource {
    /// A git URL or an absolute path to a local repository.
    pub url: String,
    /// The branch that is built and whose pushes trigger builds.
    #[serde(default = "main_branch")]
    pub branch: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_dir: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dockerfile: Option<String>,
}

fn main_branch() -> String {
    "main".to_string()
}

/// When a config builds without being asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Triggers {
    /// Rebuild when a parent config's image gets a new digest (default on).
    #[serde(default = "yes")]
    pub parent: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<WebhookTrigger>,
    /// Poll the branch head this often (`30s`, `10m`, `1h`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poll: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<ScheduleTrigger>,
    /// Read the package repositories in `scan.repositories` this often
    /// (`30s`, `10m`, `1h`) and rebuild when one of them gets a newer
    /// version of a package the config's latest image has installed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub packages: Option<String>,
}

impl Default for Triggers {
    fn default() -> Self {
        Triggers {
            parent: true,
            webhook: None,
            poll: None,
            schedule: None,
            packages: None,
        }
    }
}

/// A webhook's shared secret. `secret_env` names an environment variable
/// that `slipway apply` reads, so the secret need not sit in the YAML file;
/// the server only ever stores `secret` and never shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookTrigger {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_env: Option<String>,
}

/// Replace a `secret_env` by the value `lookup` finds for it (the
/// environment of whoever applies the config). `Err` names the variable
/// that is not set.
pub fn resolve_secret_env(
    secret: &mut Option<String>,
    secret_env: &mut Option<String>,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<(), String> {
    if let Some(var) = secret_env.as_deref() {
        let value = lookup(var).ok_or_else(|| var.to_string())?;
        *secret = Some(value);
        *secret_env = None;
    }
    Ok(())
}

/// A shared secret given as `secret` (at least 16 characters) or as
/// `secret_env`, which `slipway apply` must have resolved into `secret`.
pub fn check_secret(secret: &Option<String>, secret_env: &Option<String>) -> Result<(), String> {
    match (secret, secret_env) {
        (Some(s), None) if s.len() >= 16 => Ok(()),
        (Some(_), None) => Err("a webhook secret needs at least 16 characters".into()),
        (None, Some(env)) => Err(format!(
            "the environment variable {env} (secret_env) was not resolved; run `slipway apply` where {env} is set"
        )),
        _ => Err("give exactly one of secret and secret_env".into()),
    }
}

/// A cron schedule in standard 5-field syntax, in an explicit time zone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleTrigger {
    pub cron: String,
    /// An IANA time zone name (`UTC`, `Europe/Prague`); required, so that a
    /// schedule never depends on the server's local time.
    pub timezone: String,
}

/// What happens when a config is triggered while a build of it is queued or
/// running (OpenShift's `runPolicy`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum RunPolicy {
    /// One build at a time, in order.
    #[default]
    Serial,
    /// One build at a time; a newer build cancels queued ones.
    SerialLatestOnly,
    /// Builds run concurrently.
    Parallel,
}

impl RunPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            RunPolicy::Serial => "Serial",
            RunPolicy::SerialLatestOnly => "SerialLatestOnly",
            RunPolicy::Parallel => "Parallel",
        }
    }
}

/// How many finished builds of a config are kept (OpenShift's defaults).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryLimits {
    #[serde(default = "five")]
    pub successful: u32,
    #[serde(default = "five")]
    pub failed: u32,
}

fn five() -> u32 {
    5
}

impl Default for HistoryLimits {
    fn default() -> Self {
        HistoryLimits {
            successful: 5,
            failed: 5,
        }
    }
}

/// Why a config file or config was refused; names the config and the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    /// The config's name, when known.
    pub config: Option<String>,
    pub field: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.config {
            Some(c) => write!(f, "config {c}: {}: {}", self.field, self.message),
            None => write!(f, "{}: {}", self.field, self.message),
        }
    }
}

fn refuse(config: &str, field: &str, message: impl fmt::Display) -> ConfigError {
    ConfigError {
        config: Some(config.to_string()),
        field: field.to_string(),
        message: message.to_string(),
    }
}

/// A config name: a DNS label, so it can name Kubernetes objects and URLs.
pub fn valid_config_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// Read every config in a YAML text (one per document).
pub fn parse_configs(text: &str) -> Result<Vec<ImageConfig>, ConfigError> {
    serde_saphyr::from_multiple::<ImageConfig>(text).map_err(|e| ConfigError {
        config: None,
        field: "yaml".to_string(),
        message: e.to_string(),
    })
}

/// Parse a poll interval (`30s`, `10m`, `1h30m`).
pub fn parse_interval(s: &str) -> Result<SignedDuration, String> {
    let d: SignedDuration = s
        .trim()
        .parse()
        .map_err(|e| format!("{s:?} is not a duration like 30s, 10m or 1h: {e}"))?;
    if d < MIN_POLL_INTERVAL {
        return Err(format!(
            "{s:?} is shorter than the minimum poll interval of 30s"
        ));
    }
    Ok(d)
}

/// A parsed cron schedule with its time zone.
#[derive(Debug, Clone)]
pub struct Schedule {
    cron: croner::Cron,
    tz: TimeZone,
}

impl Schedule {
    /// Standard 5-field cron syntax (minute hour day-of-month month
    /// day-of-week; day-of-month and day-of-week are OR-ed as in vixie
    /// cron) in the named IANA time zone.
    pub fn parse(cron: &str, timezone: &str) -> Result<Schedule, String> {
        let fields = cron.split_whitespace().count();
        if fields != 5 && !cron.trim().starts_with('@') {
            return Err(format!(
                "{cron:?} has {fields} fields; a schedule has 5: minute hour day-of-month month day-of-week"
            ));
        }
        let parsed = croner::parser::CronParser::builder()
            .seconds(croner::parser::Seconds::Disallowed)
            .year(croner::parser::Year::Disallowed)
            .build()
            .parse(cron)
            .map_err(|e| format!("{cron:?} is not a valid cron schedule: {e}"))?;
        let tz = TimeZone::get(timezone).map_err(|_| {
            format!("{timezone:?} is not a known time zone; use an IANA name such as UTC or Europe/Prague")
        })?;
        Ok(Schedule { cron: parsed, tz })
    }

    /// The first time strictly after `after` that the schedule fires.
    pub fn next_after(&self, after: jiff::Timestamp) -> Option<jiff::Timestamp> {
        let zoned = after.to_zoned(self.tz.clone());
        self.cron
            .find_next_occurrence(&zoned, false)
            .ok()
            .map(|z| z.timestamp())
    }
}

impl ImageConfig {
    /// Check every field, resolve the output against `default_registry`,
    /// and return the config in canonical form (output with its registry).
    /// A `secret_env` must have been resolved into `secret` by the client.
    pub fn validate(&self, default_registry: Option<&str>) -> Result<ImageConfig, ConfigError> {
        let name = self.name.trim();
        if !valid_config_name(name) {
            return Err(ConfigError {
                config: Some(self.name.clone()),
                field: "name".into(),
                message: "use lowercase letters, digits and '-', at most 63 characters, not starting or ending with '-'".into(),
            });
        }
        let branch = self.source.branch.trim();
        crate::build::source::validate_ref(branch).map_err(|e| refuse(name, "source.branch", e))?;
        if branch.is_empty() {
            return Err(refuse(name, "source.branch", "a branch is required"));
        }
        let spec = self.spec(default_registry).map_err(|mut e| {
            e.config = Some(name.to_string());
            e
        })?;
        let mut output = spec.output.clone();
        output.tag = Some(output.tag.unwrap_or_else(|| "latest".into()));
        for (i, d) in self.depends_on.iter().enumerate() {
            if d.trim().is_empty() {
                return Err(refuse(name, &format!("depends_on[{i}]"), "empty entry"));
            }
        }
        if let Some(poll) = &self.triggers.poll {
            parse_interval(poll).map_err(|e| refuse(name, "triggers.poll", e))?;
        }
        if let Some(s) = &self.triggers.schedule {
            Schedule::parse(&s.cron, &s.timezone)
                .map_err(|e| refuse(name, "triggers.schedule", e))?;
        }
        if let Some(every) = &self.triggers.packages {
            parse_interval(every).map_err(|e| refuse(name, "triggers.packages", e))?;
            if self.scan.repositories.is_empty() {
                return Err(refuse(
                    name,
                    "triggers.packages",
                    "tracking packages needs the repositories to read: list them under scan.repositories",
                ));
            }
        }
        if let Some(w) = &self.triggers.webhook {
            check_secret(&w.secret, &w.secret_env)
                .map_err(|e| refuse(name, "triggers.webhook", e))?;
        }
        for (i, t) in self.notify.iter().enumerate() {
            t.check()
                .map_err(|e| refuse(name, &format!("notify[{i}]"), e))?;
        }
        if let Some(p) = &self.project
            && !valid_config_name(p)
        {
            return Err(refuse(
                name,
                "project",
                "use lowercase letters, digits and '-', at most 63 characters",
            ));
        }
        self.scan.check().map_err(|e| refuse(name, "scan", e))?;
        if let Some(cron) = self.scan.rescan_schedule() {
            Schedule::parse(cron, "UTC").map_err(|e| refuse(name, "scan.rescan", e))?;
        }
        let mut canonical = self.clone();
        canonical.name = name.to_string();
        canonical.source.branch = branch.to_string();
        canonical.output = output.to_string();
        canonical.platforms = spec.platforms.iter().map(|p| p.to_string()).collect();
        if !spec.explicit_platforms {
            canonical.platforms.clear();
        }
        Ok(canonical)
    }

    /// The output with its tag (`latest` when the config names none).
    pub fn output_ref(&self) -> Option<ImageRef> {
        let mut r = ImageRef::parse(&self.output).ok()?;
        r.tag = Some(r.tag.unwrap_or_else(|| "latest".into()));
        Some(r)
    }

    /// The build request a trigger makes: the config's branch, or `commit`
    /// when the trigger names one (a webhook's pushed commit).
    pub fn build_request(&self, commit: Option<&str>) -> BuildRequest {
        BuildRequest {
            source: SourceRequest {
                url: self.source.url.clone(),
                git_ref: Some(commit.unwrap_or(&self.source.branch).to_string()),
                context_dir: self.source.context_dir.clone(),
                dockerfile: self.source.dockerfile.clone(),
            },
            build_args: self.build_args.clone(),
            output: Some(self.output.clone()),
            network: self.network,
            platforms: self.platforms.clone(),
            priority: 0,
            labels: self.labels.clone(),
            release: None,
            scratch: false,
            isolated: false,
        }
    }

    /// Resolve every `secret_env` (the incoming webhook's, the notify
    /// webhooks') with `lookup`. `Err((field, variable))` for one not set.
    pub fn resolve_secrets(
        &mut self,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<(), (String, String)> {
        if let Some(w) = &mut self.triggers.webhook {
            resolve_secret_env(&mut w.secret, &mut w.secret_env, lookup)
                .map_err(|var| ("triggers.webhook.secret_env".to_string(), var))?;
        }
        for (i, t) in self.notify.iter_mut().enumerate() {
            if let Some(w) = &mut t.webhook {
                resolve_secret_env(&mut w.secret, &mut w.secret_env, lookup)
                    .map_err(|var| (format!("notify[{i}].webhook.secret_env"), var))?;
            }
        }
        Ok(())
    }

    /// The config with its webhook secrets hidden, for display.
    pub fn redacted(&self) -> ImageConfig {
        let mut c = self.clone();
        c.source.url = crate::build::source::redact_url(&c.source.url);
        if let Some(w) = &mut c.triggers.webhook
            && w.secret.is_some()
        {
            w.secret = Some("(hidden)".into());
        }
        for t in &mut c.notify {
            if let Some(w) = &mut t.webhook
                && w.secret.is_some()
            {
                w.secret = Some("(hidden)".into());
            }
        }
        c
    }

    /// The spec a build of this config gets (for checks in tests and tools).
    pub fn spec(&self, default_registry: Option<&str>) -> Result<BuildSpec, ConfigError> {
        self.build_request(None)
            .validate(default_registry)
            .map_err(|e| refuse(&self.name, e.field, e.message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"
name: base
source:
  url: https://git.example.com/team/base.git
  branch: main
output: team/base
triggers:
  webhook: { secret: "0123456789abcdef" }
  poll: 10m
  schedule: { cron: "0 3 * * 1", timezone: Europe/Prague }
run_policy: SerialLatestOnly
---
name: app
source: { url: /srv/git/app }
output: 127.0.0.1:5000/team/app:1.0
depends_on: [base]
"#;

    #[test]
    fn parses_several_documents_with_defaults() {
        let configs = parse_configs(BASE).unwrap();
        assert_eq!(configs.len(), 2);
        assert_eq!(configs[0].run_policy, RunPolicy::SerialLatestOnly);
        assert_eq!(configs[1].source.branch, "main");
        assert!(configs[1].triggers.parent);
        assert_eq!(configs[1].history, HistoryLimits::default());
        assert_eq!(configs[1].depends_on, vec!["base"]);
    }

    #[test]
    fn validate_completes_the_output() {
        let configs = parse_configs(BASE).unwrap();
        let base = configs[0].validate(Some("127.0.0.1:5000")).unwrap();
        assert_eq!(base.output, "127.0.0.1:5000/team/base:latest");
        let app = configs[1].validate(Some("127.0.0.1:5000")).unwrap();
        assert_eq!(app.output, "127.0.0.1:5000/team/app:1.0");
        assert_eq!(app.output_ref().unwrap().repository, "team/app");
    }

    #[test]
    fn secret_envs_are_resolved_or_named() {
        let mut c = parse_configs(
            "name: a\nsource: {url: /x}\noutput: r/a\ntriggers:\n  webhook: { secret_env: IN }\nnotify:\n- email: [a@b.c]\n- webhook: { url: http://h, secret_env: OUT }\n",
        )
        .unwrap()
        .remove(0);
        let only_in = |v: &str| (v == "IN").then(|| "0123456789abcdef".to_string());
        let e = c.clone().resolve_secrets(&only_in).unwrap_err();
        assert_eq!(
            e,
            (
                "notify[1].webhook.secret_env".to_string(),
                "OUT".to_string()
            )
        );
        c.resolve_secrets(&|v: &str| Some(format!("{v}-secret-0123456789")))
            .unwrap();
        assert_eq!(
            c.triggers.webhook.as_ref().unwrap().secret.as_deref(),
            Some("IN-secret-0123456789")
        );
        let w = c.notify[1].webhook.as_ref().unwrap();
        assert_eq!(
            (w.secret.as_deref(), w.secret_env.as_deref()),
            (Some("OUT-secret-0123456789"), None)
        );
        c.validate(Some("127.0.0.1:5000")).unwrap();
    }

    #[test]
    fn unknown_keys_and_bad_values_are_named() {
        let e = parse_configs("name: a\nsource: {url: /x}\noutput: r/a\nrun_polcy: Serial\n")
            .unwrap_err();
        assert!(e.to_string().contains("run_polcy"), "{e}");
        let mut c = parse_configs(BASE).unwrap().remove(0);
        c.name = "Base_1".into();
        let e = c.validate(Some("127.0.0.1:5000")).unwrap_err();
        assert_eq!(e.field, "name");
        let mut c = parse_configs(BASE).unwrap().remove(0);
        c.triggers.packages = Some("10m".into());
        let e = c.validate(Some("127.0.0.1:5000")).unwrap_err();
        assert_eq!(e.field, "triggers.packages");
        assert!(e.message.contains("scan.repositories"), "{e}");
        c.scan.repositories = vec![crate::scan::PackageRepository {
            kind: crate::scan::inventory::Ecosystem::Deb,
            url: "file:///srv/debian/Packages".into(),
        }];
        c.validate(Some("127.0.0.1:5000")).unwrap();
        c.triggers.packages = Some("1s".into());
        let e = c.validate(Some("127.0.0.1:5000")).unwrap_err();
        assert_eq!(e.field, "triggers.packages");
        let mut c = parse_configs(BASE).unwrap().remove(0);
        c.triggers.poll = Some("5s".into());
        let e = c.validate(Some("127.0.0.1:5000")).unwrap_err();
        assert_eq!(e.field, "triggers.poll");
        assert!(e.message.contains("30s"), "{e}");
        let mut c = parse_configs(BASE).unwrap().remove(0);
        c.triggers.schedule = Some(ScheduleTrigger {
            cron: "0 3 * *".into(),
            timezone: "UTC".into(),
        });
        let e = c.validate(Some("127.0.0.1:5000")).unwrap_err();
        assert!(e.message.contains("5"), "{e}");
        let mut c = parse_configs(BASE).unwrap().remove(0);
        c.triggers.schedule = Some(ScheduleTrigger {
            cron: "0 3 * * *".into(),
            timezone: "Mars/Olympus".into(),
        });
        let e = c.validate(Some("127.0.0.1:5000")).unwrap_err();
        assert!(e.message.contains("time zone"), "{e}");
        let mut c = parse_configs(BASE).unwrap().remove(0);
        c.triggers.webhook = Some(WebhookTrigger {
            secret: None,
            secret_env: Some("HOOK".into()),
        });
        let e = c.validate(Some("127.0.0.1:5000")).unwrap_err();
        assert!(e.message.contains("HOOK"), "{e}");
        let mut c = parse_configs(BASE).unwrap().remove(0);
        c.output = "team/base@sha256:".to_string() + &"a".repeat(64);
        assert_eq!(
            c.validate(Some("127.0.0.1:5000")).unwrap_err().field,
            "output"
        );
    }

    #[test]
    fn schedules_fire_in_their_time_zone() {
        let s = Schedule::parse("0 3 * * *", "Europe/Prague").unwrap();
        // 2026-07-01 00:00 UTC is 02:00 in Prague (CEST); 03:00 CEST = 01:00 UTC.
        let t: jiff::Timestamp = "2026-07-01T00:00:00Z".parse().unwrap();
        assert_eq!(s.next_after(t).unwrap().to_string(), "2026-07-01T01:00:00Z");
        let utc = Schedule::parse("30 23 * * 6", "UTC").unwrap();
        // 2026-11-23 is a Monday; the next Saturday is the 28th.
        let t: jiff::Timestamp = "2026-11-23T12:00:00Z".parse().unwrap();
        assert_eq!(
            utc.next_after(t).unwrap().to_string(),
            "2026-11-28T23:30:00Z"
        );
        assert!(Schedule::parse("61 * * * *", "UTC").is_err());
    }

    #[test]
    fn intervals() {
        assert_eq!(
            parse_interval("10m").unwrap(),
            SignedDuration::from_mins(10)
        );
        assert_eq!(
            parse_interval("1h30m").unwrap(),
            SignedDuration::from_mins(90)
        );
        assert!(parse_interval("soon").is_err());
    }

    #[test]
    fn redaction_hides_the_secret() {
        let c = parse_configs(BASE).unwrap().remove(0);
        let shown = serde_json::to_string(&c.redacted()).unwrap();
        assert!(!shown.contains("0123456789abcdef"));
    }
}
