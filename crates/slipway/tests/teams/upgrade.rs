//! Upgrade: a data dir written by the release before projects
//! (`tests/fixtures/datadir-before-projects.tar.gz`, made by
//! `scripts/make-upgrade-fixture.sh` with commit c0b33ef's binary) starts
//! under this one: its admin token still works and is a global admin,
//! everything is in the default project, the build, its config and its
//! image are all there; a project made afterwards adopts what is in its
//! namespace.

use super::*;
use slipway_test_support::{Server, require_tools, stderr};

#[test]
fn a_data_dir_from_before_projects_starts_with_everything_in_default() {
    require_tools();
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/datadir-before-projects.tar.gz");
    // On the port it ran on: its images and configs name it.
    let unpacked = tempfile::tempdir().unwrap();
    let out = Command::new("tar")
        .arg("-xzf")
        .arg(&fixture)
        .arg("-C")
        .arg(unpacked.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let port: u16 = std::fs::read_to_string(unpacked.path().join("port"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let server = Server::start_on_port(Path::new(BIN), 1, port, |home| {
        std::fs::rename(unpacked.path().join("data"), home.join("data")).unwrap();
    });
    // The old admin token (the fixture's file), a global admin now.
    let tokens = server.cli_json(&["token", "list", "-o", "json"]);
    assert_eq!(tokens.as_array().unwrap().len(), 1, "{tokens}");
    assert_eq!(tokens[0]["name"], "admin");
    assert_eq!(tokens[0]["project"], serde_json::Value::Null);
    assert_eq!(tokens[0]["role"], "admin");
    let projects = server.cli_json(&["projects", "-o", "json"]);
    assert_eq!(projects.as_array().unwrap().len(), 1, "{projects}");
    assert_eq!(projects[0]["name"], "default");
    // Its build, config and image, in the default project.
    let builds = server.cli_json(&["builds", "-o", "json"]);
    assert_eq!(builds.as_array().unwrap().len(), 1, "{builds}");
    assert_eq!(
        (builds[0]["phase"].as_str(), builds[0]["project"].as_str()),
        (Some("Complete"), Some("default"))
    );
    let id = builds[0]["id"].as_i64().unwrap();
    let shown = server.cli_json(&["show", &id.to_string(), "-o", "json"]);
    assert_eq!(shown["spec"]["project"], "default", "{shown}");
    let configs = server.cli_json(&["configs", "-o", "json"]);
    assert_eq!(configs[0]["config"]["name"], "app", "{configs}");
    let pulled = server.registry(
        "GET",
        "/v2/team/app/manifests/1.0-1",
        "repository:team/app:pull",
    );
    assert_eq!(pulled.status, 200, "{}", pulled.body);
    let scans = server.cli_json(&["scans", "-o", "json"]);
    assert_eq!(scans.as_array().unwrap().len(), 1, "{scans}");

    // A project made now owns team/: the config, its build and its scan
    // are the team's; a team viewer sees them, the default's does not.
    let out = server.cli(&["project", "create", "team"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let shown = server.cli_json(&["show", &id.to_string(), "-o", "json"]);
    assert_eq!(shown["spec"]["project"], "team", "{shown}");
    let token = |project: &str| {
        let out = server.cli(&[
            "token",
            "create",
            "--name",
            project,
            "--project",
            project,
            "--role",
            "viewer",
            "-q",
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
        slipway_test_support::stdout(&out).trim().to_string()
    };
    let (team, default) = (token("team"), token("default"));
    let list = |t: &str, what: &str| {
        slipway_test_support::http(server.port, "GET", what, Some(t), None).json()
    };
    for what in ["/api/v1/builds", "/api/v1/configs", "/api/v1/scans"] {
        assert_eq!(list(&team, what).as_array().unwrap().len(), 1, "{what}");
        assert_eq!(list(&default, what), serde_json::json!([]), "{what}");
    }
}
