//! The CLI for remote and CI use: version, completions, buildx platform
//! names, clear errors for local paths that cannot be built (and a warning
//! for uncommitted changes), `start --wait/--follow` and `logs -f` exit
//! codes, `logs CONFIG`, and Ctrl-C cancelling a followed build (or
//! leaving it with `--detach`).

use super::*;
use slipway_test_support::{GitRepo, Server, require_tools, stderr, stdout};
use std::time::Duration;

fn config_file(server: &Server, yaml: &str) -> String {
    let file = server.home.path().join("configs.yaml");
    std::fs::write(&file, yaml).unwrap();
    file.display().to_string()
}

/// Asserts every time in `v` (a key `at` or ending in `_at`) reads
/// `YYYY-MM-DDTHH:MM:SSZ`; how many it saw.
fn whole_second_times(v: &serde_json::Value) -> usize {
    match v {
        serde_json::Value::Object(m) => m
            .iter()
            .map(|(k, x)| match x {
                serde_json::Value::String(t) if k == "at" || k.ends_with("_at") => {
                    let b = t.as_bytes();
                    assert!(
                        b.len() == 20
                            && b[10] == b'T'
                            && b[19] == b'Z'
                            && t.parse::<jiff::Timestamp>().is_ok(),
                        "{k}: {t:?} is not RFC 3339 to the second"
                    );
                    1
                }
                _ => whole_second_times(x),
            })
            .sum(),
        serde_json::Value::Array(a) => a.iter().map(whole_second_times).sum(),
        _ => 0,
    }
}

#[test]
fn a_cli_fit_for_ci() {
    require_tools();
    let server = Server::start(Path::new(BIN), 2);
    let host = server.host();
    let base = server.push_base_image();

    let v = server.cli_json(&["version", "-o", "json"]);
    assert_eq!(v["client"], v["server"], "{v}");
    let out = server.cli(&["completions", "bash"]);
    assert!(
        out.status.success() && stdout(&out).contains("_slipway()"),
        "{}",
        stderr(&out)
    );

    // Paths: missing, not git, uncommitted changes.
    let out = server.cli(&["build", "/nonexistent/app", "--tag", &format!("{host}/t/x")]);
    assert!(
        stderr(&out).contains("no such directory: /nonexistent/app"),
        "{}",
        stderr(&out)
    );
    let plain = tempfile::tempdir().unwrap();
    let out = server.cli(&[
        "build",
        &plain.path().display().to_string(),
        "--tag",
        &format!("{host}/t/x"),
    ]);
    assert!(
        stderr(&out).contains("is not a git repository"),
        "{}",
        stderr(&out)
    );
    let repo = GitRepo::new(&[(
        "Dockerfile",
        &format!("FROM {base}\nLABEL name=t/good version=1 component=good\nRUN echo hi > /hi\n"),
    )]);
    std::fs::write(
        repo.path().join("Dockerfile"),
        format!("FROM {base}\nRUN echo changed\n"),
    )
    .unwrap();
    // A buildx platform name; the uncommitted change is warned about.
    let out = server.cli(&[
        "build",
        &repo.path().display().to_string(),
        "--tag",
        &format!("{host}/t/plat"),
        "--platform",
        "linux/amd64",
        "--scratch",
        "--no-follow",
        "-o",
        "json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("has uncommitted changes"),
        "{}",
        stderr(&out)
    );
    let b: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(b["spec"]["platforms"], serde_json::json!(["x86_64"]));
    server.wait_final(b["id"].as_i64().unwrap());

    // start --wait and --follow: the exit code says how the build ended.
    let bad = GitRepo::new(&[(
        "Dockerfile",
        &format!(
            "FROM {base}\nLABEL name=t/bad version=1 component=bad\nRUN echo about to fail && exit 3\n"
        ),
    )]);
    let yaml = format!(
        "name: good\nsource: {{ url: {}, branch: main }}\noutput: t/good\n---\nname: bad\nsource: {{ url: {}, branch: main }}\noutput: t/bad\n",
        repo.path().display(),
        bad.path().display()
    );
    let out = server.cli(&["apply", "-f", &config_file(&server, &yaml)]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = server.cli(&["start", "good", "--wait"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("of good: complete"),
        "{}",
        stdout(&out)
    );
    let out = server.cli(&["start", "bad", "--follow"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stdout(&out).contains("about to fail"), "{}", stdout(&out));
    assert!(stderr(&out).contains("failed"), "{}", stderr(&out));
    // logs CONFIG: its newest build; -f exits as the build ended.
    let out = server.cli(&["logs", "bad", "-f"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("about to fail"), "{}", stdout(&out));
    let out = server.cli(&["logs", "good"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = server.cli(&["logs", "nosuch"]);
    assert!(
        stderr(&out).contains("no config of that name has a build"),
        "{}",
        stderr(&out)
    );

    // Ctrl-C while following: the build is cancelled; with --detach it
    // goes on.
    let slow = GitRepo::new(&[("Dockerfile", &format!("FROM {base}\nRUN sleep 60\n"))]);
    let run = |extra: &[&str], tag: &str| {
        let mut cmd = server.cli_cmd(&[
            "build",
            &slow.path().display().to_string(),
            "--tag",
            &format!("{host}/t/{tag}"),
            "--scratch",
        ]);
        cmd.args(extra)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        cmd.spawn().unwrap()
    };
    for (extra, tag, want) in [
        (&[][..], "cut", "Cancelled"),
        (&["--detach"][..], "left", "Running"),
    ] {
        let child = run(extra, tag);
        let id = server.wait_until("the slow build running", Duration::from_secs(60), || {
            let list = server.api("GET", "/api/v1/builds?limit=5", None).json();
            list.as_array()?.iter().find(|b| {
                b["output"]
                    .as_str()
                    .is_some_and(|o| o.contains(&format!("/t/{tag}")))
                    && b["phase"] == "Running"
            })?["id"]
                .as_i64()
        });
        std::thread::sleep(Duration::from_millis(500));
        let pid = child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-INT", &pid])
                .status()
                .unwrap()
                .success()
        );
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(130),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let phase = server.wait_until(
            "the build's phase after Ctrl-C",
            Duration::from_secs(30),
            || {
                let p = server.build_json(id)["phase"].as_str()?.to_string();
                (want == "Running" || p == want).then_some(p)
            },
        );
        assert_eq!(phase, want, "{}", String::from_utf8_lossy(&out.stderr));
        if want == "Running" {
            assert!(
                String::from_utf8_lossy(&out.stderr).contains(&format!("slipway logs -f {id}")),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            server.api("POST", &format!("/api/v1/builds/{id}/cancel"), None);
        }
    }

    // builds filters and the columns people read.
    let list = server.cli_json(&[
        "builds", "--config", "good", "--phase", "complete", "-o", "json",
    ]);
    let list = list.as_array().unwrap();
    assert!(!list.is_empty());
    assert!(
        list.iter()
            .all(|b| b["config"] == "good" && b["phase"] == "Complete"),
        "{list:?}"
    );
    let failed = server.cli_json(&[
        "builds",
        "--phase",
        "Failed",
        "--trigger",
        "manual",
        "-o",
        "json",
    ]);
    assert!(
        failed
            .as_array()
            .unwrap()
            .iter()
            .all(|b| b["config"] == "bad"),
        "{failed}"
    );
    let table = stdout(&server.cli(&["builds"]));
    assert!(
        table.contains("CONFIG")
            && table.contains("TRIGGER")
            && table.contains("DURATION")
            && table.contains(" ago"),
        "{table}"
    );
    // JSON times are RFC 3339 to the second, everywhere a user reads them.
    let good_id = list[0]["id"].as_i64().unwrap().to_string();
    let mut seen = 0;
    for args in [
        &["builds", "-o", "json"][..],
        &["show", &good_id, "-o", "json"][..],
        &["configs", "good", "-o", "json"][..],
        &["token", "list", "-o", "json"][..],
        &["projects", "-o", "json"][..],
        &["audit", "-o", "json"][..],
        &["history", &format!("{host}/t/good:latest"), "-o", "json"][..],
    ] {
        seen += whole_second_times(&server.cli_json(args));
    }
    assert!(seen > 20, "only {seen} times checked");
    let out = server.cli(&["builds", "--phase", "sleeping"]);
    assert!(
        stderr(&out).contains("is not a build phase"),
        "{}",
        stderr(&out)
    );

    // login and contexts: the token is checked, kept in a file of its own
    // (0600), and a stale local state file never mixes in.
    let dirs = tempfile::tempdir().unwrap();
    let (config, state) = (dirs.path().join("config"), dirs.path().join("state"));
    std::fs::create_dir_all(state.join("slipway")).unwrap();
    std::fs::write(
        state.join("slipway/server.yaml"),
        "url: \"http://127.0.0.1:9\"\ntoken_file: \"/nonexistent\"\n",
    )
    .unwrap();
    let cli = |args: &[&str]| {
        server
            .cli_cmd(args)
            .env("XDG_CONFIG_HOME", &config)
            .env("XDG_STATE_HOME", &state)
            .output()
            .unwrap()
    };
    let token = stdout(&server.cli(&[
        "token",
        "create",
        "--name",
        "me",
        "--project",
        "default",
        "--role",
        "viewer",
        "-q",
    ]))
    .trim()
    .to_string();
    let token_file = dirs.path().join("me.token");
    std::fs::write(&token_file, &token).unwrap();
    let url = format!("http://{host}");
    let bad_file = dirs.path().join("bad.token");
    std::fs::write(&bad_file, format!("slw_{}", "0".repeat(64))).unwrap();
    let out = cli(&[
        "login",
        &url,
        "--name",
        "here",
        "--token-file",
        &bad_file.display().to_string(),
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("refused the token"),
        "{}",
        stderr(&out)
    );
    let out = cli(&[
        "login",
        &url,
        "--name",
        "here",
        "--token-file",
        &token_file.display().to_string(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let kept = config.join("slipway/tokens/here");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&kept).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let listed: serde_json::Value =
        serde_json::from_str(&stdout(&cli(&["context", "list", "-o", "json"]))).unwrap();
    assert_eq!(listed["current"], "here", "{listed}");
    let out = cli(&["builds", "-o", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = cli(&["context", "use", "nosuch"]);
    assert!(
        stderr(&out).contains("no context named nosuch"),
        "{}",
        stderr(&out)
    );
    let out = cli(&["--context", "nosuch", "builds"]);
    assert!(
        stderr(&out).contains("no context named nosuch"),
        "{}",
        stderr(&out)
    );
}
