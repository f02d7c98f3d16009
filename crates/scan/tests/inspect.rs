//! Images built with buildah, pushed to Debian's docker-registry, fetched
//! with skopeo and read without running them: layers and whiteouts, and
//! every kind of package database, one of them written by the real `rpm`.

use slipway_core::inventory::Ecosystem;
use slipway_scan::image::{self, FetchOptions};
use slipway_scan::rootfs::{FileKind, Rootfs};
use slipway_scan::{ScanError, inventory};
use slipway_test_support::{Registry, require_tools, run_ok};
use std::path::Path;

fn write(root: &Path, path: &str, content: &str) {
    let p = root.join(path);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, content).unwrap();
}

/// The host's dpkg paragraph of `package`, and its version.
fn host_paragraph(package: &str) -> (String, String) {
    let status = std::fs::read_to_string("/var/lib/dpkg/status").unwrap();
    let para = status
        .split("\n\n")
        .find(|p| p.starts_with(&format!("Package: {package}\n")))
        .unwrap_or_else(|| panic!("{package} is not installed here"))
        .to_string();
    let version = para
        .lines()
        .find_map(|l| l.strip_prefix("Version: "))
        .unwrap()
        .to_string();
    (para, version)
}

/// Build a noarch rpm with rpmbuild and install it into `root` with the
/// real rpm, which writes the database there.
fn install_rpm(work: &Path, root: &Path) {
    let spec = work.join("demo.spec");
    std::fs::write(
        &spec,
        "Name: slipway-demo\nVersion: 1.2\nRelease: 3\nEpoch: 1\nSummary: demo\nLicense: MIT\nBuildArch: noarch\n%description\ndemo\n%install\nmkdir -p %{buildroot}/usr/share/slipway-demo\necho hello > %{buildroot}/usr/share/slipway-demo/hello\n%files\n/usr/share/slipway-demo/hello\n",
    )
    .unwrap();
    let top = work.join("rpmbuild");
    run_ok(
        "rpmbuild",
        &[
            "--quiet",
            "--define",
            &format!("_topdir {}", top.display()),
            "-bb",
            &spec.display().to_string(),
        ],
    );
    let rpm = top.join("RPMS/noarch/slipway-demo-1.2-3.noarch.rpm");
    run_ok(
        "rpm",
        &[
            "--root",
            &root.display().to_string(),
            "--dbpath",
            "/var/lib/rpm",
            "-i",
            "--nodeps",
            "--ignoreos",
            &rpm.display().to_string(),
        ],
    );
}

#[test]
fn an_image_is_unpacked_with_its_whiteouts_and_its_packages_listed() {
    require_tools();
    let registry = Registry::start();
    let base = registry.push_base_image();
    let ctx = tempfile::tempdir().unwrap();
    let root = ctx.path().join("rootfs");
    let (bash, bash_version) = host_paragraph("bash");
    let (sed, sed_version) = host_paragraph("sed");
    write(
        &root,
        "var/lib/dpkg/status",
        &format!(
            "{bash}\n\nPackage: removed-pkg\nStatus: deinstall ok config-files\nVersion: 1.0\nArchitecture: amd64\n\n{sed}\n"
        ),
    );
    write(
        &root,
        "lib/apk/db/installed",
        "C:Q1abc=\nP:musl\nV:1.2.4-r2\nA:x86_64\no:musl\nL:MIT\n\nP:busybox\nV:1.36.1-r5\nA:x86_64\nL:GPL-2.0-only\n",
    );
    write(
        &root,
        "usr/lib/python3/dist-packages/requests-2.31.0.dist-info/METADATA",
        "Metadata-Version: 2.1\nName: requests\nVersion: 2.31.0\nLicense: Apache 2.0\n\nName: not-a-header\n",
    );
    write(
        &root,
        "usr/local/lib/python3.11/site-packages/six-1.16.0.egg-info/PKG-INFO",
        "Metadata-Version: 1.2\nName: six\nVersion: 1.16.0\nLicense: MIT\n",
    );
    write(
        &root,
        "app/node_modules/left-pad/package.json",
        r#"{"name":"left-pad","version":"1.3.0","license":"WTFPL"}"#,
    );
    write(
        &root,
        "app/node_modules/@babel/core/package.json",
        r#"{"name":"@babel/core","version":"7.24.0","license":"MIT"}"#,
    );
    write(
        &root,
        "app/node_modules/@babel/core/lib/package.json",
        r#"{"type":"commonjs"}"#,
    );
    write(
        &root,
        "app/node_modules/ms/package.json",
        r#"{"name":"ms","version":"2.1.3","license":{"type":"MIT"}}"#,
    );
    write(
        &root,
        "var/lib/gems/3.1.0/specifications/rake-13.0.6.gemspec",
        "# -*- encoding: utf-8 -*-\n",
    );
    write(&root, "etc/os-release", "ID=debian\nVERSION_ID=\"12\"\n");
    write(&root, "etc/doomed", "to be deleted\n");
    write(&root, "etc/changed", "v1\n");
    install_rpm(ctx.path(), &root);
    let containerfile = format!(
        "FROM {base}\nCOPY rootfs/ /\nRUN rm /etc/doomed && echo v2 > /etc/changed && rm -r /app/node_modules/left-pad\n"
    );
    let reference = registry.build_image("scan/inventory:1", &containerfile, ctx.path());

    let work = tempfile::tempdir().unwrap();
    let opts = FetchOptions::insecure();
    let img = image::fetch(&reference, &work.path().join("oci"), &opts).unwrap();
    assert_eq!(img.layers.len(), 3, "base, COPY and RUN layers");
    assert_eq!(img.user(), "");
    let fs = Rootfs::unpack(&work.path().join("root"), &img.layers).unwrap();
    assert!(fs.notes.refused.is_empty(), "{:?}", fs.notes.refused);
    // The RUN layer's whiteouts and changes.
    assert!(fs.meta("/etc/doomed").is_none());
    assert_eq!(fs.read_text("/etc/doomed").unwrap(), None);
    assert_eq!(
        fs.read_text("/etc/changed").unwrap().as_deref(),
        Some("v2\n")
    );
    assert!(fs.meta("/app/node_modules/left-pad/package.json").is_none());
    // The base layer: busybox's applets are symlinks.
    assert_eq!(fs.meta("/bin/sh").unwrap().kind, FileKind::Symlink);
    assert_eq!(fs.meta("/bin/busybox").unwrap().mode & 0o111, 0o111);
    assert_eq!(fs.meta("/tmp").unwrap().mode, 0o1777);

    let report = inventory::read(&fs);
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    let os = report.inventory.os.clone().unwrap();
    assert_eq!(
        (os.id.as_str(), os.version_id.as_deref()),
        ("debian", Some("12"))
    );
    let got: Vec<(Ecosystem, &str, &str, Option<&str>)> = report
        .inventory
        .packages
        .iter()
        .map(|p| {
            (
                p.ecosystem,
                p.name.as_str(),
                p.version.as_str(),
                p.license.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (Ecosystem::Deb, "bash", bash_version.as_str(), None),
            (Ecosystem::Deb, "sed", sed_version.as_str(), None),
            (Ecosystem::Rpm, "slipway-demo", "1:1.2-3", Some("MIT")),
            (Ecosystem::Apk, "busybox", "1.36.1-r5", Some("GPL-2.0-only")),
            (Ecosystem::Apk, "musl", "1.2.4-r2", Some("MIT")),
            (Ecosystem::Pypi, "requests", "2.31.0", Some("Apache 2.0")),
            (Ecosystem::Pypi, "six", "1.16.0", Some("MIT")),
            (Ecosystem::Npm, "@babel/core", "7.24.0", Some("MIT")),
            (Ecosystem::Npm, "ms", "2.1.3", Some("MIT")),
            (Ecosystem::Gem, "rake", "13.0.6", None),
        ]
    );
    let rpm = report
        .inventory
        .packages
        .iter()
        .find(|p| p.ecosystem == Ecosystem::Rpm)
        .unwrap();
    assert_eq!(rpm.arch.as_deref(), Some("noarch"));
    assert_eq!(rpm.source.as_deref(), Some("slipway-demo-1.2-3.src.rpm"));
    assert_eq!(rpm.found_in, "/var/lib/rpm");
    assert_eq!(
        rpm.purl(report.inventory.os.as_ref()),
        "pkg:rpm/debian/slipway-demo@1.2-3?arch=noarch&distro=debian-12&epoch=1"
    );
}

#[test]
fn a_missing_image_is_reported_absent() {
    require_tools();
    let registry = Registry::start();
    let work = tempfile::tempdir().unwrap();
    let reference = format!("{}/scan/never-pushed:1", registry.host());
    match image::fetch(
        &reference,
        &work.path().join("oci"),
        &FetchOptions::insecure(),
    ) {
        Err(ScanError::Absent { reference: r, .. }) => assert_eq!(r, reference),
        other => panic!("expected Absent, got {other:?}"),
    }
}
