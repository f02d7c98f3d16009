//! Images built with buildah, pushed to Debian's docker-registry, fetched
//! with skopeo and read without running them: layers and whiteouts, and
//! every kind of package database, one of them written by the real `rpm`.

mod common;

use common::{DEMO_SPEC, build_rpm, install_rpm, write};
use slipway_test_support::host_paragraph;

use slipway_core::scan::inventory::Ecosystem;
use slipway_core::scan::{
    Finding, LanguageIndices, PackageRepository, ScanOutcome, ScanPolicy, Scanner,
};
use slipway_scan::image::{self, FetchOptions};
use slipway_scan::rootfs::{FileKind, Rootfs};
use slipway_scan::{ScanError, inventory};
use slipway_test_support::{Registry, require_tools};

#[test]
fn an_image_is_unpacked_read_and_scanned() {
    require_tools();
    let registry = Registry::start();
    let base = registry.push_base_image();
    let ctx = tempfile::tempdir().unwrap();
    let root = ctx.path().join("rootfs");
    let (bash, bash_version) = host_paragraph("bash");
    let (sed, sed_version) = host_paragraph("sed");
    let (ncurses, ncurses_version) = host_paragraph("ncurses-base");
    write(
        &root,
        "var/lib/dpkg/status",
        &format!(
            "{bash}\n\nPackage: removed-pkg\nStatus: deinstall ok config-files\nVersion: 1.0\nArchitecture: amd64\n\n{sed}\n\n{ncurses}\n"
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
    install_rpm(&root, &build_rpm(ctx.path(), "slipway-demo", DEMO_SPEC));
    // ncurses-base as dpkg installed it on this host: its md5sums and files.
    let terminfo = common::copy_host_package(&root, "ncurses-base");
    assert!(terminfo.contains(&"/lib/terminfo/a/ansi".to_string()));
    assert!(terminfo.contains(&"/lib/terminfo/E/Eterm".to_string()));
    // The RUN layer alters packaged files (and some the scanner skips: a
    // %config, a %doc); the labels ask for privileges; USER stays root.
    let containerfile = format!(
        "FROM {base}\n\
         LABEL RUN=\"podman run -d --privileged --net=host IMAGE\" \\\n  INSTALL=\"podman run --rm --cap-add=sys_admin -v /:/host IMAGE /install.sh\"\n\
         COPY rootfs/ /\n\
         RUN rm /etc/doomed && echo v2 > /etc/changed && rm -r /app/node_modules/left-pad \\\n\
         && echo tampered >> /lib/terminfo/a/ansi && rm /lib/terminfo/E/Eterm \\\n\
         && cd /usr/share/slipway-demo && echo changed! > hello && touch -d '2001-01-01 00:00:00' hello \\\n\
         && chmod 600 mode && chown 1000:1000 owner && rm gone && ln -sf other link \\\n\
         && echo edited > /etc/slipway-demo.conf && rm /usr/share/doc/slipway-demo/README\n"
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
    // Only what the analysers read is kept whole; the rest is described
    // with its digests.
    let changed = fs.regular("/etc/changed").unwrap();
    let want: [u8; 32] = <sha2::Sha256 as sha2::Digest>::digest(b"v2\n").into();
    assert_eq!((changed.sha256, changed.size), (Some(want), 3));
    assert_eq!(
        fs.read("/etc/changed").unwrap_err().kind(),
        std::io::ErrorKind::Unsupported
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
                p.licenses.first().map(String::as_str),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (Ecosystem::Deb, "bash", bash_version.as_str(), None),
            (
                Ecosystem::Deb,
                "ncurses-base",
                ncurses_version.as_str(),
                // Its DEP-5 copyright file names MIT/X11 first.
                Some("MIT")
            ),
            (Ecosystem::Deb, "sed", sed_version.as_str(), None),
            (Ecosystem::Rpm, "slipway-demo", "1:1.2-3", Some("MIT")),
            (Ecosystem::Apk, "busybox", "1.36.1-r5", Some("GPL-2.0-only")),
            (Ecosystem::Apk, "musl", "1.2.4-r2", Some("MIT")),
            (Ecosystem::Pypi, "requests", "2.31.0", Some("Apache-2.0")),
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

    // Repositories with newer versions: a Debian one made by
    // dpkg-scanpackages, an RPM one made by createrepo_c; and a simple
    // index and an npm registry served over HTTP.
    let repos = tempfile::tempdir().unwrap();
    let deb_dir = repos.path().join("debian");
    common::deb_repo(
        &deb_dir,
        &[
            ("ncurses-base", "9999.1", "all"),
            ("bash", "1.0-1", "amd64"),
            ("unrelated", "2.0", "all"),
        ],
    );
    let newer = DEMO_SPEC.replace("Release: 3", "Release: 4");
    let rpm_work = repos.path().join("rpmwork");
    std::fs::create_dir(&rpm_work).unwrap();
    common::rpm_repo(
        &repos.path().join("rpm"),
        &[build_rpm(&rpm_work, "slipway-demo", &newer)],
    );
    let web = repos.path().join("web");
    write(
        &web,
        "simple/requests/index.html",
        "<html><body><a href=\"/f/requests-2.31.0.tar.gz\">requests-2.31.0.tar.gz</a>\n<a href=\"/f/requests-2.32.3-py3-none-any.whl\">requests-2.32.3-py3-none-any.whl</a>\n<a href=\"/f/requests-2.33.0rc1.tar.gz\">requests-2.33.0rc1.tar.gz</a>\n<a href=\"/f/requests-2.34.0.tar.gz\" data-yanked=\"\">requests-2.34.0.tar.gz</a></body></html>",
    );
    write(
        &web,
        "simple/six/index.html",
        "<a href=\"/f/six-1.16.0.tar.gz\">six-1.16.0.tar.gz</a>",
    );
    write(
        &web,
        "npm/@babel/core",
        r#"{"name":"@babel/core","dist-tags":{"latest":"7.25.2","next":"8.0.0-alpha.1"}}"#,
    );
    write(
        &web,
        "npm/ms",
        r#"{"name":"ms","dist-tags":{"latest":"2.1.3"}}"#,
    );
    let http = slipway_test_support::StaticHttp::serve(&web);
    let policy = ScanPolicy {
        repositories: vec![
            PackageRepository {
                kind: Ecosystem::Deb,
                url: format!("file://{}", deb_dir.display()),
            },
            PackageRepository {
                kind: Ecosystem::Rpm,
                url: repos.path().join("rpm").display().to_string(),
            },
        ],
        indices: LanguageIndices {
            pypi: Some(format!("{}/simple", http.url())),
            npm: Some(format!("{}/npm", http.url())),
        },
        fail_on: vec![Scanner::Integrity],
        ..ScanPolicy::default()
    };
    let scanned = slipway_scan::scan_unpacked(&img, &fs, &policy);
    assert!(scanned.problems.is_empty(), "{:?}", scanned.problems);
    assert_eq!(scanned.scanners, Scanner::ALL);
    let update =
        |ecosystem, package: &str, installed: &str, available: &str, repository: String| {
            Finding::Update {
                ecosystem,
                package: package.into(),
                installed: installed.into(),
                available: available.into(),
                repository,
            }
        };
    let modified = |ecosystem, package: &str, path: &str, flags: &str| Finding::Modified {
        ecosystem,
        package: package.into(),
        path: path.into(),
        flags: flags.into(),
    };
    let missing = |ecosystem, package: &str, path: &str| Finding::Missing {
        ecosystem,
        package: package.into(),
        path: path.into(),
    };
    let capability = |origin: &str, request: &str| Finding::Capability {
        origin: origin.into(),
        request: request.into(),
    };
    let mut expected = vec![
        update(
            Ecosystem::Deb,
            "ncurses-base",
            &ncurses_version,
            "9999.1",
            format!("file://{}/Packages.gz", deb_dir.display()),
        ),
        update(
            Ecosystem::Rpm,
            "slipway-demo",
            "1:1.2-3",
            "1:1.2-4",
            repos.path().join("rpm").display().to_string(),
        ),
        update(
            Ecosystem::Pypi,
            "requests",
            "2.31.0",
            "2.32.3",
            format!("{}/simple", http.url()),
        ),
        update(
            Ecosystem::Npm,
            "@babel/core",
            "7.24.0",
            "7.25.2",
            format!("{}/npm", http.url()),
        ),
        modified(
            Ecosystem::Deb,
            "ncurses-base",
            "/lib/terminfo/a/ansi",
            "??5??????",
        ),
        missing(Ecosystem::Deb, "ncurses-base", "/lib/terminfo/E/Eterm"),
        modified(
            Ecosystem::Rpm,
            "slipway-demo",
            "/usr/share/slipway-demo/hello",
            "S.5....T.",
        ),
        modified(
            Ecosystem::Rpm,
            "slipway-demo",
            "/usr/share/slipway-demo/link",
            "....L....",
        ),
        modified(
            Ecosystem::Rpm,
            "slipway-demo",
            "/usr/share/slipway-demo/mode",
            ".M.......",
        ),
        modified(
            Ecosystem::Rpm,
            "slipway-demo",
            "/usr/share/slipway-demo/owner",
            ".....UG..",
        ),
        missing(
            Ecosystem::Rpm,
            "slipway-demo",
            "/usr/share/slipway-demo/gone",
        ),
        capability("label RUN", "--privileged"),
        capability("label RUN", "--net=host"),
        capability("label INSTALL", "--cap-add=SYS_ADMIN"),
        capability("config User", "user root"),
    ];
    expected.sort();
    assert_eq!(scanned.findings, expected);
    assert_eq!(
        scanned.outcome,
        ScanOutcome::Failed,
        "integrity findings fail this policy"
    );
    assert_eq!(scanned.failing(&policy.fail_on).count(), 7);
    assert_eq!(
        scanned.manifest_digest.as_deref(),
        Some(img.manifest_digest.as_str())
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
