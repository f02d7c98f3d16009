//! Reading what is installed in an unpacked image, from the files package
//! managers keep: dpkg's status database, the rpm database (through the
//! real `rpm` command), apk's installed database, Python's dist-info and
//! egg-info, npm's `package.json` under `node_modules`, and RubyGems'
//! specifications.

use crate::rootfs::{FileKind, Rootfs};
use slipway_core::scan::inventory::{Ecosystem, Inventory, OsRelease, Package};
use slipway_core::scan::license;
use std::process::Command;

/// What [`read`] found, and what it could not read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InventoryReport {
    pub inventory: Inventory,
    /// Databases or metadata that were there but unreadable, with why.
    pub problems: Vec<String>,
}

/// Where rpm databases live, newest layout first.
const RPM_DB_DIRS: [&str; 2] = ["/usr/lib/sysimage/rpm", "/var/lib/rpm"];
const RPM_DB_FILES: [&str; 3] = ["rpmdb.sqlite", "Packages.db", "Packages"];

/// Read every package database and metadata file in `fs`.
pub fn read(fs: &Rootfs) -> InventoryReport {
    let mut report = InventoryReport::default();
    for path in ["/etc/os-release", "/usr/lib/os-release"] {
        if let Ok(Some(text)) = fs.read_text(path)
            && let Some(os) = OsRelease::parse(&text)
        {
            report.inventory.os = Some(os);
            break;
        }
    }
    // Debian's os-release says `12`; `/etc/debian_version` says which
    // point release (`12.15`), as trivy and Debian's security tracker use.
    if let Some(os) = report.inventory.os.as_mut()
        && os.id == "debian"
        && let Ok(Some(v)) = fs.read_text("/etc/debian_version")
    {
        let v = v.trim();
        if !v.is_empty()
            && v.bytes().all(|b| b.is_ascii_digit() || b == b'.')
            && os.version_id.as_deref().is_none_or(|id| v.starts_with(id))
        {
            os.version_id = Some(v.to_string());
        }
    }
    let mut found = Vec::new();
    read_dpkg(fs, &mut found, &mut report.problems);
    read_apk(fs, &mut found, &mut report.problems);
    read_rpm(fs, &mut found, &mut report.problems);
    read_language_packages(fs, &mut found, &mut report.problems);
    report.inventory.packages = crate::ownership::fold(found, fs, report.inventory.os.as_ref());
    report.inventory.normalize();
    report
}

/// RFC 822-style paragraphs (dpkg status, Python METADATA headers):
/// `Field: value` lines, continuation lines starting with a space.
pub fn paragraphs(text: &str) -> Vec<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut current: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            if !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
            continue;
        }
        if line.starts_with([' ', '\t']) {
            if let Some((_, v)) = current.last_mut() {
                v.push('\n');
                v.push_str(line.trim());
            }
            continue;
        }
        if let Some((k, v)) = line.split_once(':') {
            current.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

fn field<'a>(p: &'a [(String, String)], name: &str) -> Option<&'a str> {
    p.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// dpkg: `/var/lib/dpkg/status`, and distroless images' `status.d/*`.
fn read_dpkg(fs: &Rootfs, out: &mut Vec<Package>, problems: &mut Vec<String>) {
    let mut files = vec!["/var/lib/dpkg/status".to_string()];
    files.extend(
        fs.list("/var/lib/dpkg/status.d")
            .into_iter()
            .filter(|p| !p.ends_with(".md5sums")),
    );
    for file in files {
        let Some(text) = fs.read_text_noting(&file, problems) else {
            continue;
        };
        for p in paragraphs(&text) {
            let (Some(name), Some(version)) = (field(&p, "Package"), field(&p, "Version")) else {
                continue;
            };
            // Only installed packages (`install ok installed`); status.d
            // entries have no Status and are installed by construction.
            if let Some(status) = field(&p, "Status")
                && status.split_whitespace().nth(2) != Some("installed")
            {
                continue;
            }
            let source =
                field(&p, "Source").map(|s| s.split_whitespace().next().unwrap_or(s).to_string());
            out.push(Package {
                ecosystem: Ecosystem::Deb,
                name: name.to_string(),
                version: version.to_string(),
                arch: field(&p, "Architecture").map(str::to_string),
                source,
                licenses: deb_licenses(fs, name),
                supplier: field(&p, "Maintainer").map(str::to_string),
                found_in: file.clone(),
                includes: Vec::new(),
                application: false,
            });
        }
    }
}

/// A Debian package's licences, from `/usr/share/doc/NAME/copyright`:
/// each one it names, SPDX where it maps to it.
fn deb_licenses(fs: &Rootfs, name: &str) -> Vec<String> {
    let Ok(Some(text)) = fs.read_text(&format!("/usr/share/doc/{name}/copyright")) else {
        return Vec::new();
    };
    let mut out: Vec<String> = Vec::new();
    for n in license::debian_copyright(&text) {
        let id = license::spdx_id(&n).unwrap_or(n);
        if !out.contains(&id) {
            out.push(id);
        }
    }
    out
}

/// apk: `/lib/apk/db/installed`, paragraphs of `K:value` lines.
fn read_apk(fs: &Rootfs, out: &mut Vec<Package>, problems: &mut Vec<String>) {
    let file = "/lib/apk/db/installed";
    let Some(text) = fs.read_text_noting(file, problems) else {
        return;
    };
    for block in text.split("\n\n") {
        let mut pkg = Package {
            ecosystem: Ecosystem::Apk,
            name: String::new(),
            version: String::new(),
            arch: None,
            source: None,
            licenses: Vec::new(),
            supplier: None,
            found_in: file.to_string(),
            includes: Vec::new(),
            application: false,
        };
        for line in block.lines() {
            let Some((k, v)) = line.split_once(':') else {
                continue;
            };
            match k {
                "P" => pkg.name = v.to_string(),
                "V" => pkg.version = v.to_string(),
                "A" => pkg.arch = Some(v.to_string()),
                "o" => pkg.source = Some(v.to_string()),
                "L" => pkg.licenses = vec![license::normalize(v).unwrap_or_else(|| v.to_string())],
                "m" => pkg.supplier = Some(v.to_string()),
                _ => {}
            }
        }
        if !pkg.name.is_empty() && !pkg.version.is_empty() {
            out.push(pkg);
        }
    }
}

/// The rpm database directory in the image, if it has one.
pub fn rpm_db_dir(fs: &Rootfs) -> Option<String> {
    RPM_DB_DIRS.iter().find_map(|dir| {
        RPM_DB_FILES
            .iter()
            .any(|f| {
                fs.meta(&format!("{dir}/{f}"))
                    .is_some_and(|m| m.kind == FileKind::File)
            })
            .then(|| dir.to_string())
    })
}

/// Run the real `rpm` on the image's database (`--dbpath` on the unpacked
/// copy; nothing in the image is executed).
pub fn rpm_query(fs: &Rootfs, db: &str, args: &[&str]) -> Result<String, String> {
    let host = fs.extract_dir(db).map_err(|e| format!("{db}: {e}"))?;
    let out = Command::new("rpm")
        .arg("--dbpath")
        .arg(&host)
        .args(args)
        .output()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => format!(
                "the image has an rpm database ({db}) but the rpm command is not installed here (apt-get install rpm)"
            ),
            _ => format!("cannot run rpm: {e}"),
        })?;
    if !out.status.success() {
        return Err(format!(
            "rpm could not read {db}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn read_rpm(fs: &Rootfs, out: &mut Vec<Package>, problems: &mut Vec<String>) {
    let Some(db) = rpm_db_dir(fs) else {
        return;
    };
    let text = match rpm_query(
        fs,
        &db,
        &[
            "-qa",
            "--queryformat",
            "%{NAME}\\t%{EPOCHNUM}\\t%{VERSION}\\t%{RELEASE}\\t%{ARCH}\\t%{SOURCERPM}\\t%{LICENSE}\\t%{VENDOR}\\n",
        ],
    ) {
        Ok(t) => t,
        Err(e) => {
            problems.push(e);
            return;
        }
    };
    for line in text.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        let [name, epoch, version, release, arch, source, license, vendor] = f[..] else {
            continue;
        };
        if name == "gpg-pubkey" {
            continue;
        }
        let version = match epoch {
            "0" | "" => format!("{version}-{release}"),
            e => format!("{e}:{version}-{release}"),
        };
        let none = |s: &str| (s != "(none)" && !s.is_empty()).then(|| s.to_string());
        out.push(Package {
            ecosystem: Ecosystem::Rpm,
            name: name.to_string(),
            version,
            arch: none(arch),
            source: none(source),
            licenses: none(license)
                .map(|l| license::normalize(&l).unwrap_or(l))
                .into_iter()
                .collect(),
            supplier: none(vendor),
            found_in: db.clone(),
            includes: Vec::new(),
            application: false,
        });
    }
}

/// Python, npm and RubyGems metadata, found by path in the file list;
/// npm application roots too (a `package.json` outside `node_modules` and
/// the system's directories, under no other such root).
fn read_language_packages(fs: &Rootfs, out: &mut Vec<Package>, problems: &mut Vec<String>) {
    let mut roots: Vec<&str> = Vec::new();
    for (path, meta) in &fs.files {
        if meta.kind == FileKind::File
            && path.ends_with("/package.json")
            && !is_npm_package_root(path)
            && !is_system_npm_package(path)
            && !path.contains("/node_modules/")
            && !path.starts_with("/usr/")
            && let Some(dir) = path.strip_suffix("/package.json")
            // Sorted keys: an enclosing root comes first.
            && !roots
                .iter()
                .any(|r| dir.starts_with(r) && dir[r.len()..].starts_with('/'))
        {
            roots.push(dir);
        }
    }
    for root in roots {
        let path = format!("{root}/package.json");
        match npm(fs, &path) {
            Ok(Some(mut p)) => {
                p.application = true;
                out.push(p);
            }
            Ok(None) => {}
            Err(e) => problems.push(format!("{path}: {e}")),
        }
    }
    // Python applications: a `pyproject.toml` naming its project, outside
    // the system's directories and installed packages.
    for (path, meta) in &fs.files {
        if meta.kind == FileKind::File
            && path.ends_with("/pyproject.toml")
            && !path.starts_with("/usr/")
            && !path.contains("-packages/")
        {
            match python_project(fs, path) {
                Ok(Some(p)) => out.push(p),
                Ok(None) => {}
                Err(e) => problems.push(format!("{path}: {e}")),
            }
        }
    }
    for (path, meta) in &fs.files {
        if meta.kind != FileKind::File {
            continue;
        }
        let found = if path.ends_with(".dist-info/METADATA")
            || path.ends_with(".egg-info/PKG-INFO")
            || path.ends_with(".egg-info")
        {
            python(fs, path)
        } else if path.ends_with("/package.json")
            && (is_npm_package_root(path) || is_system_npm_package(path))
        {
            npm(fs, path)
        } else if path.ends_with(".gemspec") && is_gem_specification(path) {
            Ok(gem(path))
        } else {
            continue;
        };
        match found {
            Ok(Some(p)) => out.push(p),
            Ok(None) => {}
            Err(e) => problems.push(format!("{path}: {e}")),
        }
    }
}

fn python(fs: &Rootfs, path: &str) -> Result<Option<Package>, String> {
    let text = fs
        .read_text(path)
        .map_err(|e| e.to_string())?
        .unwrap_or_default();
    // The headers end at the first blank line; the description follows.
    let head = text.split("\n\n").next().unwrap_or("");
    let Some(p) = paragraphs(head).into_iter().next() else {
        return Ok(None);
    };
    let (Some(name), Some(version)) = (field(&p, "Name"), field(&p, "Version")) else {
        return Err("no Name or Version".into());
    };
    // PEP 639's expression first, then the trove classifiers, then the
    // free-text `License` field when it is (or maps to) SPDX — it often
    // holds the whole licence text or a copyright line instead.
    let classifiers: Vec<&str> = p
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("Classifier"))
        .filter_map(|(_, v)| license::python_classifier(v))
        .collect();
    let text = field(&p, "License")
        .filter(|l| !l.is_empty() && *l != "UNKNOWN")
        .map(|l| l.lines().next().unwrap_or(l).trim().to_string());
    let license = field(&p, "License-Expression")
        .map(|e| license::normalize(e).unwrap_or_else(|| e.to_string()))
        .or_else(|| {
            let mut ids: Vec<&str> = classifiers.clone();
            ids.dedup();
            (!ids.is_empty()).then(|| ids.join(" AND "))
        })
        .or_else(|| text.as_deref().and_then(license::normalize))
        .or(text);
    let supplier = field(&p, "Author")
        .or_else(|| field(&p, "Maintainer"))
        .filter(|a| !a.is_empty() && *a != "UNKNOWN")
        .or_else(|| field(&p, "Author-email").or_else(|| field(&p, "Maintainer-email")))
        .map(|a| a.lines().next().unwrap_or(a).trim().to_string());
    let mut pkg = language_package(Ecosystem::Pypi, name, version, license, path);
    pkg.supplier = supplier;
    Ok(Some(pkg))
}

/// A Python application from its `pyproject.toml` (`[project]`, PEP 621):
/// its name and static version, licence and first author.
fn python_project(fs: &Rootfs, path: &str) -> Result<Option<Package>, String> {
    let text = fs
        .read_text(path)
        .map_err(|e| e.to_string())?
        .unwrap_or_default();
    let doc: toml::Table = toml::from_str(&text).map_err(|e| format!("not TOML: {e}"))?;
    let Some(project) = doc.get("project").and_then(|p| p.as_table()) else {
        return Ok(None);
    };
    let (Some(name), Some(version)) = (
        project.get("name").and_then(|v| v.as_str()),
        project.get("version").and_then(|v| v.as_str()),
    ) else {
        return Ok(None); // a dynamic version: the build decides it
    };
    let declared = match project.get("license") {
        Some(toml::Value::String(s)) => Some(s.clone()),
        Some(toml::Value::Table(t)) => t.get("text").and_then(|v| v.as_str()).map(str::to_string),
        _ => None,
    };
    let licence = declared.map(|l| license::normalize(&l).unwrap_or(l));
    let mut pkg = language_package(Ecosystem::Pypi, name, version, licence, path);
    pkg.supplier = project
        .get("authors")
        .and_then(|a| a.as_array())
        .and_then(|a| a.first())
        .and_then(|a| a.get("name").and_then(|n| n.as_str()))
        .map(str::to_string);
    pkg.application = true;
    Ok(Some(pkg))
}

/// A language package: no architecture or source package.
fn language_package(
    ecosystem: Ecosystem,
    name: &str,
    version: &str,
    license: Option<String>,
    found_in: &str,
) -> Package {
    let licenses = license.into_iter().collect();
    Package {
        ecosystem,
        name: name.to_string(),
        version: version.to_string(),
        arch: None,
        source: None,
        licenses,
        supplier: None,
        found_in: found_in.to_string(),
        includes: Vec::new(),
        application: false,
    }
}

/// Debian's node modules: `/usr/share/nodejs/NAME/package.json` (or
/// `@SCOPE/NAME`), and the same under `/usr/lib/nodejs`.
fn is_system_npm_package(path: &str) -> bool {
    let Some(rest) = path
        .strip_prefix("/usr/share/nodejs/")
        .or_else(|| path.strip_prefix("/usr/lib/nodejs/"))
    else {
        return false;
    };
    let parts: Vec<&str> = rest.split('/').collect();
    match parts[..] {
        [name, "package.json"] => !name.starts_with(['@', '.']),
        [scope, _, "package.json"] => scope.starts_with('@'),
        _ => false,
    }
}

/// `…/node_modules/NAME/package.json` or `…/node_modules/@SCOPE/NAME/package.json`.
fn is_npm_package_root(path: &str) -> bool {
    let Some((_, rest)) = path.rsplit_once("/node_modules/") else {
        return false;
    };
    let parts: Vec<&str> = rest.split('/').collect();
    match parts[..] {
        [name, "package.json"] => !name.starts_with('@') && !name.starts_with('.'),
        [scope, _, "package.json"] => scope.starts_with('@'),
        _ => false,
    }
}

fn npm(fs: &Rootfs, path: &str) -> Result<Option<Package>, String> {
    let bytes = fs.read(path).map_err(|e| e.to_string())?;
    let json: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| format!("not JSON: {e}"))?;
    let (Some(name), Some(version)) = (json["name"].as_str(), json["version"].as_str()) else {
        return Ok(None);
    };
    let license = match &json["license"] {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Object(o) => o.get("type").and_then(|t| t.as_str()).map(str::to_string),
        _ => None,
    }
    .map(|l| license::normalize(&l).unwrap_or(l));
    let supplier = match &json["author"] {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Object(o) => o.get("name").and_then(|t| t.as_str()).map(str::to_string),
        _ => None,
    }
    .filter(|s| !s.trim().is_empty());
    let mut pkg = language_package(Ecosystem::Npm, name, version, license, path);
    pkg.supplier = supplier;
    Ok(Some(pkg))
}

/// `…/specifications/NAME-VERSION[-PLATFORM].gemspec` under a gem home.
fn is_gem_specification(path: &str) -> bool {
    let Some((dir, _)) = path.rsplit_once('/') else {
        return false;
    };
    dir.ends_with("/specifications") && (dir.contains("gems") || dir.contains("ruby"))
}

/// Name and version from the file name, as RubyGems writes it: the
/// version is the first dash-separated part starting with a digit; what
/// follows it is the platform.
fn gem(path: &str) -> Option<Package> {
    let file = path.rsplit('/').next()?.strip_suffix(".gemspec")?;
    let parts: Vec<&str> = file.split('-').collect();
    let at = (1..parts.len()).find(|&i| parts[i].starts_with(|c: char| c.is_ascii_digit()))?;
    let platform = parts[at + 1..].join("-");
    Some(Package {
        ecosystem: Ecosystem::Gem,
        name: parts[..at].join("-"),
        version: parts[at].to_string(),
        arch: (!platform.is_empty()).then_some(platform),
        source: None,
        licenses: Vec::new(),
        supplier: None,
        found_in: path.to_string(),
        includes: Vec::new(),
        application: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paragraphs_keep_continuations() {
        let p = paragraphs("Package: a\nDescription: x\n more\n\n\nPackage: b\n");
        assert_eq!(p.len(), 2);
        assert_eq!(field(&p[0], "description"), Some("x\nmore"));
        assert_eq!(field(&p[1], "Package"), Some("b"));
    }

    #[test]
    fn npm_and_gem_paths_are_recognised() {
        assert!(is_npm_package_root(
            "/app/node_modules/left-pad/package.json"
        ));
        assert!(is_npm_package_root(
            "/app/node_modules/@babel/core/package.json"
        ));
        assert!(is_npm_package_root(
            "/app/node_modules/a/node_modules/b/package.json"
        ));
        assert!(!is_npm_package_root("/app/node_modules/a/lib/package.json"));
        assert!(!is_npm_package_root("/app/package.json"));
        assert!(!is_npm_package_root(
            "/app/node_modules/@babel/package.json"
        ));
        let g =
            gem("/var/lib/gems/3.1.0/specifications/nokogiri-1.15.4-x86_64-linux.gemspec").unwrap();
        assert_eq!(
            (g.name.as_str(), g.version.as_str(), g.arch.as_deref()),
            ("nokogiri", "1.15.4", Some("x86_64-linux"))
        );
        let g = gem("/usr/lib/ruby/gems/3.1.0/specifications/net-http-0.3.0.gemspec").unwrap();
        assert_eq!((g.name.as_str(), g.version.as_str()), ("net-http", "0.3.0"));
        assert!(is_gem_specification(
            "/usr/share/rubygems-integration/all/specifications/rake-13.0.6.gemspec"
        ));
        assert!(!is_gem_specification("/srv/specifications/x-1.gemspec"));
    }
}
