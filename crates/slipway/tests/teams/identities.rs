//! Users and service accounts: a global admin makes users, a project's
//! admin makes its service accounts and issues tokens to both (a service
//! account's of its own project only); the audit log names the holder;
//! disabling one revokes every token of it at once, and a name is never
//! reused.

use super::*;
use slipway_test_support::{Server, http, stderr, stdout};

#[test]
fn users_and_service_accounts_hold_tokens_and_lose_them_together() {
    let server = Server::start(Path::new(BIN), 1);
    for p in ["team", "ops"] {
        assert!(server.cli(&["project", "create", p]).status.success());
    }
    let as_token = |token: &str, args: &[&str]| {
        server
            .cli_cmd(args)
            .env("SLIPWAY_TOKEN", token)
            .env_remove("SLIPWAY_TOKEN_FILE")
            .output()
            .unwrap()
    };
    let secret_of = |out: std::process::Output| {
        assert!(out.status.success(), "{}", stderr(&out));
        stdout(&out).trim().to_string()
    };
    // The team's admin, issued by the global admin to a user.
    let out = server.cli(&["user", "create", "alice@example.com"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("token create --name NAME --user alice@example.com"),
        "{}",
        stderr(&out)
    );
    let alice = secret_of(server.cli(&[
        "token",
        "create",
        "--name",
        "laptop",
        "--user",
        "alice@example.com",
        "--project",
        "team",
        "--role",
        "admin",
        "-q",
    ]));
    // A project's admin makes no users, but service accounts of its own
    // project, and issues tokens to users and to its service accounts.
    let out = as_token(&alice, &["user", "create", "mallory"]);
    assert!(
        stderr(&out).contains("needs a global admin token"),
        "{}",
        stderr(&out)
    );
    let out = as_token(
        &alice,
        &["service-account", "create", "deployer", "--project", "ops"],
    );
    assert!(stderr(&out).contains("may not manage"), "{}", stderr(&out));
    let out = as_token(
        &alice,
        &["service-account", "create", "ci", "--project", "team"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let ci = secret_of(as_token(
        &alice,
        &[
            "token",
            "create",
            "--name",
            "pipeline",
            "--service-account",
            "ci",
            "--project",
            "team",
            "--role",
            "developer",
            "-q",
        ],
    ));
    let bob = server.cli(&["user", "create", "bob"]);
    assert!(bob.status.success());
    secret_of(as_token(
        &alice,
        &[
            "token",
            "create",
            "--name",
            "b1",
            "--user",
            "bob",
            "--project",
            "team",
            "--role",
            "viewer",
            "-q",
        ],
    ));
    // A service account's tokens stay in its project, even from a global
    // admin; a holder that does not exist gets none.
    let out = server.cli(&[
        "token",
        "create",
        "--name",
        "x",
        "--service-account",
        "ci",
        "--project",
        "ops",
        "--role",
        "viewer",
    ]);
    assert!(
        stderr(&out).contains("belongs to project team"),
        "{}",
        stderr(&out)
    );
    let out = server.cli(&[
        "token",
        "create",
        "--name",
        "x",
        "--user",
        "nobody",
        "--project",
        "team",
        "--role",
        "viewer",
    ]);
    assert!(
        stderr(&out).contains("no user or service account nobody"),
        "{}",
        stderr(&out)
    );

    // Lists: holders, their kinds and live tokens; a project's admin sees
    // the users and its own service accounts.
    let tokens = server.cli_json(&["token", "list", "-o", "json"]);
    let laptop = tokens
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "laptop")
        .unwrap();
    assert_eq!(
        (&laptop["identity"], &laptop["kind"]),
        (
            &serde_json::json!("alice@example.com"),
            &serde_json::json!("user")
        )
    );
    let pipeline = tokens
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "pipeline")
        .unwrap();
    assert_eq!(pipeline["kind"], "service", "{pipeline}");
    let table = stdout(&server.cli(&["token", "list"]));
    assert!(
        table.contains("HOLDER") && table.contains("alice@example.com"),
        "{table}"
    );
    server.cli(&["service-account", "create", "ops-bot", "--project", "ops"]);
    let seen: serde_json::Value =
        serde_json::from_str(&stdout(&as_token(&alice, &["user", "list", "-o", "json"]))).unwrap();
    let names: Vec<&str> = seen
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["alice@example.com", "bob"], "{seen}");
    let accounts: serde_json::Value = serde_json::from_str(&stdout(&as_token(
        &alice,
        &["service-account", "list", "-o", "json"],
    )))
    .unwrap();
    assert_eq!(accounts.as_array().unwrap().len(), 1, "{accounts}");
    assert_eq!(accounts[0]["name"], "ci");
    assert_eq!(accounts[0]["live_tokens"], 1);

    // The audit log names the holder and the token.
    let out = as_token(&ci, &["project", "set", "team", "--anonymous-pull", "true"]);
    assert!(
        !out.status.success(),
        "a developer may not change the project"
    );
    let audit = server.cli_json(&["audit", "--project", "team", "-o", "json"]);
    assert!(
        audit
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["who"] == "service:ci (token:pipeline)" && r["status"] == 403),
        "{audit}"
    );
    assert!(
        audit
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["who"] == "user:alice@example.com (token:laptop)"
                && r["action"] == "POST /api/v1/identities"),
        "{audit}"
    );

    // Disabling revokes every token at once; no new ones; no name reuse.
    assert_eq!(
        http(server.port, "GET", "/api/v1/builds", Some(&ci), None).status,
        200
    );
    let out = as_token(&alice, &["service-account", "disable", "ci", "-o", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let gone: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(gone["live_tokens"], 0, "{gone}");
    assert!(gone["disabled_at"].is_string(), "{gone}");
    assert_eq!(
        http(server.port, "GET", "/api/v1/builds", Some(&ci), None).status,
        401
    );
    let out = server.cli(&["user", "disable", "alice@example.com"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        http(server.port, "GET", "/api/v1/builds", Some(&alice), None).status,
        401
    );
    let out = server.cli(&[
        "token",
        "create",
        "--name",
        "again",
        "--user",
        "alice@example.com",
        "--project",
        "team",
        "--role",
        "viewer",
    ]);
    assert!(stderr(&out).contains("is disabled"), "{}", stderr(&out));
    let out = server.cli(&["user", "create", "alice@example.com"]);
    assert!(stderr(&out).contains("never reused"), "{}", stderr(&out));
    let out = server.cli(&["user", "create", "-bad"]);
    assert!(!out.status.success());
    let out = server.cli(&["user", "create", "bad/name"]);
    assert!(
        stderr(&out).contains("is not a user name"),
        "{}",
        stderr(&out)
    );
}
