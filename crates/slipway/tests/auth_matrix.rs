//! The auth matrix (issue 16): every API route and every kind of registry
//! request × {no token, a bad token, an API token, a worker build's token
//! used on another build, an expired registry token, a scoped registry
//! token}, with the status each must get. The routes come from the route
//! table the server's router is built from (`slipway_server::route_table`)
//! and the registry's own request kinds (`slipway_registry::routes::examples`),
//! so a new route cannot be forgotten here.

use slipway_core::token::{ANY_REPOSITORY, Action, Grant};
use slipway_registry::routes::Needs;
use slipway_server::Access;
use slipway_test_support::{GitRepo, Server, http_raw, http_status, require_tools};
use std::path::Path;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_slipway");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cred {
    None,
    Bad,
    Api,
    OtherWorker,
    ExpiredRegistry,
    ScopedRegistry,
}

const CREDS: [Cred; 6] = [
    Cred::None,
    Cred::Bad,
    Cred::Api,
    Cred::OtherWorker,
    Cred::ExpiredRegistry,
    Cred::ScopedRegistry,
];

/// What a request must get: exactly a status, or anything but 401/403.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Status(u16),
    Allowed,
}

fn check(what: &str, got: u16, want: Expect, failures: &mut Vec<String>) {
    let ok = match want {
        Expect::Status(s) => got == s,
        Expect::Allowed => got != 401 && got != 403,
    };
    if !ok {
        failures.push(format!("{what}: got {got}, want {want:?}"));
    }
}

#[test]
fn every_route_answers_each_credential_as_it_must() {
    require_tools();
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start_with_config(
        Path::new(BIN),
        1,
        Some(&slipway_test_support::process_cluster_config(dir.path(), 1)),
    );
    let base = s.push_base_image();
    // A running worker build, for a real worker-build token.
    let repo = GitRepo::new(&[(
        "Dockerfile",
        &format!("FROM {base}\nLABEL name=m/x version=1 component=x\nRUN sleep 120\n"),
    )]);
    let id = s.queue(&repo, &format!("{}/adv/mine:1", s.host()), &[]);
    let worker = s.wait_until("the worker build's token", Duration::from_secs(90), || {
        let b = s.build_json(id);
        let w = b["workers"][0]["id"].as_i64()?;
        s.data_dir()
            .join(format!("work/tokens/worker-{w}"))
            .exists()
            .then_some(w)
    });
    let worker_token =
        std::fs::read_to_string(s.data_dir().join(format!("work/tokens/worker-{worker}")))
            .unwrap()
            .trim()
            .to_string();
    let key = hex::decode(
        std::fs::read_to_string(s.data_dir().join("registry-key"))
            .unwrap()
            .trim(),
    )
    .unwrap();
    let far = 4_000_000_000;
    let expired =
        slipway_registry::auth::mint(&key, vec![Grant::new(ANY_REPOSITORY, &Action::ALL)], 1);
    let scoped = slipway_registry::auth::mint(
        &key,
        vec![Grant::new("adv/mine", &[Action::Pull, Action::Push])],
        far,
    );
    let api = s.token();
    let header = |c: Cred| -> Option<String> {
        match c {
            Cred::None => None,
            Cred::Bad => Some(format!("Bearer slw_{}", "0".repeat(64))),
            Cred::Api => Some(format!("Bearer {api}")),
            Cred::OtherWorker => Some(format!("Bearer {worker_token}")),
            Cred::ExpiredRegistry => Some(format!("Bearer {expired}")),
            Cred::ScopedRegistry => Some(format!("Bearer {scoped}")),
        }
    };
    let request = |method: &str, path: &str, c: Cred| {
        let auth = header(c);
        let mut h: Vec<(&str, &str)> = vec![("Content-Type", "application/json")];
        if let Some(a) = &auth {
            h.push(("Authorization", a));
        }
        let body: &[u8] = if matches!(method, "POST" | "PUT" | "PATCH") {
            b"{}"
        } else {
            b""
        };
        // The status only: the event stream never ends.
        http_status(s.port, method, path, &h, body)
    };
    let mut failures = Vec::new();
    let started = Instant::now();

    // The API, from the router's own table.
    let table = slipway_server::route_table();
    assert!(table.len() > 30, "{table:?}");
    let paths: std::collections::BTreeSet<String> = table.iter().map(|r| r.path.clone()).collect();
    for route in &table {
        // Ids that name nothing (a write must not touch the running build),
        // and for worker routes another worker build than the token's.
        let path = route
            .path
            .replace(
                "{id}",
                &match route.access {
                    Access::Worker => (worker + 1000).to_string(),
                    _ => "999999".into(),
                },
            )
            .replace("{name}", "nosuch")
            .replace("{project}", "nosuch")
            .replace("{action}", "enable")
            .replace("{format}", "spdx")
            .replace("{config}", "nosuch")
            .replace("{provider}", "generic");
        for c in CREDS {
            let want = match (route.access, c) {
                (Access::Public, _) => Expect::Status(200),
                // Unknown configs: the same 404 whoever asks.
                (Access::Webhook, _) => Expect::Status(404),
                (Access::Token(_) | Access::Worker, Cred::Api) => Expect::Allowed,
                (Access::Token(_) | Access::Worker, Cred::OtherWorker) => Expect::Status(403),
                (Access::Token(_) | Access::Worker, _) => Expect::Status(401),
            };
            let got = request(route.method, &path, c);
            check(
                &format!("{} {path} with {c:?}", route.method),
                got,
                want,
                &mut failures,
            );
        }
    }
    // A worker build's token on its own routes.
    for route in table
        .iter()
        .filter(|r| r.access == Access::Worker && r.method == "GET")
    {
        let path = route.path.replace("{id}", &worker.to_string());
        let got = request(route.method, &path, Cred::OtherWorker);
        check(
            &format!("{} {path} with its own worker token", route.method),
            got,
            Expect::Allowed,
            &mut failures,
        );
    }
    // Methods a path does not take: 405 (so the table lists every method).
    for path in &paths {
        let filled = path
            .replace("{id}", "999999")
            .replace("{name}", "nosuch")
            .replace("{project}", "nosuch")
            .replace("{action}", "enable")
            .replace("{format}", "spdx")
            .replace("{config}", "nosuch")
            .replace("{provider}", "generic");
        for m in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
            if table.iter().any(|r| &r.path == path && r.method == m) {
                continue;
            }
            let got = request(m, &filled, Cred::Api);
            check(
                &format!("{m} {filled} (not in the table)"),
                got,
                Expect::Status(405),
                &mut failures,
            );
        }
    }

    // The registry: every kind of request, on the scoped token's own
    // repository and on another.
    let digest = format!("sha256:{}", "a".repeat(64));
    for repo in ["adv/mine", "other/repo"] {
        for (method, path, needs) in slipway_registry::routes::examples(repo, &digest) {
            for c in CREDS {
                let want = match (c, needs) {
                    (Cred::Api, _) => Expect::Allowed,
                    (Cred::ScopedRegistry, Needs::Base) => Expect::Allowed,
                    (Cred::ScopedRegistry, Needs::Pull | Needs::Push) if repo == "adv/mine" => {
                        Expect::Allowed
                    }
                    (Cred::ScopedRegistry, _) => Expect::Status(403),
                    // No credentials, a bad or expired token, and an API
                    // worker token (not a registry credential): log in.
                    _ => Expect::Status(401),
                };
                let got = request(method, &path, c);
                check(
                    &format!("{method} {path} with {c:?}"),
                    got,
                    want,
                    &mut failures,
                );
            }
        }
    }
    // The token endpoint.
    for c in CREDS {
        let want = match c {
            Cred::Api | Cred::ScopedRegistry => Expect::Status(200),
            _ => Expect::Status(401),
        };
        let auth = match c {
            Cred::ScopedRegistry => Some(format!(
                "Basic {}",
                base64_encode(&format!("slipway:{scoped}"))
            )),
            Cred::Api => Some(format!(
                "Basic {}",
                base64_encode(&format!("slipway:{api}"))
            )),
            other => header(other),
        };
        let mut h = Vec::new();
        if let Some(a) = &auth {
            h.push(("Authorization", a.as_str()));
        }
        let got = http_raw(
            s.port,
            "GET",
            "/auth/token?service=slipway&scope=repository:adv/mine:pull",
            &h,
            b"",
        )
        .status;
        check(
            &format!("GET /auth/token with {c:?}"),
            got,
            want,
            &mut failures,
        );
    }
    assert!(
        failures.is_empty(),
        "{} of the matrix's answers are wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
    eprintln!(
        "auth matrix: {} API routes, {} registry requests, in {:?}",
        table.len(),
        2 * slipway_registry::routes::examples("x", &digest).len(),
        started.elapsed()
    );
    s.api("POST", &format!("/api/v1/builds/{id}/cancel"), None);
}

fn base64_encode(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}
