//! End-to-end tests: the real `slipway` binary, real buildah, a real registry
//! (Debian's docker-registry on loopback), real git, and skopeo/umoci to look
//! at what was pushed. Nothing here uses Slipway's own code to check results.

use slipway_test_support::{
    GitRepo, Registry, Server, http, processes_matching, require_tools, run_ok, skopeo_inspect,
    stderr, stdout, unpack_image, wait_until_gone,
};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_slipway");

struct Env {
    registry: Registry,
    base: String,
    server: Server,
}

fn env(workers: usize) -> Env {
    require_tools();
    let registry = Registry::start();
    let base = registry.push_base_image();
    let server = Server::start(std::path::Path::new(BIN), workers);
    Env {
        registry,
        base,
        server,
    }
}

impl Env {
    fn dockerfile(&self, body: &str) -> String {
        format!(
            "FROM {}\nLABEL name=test/app version=1.0 component=app-container\n{body}",
            self.base
        )
    }
    fn image(&self, name: &str) -> String {
        format!("{}/{name}", self.registry.host())
    }
    /// `slipway build REPO --tag IMAGE extra…` (following).
    fn build(&self, repo: &GitRepo, image: &str, extra: &[&str]) -> std::process::Output {
        let path = repo.path().display().to_string();
        let mut args = vec!["build", path.as_str(), "--tag", image];
        args.extend_from_slice(extra);
        self.server.cli(&args)
    }
}

fn last_line(s: &str) -> String {
    s.lines().last().unwrap_or("").to_string()
}

#[test]
fn build_with_run_copy_env_label_from_local_git() {
    let e = env(2);
    let repo = GitRepo::new(&[
        (
            "Dockerfile",
            &e.dockerfile(
                "LABEL com.example.team=\"release eng\"\nENV GREETING=hello\nCOPY greeting.txt /srv/greeting.txt\nRUN echo \"$GREETING from run\" > /srv/run.txt\n",
            ),
        ),
        ("greeting.txt", "copied file\n"),
    ]);
    let commit = repo.git(&["rev-parse", "HEAD"]);
    let image = e.image("team/app:1.0");
    let out = e.build(&repo, &image, &[]);
    assert!(
        out.status.success(),
        "build failed: {}\n{}",
        stderr(&out),
        stdout(&out)
    );
    let printed = last_line(&stdout(&out));
    assert!(
        printed.starts_with(&format!("{}/team/app@sha256:", e.registry.host())),
        "printed {printed:?}"
    );
    assert!(stdout(&out).contains("STEP"), "the live log was not shown");

    // The registry holds what the Dockerfile says, seen by skopeo and umoci.
    let info = skopeo_inspect(&image);
    let digest = info["Digest"].as_str().expect("digest");
    assert!(
        printed.ends_with(digest),
        "printed {printed} but registry has {digest}"
    );
    assert_eq!(info["Labels"]["com.example.team"], "release eng");
    assert!(
        info["Env"]
            .as_array()
            .expect("env")
            .iter()
            .any(|v| v == "GREETING=hello"),
        "{}",
        info["Env"]
    );
    let (_tmp, rootfs) = unpack_image(&image);
    assert_eq!(
        std::fs::read_to_string(rootfs.join("srv/greeting.txt")).unwrap(),
        "copied file\n"
    );
    assert_eq!(
        std::fs::read_to_string(rootfs.join("srv/run.txt")).unwrap(),
        "hello from run\n"
    );

    // The build record matches the registry.
    let id = e.server.api("GET", "/api/v1/builds", None).json()[0]["id"]
        .as_i64()
        .unwrap();
    let b = e.server.build_json(id);
    assert_eq!(b["phase"], "Complete");
    assert_eq!(b["commit"], commit.as_str());
    assert_eq!(b["image"]["digest"], digest);
    let layers: Vec<&str> = info["Layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    let recorded: Vec<&str> = b["image"]["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert_eq!(recorded, layers);
    assert!(
        b["image"]["size"].as_u64().unwrap() > 100_000,
        "size {}",
        b["image"]["size"]
    );
    assert_eq!(
        slipway_test_support::stage_names(&b),
        ["prepare", "clone", "build", "push", "scan"]
    );
    let phases: Vec<&str> = b["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|ev| ev["phase"].as_str())
        .collect();
    assert_eq!(phases, ["New", "Pending", "Running", "Complete"]);

    // show / builds in both forms.
    let show = e.server.cli(&["show", &id.to_string()]);
    assert!(
        stdout(&show).contains("Phase:       Complete") && stdout(&show).contains(digest),
        "{}",
        stdout(&show)
    );
    let list = e.server.cli(&["builds", "-o", "json"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&list)).unwrap();
    assert_eq!(v[0]["id"], id);
    let table = stdout(&e.server.cli(&["builds"]));
    assert!(
        table.starts_with("ID") && table.contains("Complete"),
        "{table}"
    );

    // A late log reader gets the whole log.
    let log = stdout(&e.server.cli(&["logs", &id.to_string()]));
    assert!(log.starts_with("==> preparing build"), "{log}");
    assert!(log.contains(&format!("build {id} complete")), "{log}");
}

#[test]
fn build_args_and_multi_stage() {
    let e = env(2);
    let df = format!(
        "ARG BASE\nFROM $BASE AS builder\nARG FLAVOUR=plain\nRUN echo \"flavour=$FLAVOUR\" > /out.txt && echo junk > /junk\nFROM {}\nLABEL name=test/app version=1.0 component=app-container\nCOPY --from=builder /out.txt /result.txt\n",
        e.base
    );
    let repo = GitRepo::new(&[("sub/Containerfile.app", df.as_str())]);
    let image = e.image("multi:1");
    let base_arg = format!("BASE={}", e.base);
    let out = e.build(
        &repo,
        &image,
        &[
            "--context-dir",
            "sub",
            "--file",
            "Containerfile.app",
            "--build-arg",
            &base_arg,
            "--build-arg",
            "FLAVOUR=spicy",
        ],
    );
    assert!(out.status.success(), "{}\n{}", stderr(&out), stdout(&out));
    let (_tmp, rootfs) = unpack_image(&image);
    assert_eq!(
        std::fs::read_to_string(rootfs.join("result.txt")).unwrap(),
        "flavour=spicy\n"
    );
    assert!(
        !rootfs.join("junk").exists(),
        "the builder stage leaked into the final image"
    );
}

fn failed_build(e: &Env, out: &std::process::Output) -> serde_json::Value {
    assert!(!out.status.success(), "expected failure: {}", stdout(out));
    let id = e.server.api("GET", "/api/v1/builds?limit=1", None).json()[0]["id"]
        .as_i64()
        .unwrap();
    let b = e.server.build_json(id);
    assert_eq!(b["phase"], "Failed", "{b}");
    let reason = b["reason"].as_str().unwrap().to_string();
    assert!(
        !reason.contains('\n'),
        "reason must be one line: {reason:?}"
    );
    assert!(
        stderr(out).contains(&reason),
        "`build` must show the reason: {}",
        stderr(out)
    );
    let show = stdout(&e.server.cli(&["show", &id.to_string()]));
    assert!(show.contains(&format!("Reason:      {reason}")), "{show}");
    b
}

#[test]
fn failures_end_failed_with_an_actionable_reason() {
    let e = env(2);
    let ok_repo = GitRepo::new(&[("Dockerfile", &e.dockerfile("RUN echo fine\n"))]);

    // A failing RUN.
    let repo = GitRepo::new(&[(
        "Dockerfile",
        &e.dockerfile("RUN echo about to fail && exit 3\n"),
    )]);
    let b = failed_build(&e, &e.build(&repo, &e.image("fail:1"), &[]));
    let r = b["reason"].as_str().unwrap();
    assert!(
        r.starts_with("build failed: building at STEP \"RUN echo about to fail")
            && r.ends_with("exit status 3"),
        "{r}"
    );

    // A missing Dockerfile.
    let b = failed_build(
        &e,
        &e.build(&ok_repo, &e.image("fail:2"), &["--file", "Nope.Dockerfile"]),
    );
    assert!(
        b["reason"]
            .as_str()
            .unwrap()
            .starts_with("Dockerfile not found: Nope.Dockerfile"),
        "{b}"
    );

    // An unknown git ref.
    let b = failed_build(
        &e,
        &e.build(&ok_repo, &e.image("fail:3"), &["--ref", "no-such-branch"]),
    );
    assert!(
        b["reason"]
            .as_str()
            .unwrap()
            .contains("\"no-such-branch\" not found"),
        "{b}"
    );

    // An unreachable git repository.
    let out = e.server.cli(&[
        "build",
        "file:///nonexistent/repo.git",
        "--tag",
        &e.image("fail:4"),
    ]);
    let b = failed_build(&e, &out);
    assert!(
        b["reason"]
            .as_str()
            .unwrap()
            .starts_with("cannot reach git repository"),
        "{b}"
    );

    // A Dockerfile syntax error.
    let repo = GitRepo::new(&[("Dockerfile", "RUN echo no base\n")]);
    let b = failed_build(&e, &e.build(&repo, &e.image("fail:5"), &[]));
    assert!(
        b["reason"]
            .as_str()
            .unwrap()
            .contains("syntax error: line 1"),
        "{b}"
    );

    // A base image that does not exist.
    let missing_base = format!("{}/no/such-base:1", e.registry.host());
    let repo = GitRepo::new(&[(
        "Dockerfile",
        &format!(
            "FROM {missing_base}\nLABEL name=test/app version=1.0 component=app-container\nRUN true\n"
        ),
    )]);
    let b = failed_build(&e, &e.build(&repo, &e.image("fail:6"), &[]));
    assert!(
        b["reason"]
            .as_str()
            .unwrap()
            .starts_with(&format!("cannot pull base image {missing_base}")),
        "{b}"
    );

    // A registry that refuses the push (nothing listens there).
    let closed = format!("127.0.0.1:{}/app:1", slipway_test_support::free_port());
    let b = failed_build(&e, &e.build(&ok_repo, &closed, &[]));
    assert!(
        b["reason"]
            .as_str()
            .unwrap()
            .starts_with("push to 127.0.0.1:"),
        "{b}"
    );

    // The server survived all of it.
    assert_eq!(
        http(e.server.port, "GET", "/healthz", None, None).status,
        200
    );
}

/// Wait until a process whose command line contains `marker` (a RUN step of
/// build `id`) is running.
fn wait_for_run_step(e: &Env, marker: &str, id: i64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while processes_matching(marker) == 0 {
        assert!(
            Instant::now() < deadline,
            "RUN never started; log: {}",
            e.server.log(id)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Wait until no process whose command line contains `marker` is left.
#[test]
fn cancel_running_and_queued_builds() {
    let e = env(1);
    let repo = GitRepo::new(&[("Dockerfile", &e.dockerfile("RUN sleep 3171\n"))]);
    let running = e.server.queue(&repo, &e.image("cancel:1"), &[]);
    // Wait for the RUN step to be executing, then queue the second build
    // (builds are prepared concurrently, so one queued at the same moment
    // could be ready first and take the only slot).
    wait_for_run_step(&e, "sleep 3171", running);
    let queued = e.server.queue(&repo, &e.image("cancel:2"), &[]);
    e.server.wait_build(queued, "Pending", |p| p != "New");
    assert_eq!(e.server.build_json(queued)["phase"], "Pending");

    let out = e.server.cli(&["cancel", &queued.to_string()]);
    assert!(stdout(&out).contains("Cancelled"), "{}", stdout(&out));
    let out = e.server.cli(&["cancel", &running.to_string()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(&format!("build {running}: Cancelled")),
        "{}",
        stdout(&out)
    );
    let b = e.server.build_json(running);
    assert_eq!(b["phase"], "Cancelled");
    assert_eq!(b["reason"], "cancelled by user");
    wait_until_gone(
        "sleep 3171",
        Duration::from_secs(10),
        "the RUN step survived the cancel",
    );
    // Cancelling again says it already ended.
    let out = e.server.cli(&["cancel", &running.to_string()]);
    assert!(stdout(&out).contains("already ended"), "{}", stdout(&out));
    // The queued one never ran.
    assert_eq!(e.server.build_json(queued)["attempts"], 0);
}

#[test]
fn sigkill_during_a_build_loses_nothing() {
    let mut e = env(1);
    let repo = GitRepo::new(&[(
        "Dockerfile",
        &e.dockerfile("RUN sleep 2 && echo slept-2719 > /done\n"),
    )]);
    let first = e.server.queue(&repo, &e.image("crash:1"), &[]);
    // The second is queued once the first runs: builds are prepared
    // concurrently, so one queued at the same moment could take the slot.
    wait_for_run_step(&e, "sleep 2 && echo slept-2719", first);
    let second = e.server.queue(&repo, &e.image("crash:2"), &[]);
    e.server.wait_build(second, "Pending", |p| p != "New");
    let log_before = e.server.log(first);
    e.server.kill9();
    // The build's processes die with the server.
    wait_until_gone(
        "sleep 2 && echo slept-2719",
        Duration::from_secs(10),
        "build processes outlived the server",
    );
    e.server.restart();
    let a = e.server.wait_final(first);
    let b = e.server.wait_final(second);
    assert_eq!(a["phase"], "Complete", "{a}");
    assert_eq!(b["phase"], "Complete", "{b}");
    assert_eq!(a["attempts"], 2);
    assert_eq!(b["attempts"], 1);
    let msgs: Vec<&str> = a["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|ev| ev["message"].as_str().unwrap())
        .collect();
    assert!(msgs.contains(&"re-queued after server restart"), "{msgs:?}");
    // The log kept the first attempt and continued.
    let log = e.server.log(first);
    assert!(log.starts_with(&log_before), "log lost its first attempt");
    assert!(log.contains("attempt 2 after a server restart"), "{log}");
    skopeo_inspect(&e.image("crash:1"));
    skopeo_inspect(&e.image("crash:2"));
}

#[test]
fn run_steps_have_no_network_unless_asked() {
    let e = env(2);
    // Talk to the registry's port from inside a RUN step.
    let probe = format!(
        "RUN (printf 'GET /v2/ HTTP/1.0\\r\\n\\r\\n'; sleep 2) | nc -w 3 127.0.0.1 {} > /probe.txt; grep -q HTTP /probe.txt\n",
        e.registry.port
    );
    let repo = GitRepo::new(&[("Dockerfile", &e.dockerfile(&probe))]);
    let out = e.build(&repo, &e.image("net:1"), &[]);
    let b = failed_build(&e, &out);
    assert_eq!(b["spec"]["network"], false);
    let out = e.build(&repo, &e.image("net:2"), &["--network"]);
    assert!(out.status.success(), "{}\n{}", stderr(&out), stdout(&out));
    let (_tmp, rootfs) = unpack_image(&e.image("net:2"));
    assert!(
        std::fs::read_to_string(rootfs.join("probe.txt"))
            .unwrap()
            .starts_with("HTTP/1.")
    );
}

#[test]
fn live_follow_streams_until_the_build_ends() {
    let e = env(2);
    let repo = GitRepo::new(&[(
        "Dockerfile",
        &e.dockerfile("RUN echo first-8812 && sleep 2 && echo second-8812\n"),
    )]);
    let id = e.server.queue(&repo, &e.image("follow:1"), &[]);
    let out = e.server.cli(&["logs", "-f", &id.to_string()]);
    assert!(out.status.success());
    let log = stdout(&out);
    assert!(log.starts_with("==> preparing build"), "{log}");
    assert!(
        log.contains("first-8812") && log.contains("second-8812"),
        "{log}"
    );
    assert!(
        log.trim_end().ends_with(&format!(
            "build {id} complete: {}",
            e.server.build_json(id)["image"]["reference"]
                .as_str()
                .unwrap()
        )),
        "{log}"
    );
    // From an offset, over raw HTTP.
    let full = e.server.log(id);
    let r = e.server.api(
        "GET",
        &format!("/api/v1/builds/{id}/log?offset=10&follow=true"),
        None,
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.body, full[10..]);
}

#[test]
fn api_requires_a_valid_token_and_answers_json_errors() {
    let e = Server::start(std::path::Path::new(BIN), 1);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(e.data_dir().join("admin-token"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert!(!e.server_log().contains(&e.token()), "the token was logged");

    assert_eq!(http(e.port, "GET", "/healthz", None, None).status, 200);
    for token in [None, Some("slw_wrong"), Some("")] {
        let r = http(e.port, "GET", "/api/v1/builds", token, None);
        assert_eq!(r.status, 401, "{token:?}");
        assert_eq!(r.json()["code"], "UNAUTHORIZED");
        assert!(
            r.headers
                .to_ascii_lowercase()
                .contains("www-authenticate: bearer")
        );
    }
    let r = http(
        e.port,
        "POST",
        "/api/v1/builds",
        Some("slw_wrong"),
        Some("{}"),
    );
    assert_eq!(r.status, 401);

    let cases = [
        (
            "POST",
            "/api/v1/builds",
            Some("not json"),
            400,
            "INVALID_REQUEST",
        ),
        (
            "POST",
            "/api/v1/builds",
            Some(r#"{"source":{"url":"/x"},"output":"Bad/Name"}"#),
            400,
            "INVALID_REQUEST",
        ),
        (
            "POST",
            "/api/v1/builds",
            Some(r#"{"source":{"url":"/x","context_dir":"../.."},"output":"localhost/a"}"#),
            400,
            "INVALID_REQUEST",
        ),
        (
            "POST",
            "/api/v1/builds",
            Some(r#"{"source":{"url":"/x"},"output":"localhost/a","bogus":1}"#),
            400,
            "INVALID_REQUEST",
        ),
        ("GET", "/api/v1/builds/999", None, 404, "NOT_FOUND"),
        ("GET", "/api/v1/builds/abc", None, 400, "INVALID_REQUEST"),
        ("GET", "/api/v1/builds/999/log", None, 404, "NOT_FOUND"),
        ("POST", "/api/v1/builds/999/cancel", None, 404, "NOT_FOUND"),
        (
            "GET",
            "/api/v1/builds?limit=x",
            None,
            400,
            "INVALID_REQUEST",
        ),
        ("GET", "/api/v1/nothing", None, 404, "NOT_FOUND"),
    ];
    for (method, path, body, status, code) in cases {
        let r = e.api(method, path, body);
        assert_eq!(r.status, status, "{method} {path}: {}", r.body);
        let j = r.json();
        assert_eq!(j["code"], code, "{method} {path}");
        assert!(!j["message"].as_str().unwrap().is_empty());
    }
    let r = e.api(
        "POST",
        "/api/v1/builds",
        Some(r#"{"source":{"url":"/x","context_dir":"../.."},"output":"localhost/a"}"#),
    );
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .contains("source.context_dir"),
        "{}",
        r.body
    );
    // Nothing was queued by the bad requests.
    assert_eq!(
        e.api("GET", "/api/v1/builds", None)
            .json()
            .as_array()
            .unwrap()
            .len(),
        0
    );

    // The CLI with a wrong token says what to do.
    let out = e
        .cli_cmd(&["builds"])
        .env("SLIPWAY_TOKEN", "slw_wrong")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(stderr(&out).contains("SLIPWAY_TOKEN"), "{}", stderr(&out));
    // The CLI pointed at no server says how to start one.
    let out = e
        .cli_cmd(&["builds"])
        .env(
            "SLIPWAY_URL",
            format!("http://127.0.0.1:{}", slipway_test_support::free_port()),
        )
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(stderr(&out).contains("slipway serve"), "{}", stderr(&out));
    // With env vars only (no discovery), the CLI works.
    let out = e
        .cli_cmd(&["builds", "-o", "json"])
        .env("HOME", "/nonexistent")
        .env("SLIPWAY_URL", format!("http://127.0.0.1:{}", e.port))
        .env("SLIPWAY_TOKEN_FILE", e.data_dir().join("admin-token"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "[]");
}

#[test]
fn a_second_server_on_the_same_data_dir_is_refused() {
    let e = Server::start(std::path::Path::new(BIN), 1);
    let out = std::process::Command::new(BIN)
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{}", slipway_test_support::free_port()),
        ])
        .arg("--data-dir")
        .arg(e.data_dir())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("in use by another slipway server"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn builds_the_commit_a_branch_tag_or_commit_id_names() {
    let e = env(2);
    let df = e.dockerfile("COPY version.txt /version.txt\n");
    let repo = GitRepo::new(&[("Dockerfile", df.as_str()), ("version.txt", "one\n")]);
    let first = repo.git(&["rev-parse", "HEAD"]);
    repo.git(&["tag", "-a", "v1", "-m", "release 1"]);
    let second = repo.commit(&[("version.txt", "two\n")], "second");
    for (git_ref, commit, content) in [
        ("v1", &first, "one\n"),
        (first.as_str(), &first, "one\n"),
        ("main", &second, "two\n"),
    ] {
        let image = e.image(&format!("refs:{}", &commit[..12]));
        let out = e.build(&repo, &image, &["--ref", git_ref]);
        assert!(out.status.success(), "--ref {git_ref}: {}", stderr(&out));
        let id = e.server.api("GET", "/api/v1/builds?limit=1", None).json()[0]["id"]
            .as_i64()
            .unwrap();
        assert_eq!(
            e.server.build_json(id)["commit"],
            commit.as_str(),
            "--ref {git_ref}"
        );
        let (_tmp, rootfs) = unpack_image(&image);
        assert_eq!(
            std::fs::read_to_string(rootfs.join("version.txt")).unwrap(),
            content,
            "--ref {git_ref}"
        );
    }
    // A commit id that is not in the repository.
    let out = e.build(&repo, &e.image("refs:missing"), &["--ref", &"0".repeat(40)]);
    let b = failed_build(&e, &out);
    assert!(b["reason"].as_str().unwrap().contains("not found"), "{b}");
}

#[test]
fn sigterm_exits_promptly_and_the_build_resumes_after_restart() {
    let mut e = env(1);
    let repo = GitRepo::new(&[(
        "Dockerfile",
        &e.dockerfile("RUN sleep 3 && echo term-5521\n"),
    )]);
    let id = e.server.queue(&repo, &e.image("term:1"), &[]);
    wait_for_run_step(&e, "sleep 3 && echo term-5521", id);
    // A follower connected while the server stops must not hold it up.
    let follower = e
        .server
        .cli_cmd(&["logs", "-f", &id.to_string()])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let took = e.server.sigterm();
    assert!(took < Duration::from_secs(20), "shutdown took {took:?}");
    let mut follower = follower;
    let _ = follower.wait();
    e.server.start_again();
    let b = e.server.wait_final(id);
    assert_eq!(b["phase"], "Complete", "{b}");
    assert_eq!(b["attempts"], 2);
}

#[test]
fn builds_use_the_embedded_registry_by_default() {
    require_tools();
    let peer = Registry::start();
    let base = peer.push_base_image();
    let server = Server::start(std::path::Path::new(BIN), 1);
    let creds = format!("ci:{}", server.token());
    // The base image lives in the embedded registry too.
    let our_base = format!("{}/lib/busybox:latest", server.host());
    server.copy_in(&base, &our_base);
    let repo = GitRepo::new(&[(
        "Dockerfile",
        &format!(
            "FROM {our_base}\nLABEL name=test/app version=1.0 component=app-container\nRUN echo embedded > /where\n"
        ),
    )]);
    let dir = repo.dir.path().join("My_Service");
    std::fs::create_dir(&dir).unwrap();
    // No --tag: the image is named after the source and goes to the embedded registry.
    let out = server.cli(&["build", repo.path().to_str().unwrap()]);
    assert!(out.status.success(), "{}\n{}", stderr(&out), stdout(&out));
    let printed = last_line(&stdout(&out));
    let name = repo
        .path()
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_lowercase()
        .replace(['.', '_'], "-");
    let expected = format!("{}/{}@sha256:", server.host(), name.trim_matches('-'));
    assert!(
        printed.starts_with(&expected),
        "printed {printed:?}, expected {expected}…"
    );
    let inspect = run_ok(
        "skopeo",
        &[
            "inspect",
            "--tls-verify=false",
            "--creds",
            &creds,
            &format!("docker://{printed}"),
        ],
    );
    assert!(inspect.contains("\"Digest\""), "{inspect}");
    // A --tag without a registry also lands there.
    let out = server.cli(&[
        "build",
        repo.path().to_str().unwrap(),
        "--tag",
        "team/app:7",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(last_line(&stdout(&out)).starts_with(&format!("{}/team/app@sha256:", server.host())));
    let tags = run_ok(
        "skopeo",
        &[
            "list-tags",
            "--tls-verify=false",
            "--creds",
            &creds,
            &format!("docker://{}/team/app", server.host()),
        ],
    );
    assert!(tags.contains("\"7\""), "{tags}");
    // The build's registry credentials are never left behind.
    assert!(
        !server
            .data_dir()
            .join("work")
            .read_dir()
            .unwrap()
            .any(|_| true),
        "work dir not cleaned"
    );
}

/// Sources are read through one mirror per source: a Dockerfile behind a
/// symlink inside the repository still builds (preparation falls back to a
/// full checkout), one that points out of it is refused, the build context
/// is the commit's tree without `.git`, and a second build of the same
/// commit fetches nothing.
#[test]
fn sources_are_read_through_a_mirror() {
    let e = env(1);
    let repo = GitRepo::new(&[
        (
            "docker/Dockerfile.real",
            &e.dockerfile("COPY . /ctx\nRUN test -f /ctx/Dockerfile && test ! -e /ctx/.git\n"),
        ),
        ("docker/app.txt", "from the context\n"),
    ]);
    std::os::unix::fs::symlink("Dockerfile.real", repo.path().join("docker/Dockerfile")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", repo.path().join("docker/Evil.Dockerfile")).unwrap();
    repo.git(&["add", "-A"]);
    repo.git(&["commit", "-qm", "links"]);
    let image = e.image("mirror/app:1");
    let out = e.build(&repo, &image, &["--context-dir", "docker"]);
    assert!(out.status.success(), "{}\n{}", stderr(&out), stdout(&out));
    let first = e.server.cli_json(&["builds", "-o", "json"])[0]["id"]
        .as_i64()
        .unwrap();
    let log = e.server.log(first);
    assert!(log.contains("from the source's mirror"), "{log}");
    // Pushed to another registry through a layout the worker scanned
    // while it pushed it; gone once the build ended.
    assert!(
        log.contains("the worker scanned the image while it pushed it"),
        "{log}"
    );
    let left: Vec<_> = std::fs::read_dir(e.server.data_dir().join("work"))
        .unwrap()
        .flatten()
        .map(|d| d.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with("-image"))
        .collect();
    assert!(left.is_empty(), "layouts left: {left:?}");
    let (_tmp, root) = slipway_test_support::unpack_image(&image);
    assert_eq!(
        std::fs::read_to_string(root.join("ctx/app.txt")).unwrap(),
        "from the context\n"
    );
    assert!(!root.join("ctx/.git").exists(), "the context had .git");

    // Out of the repository: refused, naming the file.
    let out = e.build(
        &repo,
        &e.image("mirror/app:2"),
        &["--context-dir", "docker", "--file", "Evil.Dockerfile"],
    );
    let b = failed_build(&e, &out);
    assert!(
        b["reason"]
            .as_str()
            .unwrap()
            .contains("Evil.Dockerfile points outside the repository"),
        "{b}"
    );

    // The same commit again: built from the mirror, which fetched it once.
    let again = e.build(
        &repo,
        &e.image("mirror/app:3"),
        &["--context-dir", "docker"],
    );
    assert!(again.status.success(), "{}", stderr(&again));
    let mirrors: Vec<std::path::PathBuf> = std::fs::read_dir(e.server.data_dir().join("git"))
        .unwrap()
        .flatten()
        .map(|d| d.path())
        .filter(|p| p.extension().is_some_and(|x| x == "git"))
        .collect();
    assert_eq!(mirrors.len(), 1, "one mirror per source: {mirrors:?}");
    let packs = std::fs::read_dir(mirrors[0].join("objects/pack"))
        .unwrap()
        .flatten()
        .filter(|d| d.path().extension().is_some_and(|x| x == "pack"))
        .count();
    assert_eq!(packs, 1, "three builds of one commit fetched it once");
}
