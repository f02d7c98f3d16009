//! Projects, roles and tokens: every API route (from the router's own
//! table) and the registry × {viewer, developer, admin of the project,
//! admin of another project, a revoked token, an expired token}, on the
//! things of one project; then what project boundaries mean where a
//! handler must look at the thing itself (cancel another project's build,
//! build or apply into another project's namespace), anonymous pull per
//! project, and tokens made, listed (never with their secret) and revoked
//! from the CLI.

use super::*;
use slipway_core::access::Permission;
use slipway_server::Access;
use slipway_test_support::{GitRepo, Server, http_raw, require_tools, stderr, stdout};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Viewer,
    Developer,
    Admin,
    OtherAdmin,
    Revoked,
    Expired,
}

/// The team's admin last: what it may do, it does (a DELETE deletes).
const EVERYONE: [Who; 6] = [
    Who::OtherAdmin,
    Who::Revoked,
    Who::Expired,
    Who::Viewer,
    Who::Developer,
    Who::Admin,
];

/// Make a token with the CLI (as the admin); its secret.
fn token(server: &Server, name: &str, project: &str, role: &str, extra: &[&str]) -> String {
    let mut args = vec![
        "token",
        "create",
        "--name",
        name,
        "--project",
        project,
        "--role",
        role,
        "-q",
    ];
    args.extend_from_slice(extra);
    let out = server.cli(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out).trim().to_string()
}

#[test]
fn roles_bound_to_projects_on_every_route_and_in_the_registry() {
    require_tools();
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with_config(
        Path::new(BIN),
        1,
        Some(&format!(
            "rebuild_debounce_seconds: 0\n{}",
            slipway_test_support::process_cluster_config(dir.path(), 1)
        )),
    );
    let host = server.host();
    let base = server.push_base_image();
    for p in ["team", "ops"] {
        let out = server.cli(&["project", "create", p]);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    // A team config, built: a build, its scan, its repository.
    let repo = GitRepo::new(&[(
        "Dockerfile",
        &format!("FROM {base}\nLABEL name=team/app version=1 component=app\nRUN echo a > /a\n"),
    )]);
    let file = dir.path().join("app.yaml");
    std::fs::write(
        &file,
        format!(
            "name: app\nsource: {{ url: {}, branch: main }}\noutput: team/app\n",
            repo.path().display()
        ),
    )
    .unwrap();
    let out = server.cli(&["apply", "-f", &file.display().to_string()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let started = server.cli_json(&["start", "app", "-o", "json"]);
    let wave = started["wave"].as_i64().unwrap();
    let build = server.wait_until("app's build", Duration::from_secs(60), || {
        server
            .api("GET", &format!("/api/v1/waves/{wave}"), None)
            .json()["members"][0]["build"]
            .as_i64()
    });
    let b = server.wait_final(build);
    assert_eq!(b["phase"], "Complete", "{b}");
    assert_eq!(
        server.api("GET", "/api/v1/builds", None).json()[0]["project"],
        "team"
    );
    let scan = server
        .api("GET", &format!("/api/v1/builds/{build}/scans"), None)
        .json()[0]["id"]
        .as_i64()
        .unwrap();

    let viewer = token(&server, "v", "team", "viewer", &[]);
    let developer = token(&server, "d", "team", "developer", &[]);
    let admin = token(&server, "a", "team", "admin", &[]);
    let other = token(&server, "o", "ops", "admin", &[]);
    let revoked = token(&server, "r", "team", "admin", &[]);
    let expired = token(&server, "e", "team", "admin", &["--expires", "1s"]);
    let list = server.cli_json(&["token", "list", "-o", "json"]);
    let rid = list
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "r")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    assert!(
        !list.to_string().contains(&revoked),
        "a list never shows a secret"
    );
    let out = server.cli(&["token", "revoke", &rid.to_string()]);
    assert!(out.status.success(), "{}", stderr(&out));
    // A team token the admin routes may revoke (one per request is enough:
    // revoking again is fine).
    token(&server, "victim", "team", "viewer", &[]);
    let victim = server.cli_json(&["token", "list", "-o", "json"])[0]["id"]
        .as_i64()
        .unwrap();
    // A service account of the team the identity routes may disable.
    let out = server.cli(&["service-account", "create", "team-ci", "--project", "team"]);
    assert!(out.status.success(), "{}", stderr(&out));
    std::thread::sleep(Duration::from_secs(2)); // `e` has expired
    let secret = |w: Who| match w {
        Who::Viewer => &viewer,
        Who::Developer => &developer,
        Who::Admin => &admin,
        Who::OtherAdmin => &other,
        Who::Revoked => &revoked,
        Who::Expired => &expired,
    };
    let request = |method: &str, path: &str, w: Who| {
        let auth = format!("Bearer {}", secret(w));
        let body: &[u8] = if matches!(method, "POST" | "PUT" | "PATCH") {
            b"{}"
        } else {
            b""
        };
        http_raw(
            server.port,
            method,
            path,
            &[
                ("Authorization", &auth),
                ("Content-Type", "application/json"),
            ],
            body,
        )
    };
    let mut failures = Vec::new();

    // Where the thing decides (before the matrix below deletes the
    // config): another project's build, namespace, config.
    let got = request(
        "POST",
        &format!("/api/v1/builds/{build}/cancel"),
        Who::OtherAdmin,
    );
    assert_eq!(got.status, 403, "{}", got.body);
    let body = serde_json::json!({
        "source": { "url": repo.path().display().to_string() },
        "output": format!("{host}/team/x:1"),
        "scratch": true,
    })
    .to_string();
    let auth = format!("Bearer {other}");
    let got = http_raw(
        server.port,
        "POST",
        "/api/v1/builds",
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        body.as_bytes(),
    );
    assert_eq!(got.status, 403, "{}", got.body);
    assert!(got.body.contains("project team"), "{}", got.body);
    let apply = serde_json::json!({ "configs": [{
        "name": "intruder",
        "source": { "url": repo.path().display().to_string(), "branch": "main" },
        "output": "team/intruder",
    }]})
    .to_string();
    let got = http_raw(
        server.port,
        "POST",
        "/api/v1/configs/apply",
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        apply.as_bytes(),
    );
    assert_eq!(got.status, 403, "{}", got.body);
    let dev_auth = format!("Bearer {developer}");
    let prune = serde_json::json!({ "configs": [], "prune": true }).to_string();
    let got = http_raw(
        server.port,
        "POST",
        "/api/v1/configs/apply",
        &[
            ("Authorization", &dev_auth),
            ("Content-Type", "application/json"),
        ],
        prune.as_bytes(),
    );
    assert_eq!(got.status, 403, "a developer may not prune: {}", got.body);
    // A project admin makes tokens of its project only, never global ones.
    let admin_auth = format!("Bearer {admin}");
    for (project, want) in [(Some("team"), 200), (Some("ops"), 403), (None, 403)] {
        let req =
            serde_json::json!({ "name": "mine", "project": project, "role": "viewer" }).to_string();
        let got = http_raw(
            server.port,
            "POST",
            "/api/v1/tokens",
            &[
                ("Authorization", &admin_auth),
                ("Content-Type", "application/json"),
            ],
            req.as_bytes(),
        );
        assert_eq!(got.status, want, "{project:?}: {}", got.body);
    }

    // Lists show another project's admin nothing of the team.
    for list in [
        "/api/v1/builds",
        "/api/v1/configs",
        "/api/v1/images",
        "/api/v1/scans",
        "/api/v1/waves",
    ] {
        let got = request("GET", list, Who::OtherAdmin);
        if got.status != 200 || got.json() != serde_json::json!([]) {
            failures.push(format!(
                "GET {list} as OtherAdmin: {} {}",
                got.status, got.body
            ));
        }
        let got = request("GET", list, Who::Viewer);
        if got.json().as_array().is_none_or(|a| a.is_empty()) {
            failures.push(format!("GET {list} as Viewer is empty: {}", got.body));
        }
    }
    // Every token route: the role decides; another project's admin is
    // refused wherever the path names this project's things, and sees
    // only its own in lists.
    let mut table = slipway_server::route_table();
    // Deletes last, so the rest still finds what they would delete.
    table.sort_by_key(|r| r.method == "DELETE");
    for route in &table {
        let Access::Token(need) = route.access else {
            continue;
        };
        let path = route
            .path
            .replace(
                "{id}",
                &if route.path.starts_with("/api/v1/scans/") {
                    scan
                } else if route.path.starts_with("/api/v1/waves/") {
                    wave
                } else if route.path.starts_with("/api/v1/tokens/") {
                    victim
                } else {
                    build
                }
                .to_string(),
            )
            .replace(
                "{name}",
                if route.path.starts_with("/api/v1/projects/") {
                    "team"
                } else if route.path.starts_with("/api/v1/identities/") {
                    "team-ci"
                } else {
                    "app"
                },
            )
            .replace("{action}", "enable")
            .replace("{project}", "team")
            .replace("{registry}", "registry.example.com")
            .replace("{format}", "spdx");
        // Whether the path names a thing of the team project.
        let names_team = (route.path.contains("{id}")
            || route.path.contains("{name}")
            || route.path.contains("{project}"))
            && !route.path.starts_with("/api/v1/waves/")
            && !route.path.starts_with("/api/v1/clusters/");
        for w in EVERYONE {
            let role_allows = match (w, need) {
                (_, Permission::Global) => false,
                (Who::Viewer, Permission::Read) => true,
                (Who::Developer, Permission::Read | Permission::Build) => true,
                (Who::Admin | Who::OtherAdmin, _) => true,
                _ => false,
            };
            let allowed = match w {
                Who::Revoked | Who::Expired => None,
                Who::OtherAdmin => Some(role_allows && !names_team),
                _ => Some(role_allows),
            };
            // The event stream never ends: where it is allowed, only its
            // status is read.
            let got = if route.path == "/api/v1/events" && allowed == Some(true) {
                let auth = format!("Bearer {}", secret(w));
                slipway_test_support::HttpResponse {
                    status: slipway_test_support::http_status(
                        server.port,
                        route.method,
                        &path,
                        &[("Authorization", &auth)],
                        b"",
                    ),
                    headers: String::new(),
                    body: String::new(),
                }
            } else {
                request(route.method, &path, w)
            };
            let ok = match allowed {
                None => got.status == 401,
                Some(true) => got.status != 401 && got.status != 403,
                Some(false) => {
                    got.status == 403
                        && got.json()["code"] == "FORBIDDEN"
                        && got.json()["message"]
                            .as_str()
                            .is_some_and(|m| m.contains("may not"))
                }
            };
            if !ok {
                failures.push(format!(
                    "{} {path} ({need:?}) as {w:?}: got {} {}",
                    route.method, got.status, got.body
                ));
            }
        }
    }

    let graph = request("GET", "/api/v1/graph", Who::OtherAdmin).json();
    assert_eq!(graph["nodes"], serde_json::json!([]), "{graph}");
    let got = request("GET", &format!("/api/v1/waves/{wave}"), Who::OtherAdmin);
    assert_eq!(got.status, 404, "{}", got.body);
    let projects = request("GET", "/api/v1/projects", Who::OtherAdmin).json();
    assert_eq!(projects.as_array().unwrap().len(), 1, "{projects}");

    // The registry: the project's namespace, by role.
    let registry = |method: &str, path: &str, w: Option<Who>| {
        let mut h = vec![];
        let auth;
        if let Some(w) = w {
            auth = format!("Bearer {}", secret(w));
            h.push(("Authorization", auth.as_str()));
        }
        http_raw(server.port, method, path, &h, b"").status
    };
    let digest = b["image"]["digest"].as_str().unwrap();
    let manifest = format!("/v2/team/app/manifests/{digest}");
    for (w, pull, push) in [
        (Who::Viewer, 200, 403),
        (Who::Developer, 200, 202),
        (Who::Admin, 200, 202),
        (Who::OtherAdmin, 403, 403),
        (Who::Revoked, 401, 401),
        (Who::Expired, 401, 401),
    ] {
        let got = registry("GET", &manifest, Some(w));
        if got != pull {
            failures.push(format!("pull team/app as {w:?}: {got}, want {pull}"));
        }
        let got = registry("POST", "/v2/team/app/blobs/uploads/", Some(w));
        if got != push {
            failures.push(format!("push team/app as {w:?}: {got}, want {push}"));
        }
    }
    let got = registry("POST", "/v2/ops/app/blobs/uploads/", Some(Who::OtherAdmin));
    if got != 202 {
        failures.push(format!("push ops/app as OtherAdmin: {got}"));
    }
    let got = registry(
        "DELETE",
        &format!(
            "/v2/team/app/manifests/{}",
            "sha256:".to_string() + &"0".repeat(64)
        ),
        Some(Who::Developer),
    );
    if got != 403 {
        failures.push(format!("delete in team/app as Developer: {got}, want 403"));
    }
    assert!(
        failures.is_empty(),
        "{} answers are wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );

    // Anonymous pull, per project.
    assert_eq!(registry("GET", &manifest, None), 401);
    let out = server.cli(&["project", "set", "team", "--anonymous-pull", "true"]);
    assert!(out.status.success(), "{}", stderr(&out));
    server.wait_until("anonymous pull of team", Duration::from_secs(10), || {
        (registry("GET", &manifest, None) == 200).then_some(())
    });
    assert_eq!(registry("POST", "/v2/team/app/blobs/uploads/", None), 401);
    assert_eq!(registry("GET", "/v2/ops/app/tags/list", None), 401);

    // The audit log: a record for every mutating route the matrix called,
    // refusals included, with who and from where.
    let audit = server.cli_json(&["audit", "--limit", "10000", "-o", "json"]);
    let records = audit.as_array().unwrap();
    for route in table.iter().filter(|r| r.method != "GET") {
        if !matches!(route.access, Access::Token(_)) {
            continue;
        }
        let prefix = route.path.split('{').next().unwrap();
        let method = format!("{} {prefix}", route.method);
        assert!(
            records
                .iter()
                .any(|r| r["action"].as_str().is_some_and(|a| a.starts_with(&method))),
            "no audit record for {} {}",
            route.method,
            route.path
        );
    }
    let refused = records
        .iter()
        .find(|r| {
            r["who"] == "token:o"
                && r["action"] == format!("POST /api/v1/builds/{build}/cancel").as_str()
        })
        .unwrap_or_else(|| panic!("{audit}"));
    assert_eq!(
        (
            refused["status"].as_u64(),
            refused["project"].as_str(),
            refused["source"].as_str()
        ),
        (Some(403), Some("ops"), Some("127.0.0.1"))
    );
    // A project's admin reads its own project's records only.
    let auth = format!("Bearer {admin}");
    let own = http_raw(
        server.port,
        "GET",
        "/api/v1/audit?limit=10000",
        &[("Authorization", &auth)],
        b"",
    )
    .json();
    assert!(
        own.as_array()
            .unwrap()
            .iter()
            .all(|r| r["project"] == "team"),
        "{own}"
    );
    let other = http_raw(
        server.port,
        "GET",
        "/api/v1/audit?project=ops",
        &[("Authorization", &auth)],
        b"",
    );
    assert_eq!(other.status, 403, "{}", other.body);
    // Append-only, even to someone with the database file.
    let db = server.data_dir().join("slipway.db");
    let out = Command::new("python3")
        .arg("-c")
        .arg(format!(
            "import sqlite3; c = sqlite3.connect({:?}); c.execute('DELETE FROM audit'); c.commit()",
            db.display().to_string()
        ))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("append-only"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
