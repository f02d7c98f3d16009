//! An environment's policy: rules on what an image's signed provenance
//! says and on its newest scan, checked before it is promoted there
//! (`policy:` under an environment in the server's config file). A
//! refused promotion names the rule that failed.
//!
//! ```yaml
//! environments:
//!   prod:
//!     prefix: prod
//!     gates: [signed, provenance, reproducible, scan-clean]
//!     policy:
//!       source_hosts: [git.example.com]          # where its source may come from
//!       base_repositories: [registry.example.com/base/]   # where its base images may come from
//!       max_findings: { package-updates: 10, capabilities: 0 }
//! ```

use crate::scan::{Finding, Scanner};
use crate::supply::provenance::Read;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Hosts the image's source may come from (`git.example.com`,
    /// `git.example.com:8443`; `localhost` for a path on the server).
    /// Empty: any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub source_hosts: Vec<String>,
    /// Repositories every base image must come from: a whole repository
    /// (`registry.example.com/base/ubi9`) or, ending in `/`, every
    /// repository under it (`registry.example.com/base/`). Empty: any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub base_repositories: Vec<String>,
    /// The most findings the image's newest scan may have, per scanner.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub max_findings: BTreeMap<Scanner, usize>,
}

impl Policy {
    pub fn is_empty(&self) -> bool {
        *self == Policy::default()
    }

    /// Check the policy's own values (the config file's loader calls it).
    pub fn check(&self) -> Result<(), String> {
        for host in &self.source_hosts {
            if host.is_empty() || host.contains('/') || host.contains('@') {
                return Err(format!(
                    "source_hosts: {host:?} is not a host (give host or host:port)"
                ));
            }
        }
        for repo in &self.base_repositories {
            if repo.trim_end_matches('/').is_empty() || !repo.contains('/') {
                return Err(format!(
                    "base_repositories: {repo:?} is not a repository (give registry/path, or registry/path/ for everything under it)"
                ));
            }
        }
        Ok(())
    }
}

/// What the rules look at, read for one build.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicyInputs {
    /// The build's provenance, verified with the server's key; `None`:
    /// none that verifies.
    pub provenance: Option<Read>,
    /// The newest scan's findings; `None`: never scanned.
    pub findings: Option<Vec<Finding>>,
}

/// The host of a source URL: `https://user@git.example.com:8443/x` →
/// `git.example.com:8443`; `git@host:path` → `host`; a local path or
/// `file://` URL → `localhost`.
pub fn source_host(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        if scheme == "file" {
            return "localhost".into();
        }
        let authority = rest.split('/').next().unwrap_or(rest);
        let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        return host.to_lowercase();
    }
    if !url.starts_with('/')
        && let Some((before, _)) = url.split_once(':')
    {
        let host = before.rsplit_once('@').map_or(before, |(_, h)| h);
        return host.to_lowercase();
    }
    "localhost".into()
}

/// `registry/repository` of an image name (tag and digest dropped), Docker
/// Hub's short names spelled out.
fn repository_of(image: &str) -> String {
    match crate::image_ref::ImageRef::parse_with_default(image, Some("docker.io")) {
        Ok(r) if r.registry == "docker.io" && !r.repository.contains('/') => {
            format!("docker.io/library/{}", r.repository)
        }
        Ok(r) => format!("{}/{}", r.registry, r.repository),
        Err(_) => image.to_string(),
    }
}

fn allowed_repository(repository: &str, allowed: &[String]) -> bool {
    allowed.iter().any(|a| {
        if a.ends_with('/') {
            repository.starts_with(a.as_str())
        } else {
            repository == a
        }
    })
}

/// The first rule of `policy` the build breaks, as `(rule, why)`: the
/// rule as the config names it (`source_hosts`, `base_repositories`,
/// `max_findings.capabilities`).
pub fn failed_rule(policy: &Policy, inputs: &PolicyInputs) -> Option<(String, String)> {
    let provenance = inputs.provenance.as_ref();
    if !policy.source_hosts.is_empty() {
        let why = match provenance {
            None => Some("it has no provenance that verifies with the server's key".to_string()),
            Some(p) => {
                let host = source_host(&p.source_url);
                (!policy.source_hosts.iter().any(|h| h.to_lowercase() == host)).then(|| {
                    format!(
                        "its source {} is on {host}, not on {}",
                        p.source_url,
                        policy.source_hosts.join(", ")
                    )
                })
            }
        };
        if let Some(why) = why {
            return Some(("source_hosts".into(), why));
        }
    }
    if !policy.base_repositories.is_empty() {
        let why = match provenance {
            None => Some("it has no provenance that verifies with the server's key".to_string()),
            Some(p) => p
                .base_images
                .iter()
                .map(|b| (b, repository_of(b)))
                .find(|(_, repo)| !allowed_repository(repo, &policy.base_repositories))
                .map(|(b, _)| {
                    format!(
                        "its base image {b} is not from {}",
                        policy.base_repositories.join(", ")
                    )
                }),
        };
        if let Some(why) = why {
            return Some(("base_repositories".into(), why));
        }
    }
    for (scanner, max) in &policy.max_findings {
        let rule = format!("max_findings.{}", scanner.as_str());
        let Some(findings) = &inputs.findings else {
            return Some((rule, "it was never scanned".into()));
        };
        let found: Vec<&Finding> = findings
            .iter()
            .filter(|f| f.scanner() == *scanner)
            .collect();
        if found.len() > *max {
            let first = found
                .first()
                .map(|f| format!(" (first: {f})"))
                .unwrap_or_default();
            return Some((
                rule,
                format!(
                    "its newest scan has {} {} findings, at most {max} allowed{first}",
                    found.len(),
                    scanner.as_str()
                ),
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(source: &str, bases: &[&str]) -> Read {
        Read {
            source_url: source.into(),
            base_images: bases.iter().map(|b| b.to_string()).collect(),
            ..Read::default()
        }
    }

    fn root_user() -> Finding {
        Finding::Capability {
            origin: "config User".into(),
            request: "user root".into(),
        }
    }

    #[test]
    fn hosts_of_sources() {
        for (url, host) in [
            ("https://git.example.com/team/app.git", "git.example.com"),
            ("https://tok@Git.Example.com:8443/a", "git.example.com:8443"),
            ("ssh://git@git.example.com/a", "git.example.com"),
            ("git@github.com:team/app.git", "github.com"),
            ("file:///srv/git/app", "localhost"),
            ("/srv/git/app", "localhost"),
        ] {
            assert_eq!(source_host(url), host, "{url}");
        }
    }

    #[test]
    fn each_rule_refuses_and_is_named() {
        let policy = Policy {
            source_hosts: vec!["git.example.com".into()],
            base_repositories: vec!["quay.io/fedora/".into(), "docker.io/library/busybox".into()],
            max_findings: BTreeMap::from([(Scanner::Capabilities, 0)]),
        };
        policy.check().unwrap();
        let good = PolicyInputs {
            provenance: Some(read(
                "https://git.example.com/app.git",
                &["quay.io/fedora/fedora:40", "busybox"],
            )),
            findings: Some(vec![]),
        };
        assert_eq!(failed_rule(&policy, &good), None);

        let elsewhere = PolicyInputs {
            provenance: Some(read("https://git.evil.com/app.git", &[])),
            ..good.clone()
        };
        let (rule, why) = failed_rule(&policy, &elsewhere).unwrap();
        assert_eq!(rule, "source_hosts");
        assert!(why.contains("git.evil.com"), "{why}");

        let other_base = PolicyInputs {
            provenance: Some(read(
                "https://git.example.com/app.git",
                &["quay.io/fedora/fedora:40", "docker.io/evil/busybox:1"],
            )),
            ..good.clone()
        };
        let (rule, why) = failed_rule(&policy, &other_base).unwrap();
        assert_eq!(rule, "base_repositories");
        assert!(why.contains("docker.io/evil/busybox:1"), "{why}");
        // A prefix is a path prefix, not a string one.
        let lookalike = PolicyInputs {
            provenance: Some(read(
                "https://git.example.com/app.git",
                &["quay.io/fedora-evil/x:1"],
            )),
            ..good.clone()
        };
        assert_eq!(
            failed_rule(&policy, &lookalike).unwrap().0,
            "base_repositories"
        );

        let rooted = PolicyInputs {
            findings: Some(vec![root_user()]),
            ..good.clone()
        };
        let (rule, why) = failed_rule(&policy, &rooted).unwrap();
        assert_eq!(rule, "max_findings.capabilities");
        assert!(why.contains("1 capabilities findings, at most 0"), "{why}");
        assert!(why.contains("user root"), "{why}");

        // Without provenance or scan, the rules that need them refuse.
        let nothing = PolicyInputs::default();
        assert_eq!(failed_rule(&policy, &nothing).unwrap().0, "source_hosts");
        let only_findings = Policy {
            max_findings: BTreeMap::from([(Scanner::Integrity, 3)]),
            ..Policy::default()
        };
        assert_eq!(
            failed_rule(&only_findings, &nothing),
            Some((
                "max_findings.integrity".to_string(),
                "it was never scanned".to_string()
            ))
        );
        assert_eq!(failed_rule(&Policy::default(), &nothing), None);
    }

    #[test]
    fn the_policy_reads_from_yaml_and_checks_its_values() {
        let p: Policy = serde_saphyr::from_str(
            "source_hosts: [git.example.com]\nbase_repositories: [quay.io/fedora/]\nmax_findings: { package-updates: 10, capabilities: 0 }\n",
        )
        .unwrap();
        assert_eq!(p.max_findings[&Scanner::PackageUpdates], 10);
        p.check().unwrap();
        assert!(serde_saphyr::from_str::<Policy>("max_findings: { viruses: 1 }\n").is_err());
        assert!(serde_saphyr::from_str::<Policy>("source_host: [x]\n").is_err());
        for bad in [
            "source_hosts: [\"https://git.example.com/\"]",
            "base_repositories: [fedora]",
        ] {
            let p: Policy = serde_saphyr::from_str(bad).unwrap();
            assert!(p.check().is_err(), "{bad}");
        }
    }
}
