//! The integrity scanner's rpm checks agree with the real `rpm -Va`: a
//! root is installed with rpm and then altered in every way rpm -V
//! notices; `rpm -Va --root` judges the directory, the scanner judges the
//! same tree read back from a tar stream (as it reads image layers).

mod common;

use common::{DEMO_SPEC, build_rpm, install_rpm};
use slipway_core::scan::Finding;
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
