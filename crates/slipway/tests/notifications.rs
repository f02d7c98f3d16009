//! Notifications end to end: a real SMTP server (aiosmtpd from PyPI, with
//! STARTTLS and AUTH required, a certificate from a test CA) and a webhook
//! receiver that checks the HMAC signature. The mail server is down when
//! the first build ends: the build is not held up, the message is retried
//! and delivered once the server is up. Per-config and per-project
//! targets, failure-only targets, and what the messages say.

use slipway_test_support::{
    GitRepo, Registry, Server, free_port, interop_python, require_tools, stderr, workspace_root,
};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_slipway");
const SECRET: &str = "notify-secret-0123456789";
const LABELS: &str = "LABEL name=t/app version=1 component=app-container";

/// A Python helper from tests/interop, killed when dropped.
struct Helper(Child);

impl Helper {
    fn start(script: &str, args: &[&str]) -> Helper {
        let mut child = Command::new(interop_python())
            .arg(workspace_root().join("tests/interop").join(script))
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready", "{script} did not start");
        Helper(child)
    }
}

impl Drop for Helper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "openssl {args:?}: {}", stderr(&out));
}

/// A CA, and a certificate for localhost signed by it.
fn certificates(dir: &Path) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=Slipway test CA",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
            "smtp.key",
            "-out",
            "smtp.csr",
        ],
    );
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "smtp.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
            "-out",
            "smtp.pem",
        ],
    );
}

fn lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn deliveries(server: &Server) -> Vec<serde_json::Value> {
    server
        .cli_json(&["notifications", "-o", "json"])
        .as_array()
        .unwrap()
        .clone()
}

/// Start `config` and wait for its build to end.
fn build(server: &Server, config: &str) -> serde_json::Value {
    let out = server.cli(&["start", config]);
    assert!(out.status.success(), "{}", stderr(&out));
    let id = server.wait_until(
        &format!("a build of {config}"),
        Duration::from_secs(60),
        || {
            server
                .api("GET", "/api/v1/builds?limit=100", None)
                .json()
                .as_array()?
                .iter()
                .find(|b| b["config"] == config)?["id"]
                .as_i64()
        },
    );
    server.wait_final(id)
}

#[test]
fn builds_are_announced_by_mail_and_signed_webhooks_and_a_down_mail_server_is_retried() {
    require_tools();
    let registry = Registry::start();
    let base = registry.push_base_image();
    let dir = tempfile::tempdir().unwrap();
    certificates(dir.path());
    std::fs::write(dir.path().join("smtp-password"), "mail-pass\n").unwrap();
    let (smtp_port, hook_port) = (free_port(), free_port());
    let (mails, hooks) = (
        dir.path().join("mails.jsonl"),
        dir.path().join("hooks.jsonl"),
    );
    // The receiver answers its first valid delivery 503: it is retried.
    let _receiver = Helper::start(
        "webhook_receiver.py",
        &[
            &hook_port.to_string(),
            SECRET,
            &hooks.display().to_string(),
            "1",
        ],
    );
    let server = Server::start_with_config(
        Path::new(BIN),
        2,
        Some(&format!(
            "public_url: http://slipway.test:8080\n\
             smtp:\n  host: localhost\n  port: {smtp_port}\n  username: slipway\n  password_file: {}\n  from: \"Slipway <slipway@localhost>\"\n  ca_file: {}\n\
             projects:\n  team:\n    notify:\n    - webhook: {{ url: \"http://127.0.0.1:{hook_port}/hook\", secret: {SECRET} }}\n",
            dir.path().join("smtp-password").display(),
            dir.path().join("ca.pem").display(),
        )),
    );
    let repo =
        |run: &str| GitRepo::new(&[("Dockerfile", &format!("FROM {base}\n{LABELS}\nRUN {run}\n"))]);
    let (good, bad) = (repo("true"), repo("echo compiling; exit 3"));
    let config = |name: &str, output: &str, repo: &GitRepo, notify: &str| {
        format!(
            "---\nname: {name}\nsource: {{ url: {} }}\noutput: {output}\nnotify:\n{notify}",
            repo.path().display()
        )
    };
    server.apply(
        &[
            config("app", "team/app", &good, "- email: [dev@localhost]\n"),
            config(
                "broken",
                "team/broken",
                &bad,
                "- { email: [ops@localhost], on: failure }\n",
            ),
            config(
                "quiet",
                "other/quiet",
                &good,
                "- { email: [quiet@localhost], on: failure }\n",
            ),
        ]
        .concat(),
    );

    // The mail server is down: the build still completes.
    let app = build(&server, "app");
    assert_eq!(app["phase"], "Complete", "{app}");
    let id = app["id"].as_i64().unwrap();
    let failing = server.wait_until("a failed mail attempt", Duration::from_secs(30), || {
        deliveries(&server).into_iter().find(|d| {
            d["target"]["email"][0] == "dev@localhost" && d["attempts"].as_u64().unwrap_or(0) >= 1
        })
    });
    assert_eq!(failing["state"], "pending", "{failing}");
    assert!(
        failing["last_error"]
            .as_str()
            .unwrap()
            .contains("smtp localhost"),
        "{failing}"
    );
    // The project's webhook: refused once, then delivered, signed.
    let hook = server.wait_until("the webhook delivery", Duration::from_secs(30), || {
        deliveries(&server)
            .into_iter()
            .find(|d| d["target"]["webhook"]["url"].as_str().is_some() && d["state"] == "delivered")
    });
    assert_eq!(hook["attempts"], 2, "{hook}");
    assert_eq!(hook["target"]["webhook"]["secret"], "(hidden)");
    let received = lines(&hooks);
    assert!(received.iter().all(|r| r["valid"] == true), "{received:?}");
    assert_eq!(received.len(), 2, "{received:?}");
    assert_eq!(received[0]["delivery"], received[1]["delivery"]);
    let body = &received[1]["body"];
    assert_eq!(body["event"], "build");
    assert_eq!(body["build"], id);
    assert_eq!(body["phase"], "Complete");
    assert_eq!(
        body["log"],
        format!("http://slipway.test:8080/api/v1/builds/{id}/log")
    );
    assert_eq!(body["scan"]["outcome"], "passed");

    // The mail server comes up; the retry delivers, over STARTTLS, logged in.
    let _smtp = Helper::start(
        "smtp_server.py",
        &[
            &smtp_port.to_string(),
            &dir.path().join("smtp.pem").display().to_string(),
            &dir.path().join("smtp.key").display().to_string(),
            "slipway",
            "mail-pass",
            &mails.display().to_string(),
        ],
    );
    let mail = server.wait_until("the retried mail", Duration::from_secs(90), || {
        lines(&mails).into_iter().next()
    });
    assert_eq!(mail["to"], serde_json::json!(["dev@localhost"]));
    assert_eq!(mail["tls"], true);
    assert_eq!(mail["authenticated"], true);
    let data = mail["data"].as_str().unwrap();
    assert!(
        data.contains(&format!("Subject: [slipway] build {id} of app complete")),
        "{data}"
    );
    assert!(
        data.contains(&format!(
            "Log: http://slipway.test:8080/api/v1/builds/{id}/log"
        )),
        "{data}"
    );
    let delivered = server.wait_until(
        "the mail delivery recorded",
        Duration::from_secs(10),
        || {
            deliveries(&server)
                .into_iter()
                .find(|d| d["target"]["email"][0] == "dev@localhost" && d["state"] == "delivered")
        },
    );
    assert!(delivered["attempts"].as_u64().unwrap() >= 2, "{delivered}");

    // A failure reaches the failure-only target, saying why.
    let broken = build(&server, "broken");
    assert_eq!(broken["phase"], "Failed", "{broken}");
    let bid = broken["id"].as_i64().unwrap();
    let mail = server.wait_until("the failure mail", Duration::from_secs(30), || {
        lines(&mails)
            .into_iter()
            .find(|m| m["to"] == serde_json::json!(["ops@localhost"]))
    });
    let data = mail["data"].as_str().unwrap();
    assert!(
        data.contains(&format!("Subject: [slipway] build {bid} of broken failed")),
        "{data}"
    );
    assert!(data.contains("Why: "), "{data}");
    // A success is not sent to a failure-only target (quiet is in another
    // project: no webhook either).
    let quiet = build(&server, "quiet");
    assert_eq!(quiet["phase"], "Complete", "{quiet}");
    std::thread::sleep(Duration::from_secs(3));
    let all = deliveries(&server);
    assert!(all.iter().all(|d| d["config"] != "quiet"), "{all:?}");
    let hooks_for_broken = lines(&hooks)
        .into_iter()
        .filter(|r| r["body"]["build"] == bid)
        .count();
    assert_eq!(hooks_for_broken, 1, "the project webhook hears every build");

    // A rescan of a config's image is one message too.
    let rescan = server.cli_json(&["rescan", "app", "-o", "json"]);
    let sid = rescan["id"].as_i64().unwrap();
    let mail = server.wait_until("the rescan mail", Duration::from_secs(30), || {
        lines(&mails).into_iter().find(|m| {
            m["data"]
                .as_str()
                .is_some_and(|d| d.contains(&format!("rescan scan {sid} of app")))
        })
    });
    let data = mail["data"].as_str().unwrap();
    assert!(
        data.contains(&format!(
            "Report: http://slipway.test:8080/api/v1/scans/{sid}"
        )),
        "{data}"
    );
    let hook = server.wait_until("the rescan webhook", Duration::from_secs(30), || {
        lines(&hooks)
            .into_iter()
            .find(|r| r["event"] == "scan" && r["status"] == 200)
    });
    assert_eq!(hook["body"]["scan"], sid);
    assert_eq!(hook["body"]["outcome"], "passed");

    // Bad input: a target that is not an address is refused at apply.
    let bad_file = dir.path().join("bad.yaml");
    std::fs::write(
        &bad_file,
        config("app", "team/app", &good, "- email: [not-an-address]\n"),
    )
    .unwrap();
    let out = server.cli(&["apply", "-f", &bad_file.display().to_string()]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("notify[0]") && stderr(&out).contains("not an email address"),
        "{}",
        stderr(&out)
    );
}
