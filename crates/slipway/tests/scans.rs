//! Scanning end to end, with the real binary, buildah, Debian's
//! docker-registry and skopeo: every build's image is scanned before its
//! tags move; a config whose policy fails on a finding fails the build and
//! keeps `latest` where it was; `slipway scan` scans any image; scheduled
//! rescans run; a deleted image rescans as absent; bad input gets clear
//! errors.

use slipway_test_support::{GitRepo, Registry, Server, http, require_tools, stderr, stdout};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_slipway");

/// Start `config` and wait for its build to end.
fn build(server: &Server, config: &str) -> serde_json::Value {
    let out = server.cli(&["start", config, "-o", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let wave = serde_json::from_str::<serde_json::Value>(&stdout(&out)).unwrap()["wave"]
        .as_i64()
        .unwrap();
    let id = server.wait_until(
        &format!("a build of {config}"),
        Duration::from_secs(120),
        || {
            server
                .api("GET", &format!("/api/v1/waves/{wave}"), None)
                .json()["members"]
                .as_array()?
                .iter()
                .find(|m| m["config"] == config)?["build"]
                .as_i64()
        },
    );
    server.wait_final(id)
}

fn json_of(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_str(&stdout(out))
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", stdout(out), stderr(out)))
}

fn requests(scan: &serde_json::Value) -> Vec<String> {
    scan["report"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            format!(
                "{} {}",
                f["origin"].as_str().unwrap(),
                f["request"].as_str().unwrap()
            )
        })
        .collect()
}

#[test]
fn images_are_scanned_at_build_on_schedule_and_on_demand() {
    require_tools();
    let registry = Registry::start();
    let base = registry.push_base_image();
    let server = Server::start(std::path::Path::new(BIN), 1);
    // A dpkg database with one package, so that SBOMs list something.
    let (bash, _) = slipway_test_support::host_paragraph("bash");
    let repo = GitRepo::new(&[
        (
            "Dockerfile",
            &format!(
                "FROM {base}\nLABEL name=t/app version=1 component=app-container RUN=\"podman run -d --privileged IMAGE\"\nCOPY status /var/lib/dpkg/status\nCOPY os-release /etc/os-release\nRUN true\n"
            ),
        ),
        ("status", &format!("{bash}\n")),
        ("os-release", "ID=debian\nVERSION_ID=\"12\"\n"),
    ]);
    let url = repo.path().display();
    server.apply(
        &format!(
            "name: strict\nsource: {{ url: {url} }}\noutput: t/strict\nscan:\n  fail_on: [capabilities]\n---\nname: lenient\nsource: {{ url: {url} }}\noutput: t/lenient\nscan:\n  rescan: \"* * * * *\"\n"
        ),
    );
    let token = server.token();

    // A finding the policy fails on fails the build; latest never moves.
    let strict = build(&server, "strict");
    assert_eq!(strict["phase"], "Failed", "{strict}");
    let reason = strict["reason"].as_str().unwrap();
    assert!(
        reason.contains("fail_on: capabilities") && reason.contains("2 findings"),
        "{reason}"
    );
    let id = strict["id"].as_i64().unwrap();
    let out = server.cli(&["show", &id.to_string(), "--scan", "-o", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let scans = json_of(&out);
    assert_eq!(scans.as_array().unwrap().len(), 1, "{scans}");
    assert_eq!(scans[0]["reason"], "build");
    assert_eq!(scans[0]["report"]["outcome"], "failed");
    assert_eq!(
        requests(&scans[0]),
        ["config User user root", "label RUN --privileged"]
    );
    let latest = http(
        server.port,
        "GET",
        "/v2/t/strict/manifests/latest",
        Some(&token),
        None,
    );
    assert_eq!(
        latest.status, 404,
        "latest must not point at a failing image"
    );
    assert!(
        server
            .log(id)
            .contains("scan FAIL [capabilities] label RUN asks for --privileged"),
        "{}",
        server.log(id)
    );
    let stages: Vec<String> = strict["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["stage"].as_str().unwrap().to_string())
        .collect();
    assert!(stages.contains(&"scan".to_string()), "{stages:?}");

    // Report only (the default): the build completes with its findings kept.
    let lenient = build(&server, "lenient");
    assert_eq!(lenient["phase"], "Complete", "{lenient}");
    let lid = lenient["id"].as_i64().unwrap();
    let scans = json_of(&server.cli(&["show", &lid.to_string(), "--scan", "-o", "json"]));
    assert_eq!(scans[0]["report"]["outcome"], "passed");
    assert_eq!(scans[0]["report"]["findings"].as_array().unwrap().len(), 2);
    let out = server.cli(&["show", &lid.to_string(), "--scan"]);
    assert!(
        stdout(&out).contains("capabilities (2):"),
        "{}",
        stdout(&out)
    );

    // SBOMs of the image: kept with the build, attached as referrers of
    // the image manifest, found by oras-py and valid against the schemas.
    let out = server.cli(&["show", &lid.to_string(), "--sbom", "-o", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let sboms = json_of(&out);
    let formats: Vec<&str> = sboms
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["format"].as_str().unwrap())
        .collect();
    assert_eq!(formats, ["spdx", "cyclonedx"], "{sboms}");
    let digest = lenient["image"]["digest"].as_str().unwrap();
    for s in sboms.as_array().unwrap() {
        assert_eq!(s["packages"], 1, "{s}");
        assert_eq!(
            s["subject"],
            format!("{}/t/lenient@{digest}", server.host()),
            "{s}"
        );
        assert!(s["reference"].as_str().is_some(), "{s}");
    }
    let found = slipway_test_support::discover_sboms(
        &server.host(),
        "t/lenient",
        digest,
        Some(("ci", &token)),
    );
    assert_eq!(found["api"], "referrers", "{found}");
    let mut discovered: Vec<(String, i64)> = found["referrers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["artifactType"].as_str().unwrap().to_string(),
                r["packages"].as_i64().unwrap(),
            )
        })
        .collect();
    discovered.sort();
    // SPDX lists the image, the OS and bash; CycloneDX the OS and bash.
    assert_eq!(
        discovered,
        [
            ("application/spdx+json".to_string(), 3),
            ("application/vnd.cyclonedx+json".to_string(), 2)
        ]
    );
    let out = server.cli(&["show", &lid.to_string(), "--sbom"]);
    assert!(
        stdout(&out).contains("SPDX 2.3") && stdout(&out).contains("CycloneDX 1.5"),
        "{}",
        stdout(&out)
    );
    let doc = json_of(&server.cli(&["show", &lid.to_string(), "--sbom", "spdx"]));
    assert_eq!(doc["spdxVersion"], "SPDX-2.3");
    assert_eq!(doc["packages"][2]["name"], "bash");
    let out = server.cli(&["show", &lid.to_string(), "--sbom", "xml"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("use spdx or cyclonedx"),
        "{}",
        stderr(&out)
    );
    let missing = server.api("GET", "/api/v1/builds/9999/sboms/spdx", None);
    assert_eq!(missing.status, 404, "{}", missing.body);

    // Any image, on demand; --fail-on makes findings an exit status.
    let reference = format!("{}/t/lenient:latest", server.host());
    let out = server.cli(&["scan", &reference]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("label RUN asks for --privileged"),
        "{}",
        stdout(&out)
    );
    let out = server.cli(&[
        "scan",
        "t/lenient:latest",
        "--fail-on",
        "capabilities",
        "-o",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let manual = json_of(&out);
    assert_eq!(manual["reason"], "manual");
    assert_eq!(manual["report"]["outcome"], "failed");
    assert_eq!(manual["report"]["reference"], reference.as_str());

    // The schedule (every minute here) rescans the latest image.
    let rescan = server.wait_until("a scheduled rescan", Duration::from_secs(150), || {
        let out = server.cli(&["scans", "--config", "lenient", "-o", "json"]);
        json_of(&out)
            .as_array()?
            .iter()
            .find(|s| s["reason"] == "rescan")
            .cloned()
    });
    // The list has summaries.
    assert_eq!(rescan["outcome"], "passed", "{rescan}");
    assert_eq!(rescan["build"], lid);

    // An image deleted from its registry rescans as absent. A build's
    // image is locked (its unique and primary tags never move), so this is
    // an image lost behind Slipway's back: its locks dropped in the
    // database first, as restoring an older backup of it would.
    let db = server.data_dir().join("slipway.db");
    slipway_test_support::run_ok(
        "python3",
        &[
            "-c",
            "import sqlite3,sys; c=sqlite3.connect(sys.argv[1], timeout=30); c.execute('DELETE FROM registry_locked_tags'); c.commit()",
            &db.display().to_string(),
        ],
    );
    let del = http(
        server.port,
        "DELETE",
        &format!("/v2/t/lenient/manifests/{digest}"),
        Some(&token),
        None,
    );
    assert_eq!(del.status, 202, "{}", del.body);
    let out = server.cli(&["rescan", "lenient", "-o", "json"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let absent = json_of(&out);
    assert_eq!(absent["report"]["outcome"], "absent", "{absent}");
    assert!(
        absent["report"]["problems"][0]
            .as_str()
            .unwrap()
            .contains("does not exist"),
        "{absent}"
    );
    let out = server.cli(&["rescan", "lenient"]);
    assert!(stdout(&out).contains(": absent"), "{}", stdout(&out));
    let events = server.api("GET", "/api/v1/configs/lenient", None).json();
    assert!(events.to_string().contains("absent"), "{events}");

    // Bad input: clear errors, stable codes.
    let r = server.api("GET", "/api/v1/scans/999", None);
    assert_eq!(
        (r.status, r.json()["code"].as_str()),
        (404, Some("NOT_FOUND"))
    );
    let r = server.api("POST", "/api/v1/scans", Some("{"));
    assert_eq!(
        (r.status, r.json()["code"].as_str()),
        (400, Some("INVALID_REQUEST"))
    );
    let r = server.api(
        "POST",
        "/api/v1/scans",
        Some(r#"{"reference":"t/lenient:latest","policy":{"scanners":["language-updates"]}}"#),
    );
    assert_eq!(r.status, 400);
    assert!(
        r.json()["message"].as_str().unwrap().contains("indices"),
        "{}",
        r.body
    );
    let r = server.api(
        "POST",
        "/api/v1/scans",
        Some(r#"{"reference":"Not A Ref"}"#),
    );
    assert_eq!(r.status, 400, "{}", r.body);
    let r = server.api("POST", "/api/v1/configs/nope/rescan", Some("{}"));
    assert_eq!(r.status, 404);
    let out = server.cli(&["scan", "t/x:1", "--repo", "apk=http://x"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("deb or rpm"), "{}", stderr(&out));
    let out = server.cli(&["scan", "t/never-pushed:1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("absent"), "{}", stdout(&out));
}

const LABELS: &str = "LABEL name=t/app version=1 component=app-container";

/// Package-repository tracking: a local Debian repository whose `Packages`
/// gets a newer bash rebuilds the image that has bash installed and its
/// child once each, in one wave; an image without bash is not rebuilt.
#[test]
fn a_newer_package_in_a_tracked_repository_rebuilds_the_images_that_have_it() {
    require_tools();
    let registry = Registry::start();
    let base = registry.push_base_image();
    let server = Server::start_with_config(
        std::path::Path::new(BIN),
        2,
        Some("rebuild_debounce_seconds: 2\nregistry_anonymous_pull: true\n"),
    );
    let host = server.host();
    let (bash, bash_version) = slipway_test_support::host_paragraph("bash");
    let (sed, sed_version) = slipway_test_support::host_paragraph("sed");
    let debian = tempfile::tempdir().unwrap();
    let packages = debian.path().join("Packages");
    let index = |bash_version: &str| {
        format!(
            "Package: bash\nVersion: {bash_version}\nArchitecture: amd64\n\nPackage: sed\nVersion: {sed_version}\nArchitecture: amd64\n"
        )
    };
    std::fs::write(&packages, index(&bash_version)).unwrap();

    let image = |from: &str, status: &str| {
        GitRepo::new(&[
            (
                "Dockerfile",
                &format!("FROM {from}\n{LABELS}\nCOPY status /var/lib/dpkg/status\nRUN true\n"),
            ),
            ("status", status),
        ])
    };
    let with_bash = image(&base, &format!("{bash}\n"));
    let child = GitRepo::new(&[(
        "Dockerfile",
        &format!("FROM {host}/t/with-bash:latest\n{LABELS}\nRUN echo child > /child\n"),
    )]);
    let without_bash = image(&base, &format!("{sed}\n"));
    let tracking = format!(
        "scan:\n  repositories: [{{ kind: deb, url: \"file://{}\" }}]\ntriggers:\n  packages: 30s\n",
        packages.display()
    );
    let config = |name: &str, repo: &GitRepo| {
        format!(
            "---\nname: {name}\nsource: {{ url: {} }}\noutput: t/{name}\n{tracking}",
            repo.path().display()
        )
    };
    server.apply(
        &[
            config("with-bash", &with_bash),
            config("child", &child),
            config("without-bash", &without_bash),
        ]
        .concat(),
    );
    let builds_of = |config: &str| -> Vec<serde_json::Value> {
        // The list has summaries; each build's detail has the rest.
        server
            .api(
                "GET",
                &format!("/api/v1/builds?limit=200&config={config}"),
                None,
            )
            .json()
            .as_array()
            .unwrap()
            .iter()
            .map(|b| server.build_json(b["id"].as_i64().unwrap()))
            .collect()
    };
    let complete = |config: &str, n: usize| {
        server.wait_until(
            &format!("{n} complete builds of {config}"),
            Duration::from_secs(240),
            || {
                let b = builds_of(config);
                for x in &b {
                    assert!(
                        matches!(
                            x["phase"].as_str(),
                            Some("Complete" | "New" | "Pending" | "Running")
                        ),
                        "{x}"
                    );
                }
                (b.len() == n && b.iter().all(|x| x["phase"] == "Complete")).then_some(b)
            },
        )
    };
    // First builds: with-bash (and its child, in the same wave), without-bash.
    for name in ["with-bash", "without-bash"] {
        let out = server.cli(&["start", name]);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    complete("with-bash", 1);
    complete("child", 1);
    complete("without-bash", 1);
    // The repository's first read is the baseline: nothing rebuilds.
    server.wait_until("the baseline read", Duration::from_secs(60), || {
        let c = server.api("GET", "/api/v1/configs/with-bash", None).json();
        c.to_string().contains("tracking packages in").then_some(())
    });

    // A newer bash (epoch 9 sorts after any version) appears.
    let newer = format!("9:{bash_version}");
    std::fs::write(&packages, index(&newer)).unwrap();
    let rebuilt = complete("with-bash", 2);
    let children = complete("child", 2);
    let trigger = rebuilt
        .iter()
        .map(|b| &b["spec"]["trigger"])
        .find(|t| t["kind"] == "packages")
        .unwrap_or_else(|| panic!("no packages trigger: {rebuilt:?}"))
        .clone();
    assert_eq!(
        trigger["updates"],
        serde_json::json!([format!("bash {bash_version} -> {newer}")]),
        "{trigger}"
    );
    // One wave for the burst: the child's rebuild is in the parent's wave.
    let wave = |b: &[serde_json::Value]| {
        b.iter()
            .map(|x| x["spec"]["wave"].as_i64().unwrap())
            .max()
            .unwrap()
    };
    assert_eq!(wave(&rebuilt), wave(&children));

    // Another read of the unchanged repository triggers nothing more, and
    // the image without bash was never rebuilt.
    std::thread::sleep(Duration::from_secs(40));
    assert_eq!(builds_of("with-bash").len(), 2);
    assert_eq!(builds_of("child").len(), 2);
    assert_eq!(builds_of("without-bash").len(), 1);
}
