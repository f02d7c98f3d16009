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
//!
//! The test stage, promotion through gates (to the embedded registry and
//! to another one), and retention: each in its own module.

mod ownership;
mod promotion;
mod retention;
mod streams;
mod testing;

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

fn history(server: &Server, reference: &str) -> Vec<serde_json::Value> {
    server
        .cli_json(&["history", reference, "-o", "json"])
        .as_array()
        .unwrap()
        .clone()
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
