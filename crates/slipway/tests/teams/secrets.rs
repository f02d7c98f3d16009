//! Build secrets: a project's secret reaches the `RUN` step that mounts
//! it (`--mount=type=secret,id=…`) and nothing else — not a layer, the
//! image's config or history, the build log (masked), an API answer, or
//! the database's bytes (sealed) — and only builds of its own project.

use super::*;
use slipway_test_support::{GitRepo, Server, http, require_tools, stderr, stdout};

/// Whether `needle` is anywhere under `dir` (file contents, any depth).
pub(super) fn found_under(dir: &Path, needle: &[u8]) -> Option<String> {
    for entry in walkdir(dir) {
        if let Ok(bytes) = std::fs::read(&entry)
            && bytes.windows(needle.len()).any(|w| w == needle)
        {
            return Some(entry.display().to_string());
        }
    }
    None
}

fn walkdir(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push(p),
                Ok(t) if t.is_file() => out.push(p),
                _ => {}
            }
        }
    }
    out
}

#[test]
fn a_secret_reaches_its_run_step_and_nothing_else() {
    require_tools();
    let server =
        Server::start_with_config(Path::new(BIN), 1, Some("registry_anonymous_pull: true\n"));
    let host = server.host();
    let base = server.push_base_image();
    for p in ["team", "ops"] {
        assert!(server.cli(&["project", "create", p]).status.success());
    }
    let value = format!("sv-{}-Zq8-{}", std::process::id(), host.len() * 7919);
    let file = server.home.path().join("tok.txt");
    std::fs::write(&file, &value).unwrap();
    let out = server.cli(&[
        "secret",
        "create",
        "tok",
        "--project",
        "team",
        "--from-file",
        &file.display().to_string(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    std::fs::remove_file(&file).unwrap();
    // The step checks the value by its hash (the Dockerfile is in the
    // image's history) and prints it, to be masked.
    let hash = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(value.as_bytes()));
    let repo = GitRepo::new(&[(
        "Dockerfile",
        &format!(
            "FROM {base}\nRUN --mount=type=secret,id=tok test \"$(sha256sum /run/secrets/tok | cut -d' ' -f1)\" = {hash} && echo \"the token is $(cat /run/secrets/tok)\" && echo ok > /ok\n"
        ),
    )]);
    let id = server.queue(&repo, &format!("{host}/team/sec"), &["--scratch"]);
    let b = server.wait_final(id);
    assert_eq!(b["phase"], "Complete", "{b}\n{}", server.log(id));
    let log = server.log(id);
    assert!(log.contains("the token is ***"), "{log}");
    assert!(!log.contains(&value), "the log shows the secret");

    // Not in the image: its files, its config, its history.
    let reference = b["image"]["reference"].as_str().unwrap();
    let (unpacked, rootfs) = slipway_test_support::unpack_image(reference);
    assert!(rootfs.join("ok").exists(), "the step ran");
    if let Some(where_) = found_under(unpacked.path(), value.as_bytes()) {
        panic!("the secret is in the image: {where_}");
    }
    let config = slipway_test_support::run_ok(
        "skopeo",
        &[
            "inspect",
            "--config",
            "--tls-verify=false",
            &format!("docker://{reference}"),
        ],
    );
    assert!(!config.contains(&value));
    // Not in an API answer about the build.
    for path in [
        format!("/api/v1/builds/{id}"),
        format!("/api/v1/builds/{id}/scans"),
        format!("/api/v1/builds/{id}/sboms"),
        "/api/v1/secrets".to_string(),
        "/api/v1/audit?limit=1000".to_string(),
    ] {
        let got = server.api("GET", &path, None);
        assert!(!got.body.contains(&value), "{path}: {}", got.body);
    }

    // The prebuild and test commands read `secrets:` as files (the test in
    // a container made from the image), masked in the log, and the image
    // holds nothing of them.
    let check = format!("test \"$(sha256sum $SLIPWAY_SECRETS/tok | cut -d' ' -f1)\" = {hash}");
    let commands = GitRepo::new(&[
        ("Dockerfile", &format!("FROM {base}\nCOPY . /src/\n")),
        (
            "slipway.yaml",
            &format!(
                "secrets: [tok]\nprebuild: |\n  {check} && echo \"prebuild sees $(cat /run/secrets/tok)\"\ntest: |\n  {check} && echo \"test sees $(cat /run/secrets/tok)\"\n"
            ),
        ),
    ]);
    let id = server.queue(&commands, &format!("{host}/team/cmds"), &["--scratch"]);
    let b = server.wait_final(id);
    let log = server.log(id);
    assert_eq!(b["phase"], "Complete", "{b}\n{log}");
    assert!(log.contains("prebuild sees ***"), "{log}");
    assert!(log.contains("test sees ***"), "{log}");
    assert!(!log.contains(&value), "the log shows the secret");
    let (unpacked, rootfs) =
        slipway_test_support::unpack_image(b["image"]["reference"].as_str().unwrap());
    assert!(rootfs.join("src/slipway.yaml").exists());
    if let Some(where_) = found_under(unpacked.path(), value.as_bytes()) {
        panic!("the secret is in the image: {where_}");
    }
    assert!(
        !server
            .api("GET", &format!("/api/v1/builds/{id}"), None)
            .body
            .contains(&value)
    );

    let listed = server.cli_json(&["secret", "list", "-o", "json"]);
    assert_eq!(listed[0]["name"], "tok", "{listed}");
    assert_eq!(listed[0]["size"], value.len(), "{listed}");
    // Not in the database's bytes (sealed), nor anywhere in the data dir.
    if let Some(where_) = found_under(&server.data_dir(), value.as_bytes()) {
        panic!("the secret is stored in plain text: {where_}");
    }

    // Another project's admin neither sees nor sets the team's secrets,
    // and a build of another project cannot mount them.
    let other = stdout(&server.cli(&[
        "token",
        "create",
        "--name",
        "o",
        "--project",
        "ops",
        "--role",
        "admin",
        "-q",
    ]))
    .trim()
    .to_string();
    let seen = http(server.port, "GET", "/api/v1/secrets", Some(&other), None).json();
    assert_eq!(seen, serde_json::json!([]));
    let set = http(
        server.port,
        "POST",
        "/api/v1/secrets",
        Some(&other),
        Some(r#"{"project":"team","name":"x","value_base64":"eA=="}"#),
    );
    assert_eq!(set.status, 403, "{}", set.body);
    let id = server.queue(&repo, &format!("{host}/ops/sec"), &["--scratch"]);
    let b = server.wait_final(id);
    assert_eq!(b["phase"], "Failed", "{b}");
    assert!(
        b["reason"]
            .as_str()
            .unwrap()
            .contains("slipway secret create tok --project ops"),
        "{b}"
    );
}
