//! Worker clusters end to end: the real binary with a cluster file of local
//! clusters, real buildah, Debian's docker-registry, and skopeo to read what
//! was pushed. Placement is observed through the API only.

use slipway_test_support::{GitRepo, Registry, Server, require_tools, run_ok, stderr, stdout};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_slipway");

/// A server whose cluster file (in a directory the test keeps) is `yaml`.
fn server_with_clusters(yaml: &str) -> (Server, tempfile::TempDir) {
    require_tools();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("clusters.yaml");
    std::fs::write(&file, yaml).unwrap();
    let config = format!("clusters_file: {}\n", file.display());
    let server = Server::start_with_config(Path::new(BIN), 1, Some(&config));
    (server, dir)
}

fn clusters(server: &Server) -> Vec<serde_json::Value> {
    server
        .cli_json(&["clusters", "-o", "json"])
        .as_array()
        .unwrap()
        .clone()
}

/// The cluster each platform of a build was placed on, from its events:
/// "x86_64: placed on cluster big (1/3 active)" → (cluster, active, max).
fn placements(build: &serde_json::Value) -> Vec<(String, u32, u32)> {
    build["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| {
            let m = e["message"].as_str()?;
            let rest = m.split_once(": placed on cluster ")?.1;
            let (name, load) = rest.split_once(" (")?;
            let (active, max) = load.trim_end_matches(" active)").split_once('/')?;
            Some((name.to_string(), active.parse().ok()?, max.parse().ok()?))
        })
        .collect()
}

#[test]
fn placement_follows_least_load_and_never_exceeds_a_maximum() {
    let registry = Registry::start();
    let base = registry.push_base_image();
    // "big" first in the file, so ties go to it.
    let (server, _dir) = server_with_clusters(
        "clusters:\n  x86_64:\n  - name: big\n    max_concurrent_builds: 3\n  - name: small\n    max_concurrent_builds: 1\n",
    );
    let repo = GitRepo::new(&[(
        "Dockerfile",
        &format!(
            "FROM {base}\nLABEL name=test/app version=1.0 component=app-container\nRUN sleep 2\n"
        ),
    )]);
    let image = format!("{}/load:1", registry.host());
    // All 12 at once, from 12 threads.
    let mut ids: Vec<i64> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..12)
            .map(|_| scope.spawn(|| server.queue(&repo, &image, &[])))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    ids.sort_unstable();

    // Watch the clusters until every build has ended.
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut peak: HashMap<String, u32> = HashMap::new();
    let mut disabled_at_placements: Option<usize> = None;
    loop {
        for c in clusters(&server) {
            let (name, active, max) = (
                c["name"].as_str().unwrap().to_string(),
                c["active"].as_u64().unwrap() as u32,
                c["max_concurrent_builds"].as_u64().unwrap() as u32,
            );
            assert!(
                active <= max,
                "cluster {name} has {active} active builds, max {max}"
            );
            let p = peak.entry(name).or_default();
            *p = (*p).max(active);
        }
        let builds: Vec<serde_json::Value> = ids.iter().map(|id| server.build_json(*id)).collect();
        let on_small = builds
            .iter()
            .filter(|b| placements(b).iter().any(|p| p.0 == "small"))
            .count();
        // Once the first wave is placed (small is full), drain "small".
        if disabled_at_placements.is_none() && on_small >= 1 {
            let small_active = clusters(&server)
                .iter()
                .find(|c| c["name"] == "small")
                .map(|c| c["active"].as_u64().unwrap())
                .unwrap();
            if small_active == 1 {
                let out = server.cli(&["cluster", "disable", "small"]);
                assert!(out.status.success(), "{}", stderr(&out));
                assert!(
                    stdout(&out).contains("running will finish"),
                    "{}",
                    stdout(&out)
                );
                disabled_at_placements = Some(on_small);
                let small = clusters(&server)
                    .into_iter()
                    .find(|c| c["name"] == "small")
                    .unwrap();
                assert_eq!(small["enabled"], false);
                assert_eq!(small["enabled_in_file"], true);
            }
        }
        if builds.iter().all(|b| {
            matches!(
                b["phase"].as_str(),
                Some("Complete" | "Failed" | "Error" | "Cancelled")
            )
        }) {
            break;
        }
        assert!(Instant::now() < deadline, "builds did not finish");
        std::thread::sleep(Duration::from_millis(100));
    }

    let builds: Vec<serde_json::Value> = ids.iter().map(|id| server.build_json(*id)).collect();
    for b in &builds {
        assert_eq!(b["phase"], "Complete", "{b}");
    }
    // Builds are prepared concurrently, so they join the queue in any
    // order, and events keep whole seconds: the scheduler's log says the
    // placements in the order it made them.
    let log = server.server_log();
    let order: Vec<String> = log
        .lines()
        .filter_map(|l| {
            let rest = l.split_once(": placed on cluster ")?.1;
            Some(rest.split_once(" (worker build")?.0.to_string())
        })
        .collect();
    assert_eq!(order.len(), 12, "{log}");
    // The first wave, by the seed's rule: big 0/3 ties small 0/1 → big
    // (first in file); big 1/3 > small 0/1 → small; small full → big, big.
    assert_eq!(order[..4], ["big", "small", "big", "big"], "{log}");
    // Every placement's recorded load is within the maximum.
    for b in &builds {
        for (name, active, max) in placements(b) {
            assert!(active <= max, "{name}: {active}/{max}");
        }
    }
    assert_eq!(peak.get("big"), Some(&3), "big never ran 3 at once");
    assert_eq!(peak.get("small"), Some(&1));
    // After the drain, "small" got nothing new.
    let on_small = builds
        .iter()
        .filter(|b| placements(b).iter().any(|p| p.0 == "small"))
        .count();
    assert_eq!(
        Some(on_small),
        disabled_at_placements,
        "small got builds after it was disabled"
    );

    // A disabled cluster is back after `enable`.
    let out = server.cli(&["cluster", "enable", "small", "-o", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["enabled"], true);
    let out = server.cli(&["cluster", "disable", "nope"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("not in the cluster file"),
        "{}",
        stderr(&out)
    );
    // The table form.
    let out = server.cli(&["clusters"]);
    let table = stdout(&out);
    assert!(
        table.contains("ACTIVE/MAX") && table.contains("big") && table.contains("0/3"),
        "{table}"
    );
}

/// `FROM scratch` with a COPY runs no code from the image, so this machine
/// builds it for any platform.
fn scratch_repo() -> GitRepo {
    GitRepo::new(&[
        (
            "Dockerfile",
            "FROM scratch\nLABEL name=test/app version=1.0 component=app-container\nCOPY hello.txt /hello.txt\n",
        ),
        ("hello.txt", "hello from every platform\n"),
    ])
}

const TWO_PLATFORMS: &str = "clusters:\n  x86_64:\n  - name: amd\n    max_concurrent_builds: 2\n  aarch64:\n  - name: arm\n    max_concurrent_builds: 2\n";

#[test]
fn a_multi_platform_build_pushes_an_oci_index() {
    let registry = Registry::start();
    let (server, _dir) = server_with_clusters(TWO_PLATFORMS);
    let repo = scratch_repo();
    let image = format!("{}/multi:1", registry.host());
    let id = server.queue(
        &repo,
        &image,
        &["--platform", "x86_64", "--platform", "aarch64"],
    );
    let b = server.wait_final(id);
    assert_eq!(b["phase"], "Complete", "{b}\n{}", server.log(id));
    let workers = b["workers"].as_array().unwrap();
    assert_eq!(workers.len(), 2);
    let by_platform: BTreeMap<&str, &serde_json::Value> = workers
        .iter()
        .map(|w| (w["platform"].as_str().unwrap(), w))
        .collect();
    assert_eq!(by_platform["x86_64"]["cluster"], "amd");
    assert_eq!(by_platform["aarch64"]["cluster"], "arm");

    let raw = run_ok(
        "skopeo",
        &[
            "inspect",
            "--raw",
            "--tls-verify=false",
            &format!("docker://{image}"),
        ],
    );
    let index: serde_json::Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(
        index["mediaType"], "application/vnd.oci.image.index.v1+json",
        "{index}"
    );
    let mut archs: Vec<(String, String)> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["platform"]["architecture"].as_str().unwrap().to_string(),
                m["digest"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    archs.sort();
    assert_eq!(archs.len(), 2);
    assert_eq!(archs[0].0, "amd64");
    assert_eq!(archs[1].0, "arm64");
    // Each entry is the platform image its worker build pushed, which keeps
    // its unique tag.
    for (platform, arch) in [("x86_64", &archs[0]), ("aarch64", &archs[1])] {
        let w = by_platform[platform];
        assert_eq!(w["image"]["digest"].as_str().unwrap(), arch.1);
        let unique = format!("{}/multi:build-{id}-{platform}", registry.host());
        assert_eq!(w["image"]["tag_reference"], unique.as_str());
        let raw = run_ok(
            "skopeo",
            &[
                "inspect",
                "--raw",
                "--tls-verify=false",
                &format!("docker://{unique}"),
            ],
        );
        let digest = format!("sha256:{}", sha256_hex(raw.as_bytes()));
        assert_eq!(digest, arch.1, "{platform}'s unique tag");
    }
    // The build's primary tag names the result; the requested tag is one
    // of its tags.
    assert!(
        b["image"]["tag_reference"]
            .as_str()
            .unwrap()
            .ends_with(":1.0-1"),
        "{b}"
    );
    assert!(
        b["spec"]["tags"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("1")),
        "{b}"
    );
    // The log shows both platforms, each line marked with its platform.
    let log = server.log(id);
    assert!(log.contains("[x86_64] ==> building linux/amd64"), "{log}");
    assert!(log.contains("[aarch64] ==> building linux/arm64"), "{log}");

    // Each platform's image is scanned and gets its own SBOMs, attached to
    // it (this registry has no referrers API: the fallback tag lists them).
    let scans = server.cli_json(&["show", &id.to_string(), "--scan", "-o", "json"]);
    let scanned: BTreeMap<String, &str> = scans
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["report"]["manifest_digest"].as_str().unwrap().to_string(),
                s["report"]["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        scanned,
        BTreeMap::from([
            (archs[0].1.clone(), "passed"),
            (archs[1].1.clone(), "passed")
        ]),
        "{scans}"
    );
    let sboms = server.cli_json(&["show", &id.to_string(), "--sbom", "-o", "json"]);
    let listed: Vec<(&str, &str)> = sboms
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["platform"].as_str().unwrap(),
                s["format"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        [
            ("x86_64", "spdx"),
            ("x86_64", "cyclonedx"),
            ("aarch64", "spdx"),
            ("aarch64", "cyclonedx")
        ],
        "{sboms}"
    );
    for (platform, arch) in [("x86_64", &archs[0]), ("aarch64", &archs[1])] {
        let found = slipway_test_support::discover_sboms(&registry.host(), "multi", &arch.1, None);
        assert_eq!(
            found["referrers"].as_array().unwrap().len(),
            2,
            "{platform}: {found}"
        );
        let doc = server.cli_json(&[
            "show",
            &id.to_string(),
            "--sbom",
            "spdx",
            "--platform",
            platform,
        ]);
        assert_eq!(
            doc["packages"][0]["versionInfo"],
            arch.1.as_str(),
            "{platform}"
        );
    }
}

fn sha256_hex(b: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(b))
}

#[test]
fn a_failing_platform_fails_the_build_and_names_it() {
    let registry = Registry::start();
    // The base image exists for amd64 only: aarch64 cannot start from it.
    let base = registry.push_base_image();
    let (server, _dir) = server_with_clusters(TWO_PLATFORMS);
    // x86_64 would run for minutes; aarch64 fails at once and stops it.
    // (Each test sleeps for its own number of seconds, so that tests running
    // side by side never mistake each other's processes.)
    let repo = GitRepo::new(&[(
        "Dockerfile",
        &format!(
            "FROM {base}\nLABEL name=test/app version=1.0 component=app-container\nRUN echo sibling-started && sleep 3301\n"
        ),
    )]);
    let image = format!("{}/half:1", registry.host());
    let id = server.queue(
        &repo,
        &image,
        &["--platform", "x86_64", "--platform", "aarch64"],
    );
    let b = server.wait_final(id);
    assert_eq!(b["phase"], "Failed", "{b}");
    let reason = b["reason"].as_str().unwrap();
    assert!(reason.starts_with("platform aarch64 failed: "), "{reason}");
    let arm = b["workers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["platform"] == "aarch64")
        .unwrap();
    assert_eq!(arm["phase"], "Failed");
    // The running sibling was cancelled, and its RUN step is gone.
    let deadline = Instant::now() + Duration::from_secs(60);
    let x86 = loop {
        let b = server.build_json(id);
        let w = b["workers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|w| w["platform"] == "x86_64")
            .unwrap()
            .clone();
        if w["phase"] != "Running" && w["phase"] != "Pending" {
            break w;
        }
        assert!(Instant::now() < deadline, "x86_64 kept running: {w}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(x86["phase"], "Cancelled", "{x86}");
    slipway_test_support::wait_until_gone(
        "sleep 3301",
        Duration::from_secs(30),
        "the sibling's RUN step survived",
    );
    // No index under the requested tag.
    let out = std::process::Command::new("skopeo")
        .args([
            "inspect",
            "--raw",
            "--tls-verify=false",
            &format!("docker://{image}"),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success(), "the tag exists: {}", stdout(&out));
}

#[test]
fn unserved_platforms_are_refused_at_submission_and_the_file_reloads_on_sighup() {
    let (server, dir) =
        server_with_clusters("clusters:\n  x86_64:\n  - name: amd\n    max_concurrent_builds: 1\n");
    let repo = scratch_repo();
    let image = format!("{}/x:1", server.host());
    let path = repo.path().display().to_string();
    let out = server.cli(&["build", &path, "--tag", &image, "--platform", "aarch64"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("no enabled cluster builds for platform aarch64; clusters serve: x86_64"),
        "{err}"
    );
    let out = server.cli(&["build", &path, "--tag", &image, "--platform", "sparc"]);
    assert!(
        stderr(&out).contains("unknown platform \"sparc\""),
        "{}",
        stderr(&out)
    );

    // Add an aarch64 cluster and remove "amd"; SIGHUP reloads the file.
    std::fs::write(
        dir.path().join("clusters.yaml"),
        "clusters:\n  aarch64:\n  - name: arm\n    max_concurrent_builds: 2\n",
    )
    .unwrap();
    let pid = server.pid().unwrap().to_string();
    run_ok("kill", &["-HUP", &pid]);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let names: Vec<String> = clusters(&server)
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_string())
            .collect();
        if names == ["arm"] {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "cluster file not reloaded: {names:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let id = server.queue(&repo, &image, &["--platform", "aarch64"]);
    let b = server.wait_final(id);
    assert_eq!(b["phase"], "Complete", "{b}");
    assert_eq!(b["workers"][0]["cluster"], "arm");
    // "amd" is gone: x86_64 is refused now.
    let out = server.cli(&["build", &path, "--tag", &image, "--platform", "x86_64"]);
    assert!(
        stderr(&out).contains("no enabled cluster builds for platform x86_64"),
        "{}",
        stderr(&out)
    );

    // A broken file is reported and the loaded clusters stay.
    std::fs::write(
        dir.path().join("clusters.yaml"),
        "clusters:\n  aarch64: [{name: arm}]\n",
    )
    .unwrap();
    run_ok("kill", &["-HUP", &pid]);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(clusters(&server).len(), 1);
    assert!(
        server
            .server_log()
            .contains("keeping the clusters loaded before"),
        "{}",
        server.server_log()
    );
}

const PROCESS_CLUSTER: &str = "clusters:\n  x86_64:\n  - name: proc\n    max_concurrent_builds: 2\n    worker_process: true\n  aarch64:\n  - name: proc-arm\n    max_concurrent_builds: 2\n    worker_process: true\n";

#[test]
fn slipway_worker_processes_build_and_report_over_the_api() {
    let registry = Registry::start();
    let base = registry.push_base_image();
    let (server, _dir) = server_with_clusters(PROCESS_CLUSTER);

    // A real build: pull, RUN, COPY, push, all reported by the child.
    let repo = GitRepo::new(&[
        (
            "Dockerfile",
            &format!(
                "FROM {base}\nLABEL name=test/app version=1.0 component=app-container\nCOPY msg.txt /msg.txt\nRUN cat /msg.txt > /copied.txt\n"
            ),
        ),
        ("msg.txt", "from a worker process\n"),
    ]);
    let image = format!("{}/proc:1", registry.host());
    let id = server.queue(&repo, &image, &[]);
    let b = server.wait_final(id);
    assert_eq!(b["phase"], "Complete", "{b}\n{}", server.log(id));
    assert_eq!(b["workers"][0]["cluster"], "proc");
    assert_eq!(b["commit"].as_str().unwrap().len(), 40, "{b}");
    assert_eq!(
        slipway_test_support::stage_names(&b),
        ["prepare", "clone", "build", "push", "scan"]
    );
    let log = server.log(id);
    assert!(log.contains("==> fetching commit"), "{log}");
    assert!(log.contains("STEP 4/10: RUN cat /msg.txt"), "{log}");
    assert!(log.contains(&format!("==> build {id} complete")), "{log}");
    // The worker scanned the image from the layout it pushed, while it
    // pushed it; the server kept that report for exactly that image.
    assert!(
        log.contains("the worker scanned the image while it pushed it"),
        "{log}"
    );
    let scan = server.cli_json(&["show", &id.to_string(), "--scan", "-o", "json"]);
    let pushed = b["image"]["reference"].as_str().unwrap();
    assert!(scan.to_string().contains(pushed), "{scan}");
    assert!(
        scan.to_string().contains("\"integrity\""),
        "the image scanners ran: {scan}"
    );
    let (_tmp, root) = slipway_test_support::unpack_image(&image);
    assert_eq!(
        std::fs::read_to_string(root.join("copied.txt")).unwrap(),
        "from a worker process\n"
    );

    // Two platforms, each its own process, one index.
    let scratch = scratch_repo();
    let multi = format!("{}/proc-multi:1", registry.host());
    let id = server.queue(
        &scratch,
        &multi,
        &["--platform", "x86_64", "--platform", "aarch64"],
    );
    let b = server.wait_final(id);
    assert_eq!(b["phase"], "Complete", "{b}\n{}", server.log(id));
    let raw = run_ok(
        "skopeo",
        &[
            "inspect",
            "--raw",
            "--tls-verify=false",
            &format!("docker://{multi}"),
        ],
    );
    let index: serde_json::Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(index["manifests"].as_array().unwrap().len(), 2, "{index}");
    let log = server.log(id);
    assert!(log.contains("[aarch64] ==> aarch64 complete"), "{log}");
}

#[test]
fn a_worker_token_reaches_only_its_worker_build_and_cancel_stops_the_process() {
    let registry = Registry::start();
    let base = registry.push_base_image();
    let (server, _dir) = server_with_clusters(PROCESS_CLUSTER);
    let repo = GitRepo::new(&[(
        "Dockerfile",
        &format!(
            "FROM {base}\nLABEL name=test/app version=1.0 component=app-container\nRUN echo sleeping-worker && sleep 3302\n"
        ),
    )]);
    let image = format!("{}/slow:1", registry.host());
    let id = server.queue(&repo, &image, &[]);
    // Wait for the RUN step, then pick up the worker's token file.
    let deadline = Instant::now() + Duration::from_secs(120);
    while !server.log(id).contains("sleeping-worker") {
        assert!(
            Instant::now() < deadline,
            "RUN never started: {}",
            server.log(id)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let b = server.build_json(id);
    let worker = b["workers"][0]["id"].as_i64().unwrap();
    let token_file = server
        .data_dir()
        .join(format!("work/tokens/worker-{worker}"));
    let token = std::fs::read_to_string(&token_file)
        .unwrap()
        .trim()
        .to_string();
    let call =
        |path: &str| slipway_test_support::http(server.port, "GET", path, Some(&token), None);
    assert_eq!(
        call(&format!("/api/v1/worker-builds/{worker}/state")).status,
        200
    );
    let other = call("/api/v1/builds");
    assert_eq!(other.status, 403, "{}", other.body);
    assert_eq!(other.json()["code"], "FORBIDDEN");
    assert_eq!(
        call(&format!("/api/v1/worker-builds/{}/state", worker + 1)).status,
        403
    );
    // Its scan report: only one that names an image by digest, that very
    // digest, and bounded in size.
    let post = |body: &str| {
        slipway_test_support::http(
            server.port,
            "POST",
            &format!("/api/v1/worker-builds/{worker}/scan"),
            Some(&token),
            Some(body),
        )
    };
    let d = |c: char| format!("sha256:{}", c.to_string().repeat(64));
    let report = |reference: &str, digest: &str| {
        serde_json::json!({
            "reference": reference,
            "manifest_digest": digest,
            "outcome": "passed",
            "scanners": ["integrity"],
            "findings": [],
        })
        .to_string()
    };
    let bad = post(&report(&format!("{image}@{}", d('a')), &d('b')));
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert_eq!(bad.json()["code"], "INVALID_REQUEST", "{}", bad.body);
    let untagged = post(&report(&image, &d('a')));
    assert_eq!(untagged.status, 400, "{}", untagged.body);
    let huge = format!(
        "{{\"reference\":\"{}\",\"pad\":\"{}\"}}",
        image,
        "x".repeat(17 << 20)
    );
    assert_eq!(post(&huge).status, 413);
    let ok = post(&report(&format!("{image}@{}", d('a')), &d('a')));
    assert_eq!(ok.status, 204, "{}", ok.body);

    // Cancel: the worker sees it within its poll interval and stops buildah.
    let out = server.cli(&["cancel", &id.to_string()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let b = server.wait_final(id);
    assert_eq!(b["phase"], "Cancelled", "{b}");
    assert_eq!(b["workers"][0]["phase"], "Cancelled", "{b}");
    slipway_test_support::wait_until_gone(
        "sleep 3302",
        Duration::from_secs(30),
        "the RUN step survived the cancel",
    );
    // The token died with the worker build.
    assert_eq!(
        call(&format!("/api/v1/worker-builds/{worker}/state")).status,
        401
    );
}

#[test]
fn slipway_worker_says_what_to_do_when_the_api_is_unreachable() {
    require_tools();
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "slw_nope\n").unwrap();
    let port = slipway_test_support::free_port();
    let out = std::process::Command::new(BIN)
        .args(["worker", "--worker-build", "1", "--url"])
        .arg(format!("http://127.0.0.1:{port}"))
        .arg("--token-file")
        .arg(&token)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .env("HOME", dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("cannot reach the Slipway API"), "{err}");
    assert!(err.contains("check --url"), "{err}");
}
