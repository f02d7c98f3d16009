//! What scanning an image finds, and what a config asks of it.
//!
//! Four scanners, each with one job (the CentOS pipeline's set):
//!
//! | scanner            | finds                                                   |
//! |--------------------|---------------------------------------------------------|
//! | `package-updates`  | OS packages with a newer version in a listed repository  |
//! | `language-updates` | pip/npm packages with a newer version in an index        |
//! | `integrity`        | packaged files that differ from the package database     |
//! | `capabilities`     | RUN/INSTALL labels asking for privileges; USER root      |
//!
//! `slipway-scan` runs them; the server stores a [`ScanReport`] per build
//! and per scheduled rescan, and a config's [`ScanPolicy`] says which run
//! and which fail the build.

//!
//! What an image contains ([`inventory`]) and how it is written as an SBOM
//! ([`sbom`]) live here too.

pub mod inventory;
pub mod license;
pub mod sbom;

use crate::scan::inventory::{Ecosystem, Inventory};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scanner {
    PackageUpdates,
    LanguageUpdates,
    Integrity,
    Capabilities,
}

impl Scanner {
    pub const ALL: [Scanner; 4] = [
        Scanner::PackageUpdates,
        Scanner::LanguageUpdates,
        Scanner::Integrity,
        Scanner::Capabilities,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scanner::PackageUpdates => "package-updates",
            Scanner::LanguageUpdates => "language-updates",
            Scanner::Integrity => "integrity",
            Scanner::Capabilities => "capabilities",
        }
    }
}

impl fmt::Display for Scanner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scanner {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Scanner::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown scanner {s:?}; known: {}",
                    Scanner::ALL.map(Scanner::as_str).join(", ")
                )
            })
    }
}

/// One thing a scanner found.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Finding {
    /// A newer version of an installed package is available.
    Update {
        ecosystem: Ecosystem,
        package: String,
        installed: String,
        available: String,
        /// The repository or index that has it.
        repository: String,
    },
    /// A packaged file differs from what its package database records.
    /// `flags` is in `rpm -V` form: one column each for Size, Mode, digest
    /// (5), Device, Link target, User, Group, mTime and caPabilities, with
    /// `.` where the file matches and `?` where it could not be checked.
    Modified {
        ecosystem: Ecosystem,
        package: String,
        path: String,
        flags: String,
    },
    /// A packaged file is gone.
    Missing {
        ecosystem: Ecosystem,
        package: String,
        path: String,
    },
    /// A packaged file got a setuid or setgid bit after its package
    /// installed it (a later layer's `chmod u+s`): `mode` is its mode now,
    /// `was` its mode as installed.
    Setuid {
        ecosystem: Ecosystem,
        package: String,
        path: String,
        mode: u32,
        was: u32,
    },
    /// The image asks for more than an unprivileged container gets.
    Capability {
        /// Where: `label RUN`, `label INSTALL`, or `config User`.
        origin: String,
        /// What: `--privileged`, `--cap-add=SYS_ADMIN`, `--net=host`,
        /// `--security-opt label=disable`, `user root`.
        request: String,
    },
}

impl Finding {
    pub fn scanner(&self) -> Scanner {
        match self {
            Finding::Update { ecosystem, .. } if ecosystem.is_system() => Scanner::PackageUpdates,
            Finding::Update { .. } => Scanner::LanguageUpdates,
            Finding::Modified { .. } | Finding::Missing { .. } | Finding::Setuid { .. } => {
                Scanner::Integrity
            }
            Finding::Capability { .. } => Scanner::Capabilities,
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Finding::Update {
                ecosystem,
                package,
                installed,
                available,
                repository,
            } => write!(
                f,
                "{ecosystem} {package} {installed} → {available} (in {repository})"
            ),
            Finding::Modified {
                ecosystem,
                package,
                path,
                flags,
            } => write!(f, "{flags} {path} ({ecosystem} {package})"),
            Finding::Missing {
                ecosystem,
                package,
                path,
            } => write!(f, "missing {path} ({ecosystem} {package})"),
            Finding::Setuid {
                ecosystem,
                package,
                path,
                mode,
                was,
            } => write!(
                f,
                "setuid/setgid added: {path} is {mode:04o}, installed {was:04o} ({ecosystem} {package})"
            ),
            Finding::Capability { origin, request } => write!(f, "{origin} asks for {request}"),
        }
    }
}

/// How one scan went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ScanOutcome {
    /// Every scanner ran; no finding fails the policy.
    Passed,
    /// A finding of a scanner listed in the policy's `fail_on`.
    Failed,
    /// The image no longer exists in its registry.
    Absent,
    /// The image could not be fetched or read.
    Error,
}

impl ScanOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            ScanOutcome::Passed => "passed",
            ScanOutcome::Failed => "failed",
            ScanOutcome::Absent => "absent",
            ScanOutcome::Error => "error",
        }
    }
}

impl fmt::Display for ScanOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything one scan of one image produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanReport {
    /// The reference scanned, as given.
    pub reference: String,
    /// The manifest digest read (one platform's); absent when the image was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest_digest: Option<String>,
    pub outcome: ScanOutcome,
    /// The scanners that ran, in order.
    pub scanners: Vec<Scanner>,
    /// Sorted; see [`Finding`].
    pub findings: Vec<Finding>,
    /// What could not be checked, and why (an unreadable database, an
    /// index that did not answer). Problems never fail a build.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
    #[serde(default)]
    pub inventory: Inventory,
}

impl ScanReport {
    /// The report for an image that could not be scanned at all.
    pub fn unscanned(reference: &str, outcome: ScanOutcome, why: String) -> ScanReport {
        ScanReport {
            reference: reference.to_string(),
            manifest_digest: None,
            outcome,
            scanners: Vec::new(),
            findings: Vec::new(),
            problems: vec![why],
            inventory: Inventory::default(),
        }
    }

    /// Set the outcome from the findings and `fail_on`.
    pub fn judge(&mut self, fail_on: &[Scanner]) {
        self.findings.sort();
        self.findings.dedup();
        let failing = self.findings.iter().any(|f| fail_on.contains(&f.scanner()));
        self.outcome = if failing {
            ScanOutcome::Failed
        } else {
            ScanOutcome::Passed
        };
    }

    /// The findings that fail the policy.
    pub fn failing<'a>(&'a self, fail_on: &'a [Scanner]) -> impl Iterator<Item = &'a Finding> {
        self.findings
            .iter()
            .filter(move |f| fail_on.contains(&f.scanner()))
    }
}

/// Why a scan ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ScanReason {
    /// The build that made the image, before its tags moved.
    Build,
    /// The config's scheduled rescan of its latest image.
    Rescan,
    /// `slipway scan IMAGE_REF`.
    Manual,
}

impl ScanReason {
    pub fn as_str(self) -> &'static str {
        match self {
            ScanReason::Build => "build",
            ScanReason::Rescan => "rescan",
            ScanReason::Manual => "manual",
        }
    }
}

impl FromStr for ScanReason {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "build" => Ok(ScanReason::Build),
            "rescan" => Ok(ScanReason::Rescan),
            "manual" => Ok(ScanReason::Manual),
            _ => Err(format!("unknown scan reason {s:?}")),
        }
    }
}

/// A tracked package repository as last read: what it offered, so the
/// next read can tell which packages got new versions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackedRepository {
    pub url: String,
    pub kind: crate::scan::inventory::Ecosystem,
    /// SHA-256 of the metadata read.
    pub digest: String,
    /// Package name → its (version, architecture) entries.
    pub packages: std::collections::BTreeMap<String, Vec<(String, String)>>,
    #[serde(with = "crate::api::time::seconds")]
    pub checked_at: jiff::Timestamp,
}

/// A scan as kept by the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredScan {
    pub id: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build: Option<crate::BuildId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<String>,
    pub reason: ScanReason,
    #[serde(with = "crate::api::time::seconds")]
    pub created_at: jiff::Timestamp,
    pub report: ScanReport,
}

/// One scan in a list (`GET /scans`): what it scanned and how it came
/// out, counted; `GET /scans/{id}` has the findings and the inventory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanSummary {
    pub id: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build: Option<crate::BuildId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<String>,
    pub reason: ScanReason,
    #[serde(with = "crate::api::time::seconds")]
    pub created_at: jiff::Timestamp,
    pub reference: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest_digest: Option<String>,
    pub outcome: ScanOutcome,
    pub findings: usize,
    pub problems: usize,
    pub packages: usize,
}

impl ScanSummary {
    pub fn of(s: &StoredScan) -> ScanSummary {
        ScanSummary {
            id: s.id,
            build: s.build,
            config: s.config.clone(),
            reason: s.reason,
            created_at: s.created_at,
            reference: s.report.reference.clone(),
            manifest_digest: s.report.manifest_digest.clone(),
            outcome: s.report.outcome,
            findings: s.report.findings.len(),
            problems: s.report.problems.len(),
            packages: s.report.inventory.packages.len(),
        }
    }
}

/// `POST /scans`: scan any image the server can reach.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScanRequest {
    /// `host/name[:tag|@digest]`; without a host, the server's default
    /// registry.
    pub reference: String,
    /// Use this config's scan policy (and file the scan under it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<String>,
    /// Or this policy; neither means the default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<ScanPolicy>,
}

/// A package repository whose versions `package-updates` compares against.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackageRepository {
    /// `deb`: `url` is a `Packages` index (`…/binary-amd64/Packages`,
    /// `.gz` or `.xz`) or the directory holding one. `rpm`: `url` is the
    /// repository's base, holding `repodata/repomd.xml`.
    pub kind: Ecosystem,
    /// `http://`, `https://` or `file://` (or an absolute path).
    pub url: String,
}

/// Language-package indices for `language-updates`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LanguageIndices {
    /// A PEP 503 simple index (`https://pypi.org/simple`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pypi: Option<String>,
    /// An npm registry (`https://registry.npmjs.org`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub npm: Option<String>,
}

/// What a config asks of scanning. The default runs the scanners that need
/// no network (integrity, capabilities; package updates when repositories
/// are listed) and fails nothing: report only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScanPolicy {
    /// The scanners to run; default: every one that is configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scanners: Option<Vec<Scanner>>,
    /// Findings of these scanners fail the build (default: none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fail_on: Vec<Scanner>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub repositories: Vec<PackageRepository>,
    #[serde(default, skip_serializing_if = "is_default_indices")]
    pub indices: LanguageIndices,
    /// Rescan the config's latest image on this cron schedule (5 fields,
    /// UTC); default weekly, Sunday 04:00 UTC. `off` turns it off.
    #[serde(default = "weekly")]
    pub rescan: String,
}

fn is_default_indices(i: &LanguageIndices) -> bool {
    *i == LanguageIndices::default()
}

/// The default rescan schedule.
pub const WEEKLY: &str = "0 4 * * 0";

fn weekly() -> String {
    WEEKLY.to_string()
}

impl Default for ScanPolicy {
    fn default() -> Self {
        ScanPolicy {
            scanners: None,
            fail_on: Vec::new(),
            repositories: Vec::new(),
            indices: LanguageIndices::default(),
            rescan: weekly(),
        }
    }
}

impl ScanPolicy {
    /// The scanners that run: the listed ones, or by default those that
    /// have what they need (language updates only with an index, since
    /// they reach out to the network).
    pub fn enabled(&self) -> Vec<Scanner> {
        match &self.scanners {
            Some(list) => {
                let mut l = list.clone();
                l.sort();
                l.dedup();
                l
            }
            None => {
                let mut l = Vec::new();
                if !self.repositories.is_empty() {
                    l.push(Scanner::PackageUpdates);
                }
                if !is_default_indices(&self.indices) {
                    l.push(Scanner::LanguageUpdates);
                }
                l.push(Scanner::Integrity);
                l.push(Scanner::Capabilities);
                l
            }
        }
    }

    /// Refuse what cannot work: an update scanner with nothing to compare
    /// against, an unknown repository kind, a bad URL.
    pub fn check(&self) -> Result<(), String> {
        let enabled = self.enabled();
        if enabled.contains(&Scanner::PackageUpdates) && self.repositories.is_empty() {
            return Err("package-updates needs at least one entry in repositories".into());
        }
        if enabled.contains(&Scanner::LanguageUpdates) && is_default_indices(&self.indices) {
            return Err("language-updates needs indices.pypi or indices.npm".into());
        }
        for r in &self.repositories {
            if !matches!(r.kind, Ecosystem::Deb | Ecosystem::Rpm) {
                return Err(format!(
                    "repository {}: kind must be deb or rpm, not {}",
                    r.url, r.kind
                ));
            }
            check_url(&r.url)?;
        }
        for url in [&self.indices.pypi, &self.indices.npm]
            .into_iter()
            .flatten()
        {
            check_url(url)?;
        }
        Ok(())
    }

    /// The rescan schedule, `None` when turned off.
    pub fn rescan_schedule(&self) -> Option<&str> {
        (self.rescan.trim() != "off").then_some(self.rescan.trim())
    }
}

fn check_url(url: &str) -> Result<(), String> {
    if url.starts_with("http://")
        || url.starts_with("https://")
        || url.starts_with("file:///")
        || url.starts_with('/')
    {
        Ok(())
    } else {
        Err(format!(
            "{url:?} is not a URL Slipway can read: use http://, https://, file:/// or an absolute path"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn findings_belong_to_their_scanner() {
        let up = |e| Finding::Update {
            ecosystem: e,
            package: "p".into(),
            installed: "1".into(),
            available: "2".into(),
            repository: "r".into(),
        };
        assert_eq!(up(Ecosystem::Deb).scanner(), Scanner::PackageUpdates);
        assert_eq!(up(Ecosystem::Npm).scanner(), Scanner::LanguageUpdates);
        let cap = Finding::Capability {
            origin: "label RUN".into(),
            request: "--privileged".into(),
        };
        assert_eq!(cap.scanner(), Scanner::Capabilities);
        assert_eq!(cap.to_string(), "label RUN asks for --privileged");
        let json = serde_json::to_value(&cap).unwrap();
        assert_eq!(json["kind"], "capability");
    }

    #[test]
    fn judging_fails_only_on_listed_scanners() {
        let mut r = ScanReport::unscanned("x", ScanOutcome::Error, "y".into());
        r.findings = vec![Finding::Capability {
            origin: "config User".into(),
            request: "user root".into(),
        }];
        r.judge(&[]);
        assert_eq!(r.outcome, ScanOutcome::Passed);
        r.judge(&[Scanner::Integrity]);
        assert_eq!(r.outcome, ScanOutcome::Passed);
        r.judge(&[Scanner::Capabilities]);
        assert_eq!(r.outcome, ScanOutcome::Failed);
        assert_eq!(r.failing(&[Scanner::Capabilities]).count(), 1);
    }

    #[test]
    fn the_default_policy_runs_what_needs_no_network_and_fails_nothing() {
        let p = ScanPolicy::default();
        assert_eq!(p.enabled(), [Scanner::Integrity, Scanner::Capabilities]);
        assert!(p.fail_on.is_empty());
        assert_eq!(p.rescan_schedule(), Some(WEEKLY));
        let mut q = p.clone();
        q.repositories.push(PackageRepository {
            kind: Ecosystem::Deb,
            url: "http://deb.example/dists/x/main/binary-amd64/Packages".into(),
        });
        assert_eq!(q.enabled()[0], Scanner::PackageUpdates);
        assert!(q.check().is_ok());
        q.scanners = Some(vec![Scanner::LanguageUpdates]);
        assert!(q.check().unwrap_err().contains("indices"));
        q.scanners = None;
        q.repositories[0].kind = Ecosystem::Npm;
        assert!(q.check().unwrap_err().contains("deb or rpm"));
        q.repositories[0].kind = Ecosystem::Rpm;
        q.repositories[0].url = "ftp://x".into();
        assert!(q.check().unwrap_err().contains("http://"));
        q.rescan = "off".into();
        assert_eq!(q.rescan_schedule(), None);
        assert_eq!("integrity".parse::<Scanner>(), Ok(Scanner::Integrity));
        assert!("nope".parse::<Scanner>().unwrap_err().contains("known"));
    }
}
