//! The adversarial suite: Slipway tried as an attacker and as a hostile
//! environment would, against the real binary, real buildah and real git.
//! One test per way it was once broken (issue 16); each failed on the code
//! before the fix.

use slipway_test_support::{
    GitRepo, Server, command_lines, http, http_raw, process_with_arg, require_tools, stderr,
    wait_while,
};
use std::path::Path;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_slipway");

/// A server with the busybox base image in its embedded registry.
fn server(workers: usize, config: Option<&str>) -> (Server, String) {
    require_tools();
    let s = Server::start_with_config(Path::new(BIN), workers, config);
    let base = s.push_base_image();
    (s, base)
}

fn dockerfile(base: &str, body: &str) -> String {
    format!("FROM {base}\nLABEL name=adv/app version=1.0 component=adv\n{body}")
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z "))
}

/// Issue 16, item 1: a RUN step that looks for the server among the
/// processes it can see and kills it. RUN steps now have a PID namespace
/// and a /proc of their own: the server and other builds are not there,
/// so the killer finds nothing to kill, the server keeps running, and the
/// build fails with its own error. Nobody sees another build's build args.
#[test]
fn a_run_step_cannot_see_or_kill_the_server_or_other_builds() {
    let (s, base) = server(2, None);
    let secret = "s3cr3t-build-arg-4471";
    let victim = GitRepo::new(&[(
        "Dockerfile",
        &dockerfile(&base, "ARG TOKEN\nRUN sleep 25 # victim-5521\n"),
    )]);
    let killer_script = r#"RUN n=0; for p in /proc/[0-9]*; do n=$((n+1)); c=$(tr '\0' ' ' < $p/cmdline 2>/dev/null); echo "seen ${p#/proc/}: $c"; case "$c" in *slipway*) kill -9 ${p#/proc/} 2>/dev/null && echo "killed ${p#/proc/}";; esac; done; echo "saw $n processes"; exit 3
"#;
    let killer = GitRepo::new(&[("Dockerfile", &dockerfile(&base, killer_script))]);
    let v = s.queue(
        &victim,
        &format!("{}/adv/victim:1", s.host()),
        &["--build-arg", &format!("TOKEN={secret}")],
    );
    // The victim's RUN step runs; sample every command line meanwhile.
    let deadline = Instant::now() + Duration::from_secs(90);
    while !command_lines().contains("victim-5521") {
        assert!(Instant::now() < deadline, "victim never ran: {}", s.log(v));
        std::thread::sleep(Duration::from_millis(50));
    }
    let k = s.queue(&killer, &format!("{}/adv/killer:1", s.host()), &[]);
    let mut samples = 0;
    while !matches!(
        s.build_json(k)["phase"].as_str(),
        Some("Complete" | "Failed" | "Error" | "Cancelled")
    ) {
        let ps = command_lines();
        assert!(
            !ps.contains(secret),
            "a build arg is on a command line:\n{ps}"
        );
        samples += 1;
        assert!(Instant::now() < deadline, "killer never ended");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(samples > 0);
    let pid = s.pid().expect("server pid");
    assert!(alive(pid), "the server was killed");
    assert_eq!(http(s.port, "GET", "/healthz", None, None).status, 200);
    let kb = s.build_json(k);
    assert_eq!(kb["phase"], "Failed", "{kb}");
    let log = s.log(k);
    // What the killer saw: only its own build's processes (buildah as the
    // namespace's init, its chroot runtime, the RUN step).
    let seen: Vec<&str> = log.lines().filter(|l| l.starts_with("seen ")).collect();
    assert!(!seen.is_empty(), "{log}");
    assert!(
        seen.len() < 10,
        "the RUN step saw {} processes:\n{log}",
        seen.len()
    );
    assert!(
        !log.contains("slipway serve"),
        "the server is visible:\n{log}"
    );
    assert!(
        !log.contains("victim-5521"),
        "another build is visible:\n{log}"
    );
    assert!(
        !log.contains(secret),
        "another build's args are visible:\n{log}"
    );
    // The victim was not disturbed.
    let vb = s.wait_final(v);
    assert_eq!(vb["phase"], "Complete", "{vb}");
}

/// Issue 16, item 7: after `kill -9` of the server during a build with a
/// long RUN step, nothing of that build survives a restart: no process,
/// no buildah container, no work dir, no token file.
#[test]
fn a_killed_server_leaves_nothing_behind_after_a_restart() {
    let (mut s, base) = server(1, None);
    // A RUN step that ignores SIGTERM and forks a grandchild into its own
    // session, as a daemonising test would. The markers are the shells'
    // `$0`, so they stay on the command lines of the looping processes.
    let repo = GitRepo::new(&[(
        "Dockerfile",
        &dockerfile(
            &base,
            "RUN trap '' TERM HUP; setsid sh -c 'trap \"\" TERM HUP; while :; do sleep 1; done' orphan-zq-8812 & sh -c 'trap \"\" TERM HUP; while :; do sleep 1; done' runstep-zq-8812\n",
        ),
    )]);
    let id = s.queue(&repo, &format!("{}/adv/orphan:1", s.host()), &[]);
    let deadline = Instant::now() + Duration::from_secs(90);
    while !process_with_arg("runstep-zq-8812") || !process_with_arg("orphan-zq-8812") {
        assert!(Instant::now() < deadline, "RUN never ran: {}", s.log(id));
        std::thread::sleep(Duration::from_millis(50));
    }
    let run_step_left =
        || process_with_arg("runstep-zq-8812") || process_with_arg("orphan-zq-8812");
    s.kill9();
    wait_while(
        "RUN-step processes outlived the server",
        Duration::from_secs(10),
        run_step_left,
    );
    s.start_again();
    // The restart cleaned up: the re-queued build starts from scratch, and
    // the crashed attempt's container and files are gone.
    let log = s.server_log();
    assert!(log.contains("cleaned up after the last run"), "{log}");
    let storage = s.data_dir().join("buildah/storage");
    let containers = std::process::Command::new("buildah")
        .arg("--root")
        .arg(&storage)
        .arg("--runroot")
        .arg(s.data_dir().join("buildah/run"))
        .args(["--storage-driver", "vfs", "containers", "--quiet"])
        .output()
        .expect("buildah containers");
    let left = String::from_utf8_lossy(&containers.stdout).to_string();
    // The re-queued attempt may have started a container of its own by
    // now; the crashed one's is gone, so at most one is there.
    assert!(left.lines().count() <= 1, "containers left: {left}");
    s.api("POST", &format!("/api/v1/builds/{id}/cancel"), None);
    let b = s.wait_final(id);
    assert_eq!(b["phase"], "Cancelled", "{b}");
    wait_while(
        "the re-queued attempt's RUN step survived its cancel",
        Duration::from_secs(15),
        run_step_left,
    );
    let work = s.data_dir().join("work");
    s.wait_until("work dir emptied", Duration::from_secs(20), || {
        let left: Vec<_> = std::fs::read_dir(&work)
            .map(|d| d.flatten().map(|e| e.file_name()).collect())
            .unwrap_or_default();
        left.iter()
            .all(|n| n.to_string_lossy() == "tokens")
            .then_some(())
    });
}

/// Issue 16, item 2: a worker build's registry token reaches only its
/// output repository (push, pull) and its base images (pull). A manifest
/// PUT or DELETE on any other repository, and any delete, is refused with
/// the distribution spec's DENIED.
#[test]
fn a_worker_build_token_reaches_only_its_own_repositories() {
    // Worker builds as `slipway worker` processes, each with its own API
    // token in a file, as a Kubernetes pod would have it.
    let dir = tempfile::tempdir().unwrap();
    let (s, base) = server(
        1,
        Some(&slipway_test_support::process_cluster_config(dir.path(), 1)),
    );
    let marker = "credscope-3391";
    let repo = GitRepo::new(&[(
        "Dockerfile",
        &dockerfile(&base, &format!("RUN sleep 30 # {marker}\n")),
    )]);
    let id = s.queue(&repo, &format!("{}/adv/mine:1", s.host()), &[]);
    let deadline = Instant::now() + Duration::from_secs(90);
    while !command_lines().contains(marker) {
        assert!(Instant::now() < deadline, "RUN never ran: {}", s.log(id));
        std::thread::sleep(Duration::from_millis(50));
    }
    let b = s.build_json(id);
    let worker = b["workers"][0]["id"].as_i64().expect("worker build id");
    let token = std::fs::read_to_string(s.data_dir().join(format!("work/tokens/worker-{worker}")))
        .expect("the worker's token file")
        .trim()
        .to_string();
    let r = http(
        s.port,
        "POST",
        &format!("/api/v1/worker-builds/{worker}/registry-credentials"),
        Some(&token),
        None,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let registry_token = r.json()["password"].as_str().unwrap().to_string();
    let bearer = format!("Bearer {registry_token}");
    let get = |path: &str| http_raw(s.port, "GET", path, &[("Authorization", &bearer)], b"");
    // Its own output repository and its base image: allowed.
    assert_eq!(get("/v2/adv/mine/tags/list").status, 404); // nothing pushed yet
    assert_eq!(get("/v2/slipway/busybox/tags/list").status, 200);
    // Somebody else's repository: refused, read or write.
    let r = get("/v2/other/repo/tags/list");
    assert_eq!(
        (r.status, r.oci_code().as_str()),
        (403, "DENIED"),
        "{}",
        r.body
    );
    let manifest = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}"#;
    for (method, path) in [
        ("PUT", "/v2/slipway/busybox/manifests/latest"),
        ("PUT", "/v2/other/repo/manifests/evil"),
        ("DELETE", "/v2/slipway/busybox/manifests/latest"),
        ("DELETE", "/v2/adv/mine/manifests/latest"),
        ("POST", "/v2/other/repo/blobs/uploads/"),
    ] {
        let r = http_raw(
            s.port,
            method,
            path,
            &[
                ("Authorization", &bearer),
                ("Content-Type", "application/vnd.oci.image.manifest.v1+json"),
            ],
            manifest.as_bytes(),
        );
        assert_eq!(
            (r.status, r.oci_code().as_str()),
            (403, "DENIED"),
            "{method} {path}: {}",
            r.body
        );
    }
    // Trading it at /auth/token for a wider scope gets no more.
    let basic = format!(
        "Basic {}",
        base64_encode(&format!("slipway:{registry_token}"))
    );
    let t = http_raw(
        s.port,
        "GET",
        "/auth/token?service=slipway&scope=repository:other/repo:pull,push,delete",
        &[("Authorization", &basic)],
        b"",
    );
    assert_eq!(t.status, 200, "{}", t.body);
    let wider = t.json()["token"].as_str().unwrap().to_string();
    let r = http_raw(
        s.port,
        "GET",
        "/v2/other/repo/tags/list",
        &[("Authorization", &format!("Bearer {wider}"))],
        b"",
    );
    assert_eq!((r.status, r.oci_code().as_str()), (403, "DENIED"));
    // The build itself still pushes where it should.
    s.api("POST", &format!("/api/v1/builds/{id}/cancel"), None);
    s.wait_final(id);
}

fn base64_encode(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

const HOOK_SECRET: &str = "replay-test-secret-of-some-length";

fn signed(body: &str) -> String {
    use hmac::{Hmac, Mac};
    let mut m = <Hmac<sha2::Sha256> as Mac>::new_from_slice(HOOK_SECRET.as_bytes()).unwrap();
    m.update(body.as_bytes());
    format!("sha256={}", hex::encode(m.finalize().into_bytes()))
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A generic delivery: (status, body).
fn generic_push(s: &Server, body: &str) -> (u16, serde_json::Value) {
    let sig = signed(body);
    let r = http_raw(
        s.port,
        "POST",
        "/api/v1/webhooks/rp/generic",
        &[
            ("Content-Type", "application/json"),
            ("X-Slipway-Signature-256", &sig),
        ],
        body.as_bytes(),
    );
    (r.status, r.json())
}

fn push_body(commit: &str, delivery: &str, timestamp: u64) -> String {
    format!(
        r#"{{"ref":"refs/heads/main","commit":"{commit}","delivery":"{delivery}","timestamp":{timestamp}}}"#
    )
}

/// The config's builds, oldest first.
fn config_builds(s: &Server) -> Vec<serde_json::Value> {
    let r = s.api("GET", "/api/v1/builds?limit=100", None);
    let mut b: Vec<serde_json::Value> = r
        .json()
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["config"] == "rp")
        .cloned()
        .collect();
    b.sort_by_key(|b| b["id"].as_i64());
    b
}

fn wait_builds(s: &Server, n: usize) -> Vec<serde_json::Value> {
    s.wait_until(
        &format!("{n} builds of rp ended"),
        Duration::from_secs(180),
        || {
            let b = config_builds(s);
            (b.len() >= n
                && b.iter().all(|b| {
                    matches!(
                        b["phase"].as_str(),
                        Some("Complete" | "Failed" | "Error" | "Cancelled" | "Skipped")
                    )
                }))
            .then_some(b)
        },
    )
}

/// Issue 16, item 3: a delivery sent again builds nothing, and an older,
/// validly signed delivery (commit c1 while the branch head is c2) does
/// not roll the image back, under a new delivery id or not; a generic
/// delivery whose signed timestamp is stale is refused.
#[test]
fn replayed_and_older_webhook_deliveries_build_nothing() {
    let (s, base) = server(
        1,
        Some("rebuild_debounce_seconds: 0\nregistry_anonymous_pull: true\n"),
    );
    let repo = GitRepo::new(&[("Dockerfile", &dockerfile(&base, "RUN echo c1 > /v\n"))]);
    let c1 = repo.git(&["rev-parse", "HEAD"]);
    let yaml = format!(
        "name: rp\nsource:\n  url: {}\n  branch: main\noutput: adv/rp\ntriggers:\n  webhook: {{ secret_env: RP_SECRET }}\n",
        repo.path().display()
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rp.yaml");
    std::fs::write(&file, yaml).unwrap();
    let out = s
        .cli_cmd(&["apply", "-f", &file.display().to_string()])
        .env("RP_SECRET", HOOK_SECRET)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));

    let first = push_body(&c1, "d-1", now_secs());
    let (status, reply) = generic_push(&s, &first);
    assert_eq!(status, 202, "{reply}");
    let b = wait_builds(&s, 1);
    assert_eq!(b[0]["phase"], "Complete", "{}", b[0]);
    let c2 = repo.commit(
        &[("Dockerfile", &dockerfile(&base, "RUN echo c2 > /v\n"))],
        "c2",
    );
    let (status, reply) = generic_push(&s, &push_body(&c2, "d-2", now_secs()));
    assert_eq!(status, 202, "{reply}");
    let b = wait_builds(&s, 2);
    assert_eq!(b[1]["phase"], "Complete", "{}", b[1]);
    let latest = |s: &Server| {
        let r = http_raw(
            s.port,
            "HEAD",
            "/v2/adv/rp/manifests/latest",
            &[(
                "Accept",
                "application/vnd.oci.image.manifest.v1+json,application/vnd.docker.distribution.manifest.v2+json",
            )],
            b"",
        );
        r.header("docker-content-digest").unwrap_or_default()
    };
    let c2_digest = latest(&s);
    assert!(
        b[1]["image"].as_str().unwrap().ends_with(&c2_digest),
        "{}",
        b[1]
    );

    // The first delivery, byte for byte, again.
    let (status, reply) = generic_push(&s, &first);
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["outcome"], "ignored");
    assert!(
        reply["message"]
            .as_str()
            .unwrap()
            .contains("already received"),
        "{reply}"
    );
    // The old commit under a fresh id and a fresh timestamp, validly signed.
    let (status, reply) = generic_push(&s, &push_body(&c1, "d-3", now_secs()));
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["outcome"], "ignored");
    assert!(
        reply["message"]
            .as_str()
            .unwrap()
            .contains("is not the head"),
        "{reply}"
    );
    // A stale signed timestamp is refused outright.
    let (status, reply) = generic_push(&s, &push_body(&c2, "d-4", now_secs() - 3600));
    assert_eq!(status, 400, "{reply}");
    assert!(
        reply["message"].as_str().unwrap().contains("timestamp"),
        "{reply}"
    );
    // The newest delivery sent twice builds once.
    let (status, reply) = generic_push(&s, &push_body(&c2, "d-2", now_secs()));
    assert_eq!(
        (status, reply["outcome"].as_str()),
        (200, Some("ignored")),
        "{reply}"
    );
    // GitHub deliveries are recognised by their X-GitHub-Delivery.
    let gh = format!(r#"{{"ref":"refs/heads/main","after":"{c2}"}}"#);
    let github = |id: &str| {
        let sig = signed(&gh);
        http_raw(
            s.port,
            "POST",
            "/api/v1/webhooks/rp/github",
            &[
                ("Content-Type", "application/json"),
                ("X-GitHub-Event", "push"),
                ("X-GitHub-Delivery", id),
                ("X-Hub-Signature-256", &sig),
            ],
            gh.as_bytes(),
        )
    };
    assert_eq!(github("gh-1").status, 202);
    let again = github("gh-1");
    assert_eq!(
        (again.status, again.json()["outcome"].as_str()),
        (200, Some("ignored"))
    );
    // Nothing rolled back: two builds plus the GitHub one (skipped as up
    // to date), and latest is still c2's image.
    std::thread::sleep(Duration::from_secs(3));
    let b = wait_builds(&s, 3);
    assert_eq!(b.len(), 3, "{b:?}");
    assert_eq!(b[2]["phase"], "Skipped", "{}", b[2]);
    assert_eq!(latest(&s), c2_digest);

    // Every delivery that proved itself is in the audit log with its
    // outcome, as the config's project; an unsigned one only in the
    // server's log.
    let forged = http_raw(
        s.port,
        "POST",
        "/api/v1/webhooks/rp/github",
        &[
            ("X-GitHub-Event", "push"),
            ("X-Hub-Signature-256", "sha256=00"),
        ],
        gh.as_bytes(),
    );
    assert_eq!(forged.status, 401);
    let audit = s.api("GET", "/api/v1/audit?limit=1000", None).json();
    let hooks: Vec<(String, u64)> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"].as_str().unwrap().contains("/webhooks/"))
        .map(|r| {
            assert_eq!(r["project"], "default", "{r}");
            assert_eq!(r["source"], "127.0.0.1", "{r}");
            (
                r["who"].as_str().unwrap().to_string(),
                r["status"].as_u64().unwrap(),
            )
        })
        .rev()
        .collect();
    let generic = "webhook generic of config rp".to_string();
    let github = "webhook github of config rp".to_string();
    assert_eq!(
        hooks,
        [
            (generic.clone(), 202),
            (generic.clone(), 202),
            (generic.clone(), 200),
            (generic.clone(), 200),
            (generic.clone(), 400),
            (generic, 200),
            (github.clone(), 202),
            (github, 200),
        ],
        "{audit}"
    );
}

/// Issue 16, item 4: a git URL's password, a webhook secret and a
/// notification secret appear in no API answer, no command line sampled
/// during the build, no log, and nowhere in the database files read as
/// bytes; a data dir that was world-readable is made private at start.
#[test]
fn secrets_never_leave() {
    require_tools();
    let password = "gitpw-Secr3t-77120";
    let hook = "hook-Secr3t-77121";
    let notify = "notify-Secr3t-77122";
    let home = tempfile::tempdir().unwrap();
    // A data dir someone made world-readable, with a database in it.
    let mut s = Server::start(Path::new(BIN), 1);
    s.sigterm();
    use std::os::unix::fs::PermissionsExt;
    let data = s.data_dir();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(
        data.join("slipway.db"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    s.start_again();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700);
    for f in [
        "slipway.db",
        "slipway.db-wal",
        "admin-token",
        "secret-key",
        "registry-key",
    ] {
        if data.join(f).exists() {
            assert_eq!(mode(&data.join(f)), 0o600, "{f}");
        }
    }

    // A config with a webhook secret, a notification secret and a git
    // URL with a password (to a server that refuses: the build fails).
    let yaml = format!(
        "name: sec\nsource:\n  url: http://robot:{password}@127.0.0.1:9/private.git\n  branch: main\noutput: adv/sec\ntriggers:\n  webhook: {{ secret: {hook} }}\nnotify:\n- webhook: {{ url: \"http://127.0.0.1:9/hook\", secret: {notify} }}\n"
    );
    let file = home.path().join("sec.yaml");
    std::fs::write(&file, yaml).unwrap();
    // Apply reads the Dockerfile at the branch head, which this URL cannot
    // give: refused, and the password is not in the answer.
    let out = s.cli(&["apply", "-f", &file.display().to_string()]);
    assert!(!out.status.success());
    assert!(!stderr(&out).contains(password), "{}", stderr(&out));
    // A direct build with the same URL is accepted and fails to fetch.
    let body = format!(
        r#"{{"source":{{"url":"http://robot:{password}@127.0.0.1:9/private.git"}},"output":"adv/sec:1","build_args":{{"TOKEN":"argval-Secr3t-77123"}}}}"#
    );
    let sampler = std::thread::spawn(move || {
        let mut seen = String::new();
        for _ in 0..60 {
            let ps = command_lines();
            if ps.contains("gitpw-Secr3t") || ps.contains("argval-Secr3t") {
                seen = ps;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        seen
    });
    let r = s.api("POST", "/api/v1/builds", Some(&body));
    assert_eq!(r.status, 201, "{}", r.body);
    assert!(!r.body.contains(password), "{}", r.body);
    let id = r.json()["id"].as_i64().unwrap();
    let b = s.wait_final(id);
    assert_eq!(b["phase"], "Failed", "{b}");
    assert_eq!(
        sampler.join().unwrap(),
        "",
        "the password was on a command line"
    );
    // Store the config directly (as an apply that could read the branch
    // would) through a config whose URL works, then point a second one at
    // the secret URL: every API answer about configs hides the secrets.
    let good = GitRepo::new(&[("Dockerfile", "FROM scratch\n")]);
    let ok_yaml = format!(
        "name: sec2\nsource:\n  url: {}\n  branch: main\noutput: adv/sec2\ntriggers:\n  webhook: {{ secret: {hook} }}\nnotify:\n- webhook: {{ url: \"http://127.0.0.1:9/hook\", secret: {notify} }}\n",
        good.path().display()
    );
    s.apply(&ok_yaml);
    let answers = [
        s.api("GET", &format!("/api/v1/builds/{id}"), None).body,
        s.api("GET", "/api/v1/builds", None).body,
        s.api("GET", "/api/v1/configs", None).body,
        s.api("GET", "/api/v1/configs/sec2", None).body,
        s.api("GET", "/api/v1/notifications", None).body,
        slipway_test_support::stdout(&s.cli(&["show", &id.to_string(), "-o", "json"])),
        slipway_test_support::stdout(&s.cli(&["builds", "-o", "json"])),
        s.log(id),
    ];
    for a in &answers {
        for secret in [password, hook, notify] {
            assert!(!a.contains(secret), "{secret} in an answer:\n{a}");
        }
    }
    assert!(answers[0].contains("robot:***@"), "{}", answers[0]);
    // The database files, read as bytes, hold none of them.
    s.sigterm();
    for f in ["slipway.db", "slipway.db-wal", "slipway.db-shm"] {
        let p = data.join(f);
        if let Ok(bytes) = std::fs::read(&p) {
            for secret in [password, hook, notify] {
                assert!(
                    !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                    "{secret} is in {f}"
                );
            }
        }
    }
    assert!(!s.server_log().contains(password));
}

/// A small tmpfs mounted at a path, unmounted (lazily) when dropped.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(at).unwrap();
        let out = std::process::Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(at)
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "this test mounts a tmpfs and needs root: {}",
            stderr(&out)
        );
        Tmpfs(at.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

/// Fill the file system holding `dir` until it has no room left.
fn fill_disk(dir: &Path) -> std::path::PathBuf {
    use std::io::Write;
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).unwrap();
    let chunk = vec![0x5au8; 1 << 20];
    while f.write_all(&chunk).is_ok() {}
    let small = vec![0x5au8; 4096];
    while f.write_all(&small).is_ok() {}
    let _ = f.sync_all();
    path
}

/// Issue 16, items 5 and 6: the data dir's disk fills up and is freed
/// again. While full: `/readyz` says not ready (`/healthz` still ok), a
/// registry push answers 507 saying "no space left on device" and leaves
/// no partial upload, and a build is refused or ends Error saying why.
/// Once freed, builds and pushes work again without a restart.
#[test]
fn a_full_disk_is_a_clear_error_and_everything_recovers_without_a_restart() {
    require_tools();
    let mut mount = None;
    let s = Server::start_with_setup(Path::new(BIN), 1, Some("min_free_space_mb: 8\n"), |home| {
        mount = Some(Tmpfs::mount(&home.join("data"), "160m"))
    });
    let _mount = mount;
    let base = s.push_base_image();
    let repo = GitRepo::new(&[("Dockerfile", &dockerfile(&base, "RUN echo hi > /hi\n"))]);
    let first = s.queue(&repo, &format!("{}/adv/full:1", s.host()), &[]);
    assert_eq!(s.wait_final(first)["phase"], "Complete");
    assert_eq!(http(s.port, "GET", "/readyz", None, None).status, 200);

    let filler = fill_disk(&s.data_dir());
    let ready = http(s.port, "GET", "/readyz", None, None);
    assert_eq!(ready.status, 503, "{}", ready.body);
    assert_eq!(ready.json()["code"], "NOT_READY");
    assert_eq!(http(s.port, "GET", "/healthz", None, None).status, 200);

    // A push: the upload starts (no data yet), its first chunk cannot be
    // written.
    let auth = format!("Bearer {}", s.token());
    let started = http_raw(
        s.port,
        "POST",
        "/v2/adv/blob/blobs/uploads/",
        &[("Authorization", &auth)],
        b"",
    );
    let chunk = vec![7u8; 4 << 20];
    let refused = if started.status == 202 {
        let location = started.header("location").unwrap();
        http_raw(
            s.port,
            "PATCH",
            &location,
            &[
                ("Authorization", &auth),
                ("Content-Type", "application/octet-stream"),
            ],
            &chunk,
        )
    } else {
        started
    };
    assert_eq!(refused.status, 507, "{}", refused.body);
    assert!(
        refused.json()["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("no space left on device"),
        "{}",
        refused.body
    );
    let uploads: Vec<_> = std::fs::read_dir(s.data_dir().join("registry/uploads"))
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(uploads.is_empty(), "partial uploads left: {uploads:?}");

    // A build: refused at once (the database cannot grow) or ended Error,
    // either way saying the disk is full.
    let body = format!(
        r#"{{"source":{{"url":"{}"}},"output":"adv/full:2"}}"#,
        repo.path().display()
    );
    let r = s.api("POST", "/api/v1/builds", Some(&body));
    if r.status == 201 {
        let b = s.wait_final(r.json()["id"].as_i64().unwrap());
        assert_eq!(b["phase"], "Error", "{b}");
        assert!(
            b["reason"]
                .as_str()
                .unwrap()
                .contains("no space left on device"),
            "{b}"
        );
    } else {
        assert_eq!(r.status, 507, "{}", r.body);
        assert_eq!(r.json()["code"], "INSUFFICIENT_STORAGE");
    }

    // Freed: everything works again, with no restart.
    std::fs::remove_file(&filler).unwrap();
    s.wait_until("ready again", Duration::from_secs(10), || {
        (http(s.port, "GET", "/readyz", None, None).status == 200).then_some(())
    });
    let again = s.queue(&repo, &format!("{}/adv/full:3", s.host()), &[]);
    let b = s.wait_final(again);
    assert_eq!(b["phase"], "Complete", "{b}\n{}", s.log(again));
    let started = http_raw(
        s.port,
        "POST",
        "/v2/adv/blob/blobs/uploads/?digest=sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae",
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/octet-stream"),
        ],
        b"foo",
    );
    assert_eq!(started.status, 201, "{}", started.body);
    assert!(
        !s.server_log().contains("transaction depth"),
        "{}",
        s.server_log()
    );
}

/// Issue 16, item 8: inputs over the limits are refused with a 400 (or a
/// 413 for a body over the request limit) before anything is stored, and
/// the build list is made of summaries.
#[test]
fn oversize_inputs_are_refused_and_nothing_is_stored() {
    let (s, _base) = server(1, None);
    let repo = GitRepo::new(&[("Dockerfile", "FROM scratch\n")]);
    let url = repo.path().display().to_string();
    let with_args = |value_len: usize| {
        format!(
            r#"{{"source":{{"url":"{url}"}},"output":"adv/big:1","build_args":{{"BIG":"{}"}}}}"#,
            "x".repeat(value_len)
        )
    };
    // 1.9 MB: over the request body limit.
    let r = s.api("POST", "/api/v1/builds", Some(&with_args(1_900_000)));
    assert_eq!(r.status, 413, "{}", r.body);
    assert_eq!(r.json()["code"], "PAYLOAD_TOO_LARGE");
    // 100 KB: a fine body, too many build-arg bytes.
    let r = s.api("POST", "/api/v1/builds", Some(&with_args(100_000)));
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .contains("limits.build_args_bytes")
    );
    let labels = format!(
        r#"{{"source":{{"url":"{url}"}},"output":"adv/big:1","labels":{{"l":"{}"}}}}"#,
        "y".repeat(70_000)
    );
    let r = s.api("POST", "/api/v1/builds", Some(&labels));
    assert_eq!(
        (r.status, r.json()["code"].as_str()),
        (400, Some("INVALID_REQUEST"))
    );
    let platforms = format!(
        r#"{{"source":{{"url":"{url}"}},"output":"adv/big:1","platforms":[{}]}}"#,
        ["\"x86_64\""; 9].join(",")
    );
    let r = s.api("POST", "/api/v1/builds", Some(&platforms));
    assert_eq!(r.status, 400, "{}", r.body);
    // Nothing was stored.
    let list = s.api("GET", "/api/v1/builds", None);
    assert_eq!(list.json().as_array().unwrap().len(), 0, "{}", list.body);
    // A Dockerfile over its limit fails the build when it is read.
    let huge = GitRepo::new(&[(
        "Dockerfile",
        &format!("FROM scratch\n# {}\n", "z".repeat(1_100_000)),
    )]);
    let id = s.queue(&huge, &format!("{}/adv/big:2", s.host()), &[]);
    let b = s.wait_final(id);
    assert_eq!(b["phase"], "Failed");
    assert!(
        b["reason"]
            .as_str()
            .unwrap()
            .contains("limits.dockerfile_bytes"),
        "{b}"
    );
    // The list is summaries: no spec, no events; pages by cursor.
    let list = s.api("GET", "/api/v1/builds?limit=1", None);
    let first = &list.json()[0];
    assert_eq!(first["id"], id);
    assert!(
        first.get("events").is_none() && first.get("spec").is_none(),
        "{first}"
    );
    assert!(first["source"].is_string() && first["output"].is_string());
    assert!(
        list.header("link")
            .is_some_and(|l| l.contains(&format!("before={id}"))),
        "{}",
        list.headers
    );
}

/// Issue 16, item 10: every error answer is JSON with a stable code —
/// including the framework's own (415, 422, a path that is not UTF-8, a
/// number too large), the registry's use the spec's codes, and a failing
/// step's reason is one short line.
#[test]
fn error_answers_are_json_with_stable_codes() {
    let (s, base) = server(1, None);
    let token = s.token();
    let auth = format!("Bearer {token}");
    let raw = |method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]| {
        let mut h = vec![("Authorization", auth.as_str())];
        h.extend_from_slice(headers);
        http_raw(s.port, method, path, &h, body)
    };
    let expect = |r: slipway_test_support::HttpResponse, status: u16, code: &str| {
        assert_eq!(r.status, status, "{}", r.body);
        let v = r.json();
        assert_eq!(v["code"], code, "{}", r.body);
        assert!(!v["message"].as_str().unwrap().is_empty());
    };
    // 415: a JSON endpoint given something else; 422: JSON of the wrong shape.
    expect(
        raw(
            "POST",
            "/api/v1/worker-builds/1/commit",
            &[("Content-Type", "text/plain")],
            b"x",
        ),
        415,
        "UNSUPPORTED_MEDIA_TYPE",
    );
    expect(
        raw(
            "POST",
            "/api/v1/worker-builds/1/commit",
            &[("Content-Type", "application/json")],
            b"{\"nonsense\":1}",
        ),
        422,
        "INVALID_REQUEST",
    );
    // A path that is not UTF-8, numbers that overflow.
    expect(
        raw("GET", "/api/v1/builds/%FF%FE", &[], b""),
        400,
        "INVALID_REQUEST",
    );
    expect(
        raw("GET", "/api/v1/builds/99999999999999999999", &[], b""),
        400,
        "INVALID_REQUEST",
    );
    let repo = GitRepo::new(&[("Dockerfile", &dockerfile(&base, "COPY missing-file /x\n"))]);
    let id = s.queue(&repo, &format!("{}/adv/err:1", s.host()), &[]);
    let b = s.wait_final(id);
    assert_eq!(b["phase"], "Failed");
    let reason = b["reason"].as_str().unwrap();
    assert!(!reason.contains('\n') && reason.len() < 450, "{reason}");
    assert!(reason.contains("missing-file"), "{reason}");
    for offset in ["99999999999999999999", "18446744073709551615"] {
        expect(
            raw(
                "GET",
                &format!("/api/v1/builds/{id}/log?offset={offset}"),
                &[],
                b"",
            ),
            400,
            "INVALID_REQUEST",
        );
    }
    let r = raw(
        "GET",
        &format!("/api/v1/builds/{id}/log?offset=9223372036854775807"),
        &[],
        b"",
    );
    assert_eq!((r.status, r.body.as_str()), (200, ""));
    // Unknown routes and methods.
    expect(raw("GET", "/api/v1/nope", &[], b""), 404, "NOT_FOUND");
    expect(
        raw("DELETE", "/api/v1/builds", &[], b""),
        405,
        "METHOD_NOT_ALLOWED",
    );
    // The registry: the spec's error bodies.
    let r = raw("GET", "/v2/_catalog?n=abc", &[], b"");
    assert_eq!(
        (r.status, r.oci_code().as_str()),
        (400, "PAGINATION_NUMBER_INVALID")
    );
    for method in ["GET", "HEAD"] {
        let r = raw(method, "/v2/slipway/busybox/manifests/bad!tag", &[], b"");
        assert_eq!(r.status, 404, "{method}: {}", r.body);
        if method == "GET" {
            assert_eq!(r.oci_code(), "MANIFEST_UNKNOWN");
        }
    }
}

/// Issue 16, item 11: a referrer whose manifest has no artifactType and a
/// plain image config is listed with the config's media type, and found by
/// that filter.
#[test]
fn referrers_name_the_config_media_type_when_there_is_no_artifact_type() {
    use sha2::Digest;
    let (s, _base) = server(1, None);
    let auth = format!("Bearer {}", s.token());
    let sha = |b: &[u8]| format!("sha256:{}", hex::encode(sha2::Sha256::digest(b)));
    let put_blob = |b: &[u8]| {
        let d = sha(b);
        let r = http_raw(
            s.port,
            "POST",
            &format!("/v2/adv/ref/blobs/uploads/?digest={d}"),
            &[
                ("Authorization", &auth),
                ("Content-Type", "application/octet-stream"),
            ],
            b,
        );
        assert_eq!(r.status, 201, "{}", r.body);
        d
    };
    let put_manifest = |tag: &str, m: &str| {
        let r = http_raw(
            s.port,
            "PUT",
            &format!("/v2/adv/ref/manifests/{tag}"),
            &[
                ("Authorization", &auth),
                ("Content-Type", "application/vnd.oci.image.manifest.v1+json"),
            ],
            m.as_bytes(),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        sha(m.as_bytes())
    };
    let config =
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
    let cd = put_blob(config);
    let image = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{cd}","size":{}}},"layers":[]}}"#,
        config.len()
    );
    let subject = put_manifest("subject", &image);
    let referrer = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{cd}","size":{}}},"layers":[],"subject":{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{subject}","size":{}}}}}"#,
        config.len(),
        image.len()
    );
    let rd = put_manifest("referrer", &referrer);
    let r = http_raw(
        s.port,
        "GET",
        &format!(
            "/v2/adv/ref/referrers/{subject}?artifactType=application/vnd.oci.image.config.v1%2Bjson"
        ),
        &[("Authorization", &auth)],
        b"",
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let list = r.json();
    let found = list["manifests"].as_array().unwrap();
    assert_eq!(found.len(), 1, "{list}");
    assert_eq!(found[0]["digest"], rd.as_str());
    assert_eq!(
        found[0]["artifactType"],
        "application/vnd.oci.image.config.v1+json"
    );
}

/// Issue 16, item 9: a git server that accepts the connection and never
/// answers: the build fails after the connect timeout instead of staying
/// New, and a build cancelled while git hangs ends Cancelled with its git
/// process gone.
#[test]
fn a_hung_git_server_times_out_and_a_cancel_kills_git() {
    require_tools();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for c in listener.incoming().flatten() {
            held.push(c); // accepted, never answered
        }
    });
    let url = format!("http://127.0.0.1:{port}/hung.git");
    let body = format!(r#"{{"source":{{"url":"{url}"}},"output":"adv/hung:1"}}"#);
    let git_running = || {
        command_lines()
            .lines()
            .any(|l| l.contains(&format!("127.0.0.1:{port}/hung.git")) && l.contains("git"))
    };

    // Patient limits: the build hangs in git until cancelled.
    let s = Server::start_with_config(
        Path::new(BIN),
        1,
        Some("git: { connect_timeout_seconds: 600, no_progress_timeout_seconds: 600 }\n"),
    );
    let r = s.api("POST", "/api/v1/builds", Some(&body));
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.json()["id"].as_i64().unwrap();
    s.wait_until("git to be asked", Duration::from_secs(30), || {
        git_running().then_some(())
    });
    assert_eq!(s.build_json(id)["phase"], "New");
    let r = s.api("POST", &format!("/api/v1/builds/{id}/cancel"), None);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(s.build_json(id)["phase"], "Cancelled");
    s.wait_until("git to be gone", Duration::from_secs(10), || {
        (!git_running()).then_some(())
    });
    drop(s);

    // Short limits: the build fails, saying the server did not answer.
    let s = Server::start_with_config(
        Path::new(BIN),
        1,
        Some("git: { connect_timeout_seconds: 2, no_progress_timeout_seconds: 2 }\n"),
    );
    let r = s.api("POST", "/api/v1/builds", Some(&body));
    let id = r.json()["id"].as_i64().unwrap();
    let b = s.wait_final(id);
    assert_eq!(b["phase"], "Failed", "{b}");
    assert!(
        b["reason"]
            .as_str()
            .unwrap()
            .contains("no answer within 2s"),
        "{b}"
    );
    s.wait_until("git to be gone", Duration::from_secs(10), || {
        (!git_running()).then_some(())
    });
}
