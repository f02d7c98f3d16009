//! Language-package updates: Python distributions against a PEP 503/691
//! simple index, npm packages against an npm registry's `latest` tag.
//!
//! Off unless a config names an index, since it asks the network one
//! question per package.

use crate::fetch::{self, Fetched};
use pep440_rs::Version as PyVersion;
use slipway_core::scan::inventory::{Ecosystem, Inventory};
use slipway_core::scan::{Finding, LanguageIndices};
use std::str::FromStr;

/// Updates for the Python and npm packages in `inventory`.
pub fn check(
    inventory: &Inventory,
    indices: &LanguageIndices,
    problems: &mut Vec<String>,
) -> Vec<Finding> {
    let mut out = Vec::new();
    if let Some(index) = &indices.pypi {
        for pkg in inventory.of(Ecosystem::Pypi) {
            match newest_pypi(index, &pkg.name, &pkg.version) {
                Ok(Some(v)) => out.push(update(Ecosystem::Pypi, &pkg.name, &pkg.version, v, index)),
                Ok(None) => {}
                Err(e) => problems.push(e),
            }
        }
    }
    if let Some(registry) = &indices.npm {
        for pkg in inventory.of(Ecosystem::Npm) {
            match newest_npm(registry, &pkg.name, &pkg.version) {
                Ok(Some(v)) => {
                    out.push(update(Ecosystem::Npm, &pkg.name, &pkg.version, v, registry))
                }
                Ok(None) => {}
                Err(e) => problems.push(e),
            }
        }
    }
    out.sort();
    out
}

fn update(
    ecosystem: Ecosystem,
    name: &str,
    installed: &str,
    available: String,
    index: &str,
) -> Finding {
    Finding::Update {
        ecosystem,
        package: name.to_string(),
        installed: installed.to_string(),
        available,
        repository: index.to_string(),
    }
}

/// PEP 503 name normalisation.
pub fn normalize_pypi(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut sep = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            sep = true;
            continue;
        }
        if sep && !out.is_empty() {
            out.push('-');
        }
        sep = false;
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// The newest release on the index newer than `installed`, if any.
/// Pre-releases count only when the installed version is one.
fn newest_pypi(index: &str, name: &str, installed: &str) -> Result<Option<String>, String> {
    let Ok(current) = PyVersion::from_str(installed) else {
        return Err(format!(
            "pypi {name}: installed version {installed:?} is not a PEP 440 version"
        ));
    };
    let url = format!("{}/", fetch::join(index, &normalize_pypi(name)));
    let body = match fetch::get(&url, "application/vnd.pypi.simple.v1+json, text/html;q=0.1")? {
        Fetched::Found(b) => b,
        Fetched::NotFound => return Ok(None),
    };
    let text = String::from_utf8_lossy(&body);
    let versions = pypi_versions(name, &text);
    let allow_pre = current.any_prerelease();
    Ok(versions
        .into_iter()
        .filter_map(|v| PyVersion::from_str(&v).ok())
        .filter(|v| allow_pre || !v.any_prerelease())
        .filter(|v| *v > current)
        .max()
        .map(|v| v.to_string()))
}

/// Versions of the files a simple-index page lists (JSON or HTML),
/// yanked files left out.
pub fn pypi_versions(name: &str, page: &str) -> Vec<String> {
    let mut files: Vec<String> = Vec::new();
    if page.trim_start().starts_with('{') {
        if let Ok(json) = serde_json::from_str::<serde_json::Value>(page) {
            for f in json["files"].as_array().into_iter().flatten() {
                let yanked = match &f["yanked"] {
                    serde_json::Value::Bool(b) => *b,
                    serde_json::Value::String(_) => true,
                    _ => false,
                };
                if !yanked && let Some(n) = f["filename"].as_str() {
                    files.push(n.to_string());
                }
            }
        }
    } else {
        // Positions found in a lowercased copy hold in the page: ASCII
        // lowercasing keeps every byte where it is.
        let lower = page.to_ascii_lowercase();
        let mut at = 0;
        while let Some(start) = lower[at..].find("<a ").map(|i| at + i) {
            let Some(gt) = lower[start..].find('>').map(|i| start + i) else {
                break;
            };
            let end = lower[gt..].find("</a>").map_or(page.len(), |i| gt + i);
            if !lower[start..gt].contains("data-yanked") {
                files.push(page[gt + 1..end].trim().to_string());
            }
            at = end;
        }
    }
    let want = normalize_pypi(name);
    let mut out: Vec<String> = files
        .iter()
        .filter_map(|f| version_of_file(&want, f))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// `requests-2.31.0.tar.gz`, `requests-2.31.0-py3-none-any.whl` → `2.31.0`.
fn version_of_file(normalized: &str, file: &str) -> Option<String> {
    if let Some(stem) = file.strip_suffix(".whl") {
        let mut parts = stem.split('-');
        let dist = parts.next()?;
        let version = parts.next()?;
        return (normalize_pypi(dist) == normalized).then(|| version.to_string());
    }
    let stem = [".tar.gz", ".zip", ".tar.bz2", ".tgz", ".tar.xz", ".egg"]
        .iter()
        .find_map(|ext| file.strip_suffix(ext))?;
    // The name may contain `-`: try each split point.
    stem.match_indices('-').find_map(|(i, _)| {
        let (dist, version) = (&stem[..i], &stem[i + 1..]);
        let version = version.split('-').next()?;
        (normalize_pypi(dist) == normalized).then(|| version.to_string())
    })
}

/// The registry's `latest` dist-tag if it is newer than `installed`.
fn newest_npm(registry: &str, name: &str, installed: &str) -> Result<Option<String>, String> {
    let encoded = name.replace('/', "%2f");
    let url = fetch::join(registry, &encoded);
    let body = match fetch::get(
        &url,
        "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8",
    )? {
        Fetched::Found(b) => b,
        Fetched::NotFound => return Ok(None),
    };
    let json: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| format!("npm {name}: {url} is not a registry document: {e}"))?;
    let Some(latest) = json["dist-tags"]["latest"].as_str() else {
        return Ok(None);
    };
    let (Ok(l), Ok(i)) = (
        semver::Version::parse(latest),
        semver::Version::parse(installed),
    ) else {
        return Err(format!(
            "npm {name}: cannot compare {installed:?} with the registry's latest {latest:?}"
        ));
    };
    Ok((l > i).then(|| latest.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_normalised_as_pep_503_says() {
        assert_eq!(normalize_pypi("Foo.Bar__baz"), "foo-bar-baz");
        assert_eq!(normalize_pypi("requests"), "requests");
    }

    #[test]
    fn simple_pages_give_versions_without_yanked_files() {
        let html = r#"<!DOCTYPE html><html><body>
<a href="../../p/requests-2.30.0.tar.gz#sha256=1">requests-2.30.0.tar.gz</a><br/>
<a href="x" data-requires-python="&gt;=3.7">requests-2.31.0-py3-none-any.whl</a>
<a href="y" data-yanked="">requests-2.32.0.tar.gz</a>
<a href="z">python_dateutil-2.9.0.tar.gz</a>
</body></html>"#;
        assert_eq!(pypi_versions("Requests", html), ["2.30.0", "2.31.0"]);
        let json = r#"{"meta":{"api-version":"1.1"},"name":"python-dateutil","files":[
{"filename":"python_dateutil-2.8.2-py2.py3-none-any.whl","yanked":false},
{"filename":"python-dateutil-2.9.0.post0.tar.gz"},
{"filename":"python-dateutil-3.0.tar.gz","yanked":"broken"}]}"#;
        assert_eq!(
            pypi_versions("python-dateutil", json),
            ["2.8.2", "2.9.0.post0"]
        );
    }
}
