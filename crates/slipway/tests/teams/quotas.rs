//! Quotas per project: a build past the concurrent-builds quota waits in
//! the queue saying why, then runs; a build past the builds-per-hour quota
//! is refused (429); a push past the storage quota is refused (DENIED,
//! naming it) and leaves nothing behind; `slipway projects` shows usage
//! against quota; a project's own admin cannot raise its quota.

use super::*;
use slipway_test_support::{GitRepo, Server, http, require_tools, stderr, stdout};
use std::time::Duration;

#[test]
fn quotas_hold_builds_and_pushes_to_their_project() {
    require_tools();
    let server = Server::start(Path::new(BIN), 3);
    let host = server.host();
    let base = server.push_base_image();
    for p in ["team", "ops", "small"] {
        assert!(server.cli(&["project", "create", p]).status.success());
    }
    let set = |args: &[&str]| {
        let mut all = vec!["project", "set"];
        all.extend_from_slice(args);
        let out = server.cli(&all);
        assert!(out.status.success(), "{}", stderr(&out));
    };
    set(&["team", "--max-concurrent-builds", "2"]);
    set(&["ops", "--builds-per-hour", "1"]);
    set(&["small", "--storage", "2000"]);
    // Its own admin may not raise it.
    let admin = stdout(&server.cli(&[
        "token",
        "create",
        "--name",
        "ta",
        "--project",
        "team",
        "--role",
        "admin",
        "-q",
    ]))
    .trim()
    .to_string();
    let raised = http(
        server.port,
        "PATCH",
        "/api/v1/projects/team",
        Some(&admin),
        Some(r#"{"quota":{"max_concurrent_builds":10}}"#),
    );
    assert_eq!(raised.status, 403, "{}", raised.body);

    // Three slots, a quota of two: the third build waits, saying why.
    let slow = GitRepo::new(&[("Dockerfile", &format!("FROM {base}\nRUN sleep 4\n"))]);
    let ids: Vec<i64> = (0..3)
        .map(|_| server.queue(&slow, &format!("{host}/team/q"), &["--scratch"]))
        .collect();
    let waiting = server.wait_until(
        "a build waiting for its quota",
        Duration::from_secs(60),
        || {
            ids.iter().find_map(|id| {
                let b = server.build_json(*id);
                let events = b["events"].to_string();
                events
                    .contains("waiting: project team runs 2 of its 2 concurrent builds (quota)")
                    .then_some(*id)
            })
        },
    );
    let running = ids
        .iter()
        .filter(|id| server.build_json(**id)["phase"] == "Running")
        .count();
    assert!(running <= 2, "{running} running");
    let projects = server.cli_json(&["projects", "-o", "json"]);
    let team = projects
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "team")
        .unwrap();
    assert_eq!(team["quota"]["max_concurrent_builds"], 2, "{team}");
    assert!(
        team["usage"]["running_builds"].as_u64().unwrap() <= 2,
        "{team}"
    );
    let ends: Vec<serde_json::Value> = ids.iter().map(|id| server.wait_final(*id)).collect();
    for b in &ends {
        assert_eq!(b["phase"], "Complete", "{b}");
    }
    let waited = ends.iter().find(|b| b["id"] == waiting).unwrap();
    let started = waited["started_at"].as_str().unwrap();
    assert!(
        ends.iter()
            .filter(|b| b["id"] != waiting)
            .any(|b| b["finished_at"].as_str().unwrap() <= started),
        "the waiting build started before another ended: {ends:?}"
    );

    // One build an hour: the second is refused, saying so.
    let quick = GitRepo::new(&[("Dockerfile", &format!("FROM {base}\nRUN true\n"))]);
    let first = server.queue(&quick, &format!("{host}/ops/a"), &["--scratch"]);
    let out = server.cli(&[
        "build",
        &quick.path().display().to_string(),
        "--tag",
        &format!("{host}/ops/b"),
        "--scratch",
        "--no-follow",
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("made 1 builds in the last hour, its quota is 1"),
        "{}",
        stderr(&out)
    );
    server.wait_final(first);

    // 2000 bytes of storage: a 1 MB image is refused, and nothing stays.
    let creds = format!("slipway:{}", server.token());
    let out = std::process::Command::new("skopeo")
        .args(["copy", "--src-tls-verify=false", "--dest-tls-verify=false"])
        .args(["--src-creds", &creds, "--dest-creds", &creds])
        .arg(format!("docker://{base}"))
        .arg(format!("docker://{host}/small/busybox:1"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("storage quota is 2000 bytes"),
        "{}",
        stderr(&out)
    );
    let projects = server.cli_json(&["projects", "-o", "json"]);
    let small = projects
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "small")
        .unwrap();
    assert_eq!(small["usage"]["storage_bytes"], 0, "{small}");
    let uploads = server.data_dir().join("registry/uploads");
    let left: Vec<_> = std::fs::read_dir(&uploads)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "partial uploads left: {left:?}");
    let table = stdout(&server.cli(&["projects"]));
    assert!(table.contains("0 B of 2.0 KiB"), "{table}");
}
