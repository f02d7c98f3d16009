//! An image's life after it is built (issue 18), end to end with the real
//! binary, buildah and skopeo.
//!
//! Ownership and immutable tags: a config may not build into another
//! config's repository; an ad-hoc build into it moves only the tag it
//! names; releases count per repository, so a primary tag is never
//! reused; unique and primary tags cannot be moved or deleted in the
//! embedded registry, not even by a direct push with a push token; and in
//! another registry a primary tag that exists already fails the build
//! before anything is pushed.
//!
//! Image streams: every move of a tag — by a build, a push, `slipway tag`,
//! `untag` and `rollback` — is in its history, checked against what
//! skopeo reads from the registry at each step.

use slipway_test_support::{
    GitRepo, Registry, Server, require_tools, run_ok, skopeo_inspect, stderr, stdout,
};
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_slipway");

fn dockerfile(from: &str, name: &str, run: &str) -> String {
    format!("FROM {from}\nLABEL name={name} version=1.0 component={name}-c\nRUN {run}\n")
}

fn apply(server: &Server, yaml: &str) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("configs.yaml");
    std::fs::write(&file, yaml).unwrap();
    server.cli(&["apply", "-f", &file.display().to_string()])
}

fn config(name: &str, repo: &GitRepo, output: &str) -> String {
    format!(
        "---\nname: {name}\nsource:\n  url: {}\n  branch: main\noutput: {output}\n",
        repo.path().display()
    )
}

/// Start a config's build and wait until it ends.
fn build_config(server: &Server, name: &str) -> serde_json::Value {
    let started = server.cli_json(&["start", name, "-o", "json"]);
    let wave = started["wave"].as_i64().expect("wave");
    let id = server.wait_until(
        &format!("the build of {name}"),
        Duration::from_secs(120),
        || {
            let w = server
                .api("GET", &format!("/api/v1/waves/{wave}"), None)
                .json();
            w["members"]
                .as_array()?
                .iter()
                .find(|m| m["config"] == name)?["build"]
                .as_i64()
        },
    );
    server.wait_final(id)
}

fn digest(reference: &str) -> String {
    skopeo_inspect(reference)["Digest"]
        .as_str()
        .unwrap()
        .to_string()
}

/// `skopeo copy` with the admin token as push credentials.
fn push_directly(server: &Server, from: &str, to: &str) -> Output {
    let creds = format!("slipway:{}", server.token());
    Command::new("skopeo")
        .args([
            "copy",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
            "--dest-creds",
            &creds,
            &format!("docker://{from}"),
            &format!("docker://{to}"),
        ])
        .output()
        .unwrap()
}

/// A server with anonymous pull and no debounce, its base image pushed:
/// (server, its host, the base image).
fn start(workers: usize) -> (Server, String, String) {
    require_tools();
    let server = Server::start_with_config(
        Path::new(BIN),
        workers,
        Some("rebuild_debounce_seconds: 0\nregistry_anonymous_pull: true\n"),
    );
    let host = server.host();
    let base_image = server.push_base_image();
    (server, host, base_image)
}

#[test]
fn one_owner_per_repository_and_tags_that_never_move() {
    let (server, host, base_image) = start(2);
    let base_repo = GitRepo::new(&[(
        "Dockerfile",
        &dockerfile(&base_image, "team/base", "echo base > /base"),
    )]);
    let app1 = GitRepo::new(&[(
        "Dockerfile",
        &dockerfile(&base_image, "team/app1", "echo app1 > /app1"),
    )]);
    let out = apply(&server, &config("base", &base_repo, "team/base"));
    assert!(out.status.success(), "{}", stderr(&out));
    let b1 = build_config(&server, "base");
    assert_eq!(b1["phase"], "Complete", "{b1}");
    assert_eq!(b1["spec"]["release"], "1");
    let base_digest = digest(&format!("{host}/team/base:latest"));
    let unique = b1["spec"]["tags"][0].as_str().unwrap().to_string();

    // A second config into team/base is refused, naming the owner; so are
    // two new configs with one output.
    let out = apply(&server, &config("app1", &app1, "team/base:selfie"));
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(&format!(
            "the repository {host}/team/base belongs to config base"
        )),
        "{}",
        stderr(&out)
    );
    let out = apply(
        &server,
        &[
            config("app1", &app1, "team/app1"),
            config("app1b", &app1, "team/app1:b"),
        ]
        .concat(),
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("belongs to config app1"),
        "{}",
        stderr(&out)
    );
    let listed = server.cli_json(&["configs", "-o", "json"]);
    assert_eq!(
        listed.as_array().map(Vec::len),
        Some(1),
        "nothing was applied: {listed}"
    );

    // An ad-hoc build into base's repository moves only the tag it names;
    // its release counts in the repository (its name label is another),
    // so it cannot take base's primary tag 1.0-1.
    let id = server.queue(&app1, &format!("{host}/team/base:direct"), &[]);
    let adhoc = server.wait_final(id);
    assert_eq!(adhoc["phase"], "Complete", "{adhoc}\n{}", server.log(id));
    assert_eq!(adhoc["spec"]["release"], "2", "{adhoc}");
    let tags: Vec<&str> = adhoc["spec"]["tags"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t.as_str())
        .collect();
    assert_eq!(tags[1..], ["1.0-2", "direct"], "{adhoc}");
    assert!(
        server.log(id).contains("belongs to config base"),
        "{}",
        server.log(id)
    );
    let adhoc_digest = digest(&format!("{host}/team/base:direct"));
    assert_ne!(adhoc_digest, base_digest);
    assert_eq!(digest(&format!("{host}/team/base:latest")), base_digest);
    assert_eq!(digest(&format!("{host}/team/base:1.0")), base_digest);
    assert_eq!(digest(&format!("{host}/team/base:1.0-1")), base_digest);

    // The primary and unique tags cannot be moved by a direct push, even
    // with a token that may push; nor deleted. A floating tag can.
    for tag in ["1.0-1", unique.as_str()] {
        let out = push_directly(
            &server,
            &format!("{host}/team/base:direct"),
            &format!("{host}/team/base:{tag}"),
        );
        assert!(!out.status.success(), "{tag} was moved");
        assert!(
            stderr(&out).contains(&format!("tag team/base:{tag} is immutable")),
            "{}",
            stderr(&out)
        );
        assert_eq!(digest(&format!("{host}/team/base:{tag}")), base_digest);
        let r = server.registry(
            "DELETE",
            &format!("/v2/team/base/manifests/{tag}"),
            "repository:team/base:pull,push,delete",
        );
        assert_eq!(r.status, 409, "{}", r.body);
        assert!(
            r.body.contains("DENIED") && r.body.contains("immutable"),
            "{}",
            r.body
        );
    }
    let r = server.registry(
        "DELETE",
        &format!("/v2/team/base/manifests/{base_digest}"),
        "repository:team/base:pull,push,delete",
    );
    assert_eq!(
        r.status, 409,
        "deleting the manifest under them: {}",
        r.body
    );
    let out = push_directly(
        &server,
        &format!("{host}/team/base:direct"),
        &format!("{host}/team/base:moved-by-hand"),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    // Pushing the same image again under its own primary tag is no move.
    let out = push_directly(
        &server,
        &format!("{host}/team/base:1.0-1"),
        &format!("{host}/team/base:1.0-1"),
    );
    assert!(out.status.success(), "{}", stderr(&out));

    // Another registry: a primary tag that exists already (pushed there by
    // someone else) fails the build before anything is pushed.
    let registry = Registry::start();
    let foreign = registry.push_base_image();
    let other = format!("{}/team/app1", registry.host());
    run_ok(
        "skopeo",
        &[
            "copy",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
            &format!("docker://{foreign}"),
            &format!("docker://{other}:1.0-1"),
        ],
    );
    let id = server.queue(&app1, &format!("{other}:x"), &[]);
    let refused = server.wait_final(id);
    assert_eq!(refused["phase"], "Failed", "{refused}");
    let reason = refused["reason"].as_str().unwrap();
    assert!(
        reason.contains(&format!("the primary tag {other}:1.0-1 exists already")),
        "{reason}"
    );
    let listed = stdout(
        &Command::new("skopeo")
            .args([
                "list-tags",
                "--tls-verify=false",
                &format!("docker://{other}"),
            ])
            .output()
            .unwrap(),
    );
    assert!(!listed.contains("\"x\""), "nothing was pushed: {listed}");
    // A free one is pushed and read back.
    let id = server.queue(&app1, &format!("{}/team/app2:y", registry.host()), &[]);
    let ok = server.wait_final(id);
    assert_eq!(ok["phase"], "Complete", "{ok}\n{}", server.log(id));
}

fn history(server: &Server, reference: &str) -> Vec<serde_json::Value> {
    server
        .cli_json(&["history", reference, "-o", "json"])
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn tag_history_rollback_tag_and_untag() {
    let (server, host, base_image) = start(1);
    let repo = GitRepo::new(&[(
        "Dockerfile",
        &dockerfile(&base_image, "team/app", "echo one > /app"),
    )]);
    let out = apply(&server, &config("app", &repo, "team/app"));
    assert!(out.status.success(), "{}", stderr(&out));
    let first = build_config(&server, "app");
    assert_eq!(first["phase"], "Complete", "{first}");
    let latest = format!("{host}/team/app:latest");
    let a = digest(&latest);
    repo.commit(
        &[(
            "Dockerfile",
            &dockerfile(&base_image, "team/app", "echo two > /app"),
        )],
        "two",
    );
    let second = build_config(&server, "app");
    assert_eq!(second["phase"], "Complete", "{second}");
    let b = digest(&latest);
    assert_ne!(a, b);

    // Two builds moved latest: none → a → b, each by its build.
    let h = history(&server, "team/app:latest");
    assert_eq!(h.len(), 2, "{h:?}");
    assert_eq!(
        (h[0]["old_digest"].as_str(), h[0]["new_digest"].as_str()),
        (Some(a.as_str()), Some(b.as_str()))
    );
    assert_eq!(h[0]["why"], "build");
    assert_eq!(h[0]["build"], second["id"]);
    assert_eq!(h[0]["who"], format!("build:{}", second["id"]));
    assert!(h[1]["old_digest"].is_null());
    assert_eq!(h[1]["new_digest"], a.as_str());
    let shown = stdout(&server.cli(&["history", "team/app:latest"]));
    assert!(
        shown.contains(&format!("(build {})", second["id"])),
        "{shown}"
    );

    // Roll back one step: a again, recorded as the admin token's rollback.
    let r = server.cli_json(&["rollback", "team/app:latest", "-o", "json"]);
    assert_eq!(r["new_digest"], a.as_str(), "{r}");
    assert_eq!(digest(&latest), a);
    let h = history(&server, &latest);
    assert_eq!(
        (h[0]["why"].as_str(), h[0]["who"].as_str()),
        (Some("rollback"), Some("token:admin"))
    );
    // And forward again, by digest.
    let r = server.cli_json(&["rollback", "team/app:latest", "--to", &b, "-o", "json"]);
    assert_eq!(r["new_digest"], b.as_str(), "{r}");
    assert_eq!(digest(&latest), b);
    // A digest the tag never named is refused.
    let out = server.cli(&[
        "rollback",
        "team/app:latest",
        "--to",
        &format!("sha256:{}", "0".repeat(64)),
    ]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("never named"), "{}", stderr(&out));

    // Tag and untag by hand.
    let out = server.cli(&["tag", &format!("team/app@{a}"), "team/app:stable"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(digest(&format!("{host}/team/app:stable")), a);
    let tags = server.cli_json(&["tags", "team/app", "-o", "json"]);
    let stable = tags
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["tag"] == "stable")
        .unwrap_or_else(|| panic!("{tags}"));
    assert_eq!(stable["digest"], a.as_str());
    let out = server.cli(&["untag", "team/app:stable"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let gone = Command::new("skopeo")
        .args([
            "inspect",
            "--tls-verify=false",
            &format!("docker://{host}/team/app:stable"),
        ])
        .output()
        .unwrap();
    assert!(!gone.status.success(), "stable is gone");
    let h = history(&server, "team/app:stable");
    let whys: Vec<&str> = h.iter().filter_map(|e| e["why"].as_str()).collect();
    assert_eq!(whys, ["untag", "tag"]);
    // The primary tag cannot be untagged.
    let out = server.cli(&["untag", "team/app:1.0-1"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("is immutable"), "{}", stderr(&out));
    // A push by hand is recorded as one, by the token that pushed.
    let out = push_directly(&server, &format!("{host}/team/app:1.0-1"), &latest);
    assert!(out.status.success(), "{}", stderr(&out));
    let h = history(&server, "team/app:latest");
    assert_eq!(
        (h[0]["why"].as_str(), h[0]["who"].as_str()),
        (Some("push"), Some("token:admin"))
    );
    assert_eq!(h[0]["new_digest"], a.as_str());

    // The repositories, with their owner.
    let images = server.cli_json(&["images", "-o", "json"]);
    let app = images
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["repository"] == format!("{host}/team/app"))
        .unwrap_or_else(|| panic!("{images}"));
    assert_eq!(app["owner"], "app");
    // Another registry's tags are not ours to keep.
    let out = server.cli(&["history", "quay.io/team/app:latest"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("is not this server's registry"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn pruned_builds_lose_their_tags_and_gc_frees_their_blobs() {
    let (server, host, base_image) = start(1);
    let repo = GitRepo::new(&[(
        "Dockerfile",
        &dockerfile(&base_image, "team/ret", "echo one > /ret"),
    )]);
    let yaml = format!(
        "{}history: {{ successful: 1, failed: 1 }}\n",
        config("ret", &repo, "team/ret")
    );
    let out = apply(&server, &yaml);
    assert!(out.status.success(), "{}", stderr(&out));
    let b1 = build_config(&server, "ret");
    assert_eq!(b1["phase"], "Complete", "{b1}");
    let b1_unique = b1["spec"]["tags"][0].as_str().unwrap().to_string();
    let b1_digest = digest(&format!("{host}/team/ret:latest"));
    // Its own layer (the RUN step's), which no other image has.
    let b1_layer = b1["image"]["layers"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .as_str()
        .unwrap()
        .to_string();
    // Two no-op triggers: Skipped builds, which push no real one out.
    for _ in 0..2 {
        let s = build_config(&server, "ret");
        assert_eq!(s["phase"], "Skipped", "{s}");
    }
    assert_eq!(digest(&format!("{host}/team/ret:1.0-1")), b1_digest);

    // A real change: b2 replaces b1, which is pruned with its tags.
    repo.commit(
        &[(
            "Dockerfile",
            &dockerfile(&base_image, "team/ret", "echo two > /ret"),
        )],
        "two",
    );
    let b2 = build_config(&server, "ret");
    assert_eq!(b2["phase"], "Complete", "{b2}");
    let b2_digest = digest(&format!("{host}/team/ret:latest"));
    let b1_id = b1["id"].as_i64().unwrap();
    server.wait_until("b1 to be pruned", Duration::from_secs(30), || {
        (server
            .api("GET", &format!("/api/v1/builds/{b1_id}"), None)
            .status
            == 410)
            .then_some(())
    });
    let tags: Vec<String> = server
        .cli_json(&["tags", "team/ret", "-o", "json"])
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["tag"].as_str().unwrap().to_string())
        .collect();
    for gone in [
        b1_unique.as_str(),
        "1.0-1",
        &format!("build-{b1_id}-x86_64"),
    ] {
        assert!(
            !tags.iter().any(|t| t == gone),
            "{gone} is still there: {tags:?}"
        );
    }
    for kept in ["1.0-2", "1.0", "latest"] {
        assert!(tags.iter().any(|t| t == kept), "{kept} went: {tags:?}");
        assert_eq!(digest(&format!("{host}/team/ret:{kept}")), b2_digest);
    }
    let h = history(&server, "team/ret:1.0-1");
    assert_eq!(
        (h[0]["why"].as_str(), h[0]["who"].as_str()),
        (Some("prune"), Some("slipway"))
    );
    assert!(h[0]["new_digest"].is_null());
    // Nothing more to prune.
    let dry = server.cli_json(&["prune", "--dry-run", "-o", "json"]);
    assert_eq!(dry["builds"], serde_json::json!([]), "{dry}");

    // GC frees b1's own layer; b2 still pulls, byte for byte.
    let blob = |d: &str| {
        server
            .registry(
                "HEAD",
                &format!("/v2/team/ret/blobs/{d}"),
                "repository:team/ret:pull",
            )
            .status
    };
    assert_eq!(blob(&b1_layer), 200, "before gc");
    let gc = server.cli_json(&["registry", "gc", "--grace", "0", "-o", "json"]);
    assert!(
        gc["deleted_blobs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d == b1_layer.as_str()),
        "{gc}"
    );
    assert_eq!(blob(&b1_layer), 404, "after gc");
    let dir = tempfile::tempdir().unwrap();
    run_ok(
        "skopeo",
        &[
            "copy",
            "--src-tls-verify=false",
            &format!("docker://{host}/team/ret:latest"),
            &format!("dir:{}", dir.path().display()),
        ],
    );
    let manifest = std::fs::read(dir.path().join("manifest.json")).unwrap();
    use sha2::Digest;
    assert_eq!(
        format!("sha256:{}", hex::encode(sha2::Sha256::digest(&manifest))),
        b2_digest
    );
    for layer in b2["image"]["layers"].as_array().unwrap() {
        let hex = layer.as_str().unwrap().trim_start_matches("sha256:");
        let bytes = std::fs::read(dir.path().join(hex)).unwrap();
        assert_eq!(hex::encode(sha2::Sha256::digest(&bytes)), hex);
    }
}

/// A repository whose `slipway.yaml` runs `test`, with `files` beside it.
fn tested_repo(base_image: &str, name: &str, test: &str, files: &[(&str, &str)]) -> GitRepo {
    let mut all = vec![
        (
            "Dockerfile".to_string(),
            dockerfile(base_image, name, "echo hello > /greeting"),
        ),
        ("slipway.yaml".to_string(), format!("test: {test}\n")),
    ];
    all.extend(files.iter().map(|(p, c)| (p.to_string(), c.to_string())));
    let refs: Vec<(&str, &str)> = all.iter().map(|(p, c)| (p.as_str(), c.as_str())).collect();
    GitRepo::new(&refs)
}

fn tags_of(server: &Server, repository: &str) -> Vec<String> {
    server
        .cli_json(&["tags", repository, "-o", "json"])
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["tag"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn the_test_stage_gates_every_tag_but_the_unique_one() {
    let (server, host, base_image) = start(2);

    // A passing test, in a container of the image, with the repository's
    // files and a JUnit report.
    let check = "set -e\ngrep -q hello /greeting\ntest -f /slipway/src/slipway.yaml\ncat > \"$TEST_RESULTS/junit.xml\" <<EOF\n<testsuites><testsuite name=\"image\" tests=\"2\" failures=\"0\" errors=\"0\"/></testsuites>\nEOF\n";
    let repo = tested_repo(
        &base_image,
        "team/tested",
        "sh tests/check.sh",
        &[("tests/check.sh", check)],
    );
    let id = server.queue(&repo, &format!("{host}/team/tested:x"), &[]);
    let b = server.wait_final(id);
    assert_eq!(b["phase"], "Complete", "{b}\n{}", server.log(id));
    let shown = server.cli_json(&["show", &id.to_string(), "-o", "json"]);
    assert_eq!(shown["test"]["passed"], true, "{shown}");
    assert_eq!(shown["test"]["mode"], "container");
    assert_eq!(shown["test"]["exit_code"], 0);
    assert_eq!(shown["test"]["junit"]["tests"], 2, "{shown}");
    assert!(
        slipway_test_support::stage_names(&b).contains(&"test".to_string()),
        "{b}"
    );
    let table = stdout(&server.cli(&["show", &id.to_string()]));
    assert!(table.contains("test (container): passed"), "{table}");
    let junit = server.api("GET", &format!("/api/v1/builds/{id}/test/junit"), None);
    assert_eq!(junit.status, 200);
    assert!(
        junit.body.contains("<testsuite name=\"image\""),
        "{}",
        junit.body
    );
    assert!(
        server.log(id).contains("==> test (container)"),
        "{}",
        server.log(id)
    );

    // A failing test fails the build; only the unique tag names the image.
    let repo = tested_repo(&base_image, "team/untested", "\"echo no; exit 3\"", &[]);
    let id = server.queue(&repo, &format!("{host}/team/untested:x"), &[]);
    let b = server.wait_final(id);
    assert_eq!(b["phase"], "Failed", "{b}");
    let reason = b["reason"].as_str().unwrap();
    assert!(
        reason.contains("test (container): failed") && reason.contains("exit code 3"),
        "{reason}"
    );
    assert_eq!(
        tags_of(&server, "team/untested"),
        [b["spec"]["tags"][0].as_str().unwrap()]
    );
    let shown = server.cli_json(&["show", &id.to_string(), "-o", "json"]);
    assert_eq!(shown["test"]["exit_code"], 3, "{shown}");

    // Without --network the test has none: reaching the server fails.
    let port = host.rsplit(':').next().unwrap();
    let probe = format!(
        "(printf 'GET /healthz HTTP/1.0\\r\\n\\r\\n'; sleep 2) | nc -w 3 127.0.0.1 {port} > /tmp/probe.txt\ngrep -q ' 200 ' /tmp/probe.txt\n"
    );
    let repo = tested_repo(
        &base_image,
        "team/offline",
        "sh tests/net.sh",
        &[("tests/net.sh", &probe)],
    );
    let id = server.queue(&repo, &format!("{host}/team/offline:x"), &[]);
    let b = server.wait_final(id);
    assert_eq!(b["phase"], "Failed", "{b}\n{}", server.log(id));
    let log = server.log(id);
    assert!(
        log.contains("test (container): failed") && !log.contains("segmentation"),
        "{log}"
    );
    // With it, it may.
    let id = server.queue(&repo, &format!("{host}/team/offline:y"), &["--network"]);
    let b = server.wait_final(id);
    assert_eq!(b["phase"], "Complete", "{b}\n{}", server.log(id));

    // Host mode: the command runs beside the image, IMAGE naming it.
    let host_test = "{command: 'test -n \"$IMAGE\" && skopeo inspect --tls-verify=false \"docker://$IMAGE\" > /dev/null', mode: host}";
    let repo = tested_repo(&base_image, "team/hosted", host_test, &[]);
    let id = server.queue(&repo, &format!("{host}/team/hosted:x"), &[]);
    let b = server.wait_final(id);
    assert_eq!(b["phase"], "Complete", "{b}\n{}", server.log(id));
    let shown = server.cli_json(&["show", &id.to_string(), "-o", "json"]);
    assert_eq!(shown["test"]["mode"], "host", "{shown}");
}

/// A notification target that never answers: what was queued for it is
/// what the test reads.
const HOOK: &str = "notify:\n- webhook: { url: \"http://127.0.0.1:9/hook\", secret: a-secret-of-32-characters-long }\n";

#[test]
fn promotion_checks_its_gates_and_moves_no_bytes() {
    require_tools();
    let server = Server::start_with_config(
        Path::new(BIN),
        2,
        Some(
            "rebuild_debounce_seconds: 0\nregistry_anonymous_pull: true\nenvironments:\n  stable:\n    prefix: stable\n  qa:\n    prefix: qa/\n    gates: [scan-clean]\n",
        ),
    );
    let host = server.host();
    let base_image = server.push_base_image();

    // Untested: refused by the tests gate, named.
    let plain = GitRepo::new(&[(
        "Dockerfile",
        &dockerfile(&base_image, "team/plain", "echo plain > /plain"),
    )]);
    let id = server.queue(&plain, &format!("{host}/team/plain:x"), &[]);
    assert_eq!(server.wait_final(id)["phase"], "Complete");
    let out = server.cli(&["promote", &id.to_string(), "--to", "stable"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("gate tests-passed failed: it ran no test stage"),
        "{}",
        stderr(&out)
    );
    // An environment whose gates it passes takes it, by reference too.
    let p = server.cli_json(&["promote", "team/plain:x", "--to", "qa", "-o", "json"]);
    assert_eq!(p["build"], id, "{p}");
    assert_eq!(p["repository"], format!("{host}/qa/team/plain"));
    assert_eq!(
        digest(&format!("{host}/qa/team/plain:latest")),
        digest(&format!("{host}/team/plain:x"))
    );
    // Unknown environments are named.
    let out = server.cli(&["promote", &id.to_string(), "--to", "prod"]);
    assert!(
        stderr(&out).contains("there are: qa, stable"),
        "{}",
        stderr(&out)
    );

    // A failed build is never promoted.
    let failing = tested_repo(&base_image, "team/bad", "\"exit 1\"", &[]);
    let bad = server.queue(&failing, &format!("{host}/team/bad:x"), &[]);
    assert_eq!(server.wait_final(bad)["phase"], "Failed");
    let out = server.cli(&["promote", &bad.to_string(), "--to", "qa"]);
    assert!(
        stderr(&out).contains("only complete builds are promoted"),
        "{}",
        stderr(&out)
    );

    // Tested, scanned, with SBOMs: into stable, its tags there, the
    // primary one locked; the same bytes under a second name.
    let good = tested_repo(&base_image, "team/good", "\"grep -q hello /greeting\"", &[]);
    let id = server.queue(&good, &format!("{host}/team/good:x"), &[]);
    let b = server.wait_final(id);
    assert_eq!(b["phase"], "Complete", "{b}\n{}", server.log(id));
    let candidate = digest(&format!("{host}/team/good:1.0-1"));
    let p = server.cli_json(&["promote", &id.to_string(), "--to", "stable", "-o", "json"]);
    assert_eq!(
        p["tags"],
        serde_json::json!(["1.0-1", "1.0", "latest", "x"]),
        "{p}"
    );
    for tag in ["1.0-1", "1.0", "latest"] {
        assert_eq!(digest(&format!("{host}/stable/team/good:{tag}")), candidate);
    }
    let h = history(&server, "stable/team/good:latest");
    assert_eq!(
        (
            h[0]["why"].as_str(),
            h[0]["who"].as_str(),
            h[0]["build"].as_i64()
        ),
        (Some("promote"), Some("token:admin"), Some(id))
    );
    let out = server.cli(&["untag", "stable/team/good:1.0-1"]);
    assert!(stderr(&out).contains("is immutable"), "{}", stderr(&out));
    let dir = tempfile::tempdir().unwrap();
    run_ok(
        "skopeo",
        &[
            "copy",
            "--src-tls-verify=false",
            &format!("docker://{host}/stable/team/good:latest"),
            &format!("dir:{}", dir.path().display()),
        ],
    );
    // A config may promote on its own; a refusal is an event, the build
    // stays Complete. An environment the server lacks is refused at apply.
    let auto = GitRepo::new(&[(
        "Dockerfile",
        &dockerfile(&base_image, "team/auto", "echo auto > /auto"),
    )]);
    let out = apply(
        &server,
        &format!(
            "{}promote: {{ to: prod }}\n",
            config("auto", &auto, "team/auto")
        ),
    );
    assert!(
        stderr(&out).contains("promote.to \"prod\" is no environment"),
        "{}",
        stderr(&out)
    );
    let out = apply(
        &server,
        &[
            format!(
                "{}promote: {{ to: qa }}\n{HOOK}",
                config("auto", &auto, "team/auto")
            ),
            format!(
                "{}promote: {{ to: stable, when: gates-pass }}\n{HOOK}",
                config("strict", &plain, "team/strict")
            ),
        ]
        .concat(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let a = build_config(&server, "auto");
    assert_eq!(a["phase"], "Complete", "{a}");
    let promoted = server.wait_until("auto's promotion", Duration::from_secs(30), || {
        let h = history(&server, "qa/team/auto:latest");
        h.first().cloned()
    });
    assert_eq!(
        (promoted["why"].as_str(), promoted["who"].as_str()),
        (Some("promote"), Some("config:auto"))
    );
    let s = build_config(&server, "strict");
    assert_eq!(s["phase"], "Complete", "{s}");
    let events = server.wait_until("strict's refusal", Duration::from_secs(30), || {
        let e = stdout(&server.cli(&["configs", "strict"]));
        e.contains("not promoted to stable").then_some(e)
    });
    assert!(events.contains("gate tests-passed failed"), "{events}");
    // Both are told, like builds: the promotion, and the refusal (as a
    // failure).
    let told = |config: &str| {
        server.wait_until("a promotion message", Duration::from_secs(30), || {
            let list = server
                .api(
                    "GET",
                    &format!("/api/v1/notifications?config={config}"),
                    None,
                )
                .json();
            list.as_array()?
                .iter()
                .find(|d| d["message"]["payload"]["event"] == "promotion")
                .cloned()
        })
    };
    let m = told("auto");
    assert_eq!(m["message"]["payload"]["environment"], "qa", "{m}");
    assert_eq!(m["message"]["failure"], false, "{m}");
    let m = told("strict");
    assert_eq!(m["message"]["failure"], true, "{m}");
    assert!(
        m["message"]["payload"]["refused"]
            .as_str()
            .unwrap()
            .contains("tests-passed"),
        "{m}"
    );

    // A child following its parent's qa tag: the parent's build alone does
    // not rebuild it; its promotion does, onto the promoted digest.
    let parent = GitRepo::new(&[(
        "Dockerfile",
        &dockerfile(&base_image, "team/fbase", "echo v1 > /fbase"),
    )]);
    let child = GitRepo::new(&[(
        "Dockerfile",
        &dockerfile(
            &format!("{host}/qa/team/fbase:latest"),
            "team/fchild",
            "cat /fbase > /fchild",
        ),
    )]);
    let out = apply(
        &server,
        &[
            config("fbase", &parent, "team/fbase"),
            config("fchild", &child, "team/fchild"),
        ]
        .concat(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let graph = server.cli_json(&["graph", "-o", "json"]);
    let fchild = graph["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == "fchild")
        .unwrap_or_else(|| panic!("{graph}"));
    assert_eq!(
        fchild["parents"],
        serde_json::json!([]),
        "a follower is no wave child: {graph}"
    );
    let pb = build_config(&server, "fbase");
    assert_eq!(pb["phase"], "Complete", "{pb}");
    std::thread::sleep(Duration::from_secs(2));
    let builds = server
        .api("GET", "/api/v1/builds?config=fchild", None)
        .json();
    assert_eq!(
        builds,
        serde_json::json!([]),
        "built before the promotion: {builds}"
    );
    let p = server.cli_json(&["promote", &pb["id"].to_string(), "--to", "qa", "-o", "json"]);
    let cb = server.wait_until("the follower's build", Duration::from_secs(60), || {
        let list = server
            .api("GET", "/api/v1/builds?config=fchild", None)
            .json();
        list.as_array()?.first()?["id"].as_i64()
    });
    let cb = server.wait_final(cb);
    assert_eq!(
        cb["phase"],
        "Complete",
        "{cb}\n{}",
        server.log(cb["id"].as_i64().unwrap())
    );
    assert_eq!(cb["spec"]["trigger"]["kind"], "promoted", "{cb}");
    assert_eq!(cb["spec"]["trigger"]["digest"], p["digest"], "{cb}");

    // Promoting again is no move.
    let again = server.cli_json(&["promote", &id.to_string(), "--to", "stable", "-o", "json"]);
    assert_eq!(again["digest"], candidate.as_str());
    assert_eq!(history(&server, "stable/team/good:latest").len(), 1);
}
