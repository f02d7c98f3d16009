//! Automatic rebuilds end to end, with the real binary, buildah, Debian's
//! docker-registry and skopeo: configs A → B → C and A → D from local git
//! repositories; a signed GitHub webhook for a commit to A rebuilds A, then
//! B and D, then C, each on its parent's new digest; a bad signature
//! triggers nothing; the same trigger again is skipped as up to date; a
//! cycle is refused at apply; a CentOS index imports into the same graph.

use hmac::{Hmac, Mac};
use slipway_test_support::{
    GitRepo, Registry, Server, http_raw, require_tools, skopeo_inspect, stderr, stdout,
};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_slipway");
const SECRET: &str = "a-webhook-secret-of-some-length";

fn dockerfile(from: &str, name: &str, run: &str) -> String {
    format!("FROM {from}\nLABEL name=t/{name} version=1 component={name}-container\nRUN {run}\n")
}

fn signature(body: &[u8]) -> String {
    let mut m = <Hmac<sha2::Sha256> as Mac>::new_from_slice(SECRET.as_bytes()).unwrap();
    m.update(body);
    format!("sha256={}", hex::encode(m.finalize().into_bytes()))
}

fn github_push(
    server: &Server,
    commit: &str,
    signature_override: Option<&str>,
) -> (u16, serde_json::Value) {
    let body = format!(
        r#"{{"ref":"refs/heads/main","before":"{}","after":"{commit}","repository":{{"name":"a"}}}}"#,
        "1".repeat(40)
    );
    let sig = signature_override
        .map(str::to_string)
        .unwrap_or_else(|| signature(body.as_bytes()));
    // Each delivery has its own id, as GitHub's do (a repeated id is a
    // replay and builds nothing).
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let delivery = format!(
        "test-delivery-{}",
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    let r = http_raw(
        server.port,
        "POST",
        "/api/v1/webhooks/a/github",
        &[
            ("Content-Type", "application/json"),
            ("X-GitHub-Event", "push"),
            ("X-GitHub-Delivery", &delivery),
            ("X-Hub-Signature-256", &sig),
        ],
        body.as_bytes(),
    );
    (r.status, r.json())
}

/// POST a delivery to A's webhook for `provider`: (status, body).
fn deliver(
    server: &Server,
    provider: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, serde_json::Value) {
    let mut all = vec![("Content-Type", "application/json")];
    all.extend_from_slice(headers);
    let r = http_raw(
        server.port,
        "POST",
        &format!("/api/v1/webhooks/a/{provider}"),
        &all,
        body.as_bytes(),
    );
    (r.status, r.json())
}

fn wave(server: &Server, id: i64) -> serde_json::Value {
    let r = server.api("GET", &format!("/api/v1/waves/{id}"), None);
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()
}

fn wait_wave(server: &Server, id: i64) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let w = wave(server, id);
        if w["state"] == "Done" {
            return w;
        }
        assert!(
            Instant::now() < deadline,
            "wave {id} never finished: {w}\nserver log:\n{}",
            server.server_log()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn member<'a>(w: &'a serde_json::Value, config: &str) -> &'a serde_json::Value {
    w["members"]
        .as_array()
        .and_then(|m| m.iter().find(|m| m["config"] == config))
        .unwrap_or_else(|| panic!("{config} is not in wave {w}"))
}

fn waves(server: &Server) -> usize {
    server
        .api("GET", "/api/v1/waves", None)
        .json()
        .as_array()
        .map_or(0, Vec::len)
}

fn ts(v: &serde_json::Value) -> jiff::Timestamp {
    v.as_str()
        .unwrap_or_else(|| panic!("not a time: {v}"))
        .parse()
        .unwrap()
}

/// The builds of a finished wave, by config: (build JSON).
fn builds(
    server: &Server,
    w: &serde_json::Value,
) -> std::collections::HashMap<String, serde_json::Value> {
    w["members"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| {
            let id = m["build"].as_i64()?;
            Some((m["config"].as_str()?.to_string(), server.build_json(id)))
        })
        .collect()
}

/// Every build of the wave completed, each child started after its
/// parents ended, and each child was pinned to its parent's new digest.
fn check_order_and_pins(
    server: &Server,
    w: &serde_json::Value,
    host: &str,
) -> std::collections::HashMap<String, serde_json::Value> {
    let b = builds(server, w);
    for name in ["a", "b", "c", "d"] {
        let build = &b[name];
        assert_eq!(
            build["phase"],
            "Complete",
            "{name}: {build}\nlog:\n{}",
            server.log(build["id"].as_i64().unwrap())
        );
        assert_eq!(member(w, name)["state"], "built", "{w}");
    }
    for (child, parent) in [("b", "a"), ("d", "a"), ("c", "b")] {
        let started = ts(&b[child]["started_at"]);
        let parent_end = ts(&b[parent]["finished_at"]);
        assert!(
            started >= parent_end,
            "{child} started before {parent} ended"
        );
        let digest = b[parent]["image"]["digest"].as_str().unwrap();
        let from = format!("{host}/t/{parent}:latest");
        assert_eq!(
            b[child]["spec"]["parent_digests"][&from],
            format!("{host}/t/{parent}@{digest}"),
            "{child} is not pinned to {parent}'s new digest: {}",
            b[child]["spec"]
        );
        assert_eq!(b[child]["spec"]["trigger"]["kind"], "parent");
        assert_eq!(b[child]["spec"]["trigger"]["config"], parent);
        // The child image is built on the parent's layers.
        let parent_layers =
            skopeo_inspect(&format!("{host}/t/{parent}@{digest}"))["Layers"].clone();
        let child_digest = b[child]["image"]["digest"].as_str().unwrap();
        let child_layers =
            skopeo_inspect(&format!("{host}/t/{child}@{child_digest}"))["Layers"].clone();
        let (p, c) = (
            parent_layers.as_array().unwrap(),
            child_layers.as_array().unwrap(),
        );
        assert_eq!(
            &c[..p.len()],
            &p[..],
            "{child} is not built on {parent}'s image"
        );
    }
    // Critical path first: b (b → c) outranks d.
    assert!(
        b["b"]["spec"]["priority"].as_i64() > b["d"]["spec"]["priority"].as_i64(),
        "{} {}",
        b["b"]["spec"]["priority"],
        b["d"]["spec"]["priority"]
    );
    b
}

#[test]
fn parent_child_rebuilds_from_a_webhook() {
    require_tools();
    let registry = Registry::start();
    let base = registry.push_base_image();
    let server = Server::start_with_config(
        std::path::Path::new(BIN),
        2,
        Some("rebuild_debounce_seconds: 1\nregistry_anonymous_pull: true\n"),
    );
    let host = server.host();
    let repo_a = GitRepo::new(&[("Dockerfile", &dockerfile(&base, "a", "echo a1 > /a"))]);
    // c takes 4 s longer than the others, so the critical path through b
    // (b → c) outranks d's by that much, however loaded the machine: the
    // planner's estimates are the configs' last build durations.
    let child = |name: &str, parent: &str| {
        let slow = if name == "c" { " && sleep 4" } else { "" };
        GitRepo::new(&[(
            "Dockerfile",
            &dockerfile(
                &format!("{host}/t/{parent}:latest"),
                name,
                &format!("cat /{parent} > /{name} && echo {name} >> /{name}{slow}"),
            ),
        )])
    };
    let (repo_b, repo_c, repo_d) = (child("b", "a"), child("c", "b"), child("d", "a"));
    let config = |name: &str, repo: &GitRepo, extra: &str| {
        format!(
            "---\nname: {name}\nsource:\n  url: {}\n  branch: main\noutput: t/{name}\n{extra}",
            repo.path().display()
        )
    };
    let configs = [
        config(
            "a",
            &repo_a,
            "triggers:\n  webhook: { secret_env: A_HOOK_SECRET }\nrun_policy: SerialLatestOnly\nhistory: { successful: 2, failed: 2 }\n",
        ),
        config("b", &repo_b, ""),
        config("c", &repo_c, ""),
        config("d", &repo_d, ""),
    ]
    .concat();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("configs.yaml"), &configs).unwrap();
    let file = dir.path().join("configs.yaml").display().to_string();

    // apply: the secret comes from the environment; without it, a clear error.
    let out = server.cli(&["apply", "-f", &file]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("A_HOOK_SECRET"), "{}", stderr(&out));
    let out = server
        .cli_cmd(&["apply", "-f", &file, "-o", "json"])
        .env("A_HOOK_SECRET", SECRET)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let applied: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(applied["created"], serde_json::json!(["a", "b", "c", "d"]));

    // The config list pages by name; the CLI follows the pages.
    let page = server.api("GET", "/api/v1/configs?limit=3", None);
    assert_eq!(page.status, 200, "{}", page.body);
    let names: Vec<String> = page
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["config"]["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["a", "b", "c"]);
    assert!(
        page.headers
            .contains("/api/v1/configs?limit=3&after=c>; rel=\"next\""),
        "{}",
        page.headers
    );
    let rest = server.api("GET", "/api/v1/configs?limit=3&after=c", None);
    assert_eq!(rest.json().as_array().unwrap().len(), 1, "{}", rest.body);
    assert!(
        !rest.headers.to_ascii_lowercase().contains("link:"),
        "{}",
        rest.headers
    );
    let bad = server.api("GET", "/api/v1/configs?limit=x", None);
    assert_eq!(bad.status, 400, "{}", bad.body);

    // The graph, from the FROM lines.
    let out = server.cli(&["graph", "-o", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let g: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let parents = |n: &str| {
        g["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["name"] == n)
            .map(|x| x["parents"].clone())
            .unwrap()
    };
    assert_eq!(parents("a"), serde_json::json!([]));
    assert_eq!(parents("b"), serde_json::json!(["a"]));
    assert_eq!(parents("c"), serde_json::json!(["b"]));
    assert_eq!(parents("d"), serde_json::json!(["a"]));
    let dot = stdout(&server.cli(&["graph", "-o", "dot"]));
    assert!(
        dot.contains("\"a\" -> \"b\";") && dot.contains("\"b\" -> \"c\";"),
        "{dot}"
    );
    // The secret is never shown.
    let shown = stdout(&server.cli(&["configs", "a", "-o", "json"]));
    assert!(!shown.contains(SECRET), "{shown}");

    // First wave: build everything.
    let out = server.cli(&["start", "a", "-o", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let started: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let first_wave = started["wave"].as_i64().unwrap();
    let w = wait_wave(&server, first_wave);
    check_order_and_pins(&server, &w, &host);
    // A's builds, oldest first, for the history limits at the end.
    let mut a_builds = vec![member(&w, "a")["build"].as_i64().unwrap()];

    // A commit to A, delivered by a signed GitHub webhook.
    let commit = repo_a.commit(
        &[("Dockerfile", &dockerfile(&base, "a", "echo a2 > /a"))],
        "a2",
    );
    let before = waves(&server);
    // A bad signature and a missing one trigger nothing.
    let (status, body) = github_push(
        &server,
        &commit,
        Some(&format!("sha256={}", "0".repeat(64))),
    );
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["code"], "UNAUTHORIZED");
    let (status, _) = github_push(&server, &commit, Some("garbage"));
    assert_eq!(status, 401);
    assert_eq!(waves(&server), before, "a refused delivery made a wave");

    let (status, body) = github_push(&server, &commit, None);
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["outcome"], "triggered");
    let w = wait_wave(&server, body["wave"].as_i64().unwrap());
    let b = check_order_and_pins(&server, &w, &host);
    a_builds.push(b["a"]["id"].as_i64().unwrap());
    assert_eq!(b["a"]["commit"], commit.as_str());
    assert_eq!(b["a"]["spec"]["trigger"]["kind"], "webhook");
    assert_eq!(b["a"]["spec"]["trigger"]["commit"], commit.as_str());
    let a_digest = b["a"]["image"]["digest"].as_str().unwrap().to_string();
    assert_eq!(
        skopeo_inspect(&format!("{host}/t/a:latest"))["Digest"],
        a_digest.as_str()
    );

    // The same trigger again: up to date, nothing rebuilt. A likely no-op
    // does not wait out the window: the answer comes once it is decided.
    let (status, body) = github_push(&server, &commit, None);
    assert_eq!(status, 202, "{body}");
    let answered = wave(&server, body["wave"].as_i64().unwrap());
    assert_eq!(member(&answered, "a")["state"], "skipped", "{answered}");
    let w = wait_wave(&server, body["wave"].as_i64().unwrap());
    let a = member(&w, "a");
    assert_eq!(a["state"], "skipped", "{w}");
    let skipped = server.build_json(a["build"].as_i64().unwrap());
    a_builds.push(a["build"].as_i64().unwrap());
    assert_eq!(skipped["phase"], "Skipped", "{skipped}");
    assert!(
        skipped["reason"]
            .as_str()
            .unwrap()
            .starts_with("skipped: up to date"),
        "{skipped}"
    );
    for n in ["b", "c", "d"] {
        assert_eq!(member(&w, n)["state"], "skipped", "{w}");
        assert!(member(&w, n)["build"].is_null(), "{n} was built: {w}");
    }
    let events = stdout(&server.cli(&["configs", "a"]));
    assert!(events.contains("skipped: up to date"), "{events}");
    // Forced, it builds.
    let out = server.cli(&["start", "a", "--force", "-o", "json"]);
    let forced: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let w = wait_wave(&server, forced["wave"].as_i64().unwrap());
    let fa = server.build_json(member(&w, "a")["build"].as_i64().unwrap());
    let fa_log = server.log(fa["id"].as_i64().unwrap());
    assert_eq!(fa["phase"], "Complete", "{fa}\n{fa_log}");
    let forced_build = fa["id"].as_i64().unwrap();
    a_builds.push(forced_build);

    // GitLab, Gitea and generic deliveries: refused when not signed by the
    // secret, and otherwise read and (the commit being built already)
    // skipped as up to date.
    let push = format!(
        r#"{{"object_kind":"push","ref":"refs/heads/main","after":"{commit}","checkout_sha":"{commit}"}}"#
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let generic = format!(
        r#"{{"ref":"refs/heads/main","commit":"{commit}","delivery":"generic-1","timestamp":{now}}}"#
    );
    let gitea_sig = signature(push.as_bytes())
        .trim_start_matches("sha256=")
        .to_string();
    let generic_sig = signature(generic.as_bytes());
    let before = waves(&server);
    let refused = [
        (
            "gitlab",
            vec![("X-Gitlab-Event", "Push Hook"), ("X-Gitlab-Token", "wrong")],
            &push,
        ),
        ("gitlab", vec![("X-Gitlab-Event", "Push Hook")], &push),
        (
            "gitea",
            vec![("X-Gitea-Event", "push"), ("X-Gitea-Signature", "00ff")],
            &push,
        ),
        ("generic", vec![], &generic),
        (
            "generic",
            vec![("X-Slipway-Signature-256", generic_sig.as_str())],
            &push,
        ),
    ];
    for (provider, headers, body) in refused {
        let (status, reply) = deliver(&server, provider, &headers, body);
        assert_eq!(status, 401, "{provider} {headers:?}: {reply}");
        assert_eq!(reply["code"], "UNAUTHORIZED");
    }
    assert_eq!(waves(&server), before, "a refused delivery made a wave");
    let accepted = [
        (
            "gitlab",
            vec![("X-Gitlab-Event", "Push Hook"), ("X-Gitlab-Token", SECRET)],
            &push,
        ),
        (
            "gitea",
            vec![
                ("X-Gitea-Event", "push"),
                ("X-Gitea-Signature", gitea_sig.as_str()),
            ],
            &push,
        ),
        (
            "generic",
            vec![("X-Slipway-Signature-256", generic_sig.as_str())],
            &generic,
        ),
    ];
    for (provider, headers, body) in accepted {
        let (status, reply) = deliver(&server, provider, &headers, body);
        assert_eq!(status, 202, "{provider}: {reply}");
        let w = wait_wave(&server, reply["wave"].as_i64().unwrap());
        let id = member(&w, "a")["build"].as_i64().unwrap();
        let build = server.build_json(id);
        assert_eq!(build["phase"], "Skipped", "{provider}: {build}");
        assert_eq!(build["spec"]["trigger"]["kind"], "webhook");
        assert_eq!(build["spec"]["trigger"]["provider"], provider);
        assert_eq!(build["spec"]["trigger"]["commit"], commit.as_str());
        a_builds.push(id);
    }

    // History limits (2 successful, 2 failed), Complete and Skipped builds
    // counted apart: the two newest complete builds (the forced one, A's
    // current image, and the webhook's) and the two newest skipped ones
    // stay; the older ones are deleted with their logs.
    let logs = server.data_dir().join("logs");
    let kept = [forced_build, a_builds[1], a_builds[5], a_builds[6]];
    for &id in &a_builds {
        let r = server.api("GET", &format!("/api/v1/builds/{id}"), None);
        if kept.contains(&id) {
            assert_eq!(r.status, 200, "build {id}: {}", r.body);
        } else {
            assert_eq!(r.status, 410, "build {id} was not pruned: {}", r.body);
            assert_eq!(r.json()["code"], "PRUNED");
            assert!(!logs.join(format!("{id}.log")).exists(), "log of {id} kept");
        }
    }
    assert!(logs.join(format!("{forced_build}.log")).exists());
    let out = server.cli(&["show", &a_builds[0].to_string()]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("history limits"), "{}", stderr(&out));
    let events = stdout(&server.cli(&["configs", "a"]));
    assert!(events.contains("pruned build"), "{events}");

    // `slipway waves`: every wave, newest first, and one wave's members.
    let out = server.cli(&["waves"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let table = stdout(&out);
    let rows: Vec<&str> = table.lines().collect();
    assert!(rows[0].starts_with("WAVE"), "{table}");
    assert_eq!(rows.len(), waves(&server) + 1, "{table}");
    assert!(
        rows.last().unwrap().starts_with(&format!("{first_wave} ")),
        "{table}"
    );
    assert!(rows[1..].iter().all(|r| r.contains("Done")), "{table}");
    let out = server.cli(&["waves", &first_wave.to_string()]);
    let details = stdout(&out);
    assert!(
        details.starts_with(&format!("wave {first_wave} Done (4/4 finished)")),
        "{details}"
    );
    for name in ["a", "b", "c", "d"] {
        assert!(
            details
                .lines()
                .any(|l| l.trim_start().starts_with(&format!("{name} ")) && l.contains("built")),
            "{name} missing: {details}"
        );
    }

    // A push to another branch is ignored.
    let body = format!(r#"{{"ref":"refs/heads/dev","after":"{commit}"}}"#);
    let r = http_raw(
        server.port,
        "POST",
        "/api/v1/webhooks/a/github",
        &[
            ("X-GitHub-Event", "push"),
            ("X-Hub-Signature-256", &signature(body.as_bytes())),
        ],
        body.as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["outcome"], "ignored");

    // Cycles are refused at apply, and nothing is written.
    let repo_e = child("e", "f");
    let repo_f = child("f", "e");
    let cyclic = [config("e", &repo_e, ""), config("f", &repo_f, "")].concat();
    std::fs::write(dir.path().join("cycle.yaml"), cyclic).unwrap();
    let out = server.cli(&[
        "apply",
        "-f",
        &dir.path().join("cycle.yaml").display().to_string(),
    ]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("e → f → e"), "{}", stderr(&out));
    let repo_self = child("s", "s");
    std::fs::write(dir.path().join("self.yaml"), config("s", &repo_self, "")).unwrap();
    let out = server.cli(&[
        "apply",
        "-f",
        &dir.path().join("self.yaml").display().to_string(),
    ]);
    assert!(stderr(&out).contains("s → s"), "{}", stderr(&out));
    let all: serde_json::Value =
        serde_json::from_str(&stdout(&server.cli(&["configs", "-o", "json"]))).unwrap();
    assert_eq!(all.as_array().unwrap().len(), 4, "{all}");

    // A CentOS container index with depends-on joins the same graph.
    let repo_web = GitRepo::new(&[(
        "docker/Dockerfile",
        &dockerfile(&format!("{host}/t/d:latest"), "web", "true"),
    )]);
    let repo_tool = GitRepo::new(&[("Dockerfile", &dockerfile(&base, "tool", "true"))]);
    let index = tempfile::tempdir().unwrap();
    std::fs::create_dir(index.path().join("index.d")).unwrap();
    std::fs::write(
        index.path().join("index.d/apps.yaml"),
        format!(
            "Projects:\n  - id: 1\n    app-id: apps\n    job-id: web\n    git-url: {}\n    git-path: docker\n    git-branch: main\n    target-file: Dockerfile\n    desired-tag: latest\n    notify-email: ops@example.com\n    depends-on: t/d:latest\n  - id: 2\n    app-id: apps\n    job-id: tool\n    git-url: {}\n    git-branch: main\n    desired-tag: 1\n    depends-on:\n      - apps/web:latest\n",
            repo_web.path().display(),
            repo_tool.path().display()
        ),
    )
    .unwrap();
    let out = server.cli(&[
        "import-cccp",
        &index.path().display().to_string(),
        "-o",
        "json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    // notify-email becomes the config's email target.
    let web = server.api("GET", "/api/v1/configs/apps-web-latest", None);
    assert_eq!(web.status, 200, "{}", web.body);
    assert!(
        web.body.contains(r#""email":["ops@example.com"]"#),
        "{}",
        web.body
    );
    let out = server.cli(&["graph", "apps-tool-1", "-o", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let g: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let names: Vec<&str> = g["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["a", "d", "apps-web-latest", "apps-tool-1"]);
}

fn start(server: &Server, config: &str) -> i64 {
    let out = server.cli(&["start", config, "-o", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let r: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    r["wave"].as_i64().unwrap()
}

/// The build of `config` in wave `id`, once it has one.
fn member_build(server: &Server, id: i64, config: &str) -> serde_json::Value {
    let build = server.wait_until(
        &format!("a build of {config} in wave {id}"),
        Duration::from_secs(120),
        || {
            wave(server, id)["members"]
                .as_array()?
                .iter()
                .find(|m| m["config"] == config)?["build"]
                .as_i64()
        },
    );
    server.build_json(build)
}

/// A registry with a base image, and a server running `workers` builds at
/// a time with a one-second debounce window.
fn setup(workers: usize) -> (Registry, String, Server) {
    require_tools();
    let registry = Registry::start();
    let base = registry.push_base_image();
    let server = Server::start_with_config(
        std::path::Path::new(BIN),
        workers,
        Some("rebuild_debounce_seconds: 1\n"),
    );
    (registry, base, server)
}

/// SerialLatestOnly: a newer trigger cancels the config's queued build,
/// and joins the wave that waits for the config's running build instead
/// of queuing another.
#[test]
fn serial_latest_only_supersedes_queued_builds_and_waiting_triggers() {
    // One build at a time, so a second build queues.
    let (_registry, base, server) = setup(1);
    let slow = GitRepo::new(&[("Dockerfile", &dockerfile(&base, "slow", "sleep 15"))]);
    let quick = GitRepo::new(&[("Dockerfile", &dockerfile(&base, "quick", "true"))]);
    server.apply(
        &format!(
            "name: slow\nsource: {{ url: {} }}\noutput: t/slow\nrun_policy: SerialLatestOnly\n---\nname: quick\nsource: {{ url: {} }}\noutput: t/quick\nrun_policy: SerialLatestOnly\n",
            slow.path().display(),
            quick.path().display()
        ),
    );
    let w1 = start(&server, "slow");
    let slow_build = member_build(&server, w1, "slow")["id"].as_i64().unwrap();
    server.wait_build(slow_build, "Running", |p| p == "Running");
    let w2 = start(&server, "quick");
    let queued = member_build(&server, w2, "quick")["id"].as_i64().unwrap();
    server.wait_build(queued, "Pending", |p| p == "Pending");

    // A newer trigger for quick: its queued build is cancelled, and the
    // wave it was in says why its member did not build.
    let w3 = start(&server, "quick");
    assert_ne!(w3, w2, "w2 is running; the trigger opens a new wave");
    let cancelled = server.wait_build(queued, "Cancelled", |p| p == "Cancelled");
    let reason = cancelled["reason"].as_str().unwrap();
    assert!(
        reason.contains("superseded by a newer trigger") && reason.contains(&format!("wave {w3}")),
        "{cancelled}"
    );
    let done = wait_wave(&server, w2);
    assert_eq!(member(&done, "quick")["state"], "failed", "{done}");
    let events = stdout(&server.cli(&["configs", "quick"]));
    assert!(
        events.contains(&format!("build {queued} superseded")),
        "{events}"
    );

    // Two triggers for slow while its build runs: one waiting wave. (First
    // let w3's debounce window close, or slow would simply join it.)
    std::thread::sleep(Duration::from_millis(1500));
    let w4 = start(&server, "slow");
    assert_ne!(w4, w3);
    std::thread::sleep(Duration::from_millis(1500));
    let w5 = start(&server, "slow");
    assert_eq!(
        server.build_json(slow_build)["phase"],
        "Running",
        "slow finished too soon for this test to mean anything"
    );
    assert_eq!(w5, w4, "the second trigger did not join the waiting wave");

    let w = wait_wave(&server, w3);
    assert_eq!(
        server.build_json(member(&w, "quick")["build"].as_i64().unwrap())["phase"],
        "Complete"
    );
    let w = wait_wave(&server, w4);
    assert_eq!(w["members"].as_array().unwrap().len(), 1, "{w}");
    let again = server.build_json(member(&w, "slow")["build"].as_i64().unwrap());
    assert!(
        again["phase"] == "Skipped" || again["phase"] == "Complete",
        "{again}"
    );
    assert_eq!(waves(&server), 4, "one wave per turn, not per trigger");
}

/// Polling notices a new commit on the branch; a cron schedule fires on
/// time and, nothing having changed, the build is skipped as up to date.
#[test]
fn polling_and_cron_schedules_trigger_rebuilds() {
    let (_registry, base, server) = setup(2);
    let repo = GitRepo::new(&[("Dockerfile", &dockerfile(&base, "p", "echo p1 > /p"))]);
    let first = repo.git(&["rev-parse", "HEAD"]).trim().to_string();
    server.apply(
        &format!(
            "name: p\nsource: {{ url: {} }}\noutput: t/p\ntriggers:\n  poll: 30s\n  schedule: {{ cron: \"* * * * *\", timezone: UTC }}\n",
            repo.path().display()
        ),
    );
    let status = || -> serde_json::Value {
        serde_json::from_str(&stdout(&server.cli(&["configs", "p", "-o", "json"]))).unwrap()
    };
    // The first poll records the head; the schedule knows its next time.
    server.wait_until("the first poll", Duration::from_secs(30), || {
        let s = status();
        (s["poll_head"] == first.as_str() && s["next_schedule_at"].is_string()).then_some(())
    });
    let shown = stdout(&server.cli(&["configs", "p"]));
    assert!(
        shown.contains(&format!("polling:    saw {first}")),
        "{shown}"
    );
    let second = repo.commit(
        &[("Dockerfile", &dockerfile(&base, "p", "echo p2 > /p"))],
        "p2",
    );

    let builds_of_p = || -> Vec<serde_json::Value> {
        // The list has summaries; each build's detail has its spec.
        server
            .api("GET", "/api/v1/builds?limit=100&config=p", None)
            .json()
            .as_array()
            .unwrap()
            .iter()
            .map(|b| server.build_json(b["id"].as_i64().unwrap()))
            .collect()
    };
    let final_phase = |b: &serde_json::Value| {
        matches!(
            b["phase"].as_str(),
            Some("Complete" | "Skipped" | "Failed" | "Error" | "Cancelled")
        )
    };
    let polled = server.wait_until(
        "a build triggered by polling",
        Duration::from_secs(150),
        || {
            builds_of_p()
                .into_iter()
                .find(|b| b["spec"]["trigger"]["kind"] == "poll" && final_phase(b))
        },
    );
    // A scheduled build may have built the new head already; then the
    // polled one is up to date.
    let built_second = builds_of_p()
        .iter()
        .any(|b| b["phase"] == "Complete" && b["commit"] == second.as_str());
    assert!(built_second, "nothing built {second}: {:?}", builds_of_p());
    if polled["phase"] != "Complete" {
        assert_eq!(polled["phase"], "Skipped", "{polled}");
    }
    assert_eq!(polled["spec"]["trigger"]["commit"], second.as_str());
    assert_eq!(polled["commit"], second.as_str());

    // A scheduled build after the polled one: same inputs, so skipped.
    let after = polled["id"].as_i64().unwrap();
    let scheduled = server.wait_until("a scheduled build", Duration::from_secs(150), || {
        builds_of_p().into_iter().find(|b| {
            b["spec"]["trigger"]["kind"] == "schedule"
                && b["id"].as_i64() > Some(after)
                && final_phase(b)
        })
    });
    assert_eq!(scheduled["spec"]["trigger"]["cron"], "* * * * *");
    assert_eq!(scheduled["spec"]["trigger"]["timezone"], "UTC");
    assert_eq!(scheduled["phase"], "Skipped", "{scheduled}");
    assert_eq!(scheduled["commit"], second.as_str());
}
