//! What is installed in an image: the packages its package databases and
//! language-package metadata list, and the operating system it says it is.
//!
//! `slipway-scan` reads these from an unpacked image; scanners, SBOMs and
//! package-repository tracking work on this model. Package URLs follow the
//! purl specification (<https://github.com/package-url/purl-spec>).

use serde::{Deserialize, Serialize};
use std::fmt;

/// Where a package comes from: the package manager that installed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Ecosystem {
    /// dpkg (`/var/lib/dpkg/status`).
    Deb,
    /// rpm (its database, read with the `rpm` command).
    Rpm,
    /// apk (`/lib/apk/db/installed`).
    Apk,
    /// Python distributions (`*.dist-info`, `*.egg-info`).
    Pypi,
    /// npm packages (`node_modules/**/package.json`).
    Npm,
    /// RubyGems (`specifications/*.gemspec`).
    Gem,
}

impl Ecosystem {
    pub fn as_str(self) -> &'static str {
        match self {
            Ecosystem::Deb => "deb",
            Ecosystem::Rpm => "rpm",
            Ecosystem::Apk => "apk",
            Ecosystem::Pypi => "pypi",
            Ecosystem::Npm => "npm",
            Ecosystem::Gem => "gem",
        }
    }

    /// An operating-system package manager (as opposed to a language's).
    pub fn is_system(self) -> bool {
        matches!(self, Ecosystem::Deb | Ecosystem::Rpm | Ecosystem::Apk)
    }
}

impl fmt::Display for Ecosystem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One installed package.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Package {
    pub ecosystem: Ecosystem,
    pub name: String,
    /// As the package manager writes it: dpkg's `[epoch:]upstream[-revision]`,
    /// rpm's `[epoch:]version-release`, a Python or npm version.
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arch: Option<String>,
    /// The source package it was built from (dpkg `Source`, rpm's source
    /// rpm, apk's origin), when it says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// As declared, each made SPDX where it maps (`scan::license`): one
    /// identifier or expression (rpm, apk, Python, npm), or each licence a
    /// Debian copyright file names; free text stays as written.
    #[serde(
        default,
        alias = "license",
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "one_or_many"
    )]
    pub licenses: Vec<String>,
    /// Who supplies it: dpkg's `Maintainer`, rpm's `Vendor`, apk's
    /// maintainer, a Python or npm package's author.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supplier: Option<String>,
    /// The file in the image that lists it (a database or metadata file).
    pub found_in: String,
    /// An OS package's language packages (Debian's `python3-pip` is pip,
    /// its `node-*` packages npm modules), as package URLs: listed with
    /// the package that installed them, not again on their own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub includes: Vec<String>,
    /// The image's own application (a `package.json` at a project root),
    /// not a dependency.
    #[serde(default, skip_serializing_if = "is_false")]
    pub application: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// A licence list, or one licence as reports kept before lists were.
fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Option::<OneOrMany>::deserialize(d)? {
        None => Vec::new(),
        Some(OneOrMany::One(s)) => vec![s],
        Some(OneOrMany::Many(v)) => v,
    })
}

/// The image's `/etc/os-release` (or `/usr/lib/os-release`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OsRelease {
    /// `ID`, for example `debian`, `fedora`, `alpine`.
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pretty_name: Option<String>,
}

impl OsRelease {
    /// Read the `KEY=value` lines of an os-release file (values may be
    /// quoted). `None` without an `ID`.
    pub fn parse(text: &str) -> Option<OsRelease> {
        let mut out = OsRelease::default();
        for line in text.lines() {
            let Some((key, value)) = line.trim().split_once('=') else {
                continue;
            };
            let value = unquote(value.trim());
            match key.trim() {
                "ID" => out.id = value,
                "VERSION_ID" => out.version_id = Some(value),
                "PRETTY_NAME" => out.pretty_name = Some(value),
                _ => {}
            }
        }
        (!out.id.is_empty()).then_some(out)
    }
}

fn unquote(v: &str) -> String {
    let inner = v
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .or_else(|| v.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')))
        .unwrap_or(v);
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Everything installed in one image.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inventory {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os: Option<OsRelease>,
    /// Sorted by ecosystem, name, version.
    pub packages: Vec<Package>,
}

impl Inventory {
    /// Sort the packages and drop exact duplicates (a package listed by
    /// two metadata files of one installation).
    pub fn normalize(&mut self) {
        self.packages.sort();
        self.packages.dedup();
    }

    pub fn of(&self, ecosystem: Ecosystem) -> impl Iterator<Item = &Package> {
        self.packages
            .iter()
            .filter(move |p| p.ecosystem == ecosystem)
    }
}

impl Package {
    /// The package URL, for example `pkg:deb/debian/bash@5.2.15-2%2Bb7?arch=amd64&distro=debian-12`.
    pub fn purl(&self, os: Option<&OsRelease>) -> String {
        let mut qualifiers: Vec<(&str, String)> = Vec::new();
        let (namespace, name, version) = match self.ecosystem {
            Ecosystem::Deb | Ecosystem::Apk | Ecosystem::Rpm => {
                let ns = os.map(|o| o.id.clone()).unwrap_or_else(|| {
                    match self.ecosystem {
                        Ecosystem::Deb => "debian",
                        Ecosystem::Apk => "alpine",
                        _ => "linux",
                    }
                    .to_string()
                });
                let mut version = self.version.clone();
                // The epoch is a qualifier, as the purl spec's deb and
                // rpm types (and trivy, and the security trackers) have it.
                if matches!(self.ecosystem, Ecosystem::Rpm | Ecosystem::Deb)
                    && let Some((epoch, rest)) = self.version.split_once(':')
                    && !epoch.is_empty()
                    && epoch.bytes().all(|b| b.is_ascii_digit())
                {
                    qualifiers.push(("epoch", epoch.to_string()));
                    version = rest.to_string();
                }
                (Some(ns), self.name.clone(), version)
            }
            Ecosystem::Pypi => (
                None,
                self.name.to_ascii_lowercase().replace('_', "-"),
                self.version.clone(),
            ),
            Ecosystem::Npm => match self.name.strip_prefix('@').and_then(|n| n.split_once('/')) {
                Some((scope, name)) => (
                    Some(format!("@{scope}")),
                    name.to_string(),
                    self.version.clone(),
                ),
                None => (None, self.name.clone(), self.version.clone()),
            },
            Ecosystem::Gem => (None, self.name.clone(), self.version.clone()),
        };
        if let Some(arch) = &self.arch {
            qualifiers.push(("arch", arch.clone()));
        }
        if self.ecosystem.is_system()
            && let Some(os) = os
            && let Some(v) = &os.version_id
        {
            qualifiers.push(("distro", format!("{}-{v}", os.id)));
        }
        qualifiers.sort();
        let mut out = format!("pkg:{}/", self.ecosystem.as_str());
        if let Some(ns) = namespace {
            out.push_str(&percent_encode(&ns));
            out.push('/');
        }
        out.push_str(&percent_encode(&name));
        out.push('@');
        out.push_str(&percent_encode(&version));
        for (i, (k, v)) in qualifiers.iter().enumerate() {
            out.push(if i == 0 { '?' } else { '&' });
            out.push_str(k);
            out.push('=');
            out.push_str(&percent_encode(v));
        }
        out
    }
}

/// Percent-encode everything but RFC 3986's unreserved characters (for
/// package URLs and URL query values).
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkg(ecosystem: Ecosystem, name: &str, version: &str, arch: Option<&str>) -> Package {
        Package {
            ecosystem,
            name: name.into(),
            version: version.into(),
            arch: arch.map(str::to_string),
            source: None,
            licenses: Vec::new(),
            supplier: None,
            found_in: "x".into(),
            includes: Vec::new(),
            application: false,
        }
    }

    #[test]
    fn os_release_is_read_with_quotes_and_escapes() {
        let os = OsRelease::parse(
            "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nID=debian\n# comment\nHOME_URL='https://x/\\'y'\n",
        )
        .unwrap();
        assert_eq!(os.id, "debian");
        assert_eq!(os.version_id.as_deref(), Some("12"));
        assert_eq!(
            os.pretty_name.as_deref(),
            Some("Debian GNU/Linux 12 (bookworm)")
        );
        assert!(OsRelease::parse("NAME=x\n").is_none());
    }

    #[test]
    fn package_urls_follow_the_purl_spec() {
        let debian = OsRelease {
            id: "debian".into(),
            version_id: Some("12".into()),
            pretty_name: None,
        };
        assert_eq!(
            pkg(Ecosystem::Deb, "bash", "5.2.15-2+b7", Some("amd64")).purl(Some(&debian)),
            "pkg:deb/debian/bash@5.2.15-2%2Bb7?arch=amd64&distro=debian-12"
        );
        assert_eq!(
            pkg(Ecosystem::Deb, "libc6", "1:2.36-9", None).purl(None),
            "pkg:deb/debian/libc6@2.36-9?epoch=1"
        );
        let fedora = OsRelease {
            id: "fedora".into(),
            version_id: Some("40".into()),
            pretty_name: None,
        };
        assert_eq!(
            pkg(Ecosystem::Rpm, "curl", "2:8.6.0-7.fc40", Some("x86_64")).purl(Some(&fedora)),
            "pkg:rpm/fedora/curl@8.6.0-7.fc40?arch=x86_64&distro=fedora-40&epoch=2"
        );
        assert_eq!(
            pkg(Ecosystem::Pypi, "Django_Rest", "3.1", None).purl(Some(&debian)),
            "pkg:pypi/django-rest@3.1"
        );
        assert_eq!(
            pkg(Ecosystem::Npm, "@babel/core", "7.24.0", None).purl(None),
            "pkg:npm/%40babel/core@7.24.0"
        );
        assert_eq!(
            pkg(Ecosystem::Gem, "rake", "13.0.6", None).purl(None),
            "pkg:gem/rake@13.0.6"
        );
    }

    #[test]
    fn normalize_sorts_and_drops_duplicates() {
        let mut inv = Inventory {
            os: None,
            packages: vec![
                pkg(Ecosystem::Npm, "b", "1", None),
                pkg(Ecosystem::Deb, "z", "1", None),
                pkg(Ecosystem::Npm, "b", "1", None),
                pkg(Ecosystem::Deb, "a", "2", None),
            ],
        };
        inv.normalize();
        let names: Vec<_> = inv.packages.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["a", "z", "b"]);
        assert_eq!(inv.of(Ecosystem::Npm).count(), 1);
    }
}
