//! The integrity scanner's rpm checks agree with the real `rpm -Va`: a
//! root is installed with rpm and then altered in every way rpm -V
//! notices; `rpm -Va --root` judges the directory, the scanner judges the
//! same tree read back from a tar stream (as it reads image layers).

mod common;

use common::{DEMO_SPEC, build_rpm, install_rpm};
use slipway_core::scan::Finding;
use slipway_core::scan::inventory::Ecosystem;
use slipway_scan::integrity;
use slipway_scan::rootfs::Rootfs;
use slipway_test_support::{require_tools, run_ok};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

/// `rpm -Va` over `root`, as (flags or "missing", path), leaving out the
/// config, doc, ghost, license and readme files the scanner skips.
fn rpm_verify(root: &Path) -> Vec<(String, String)> {
    let out = Command::new("rpm")
        .args(["--root", &root.display().to_string()])
        .args(["--dbpath", "/var/lib/rpm", "-Va", "--nodeps", "--noscripts"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines: Vec<(String, String)> = text
        .lines()
        .filter_map(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            match words[..] {
                [flags, path] => Some((flags.to_string(), path.to_string())),
                _ => None, // with an attribute marker: c, d, g, l, r
            }
        })
        .collect();
    lines.sort();
    lines
}

fn scanner_verify(root: &Path, work: &Path) -> Vec<(String, String)> {
    std::fs::create_dir_all(work).unwrap();
    let layer = work.join("layer.tar");
    let mut tar = tar::Builder::new(std::fs::File::create(&layer).unwrap());
    tar.follow_symlinks(false);
    tar.append_dir_all(".", root).unwrap();
    tar.finish().unwrap();
    drop(tar);
    let fs = Rootfs::unpack(&work.join("unpacked"), &[layer]).unwrap();
    let mut problems = Vec::new();
    let findings = integrity::check(&fs, &mut problems);
    assert!(problems.is_empty(), "{problems:?}");
    let mut lines: Vec<(String, String)> = findings
        .into_iter()
        .map(|f| match f {
            Finding::Modified { path, flags, .. } => (flags, path),
            Finding::Missing { path, .. } => ("missing".to_string(), path),
            other => panic!("not an integrity finding: {other:?}"),
        })
        .collect();
    lines.sort();
    lines
}

#[test]
fn rpm_findings_match_rpm_verify() {
    require_tools();
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("root");
    std::fs::create_dir(&root).unwrap();
    let rpm = build_rpm(work.path(), "slipway-demo", DEMO_SPEC);
    install_rpm(&root, &rpm);

    let untouched = scanner_verify(&root, &work.path().join("before"));
    assert_eq!(untouched, [], "a freshly installed package verifies clean");
    assert_eq!(rpm_verify(&root), []);

    let demo = root.join("usr/share/slipway-demo");
    std::fs::write(demo.join("hello"), "changed!\n").unwrap();
    // Install and change may fall in one second: give it a clearly new mtime.
    run_ok(
        "touch",
        &["-d", "@172800", &demo.join("hello").display().to_string()],
    );
    std::fs::set_permissions(demo.join("mode"), std::fs::Permissions::from_mode(0o600)).unwrap();
    std::os::unix::fs::chown(demo.join("owner"), Some(1000), Some(1000)).unwrap();
    std::fs::remove_file(demo.join("gone")).unwrap();
    run_ok(
        "touch",
        &["-d", "@86400", &demo.join("touched").display().to_string()],
    );
    std::fs::remove_file(demo.join("link")).unwrap();
    std::os::unix::fs::symlink("other", demo.join("link")).unwrap();
    std::fs::set_permissions(&demo, std::fs::Permissions::from_mode(0o700)).unwrap();
    // Skipped by both: a changed %config file, a removed %doc file.
    std::fs::write(root.join("etc/slipway-demo.conf"), "edited\n").unwrap();
    std::fs::remove_file(root.join("usr/share/doc/slipway-demo/README")).unwrap();

    let expected: Vec<(String, String)> = [
        (".M.......", "/usr/share/slipway-demo"),
        ("S.5....T.", "/usr/share/slipway-demo/hello"),
        ("....L....", "/usr/share/slipway-demo/link"),
        (".M.......", "/usr/share/slipway-demo/mode"),
        (".....UG..", "/usr/share/slipway-demo/owner"),
        (".......T.", "/usr/share/slipway-demo/touched"),
        ("missing", "/usr/share/slipway-demo/gone"),
    ]
    .iter()
    .map(|(f, p)| (f.to_string(), p.to_string()))
    .collect::<std::collections::BTreeSet<_>>()
    .into_iter()
    .collect();
    assert_eq!(rpm_verify(&root), expected, "what the real rpm -Va says");
    assert_eq!(
        scanner_verify(&root, &work.path().join("after")),
        expected,
        "the scanner agrees with rpm -Va"
    );
}

/// A directory as one tar layer (symlinks kept as symlinks).
fn layer_of(dir: &Path, to: &Path) -> std::path::PathBuf {
    let mut tar = tar::Builder::new(std::fs::File::create(to).unwrap());
    tar.follow_symlinks(false);
    tar.append_dir_all(".", dir).unwrap();
    tar.finish().unwrap();
    to.to_path_buf()
}

/// `dpkg --verify` of `package` over `root`, as (flags, path).
fn dpkg_verify(root: &Path, package: &str) -> Vec<(String, String)> {
    let out = Command::new("dpkg")
        .arg(format!("--root={}", root.display()))
        .args(["--verify", package])
        .output()
        .unwrap();
    let mut lines: Vec<(String, String)> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            match w[..] {
                [flags, path] => Some((flags.to_string(), path.to_string())),
                _ => None,
            }
        })
        .collect();
    lines.sort();
    lines
}

/// What a pip install's RECORD says has changed under `site`: the
/// check done with Python's own hashlib.
fn record_verify(site: &Path) -> Vec<String> {
    let script = r#"
import base64, csv, glob, hashlib, os, sys
site = sys.argv[1]
for record in glob.glob(os.path.join(site, "*.dist-info", "RECORD")):
    for row in csv.reader(open(record)):
        path, hash = row[0], row[1]
        if not hash.startswith("sha256=") or path.startswith("..") or "__pycache__" in path:
            continue
        full = os.path.join(site, path)
        got = base64.urlsafe_b64encode(hashlib.sha256(open(full, "rb").read()).digest()).rstrip(b"=").decode()
        if got != hash[len("sha256="):].rstrip("="):
            print(full)
"#;
    let out = run_ok("python3", &["-c", script, &site.display().to_string()]);
    let mut lines: Vec<String> = out.lines().map(str::to_string).collect();
    lines.sort();
    lines
}

#[test]
fn dpkg_and_pip_findings_match_dpkg_verify_and_pips_record() {
    require_tools();
    let work = tempfile::tempdir().unwrap();
    // The base layer: sed as dpkg installed it on this host, and `six`
    // installed by pip.
    let base = work.path().join("base");
    let files = common::copy_host_package(&base, "sed");
    let status = std::fs::read_to_string("/var/lib/dpkg/status").unwrap();
    let paragraph = status
        .split("\n\n")
        .find(|p| p.starts_with("Package: sed\n"))
        .unwrap();
    common::write(&base, "var/lib/dpkg/status", &format!("{paragraph}\n"));
    common::write(&base, "var/lib/dpkg/available", "");
    // dpkg --verify walks the package's file list.
    std::fs::copy(
        "/var/lib/dpkg/info/sed.list",
        base.join("var/lib/dpkg/info/sed.list"),
    )
    .unwrap();
    let site = base.join("opt/app/site-packages");
    run_ok(
        "python3",
        &[
            "-m",
            "pip",
            "install",
            "-q",
            "--no-compile",
            "--no-deps",
            "--target",
            &site.display().to_string(),
            "six",
        ],
    );
    let before = {
        let fs = Rootfs::unpack(
            &work.path().join("s0"),
            &[layer_of(&base, &work.path().join("l0.tar"))],
        )
        .unwrap();
        let mut problems = Vec::new();
        integrity::check(&fs, &mut problems)
    };
    assert_eq!(before, [], "as installed, everything verifies");

    // The next layer: /bin/sed replaced by a symlink, a setuid bit on a
    // packaged file, six.py edited.
    let upper = work.path().join("upper");
    let sed = files.iter().find(|f| f.ends_with("bin/sed")).unwrap();
    let chmodded = files
        .iter()
        .find(|f| f.contains("/locale/") && f.ends_with(".mo"))
        .unwrap();
    std::fs::create_dir_all(upper.join(sed.trim_start_matches('/')).parent().unwrap()).unwrap();
    common::write(&upper, "other", "not sed\n");
    std::os::unix::fs::symlink("/other", upper.join(sed.trim_start_matches('/'))).unwrap();
    let target = upper.join(chmodded.trim_start_matches('/'));
    std::fs::create_dir_all(target.parent().unwrap()).unwrap();
    std::fs::copy(base.join(chmodded.trim_start_matches('/')), &target).unwrap();
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o4755)).unwrap();
    let six = "opt/app/site-packages/six.py";
    let edited = std::fs::read_to_string(base.join(six)).unwrap() + "\n# edited\n";
    common::write(&upper, six, &edited);
    let fs = Rootfs::unpack(
        &work.path().join("s1"),
        &[
            layer_of(&base, &work.path().join("l0.tar")),
            layer_of(&upper, &work.path().join("l1.tar")),
        ],
    )
    .unwrap();
    let mut problems = Vec::new();
    let found = integrity::check(&fs, &mut problems);
    assert!(problems.is_empty(), "{problems:?}");

    // The same tree on disk, judged by dpkg and by pip's RECORD.
    let merged = work.path().join("merged");
    run_ok(
        "cp",
        &[
            "-a",
            &format!("{}/.", base.display()),
            &merged.display().to_string(),
        ],
    );
    run_ok(
        "cp",
        &[
            "-a",
            &format!("{}/.", upper.display()),
            &merged.display().to_string(),
        ],
    );
    let by_dpkg = dpkg_verify(&merged, "sed");
    assert_eq!(by_dpkg, [("?M???????".to_string(), sed.clone())]);
    let by_pip = record_verify(&merged.join("opt/app/site-packages"));
    assert_eq!(by_pip.len(), 1, "{by_pip:?}");

    let mut ours_dpkg = Vec::new();
    let mut ours_pip = Vec::new();
    let mut setuid = Vec::new();
    for f in found {
        match f {
            Finding::Modified {
                ecosystem: Ecosystem::Deb,
                flags,
                path,
                ..
            } => ours_dpkg.push((flags, path)),
            Finding::Modified {
                ecosystem: Ecosystem::Pypi,
                path,
                package,
                ..
            } => ours_pip.push((package, path)),
            Finding::Setuid {
                path, mode, was, ..
            } => setuid.push((path, mode, was)),
            other => panic!("unexpected: {other}"),
        }
    }
    ours_dpkg.sort();
    assert_eq!(ours_dpkg, by_dpkg);
    assert_eq!(
        ours_pip,
        [("six".to_string(), format!("/{six}"))],
        "pip's RECORD says {by_pip:?}"
    );
    assert!(by_pip[0].ends_with(six));
    // dpkg keeps no modes: the setuid bit is ours alone.
    assert_eq!(setuid, [(chmodded.clone(), 0o4755, 0o644)]);
}
