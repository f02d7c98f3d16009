//! Package updates: installed OS packages that a configured repository has
//! in a newer version.
//!
//! Repositories are read from their published metadata, never through a
//! package manager: a Debian `Packages` index, or an RPM repository's
//! `repodata/repomd.xml` and the `primary` metadata it points to. Versions
//! are ordered with dpkg's and rpm's own rules ([`crate::version`]). The
//! same [`RepositoryIndex`] serves repository tracking, which rebuilds an
//! image when a package it contains gets a new version.

use crate::fetch;
use crate::version::{compare_deb, compare_rpm};
use quick_xml::events::Event;
use sha2::{Digest, Sha256};
use slipway_core::scan::inventory::{Ecosystem, Inventory};
use slipway_core::scan::{Finding, PackageRepository};
use std::cmp::Ordering;
use std::collections::BTreeMap;

/// One repository's packages: name → (version, arch) pairs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RepositoryIndex {
    pub kind: Option<Ecosystem>,
    pub url: String,
    /// SHA-256 of the metadata read, to notice changes cheaply.
    pub digest: String,
    pub packages: BTreeMap<String, Vec<(String, String)>>,
}

impl RepositoryIndex {
    /// Fetch and read `repo`'s metadata.
    pub fn load(repo: &PackageRepository) -> Result<RepositoryIndex, String> {
        match repo.kind {
            Ecosystem::Deb => {
                let (url, bytes) = deb_index(&repo.url)?;
                let mut index = RepositoryIndex::parse_deb(&bytes);
                index.url = url;
                Ok(index)
            }
            Ecosystem::Rpm => {
                let repomd_url = fetch::join(&repo.url, "repodata/repomd.xml");
                let repomd = fetch::read(&repomd_url)?;
                let href = primary_location(&repomd)
                    .map_err(|e| format!("{repomd_url}: {e}"))?
                    .ok_or_else(|| format!("{repomd_url}: names no primary metadata"))?;
                let primary_url = fetch::join(&repo.url, &href);
                let primary = fetch::read(&primary_url)?;
                let mut index = RepositoryIndex::parse_primary(&primary)
                    .map_err(|e| format!("{primary_url}: {e}"))?;
                index.url = repo.url.clone();
                Ok(index)
            }
            other => Err(format!(
                "{}: repositories of kind {other} are not read; use deb or rpm",
                repo.url
            )),
        }
    }

    /// Read a Debian `Packages` index.
    pub fn parse_deb(text: &[u8]) -> RepositoryIndex {
        let mut index = RepositoryIndex {
            kind: Some(Ecosystem::Deb),
            digest: hex::encode(Sha256::digest(text)),
            ..RepositoryIndex::default()
        };
        let text = String::from_utf8_lossy(text);
        let (mut name, mut version, mut arch) = (None, None, None);
        let mut flush =
            |name: &mut Option<String>, version: &mut Option<String>, arch: &mut Option<String>| {
                if let (Some(n), Some(v)) = (name.take(), version.take()) {
                    index
                        .packages
                        .entry(n)
                        .or_default()
                        .push((v, arch.take().unwrap_or_default()));
                }
                *arch = None;
            };
        for line in text.lines() {
            if line.trim().is_empty() {
                flush(&mut name, &mut version, &mut arch);
                continue;
            }
            if line.starts_with([' ', '\t']) {
                continue;
            }
            let Some((k, v)) = line.split_once(':') else {
                continue;
            };
            let v = Some(v.trim().to_string());
            match k {
                "Package" => name = v,
                "Version" => version = v,
                "Architecture" => arch = v,
                _ => {}
            }
        }
        flush(&mut name, &mut version, &mut arch);
        index
    }

    /// Read RPM `primary.xml` metadata.
    pub fn parse_primary(xml: &[u8]) -> Result<RepositoryIndex, String> {
        let mut index = RepositoryIndex {
            kind: Some(Ecosystem::Rpm),
            digest: hex::encode(Sha256::digest(xml)),
            ..RepositoryIndex::default()
        };
        let mut reader = quick_xml::Reader::from_reader(xml);
        let mut buf = Vec::new();
        let mut field: Option<&'static str> = None;
        let (mut name, mut arch, mut version) = (String::new(), String::new(), String::new());
        let mut in_package = false;
        loop {
            match reader.read_event_into(&mut buf) {
                Err(e) => {
                    return Err(format!(
                        "not valid XML at byte {}: {e}",
                        reader.buffer_position()
                    ));
                }
                Ok(Event::Eof) => break,
                Ok(Event::Start(e)) => match e.local_name().as_ref() {
                    "package" => {
                        in_package = true;
                        name.clear();
                        arch.clear();
                        version.clear();
                    }
                    "name" if in_package => field = Some("name"),
                    "arch" if in_package => field = Some("arch"),
                    "version" if in_package => version = rpm_version(&e),
                    _ => {}
                },
                Ok(Event::Empty(e)) if in_package && e.local_name().as_ref() == "version" => {
                    version = rpm_version(&e);
                }
                Ok(Event::Text(t)) => {
                    if let Some(f) = field {
                        let text = t.xml10_content().into_owned();
                        match f {
                            "name" => name.push_str(&text),
                            _ => arch.push_str(&text),
                        }
                    }
                }
                Ok(Event::End(e)) => match e.local_name().as_ref() {
                    "package" => {
                        in_package = false;
                        if !name.is_empty() && !version.is_empty() && arch != "src" {
                            index
                                .packages
                                .entry(std::mem::take(&mut name))
                                .or_default()
                                .push((std::mem::take(&mut version), std::mem::take(&mut arch)));
                        }
                    }
                    _ => field = None,
                },
                Ok(_) => {}
            }
            buf.clear();
        }
        Ok(index)
    }

    /// The newest version of `name` for an installed package of `arch`
    /// (architecture-independent builds match any).
    pub fn newest(&self, name: &str, arch: Option<&str>) -> Option<&str> {
        let kind = self.kind?;
        let any = ["all", "noarch"];
        self.packages
            .get(name)?
            .iter()
            .filter(|(_, a)| match arch {
                None => true,
                Some(want) => a == want || any.contains(&a.as_str()) || any.contains(&want),
            })
            .map(|(v, _)| v.as_str())
            .max_by(|a, b| compare(kind, a, b))
    }
}

fn compare(kind: Ecosystem, a: &str, b: &str) -> Ordering {
    match kind {
        Ecosystem::Rpm => compare_rpm(a, b),
        _ => compare_deb(a, b),
    }
}

/// `[epoch:]ver-rel` from a `<version epoch= ver= rel=>` element.
fn rpm_version(e: &quick_xml::events::BytesStart) -> String {
    let (mut epoch, mut ver, mut rel) = (String::new(), String::new(), String::new());
    for a in e.attributes().flatten() {
        let v = a.value.to_string();
        match a.key.as_ref() {
            "epoch" => epoch = v,
            "ver" => ver = v,
            "rel" => rel = v,
            _ => {}
        }
    }
    let vr = if rel.is_empty() {
        ver
    } else {
        format!("{ver}-{rel}")
    };
    match epoch.as_str() {
        "" | "0" => vr,
        e => format!("{e}:{vr}"),
    }
}

/// The `href` of the `primary` entry in `repomd.xml`.
fn primary_location(repomd: &[u8]) -> Result<Option<String>, String> {
    let mut reader = quick_xml::Reader::from_reader(repomd);
    let mut buf = Vec::new();
    let mut in_primary = false;
    loop {
        match reader.read_event_into(&mut buf) {
            Err(e) => return Err(format!("not valid XML: {e}")),
            Ok(Event::Eof) => return Ok(None),
            Ok(Event::Start(e)) if e.local_name().as_ref() == "data" => {
                in_primary = e
                    .attributes()
                    .flatten()
                    .any(|a| a.key.as_ref() == "type" && a.value == "primary");
            }
            Ok(Event::End(e)) if e.local_name().as_ref() == "data" => in_primary = false,
            Ok(Event::Empty(e) | Event::Start(e))
                if in_primary && e.local_name().as_ref() == "location" =>
            {
                if let Some(a) = e.attributes().flatten().find(|a| a.key.as_ref() == "href") {
                    return Ok(Some(a.value.to_string()));
                }
            }
            Ok(_) => {}
        }
        buf.clear();
    }
}

/// A Debian repository URL: the index itself, or a directory holding
/// `Packages.gz` or `Packages`. Returns the index URL read and its text.
fn deb_index(url: &str) -> Result<(String, Vec<u8>), String> {
    let file = url.rsplit('/').next().unwrap_or("");
    if file.starts_with("Packages") {
        return Ok((url.to_string(), fetch::read(url)?));
    }
    for name in ["Packages.gz", "Packages"] {
        let candidate = fetch::join(url, name);
        if let fetch::Fetched::Found(bytes) = fetch::get(&candidate, "*/*")? {
            return Ok((candidate.clone(), fetch::decompress(&candidate, bytes)?));
        }
    }
    Err(format!("{url}: holds neither Packages.gz nor Packages"))
}

/// Updates for `inventory` from loaded repositories (each package gets
/// the newest version any repository of its kind has).
pub fn check(inventory: &Inventory, indices: &[RepositoryIndex]) -> Vec<Finding> {
    let mut out = Vec::new();
    for pkg in &inventory.packages {
        if !matches!(pkg.ecosystem, Ecosystem::Deb | Ecosystem::Rpm) {
            continue;
        }
        let best = indices
            .iter()
            .filter(|i| i.kind == Some(pkg.ecosystem))
            .filter_map(|i| Some((i.newest(&pkg.name, pkg.arch.as_deref())?, i)))
            .max_by(|a, b| compare(pkg.ecosystem, a.0, b.0));
        if let Some((available, index)) = best
            && compare(pkg.ecosystem, available, &pkg.version) == Ordering::Greater
        {
            out.push(Finding::Update {
                ecosystem: pkg.ecosystem,
                package: pkg.name.clone(),
                installed: pkg.version.clone(),
                available: available.to_string(),
                repository: index.url.clone(),
            });
        }
    }
    out.sort();
    out
}

/// The packages `current` offers a version (for an architecture) of that
/// `previous` (an earlier read of the same repository) did not.
pub fn new_versions(
    previous: &BTreeMap<String, Vec<(String, String)>>,
    current: &RepositoryIndex,
) -> std::collections::BTreeSet<String> {
    current
        .packages
        .iter()
        .filter(|(name, entries)| {
            let before = previous.get(*name);
            entries
                .iter()
                .any(|e| before.is_none_or(|b| !b.contains(e)))
        })
        .map(|(name, _)| name.clone())
        .collect()
}

/// Load each repository; a repository that cannot be read is a problem,
/// not a failure.
pub fn load_all(repos: &[PackageRepository], problems: &mut Vec<String>) -> Vec<RepositoryIndex> {
    repos
        .iter()
        .filter_map(|r| match RepositoryIndex::load(r) {
            Ok(i) => Some(i),
            Err(e) => {
                problems.push(format!("package repository unreadable: {e}"));
                None
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_versions_are_packages_with_an_entry_not_offered_before() {
        let before = RepositoryIndex::parse_deb(
            b"Package: bash\nVersion: 1-1\nArchitecture: amd64\n\nPackage: sed\nVersion: 4-1\nArchitecture: amd64\n\nPackage: gone\nVersion: 1\nArchitecture: all\n",
        );
        let after = RepositoryIndex::parse_deb(
            b"Package: bash\nVersion: 1-2\nArchitecture: amd64\n\nPackage: sed\nVersion: 4-1\nArchitecture: amd64\n\nPackage: sed\nVersion: 4-1\nArchitecture: arm64\n\nPackage: fresh\nVersion: 1\nArchitecture: all\n",
        );
        let got: Vec<String> = new_versions(&before.packages, &after).into_iter().collect();
        // sed for arm64 is new too; a removed package is not an update.
        assert_eq!(got, ["bash", "fresh", "sed"]);
        assert!(new_versions(&after.packages, &after).is_empty());
    }

    #[test]
    fn debian_packages_give_the_newest_version_for_the_arch() {
        let index = RepositoryIndex::parse_deb(
            b"Package: bash\nVersion: 5.2.15-2+b7\nArchitecture: amd64\nDescription: x\n continued\n\nPackage: bash\nVersion: 5.2.15-2+b8\nArchitecture: arm64\n\nPackage: bash\nVersion: 5.2.15-2+b2\nArchitecture: amd64\n\nPackage: tzdata\nVersion: 2024a-0+deb12u1\nArchitecture: all\n",
        );
        assert_eq!(index.newest("bash", Some("amd64")), Some("5.2.15-2+b7"));
        assert_eq!(index.newest("bash", Some("arm64")), Some("5.2.15-2+b8"));
        assert_eq!(
            index.newest("tzdata", Some("amd64")),
            Some("2024a-0+deb12u1")
        );
        assert_eq!(index.newest("zsh", Some("amd64")), None);
    }

    #[test]
    fn rpm_primary_metadata_is_read_without_source_packages() {
        let xml = br#"<?xml version="1.0" encoding="UTF-8"?>
<metadata xmlns="http://linux.duke.edu/metadata/common" xmlns:rpm="http://linux.duke.edu/metadata/rpm" packages="3">
<package type="rpm"><name>curl</name><arch>x86_64</arch><version epoch="0" ver="8.6.0" rel="7.fc40"/><summary>x &amp; y</summary></package>
<package type="rpm"><name>curl</name><arch>x86_64</arch><version epoch="0" ver="8.6.0" rel="10.fc40"/></package>
<package type="rpm"><name>curl</name><arch>src</arch><version epoch="0" ver="9" rel="1"/></package>
<package type="rpm"><name>demo</name><arch>noarch</arch><version epoch="1" ver="1.2" rel="4"/></package>
</metadata>"#;
        let index = RepositoryIndex::parse_primary(xml).unwrap();
        assert_eq!(index.newest("curl", Some("x86_64")), Some("8.6.0-10.fc40"));
        assert_eq!(index.newest("demo", Some("x86_64")), Some("1:1.2-4"));
        assert!(RepositoryIndex::parse_primary(b"<metadata><package>").is_ok());
        assert!(RepositoryIndex::parse_primary(b"<a></b>").is_err());
        let repomd = br#"<repomd><data type="filelists"><location href="repodata/f.xml.gz"/></data><data type="primary"><checksum>x</checksum><location href="repodata/abc-primary.xml.gz"/></data></repomd>"#;
        assert_eq!(
            primary_location(repomd).unwrap().as_deref(),
            Some("repodata/abc-primary.xml.gz")
        );
    }
}
