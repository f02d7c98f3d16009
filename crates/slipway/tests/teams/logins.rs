//! A project's login to another registry: a registry that answers only
//! with a password (Debian's docker-registry, htpasswd), a base image
//! there that a build cannot pull until the project's admin keeps the
//! login, another project still refused, promotion copying there with it,
//! and the password nowhere it could leak: the CLI's arguments, lists,
//! the build log, API answers, the server's log, the data dir's files.

use super::*;
use slipway_test_support::{GitRepo, Registry, Server, require_tools, run_ok, stderr, stdout};
use std::io::Write;

/// `slipway registry login REGISTRY --project P -u bob --password-stdin`.
fn login(server: &Server, registry: &str, project: &str, password: &str) -> std::process::Output {
    let mut login = server
        .cli_cmd(&[
            "registry",
            "login",
            registry,
            "--project",
            project,
            "--username",
            "bob",
            "--password-stdin",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(login.stdin.take().unwrap(), "{password}").unwrap();
    login.wait_with_output().unwrap()
}

#[test]
fn a_projects_registry_login_pulls_its_bases_and_promotes_there() {
    require_tools();
    let password = format!("pw-{}-Lq7", std::process::id());
    let ext = Registry::start_with_login("bob", &password);
    let server = Server::start_with_config(
        Path::new(BIN),
        1,
        Some(&format!(
            "environments:\n  ext:\n    prefix: stable\n    registry: {}\n    gates: []\n",
            ext.host()
        )),
    );
    let host = server.host();
    for p in ["team", "ops"] {
        assert!(server.cli(&["project", "create", p]).status.success());
    }
    // The base image, only in the registry that wants a password.
    let base = format!("{}/vendor/busybox:latest", ext.host());
    run_ok(
        "skopeo",
        &[
            "copy",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
            "--src-creds",
            &format!("slipway:{}", server.token()),
            "--dest-creds",
            &format!("bob:{password}"),
            &format!("docker://{}", server.push_base_image()),
            &format!("docker://{base}"),
        ],
    );
    let repo = GitRepo::new(&[(
        "Dockerfile",
        &format!("FROM {base}\nLABEL name=team/priv version=1 component=priv\nRUN echo hi > /hi\n"),
    )]);
    let build_from = |repo: &GitRepo, output: &str, extra: &[&str]| {
        let id = server.queue(repo, &format!("{host}/{output}"), extra);
        server.wait_final(id)
    };
    let build = |output: &str| build_from(&repo, output, &[]);
    let b = build("team/priv");
    assert_eq!(b["phase"], "Failed", "{b}");

    // The project's admin keeps the login; the password goes in on stdin.
    let out = login(&server, &ext.host(), "team", &password);
    assert!(out.status.success(), "{}", stderr(&out));
    let pw_file = server.home.path().join("pw");
    std::fs::write(&pw_file, "x\n").unwrap();
    let out = server.cli(&[
        "registry",
        "login",
        &host,
        "--project",
        "team",
        "-u",
        "x",
        "--password-file",
        &pw_file.display().to_string(),
    ]);
    assert!(
        stderr(&out).contains("this server's own registry"),
        "{}",
        stderr(&out)
    );
    let out = server.cli(&[
        "registry",
        "login",
        &ext.host(),
        "--project",
        "team",
        "-u",
        "bob",
    ]);
    assert!(
        stderr(&out).contains("--password-stdin"),
        "{}",
        stderr(&out)
    );
    let logins = server.cli_json(&["registry", "logins", "-o", "json"]);
    assert_eq!(logins[0]["registry"], ext.host(), "{logins}");
    assert_eq!(logins[0]["username"], "bob", "{logins}");

    let b = build("team/priv");
    let id = b["id"].as_i64().unwrap();
    assert_eq!(b["phase"], "Complete", "{b}\n{}", server.log(id));
    // Another project has no login there, and gets nothing of it from the
    // builders' shared storage, where the team's build left the base.
    let o = build("ops/priv");
    assert_eq!(o["phase"], "Failed", "{o}");
    assert!(
        server
            .log(o["id"].as_i64().unwrap())
            .contains("cannot pull base image")
    );
    // Nor an image of the team's from the embedded registry, which a team
    // build just pulled into that storage.
    let child = GitRepo::new(&[(
        "Dockerfile",
        &format!("FROM {host}/team/priv:1-1\nRUN echo child > /child\n"),
    )]);
    let t = build_from(&child, "team/child", &["--scratch"]);
    assert_eq!(t["phase"], "Complete", "{t}");
    let o = build_from(&child, "ops/child", &["--scratch"]);
    assert_eq!(o["phase"], "Failed", "{o}");
    let log = server.log(o["id"].as_i64().unwrap());
    assert!(log.contains("cannot pull base image"), "{log}");

    // Promotion to the environment on that registry copies with it.
    let p = server.cli_json(&["promote", &id.to_string(), "--to", "ext", "-o", "json"]);
    let there = format!("{}/stable/team/priv", ext.host());
    assert_eq!(p["repository"], there, "{p}");
    let inspected = run_ok(
        "skopeo",
        &[
            "inspect",
            "--tls-verify=false",
            "--creds",
            &format!("bob:{password}"),
            &format!("docker://{there}:latest"),
        ],
    );
    let digest = b["image"]["digest"].as_str().unwrap();
    assert!(inspected.contains(digest), "{inspected}");

    // A build into that registry (a project's own login there) moves its
    // tags with the login too: the manifest PUT under each tag.
    let out = login(&server, &ext.host(), "default", &password);
    assert!(out.status.success(), "{}", stderr(&out));
    let outside = format!("{}/default/out", ext.host());
    let o = server.wait_final(server.queue(&repo, &format!("{outside}:extra"), &[]));
    let oid = o["id"].as_i64().unwrap();
    assert_eq!(o["phase"], "Complete", "{o}\n{}", server.log(oid));
    let tags = run_ok(
        "skopeo",
        &[
            "list-tags",
            "--tls-verify=false",
            "--creds",
            &format!("bob:{password}"),
            &format!("docker://{outside}"),
        ],
    );
    for tag in ["extra", "latest", "1"] {
        assert!(tags.contains(&format!("\"{tag}\"")), "{tag}: {tags}");
    }
    let out = server.cli(&["registry", "logout", &ext.host(), "--project", "default"]);
    assert!(out.status.success(), "{}", stderr(&out));

    // The password is nowhere to be read.
    for text in [
        server.log(id),
        server
            .api("GET", &format!("/api/v1/builds/{id}"), None)
            .body,
        server.api("GET", "/api/v1/registry-logins", None).body,
        server.api("GET", "/api/v1/audit?limit=1000", None).body,
        stdout(&server.cli(&["registry", "logins"])),
        server.server_log(),
    ] {
        assert!(!text.contains(&password), "the password shows: {text}");
    }
    if let Some(where_) = super::secrets::found_under(&server.data_dir(), password.as_bytes()) {
        panic!("the password is stored in plain text: {where_}");
    }
    // Logged out: the next build cannot pull again.
    let out = server.cli(&["registry", "logout", &ext.host(), "--project", "team"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        server.cli_json(&["registry", "logins", "-o", "json"]),
        serde_json::json!([])
    );
}
