//! Which files an OS package installed, so that a language package shipped
//! inside one (Debian's `python3-pip` is pip; its `node-*` packages are npm
//! modules under `/usr/share/nodejs`) is listed once, with the package
//! that installed it, and not again on its own. dpkg's `info/*.list` and
//! apk's `F:`/`R:` lines say which package owns a file.

use crate::rootfs::Rootfs;
use slipway_core::scan::inventory::{Ecosystem, OsRelease, Package};
use std::collections::HashMap;

/// The metadata files language packages are found by, whose owner matters.
fn is_metadata(path: &str) -> bool {
    path.ends_with("/METADATA")
        || path.ends_with("/PKG-INFO")
        || path.ends_with(".egg-info")
        || path.ends_with("/package.json")
        || path.ends_with(".gemspec")
}

/// Metadata file (resolved image path) → the OS package that installed it.
pub fn metadata_owners(fs: &Rootfs) -> HashMap<String, (Ecosystem, String)> {
    let mut owners = HashMap::new();
    let mut own = |path: &str, eco: Ecosystem, pkg: &str| {
        if is_metadata(path)
            && let Ok(resolved) = fs.resolve(path, true)
        {
            owners.insert(resolved, (eco, pkg.to_string()));
        }
    };
    for list in fs.list("/var/lib/dpkg/info") {
        let Some(name) = list.strip_suffix(".list") else {
            continue;
        };
        let pkg = name.rsplit('/').next().unwrap_or(name);
        let pkg = pkg.split(':').next().unwrap_or(pkg);
        if let Ok(Some(text)) = fs.read_text(&list) {
            for path in text.lines() {
                own(path.trim(), Ecosystem::Deb, pkg);
            }
        }
    }
    if let Ok(Some(text)) = fs.read_text("/lib/apk/db/installed") {
        for block in text.split("\n\n") {
            let (mut pkg, mut dir) = (String::new(), String::new());
            for line in block.lines() {
                match line.split_once(':') {
                    Some(("P", v)) => pkg = v.to_string(),
                    Some(("F", v)) => dir = v.to_string(),
                    Some(("R", v)) if !pkg.is_empty() => {
                        own(&format!("/{dir}/{v}"), Ecosystem::Apk, &pkg);
                    }
                    _ => {}
                }
            }
        }
    }
    owners
}

/// Fold the language packages an OS package installed into it (their
/// package URLs in its `includes`).
pub fn fold(packages: Vec<Package>, fs: &Rootfs, os: Option<&OsRelease>) -> Vec<Package> {
    let owners = metadata_owners(fs);
    let (mut system, language): (Vec<Package>, Vec<Package>) =
        packages.into_iter().partition(|p| p.ecosystem.is_system());
    let mut kept = Vec::new();
    for p in language {
        let owner = fs
            .resolve(&p.found_in, true)
            .ok()
            .and_then(|r| owners.get(&r));
        match owner.and_then(|(eco, name)| {
            system
                .iter_mut()
                .find(|s| s.ecosystem == *eco && &s.name == name)
        }) {
            Some(os_package) => {
                let purl = p.purl(os);
                if !os_package.includes.contains(&purl) {
                    os_package.includes.push(purl);
                }
            }
            None => kept.push(p),
        }
    }
    for s in &mut system {
        s.includes.sort();
    }
    system.extend(kept);
    system
}

#[cfg(test)]
mod tests {
    use crate::rootfs::Rootfs;
    use slipway_core::scan::inventory::Ecosystem;

    fn layer(dir: &std::path::Path, files: &[(&str, &str)]) -> std::path::PathBuf {
        let path = dir.join("layer.tar");
        std::fs::write(&path, crate::testing::tar_of(files)).unwrap();
        path
    }

    #[test]
    fn language_packages_an_os_package_installed_are_listed_with_it() {
        let t = tempfile::tempdir().unwrap();
        let pip_meta = "usr/lib/python3/dist-packages/pip-23.0.1.dist-info/METADATA";
        let l = layer(
            t.path(),
            &[
                ("etc/os-release", "ID=debian\nVERSION_ID=\"12\"\n"),
                ("etc/debian_version", "12.15\n"),
                (
                    "var/lib/dpkg/status",
                    "Package: python3-pip\nStatus: install ok installed\nVersion: 23.0.1+dfsg-1\nArchitecture: all\nMaintainer: Debian Python Team <team+python@tracker.debian.org>\n\nPackage: node-ms\nStatus: install ok installed\nVersion: 2.1.3+~cs0.7.31-3\nArchitecture: all\n",
                ),
                (
                    "var/lib/dpkg/info/python3-pip.list",
                    &format!("/.\n/usr\n/{pip_meta}\n"),
                ),
                (
                    "var/lib/dpkg/info/node-ms.list",
                    "/usr/share/nodejs/ms/package.json\n",
                ),
                (
                    pip_meta,
                    "Metadata-Version: 2.1\nName: pip\nVersion: 23.0.1\nLicense: MIT\n",
                ),
                (
                    "usr/share/nodejs/ms/package.json",
                    r#"{"name":"ms","version":"2.1.3"}"#,
                ),
                (
                    "opt/app/lib/site-packages/six-1.16.0.dist-info/METADATA",
                    "Name: six\nVersion: 1.16.0\n",
                ),
                (
                    "opt/web/package.json",
                    r#"{"name":"web","version":"1.0.0","license":"MIT"}"#,
                ),
                (
                    "opt/web/node_modules/ms/package.json",
                    r#"{"name":"ms","version":"2.1.3"}"#,
                ),
                (
                    "opt/web/test/fixture/package.json",
                    r#"{"name":"fixture","version":"0.0.1"}"#,
                ),
                (
                    "srv/api/pyproject.toml",
                    "[project]\nname = \"api\"\nversion = \"0.4.0\"\nlicense = \"Apache 2.0\"\nauthors = [{name = \"Team API\"}]\n",
                ),
            ],
        );
        let fs = Rootfs::unpack(&t.path().join("scratch"), &[l]).unwrap();
        let inv = crate::inventory::read(&fs).inventory;
        assert_eq!(
            inv.os.as_ref().unwrap().version_id.as_deref(),
            Some("12.15")
        );
        let got: Vec<(Ecosystem, &str, bool)> = inv
            .packages
            .iter()
            .map(|p| (p.ecosystem, p.name.as_str(), p.application))
            .collect();
        assert_eq!(
            got,
            [
                (Ecosystem::Deb, "node-ms", false),
                (Ecosystem::Deb, "python3-pip", false),
                (Ecosystem::Pypi, "api", true),
                (Ecosystem::Pypi, "six", false),
                (Ecosystem::Npm, "ms", false),
                (Ecosystem::Npm, "web", true),
            ]
        );
        let pip = &inv.packages[1];
        assert_eq!(pip.includes, ["pkg:pypi/pip@23.0.1"]);
        assert_eq!(
            pip.supplier.as_deref(),
            Some("Debian Python Team <team+python@tracker.debian.org>")
        );
        assert_eq!(inv.packages[0].includes, ["pkg:npm/ms@2.1.3"]);
        let api = &inv.packages[2];
        assert_eq!(
            (api.licenses.as_slice(), api.supplier.as_deref()),
            (&["Apache-2.0".to_string()][..], Some("Team API"))
        );
        // Every package URL once.
        let mut purls: Vec<String> = inv
            .packages
            .iter()
            .map(|p| p.purl(inv.os.as_ref()))
            .collect();
        purls.extend(inv.packages.iter().flat_map(|p| p.includes.clone()));
        let n = purls.len();
        purls.sort();
        purls.dedup();
        assert_eq!(
            purls.len(),
            n - 1,
            "ms@2.1.3 is both Debian's and the app's"
        );
    }
}
