//! HTTPS on the server's own listener: the CLI, a `slipway worker`
//! process, skopeo and podman verify it with the test's CA (never
//! `--tls-verify=false`); plain HTTP is served to loopback only; SIGHUP
//! swaps in a renewed certificate; a listen address beyond loopback
//! without TLS is refused at start.

use super::*;
use slipway_test_support::{GitRepo, Server, http, require_tools, stderr, stdout};
use std::time::Duration;

/// The subject of the certificate the server presents now.
fn served_subject(port: u16, ca: &str) -> String {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "openssl s_client -connect 127.0.0.1:{port} -CAfile {ca} -verify_return_error </dev/null 2>/dev/null | openssl x509 -noout -subject"
        ))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn https_on_the_servers_own_listener_for_cli_worker_skopeo_and_podman() {
    require_tools();
    let certs = tempfile::tempdir().unwrap();
    let (ca, cert, key) = make_certificates(certs.path(), "first");
    let server = Server::start_configured(Path::new(BIN), 1, |port, home| {
        let clusters = home.join("clusters.yaml");
        // Worker builds run as `slipway worker` processes that reach the
        // API over HTTPS, verified with the CA.
        std::fs::write(
            &clusters,
            format!(
                "clusters:\n  x86_64:\n  - name: procs\n    max_concurrent_builds: 1\n    worker_process: true\n    callback_url: https://localhost:{port}\n"
            ),
        )
        .unwrap();
        format!(
            "registry_anonymous_pull: false\nclusters_file: {}\ntls:\n  cert_file: {cert}\n  key_file: {key}\n  ca_file: {ca}\n",
            clusters.display()
        )
    });
    let url = format!("https://localhost:{}", server.port);
    assert!(served_subject(server.port, &ca).contains("CN = first"));

    // The CLI over HTTPS with the CA; without it, told what to do.
    let https = |args: &[&str]| {
        let mut all = vec!["--url", url.as_str(), "--ca-file", ca.as_str()];
        all.extend_from_slice(args);
        server.cli(&all)
    };
    let out = https(&["builds", "-o", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "[]");
    let out = server.cli(&["--url", &url, "builds"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("pass --ca-file"), "{}", stderr(&out));
    // Loopback may still speak plain HTTP (the CLI's state file, local
    // tools); the answer is the same API.
    let plain = http(
        server.port,
        "GET",
        "/api/v1/builds",
        Some(&server.token()),
        None,
    );
    assert_eq!(plain.status, 200, "{}", plain.body);

    // A build queued over HTTPS runs in a `slipway worker` process that
    // reports over HTTPS.
    let base = server.push_base_image();
    let repo = GitRepo::new(&[("Dockerfile", &format!("FROM {base}\nRUN echo tls > /tls\n"))]);
    let image = format!("{}/team/tls", server.host());
    let out = https(&[
        "build",
        &repo.path().display().to_string(),
        "--tag",
        &image,
        "--scratch",
        "--no-follow",
        "-o",
        "json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let id = serde_json::from_str::<serde_json::Value>(&stdout(&out)).unwrap()["id"]
        .as_i64()
        .unwrap();
    let b = server.wait_final(id);
    assert_eq!(b["phase"], "Complete", "{b}\n{}", server.log(id));
    assert_eq!(b["workers"][0]["cluster"], "procs", "{b}");
    // (A scratch build has its unique tag only: name it by digest.)
    let digest = b["image"]["digest"].as_str().unwrap();
    let built = format!("docker://localhost:{}/team/tls@{digest}", server.port);

    // skopeo and podman verify the registry with the CA (a cert dir),
    // never with --tls-verify=false.
    let cert_dir = tempfile::tempdir().unwrap();
    std::fs::copy(&ca, cert_dir.path().join("ca.crt")).unwrap();
    let creds = format!("slipway:{}", server.token());
    let dir = cert_dir.path().display().to_string();
    let out = Command::new("skopeo")
        .args(["inspect", "--cert-dir", &dir, "--creds", &creds])
        .arg(&built)
        .output()
        .unwrap();
    assert!(out.status.success(), "skopeo: {}", stderr(&out));
    let pushed = format!("localhost:{}/team/copied:1", server.port);
    let out = Command::new("skopeo")
        .args(["copy", "--src-cert-dir", &dir, "--dest-cert-dir", &dir])
        .args(["--src-creds", &creds, "--dest-creds", &creds])
        .arg(&built)
        .arg(format!("docker://{pushed}"))
        .output()
        .unwrap();
    assert!(out.status.success(), "skopeo copy: {}", stderr(&out));
    let storage = tempfile::tempdir().unwrap();
    std::fs::write(storage.path().join("auth.json"), "{}").unwrap();
    let out = Command::new("podman")
        .arg("--root")
        .arg(storage.path().join("root"))
        .arg("--runroot")
        .arg(storage.path().join("run"))
        .args(["--storage-driver", "vfs", "pull", "--quiet"])
        .args(["--cert-dir", &dir, "--creds", &creds, &pushed])
        .env("REGISTRY_AUTH_FILE", storage.path().join("auth.json"))
        .output()
        .unwrap();
    assert!(out.status.success(), "podman pull: {}", stderr(&out));
    // Without the CA, skopeo refuses the certificate: it is verified.
    let out = Command::new("skopeo")
        .args(["inspect", "--creds", &creds])
        .arg(&built)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(stderr(&out).contains("certificate"), "{}", stderr(&out));

    // A renewed certificate is served after SIGHUP, without a restart;
    // a broken one is refused and the served one stays.
    make_certificates(certs.path(), "second");
    let pid = server.pid().expect("running").to_string();
    assert!(
        Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .unwrap()
            .success()
    );
    server.wait_until("the renewed certificate", Duration::from_secs(10), || {
        served_subject(server.port, &ca)
            .contains("CN = second")
            .then_some(())
    });
    std::fs::write(&key, "not a key\n").unwrap();
    assert!(
        Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .unwrap()
            .success()
    );
    server.wait_until("the refused reload", Duration::from_secs(10), || {
        server
            .server_log()
            .contains("TLS certificate not reloaded")
            .then_some(())
    });
    assert!(served_subject(server.port, &ca).contains("CN = second"));
    assert!(https(&["builds"]).status.success());
}

#[test]
fn plain_http_beyond_loopback_is_refused_unless_allowed() {
    require_tools();
    let data = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["serve", "--listen", "0.0.0.0:0", "--data-dir"])
        .arg(data.path())
        .env("HOME", data.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let e = stderr(&out);
    assert!(
        e.contains("refusing to serve plain HTTP on 0.0.0.0:0") && e.contains("tls:"),
        "{e}"
    );
    // A bad certificate stops the start, naming the file.
    let config = data.path().join("config.yaml");
    std::fs::write(
        &config,
        "tls:\n  cert_file: /nonexistent/cert.pem\n  key_file: /nonexistent/key.pem\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&config)
        .arg("--data-dir")
        .arg(data.path().join("d"))
        .env("HOME", data.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("/nonexistent/cert.pem"),
        "{}",
        stderr(&out)
    );
}
