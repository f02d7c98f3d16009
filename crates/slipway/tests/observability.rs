//! Observability end to end: `/metrics` scraped by a real Prometheus
//! (Debian's `prometheus`, started here with a scrape config and a viewer
//! token of its own), whose HTTP API must show the build, queue, cluster,
//! registry and API series with the values this test's builds imply;
//! `/readyz` and `/api/v1/version`; who may read the metrics.

use slipway_test_support::{
    GitRepo, Registry, Server, free_port, http, require_tools, stderr, stdout,
};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_slipway");

/// A process killed when dropped.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One instant-vector query against Prometheus: `(labels, value)` per series.
fn query(port: u16, promql: &str) -> Vec<(serde_json::Value, f64)> {
    let path = format!(
        "/api/v1/query?query={}",
        promql
            .bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' | b'.' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    );
    let r = http(port, "GET", &path, None, None);
    assert_eq!(r.status, 200, "{promql}: {}", r.body);
    let v = r.json();
    v["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["metric"].clone(),
                s["value"][1].as_str().unwrap().parse::<f64>().unwrap(),
            )
        })
        .collect()
}

/// The value of a query that yields one series, once Prometheus has it
/// equal to `want` (scrapes come every second).
fn wait_value(port: u16, promql: &str, want: f64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = Vec::new();
    while Instant::now() < deadline {
        last = query(port, promql);
        if last.len() == 1 && (last[0].1 - want).abs() < 1e-9 {
            return;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    panic!("{promql}: wanted {want}, Prometheus has {last:?}");
}

#[test]
fn prometheus_scrapes_the_builds_queue_clusters_and_registry() {
    require_tools();
    let prometheus = std::path::Path::new("/usr/bin/prometheus");
    assert!(
        prometheus.exists(),
        "Debian's prometheus is not installed: run scripts/setup-debian.sh prometheus"
    );
    let registry = Registry::start();
    let base = registry.push_base_image();
    let server = Server::start(std::path::Path::new(BIN), 2);

    // Not for anyone: a token is needed, and the answer is OpenMetrics.
    let anon = http(server.port, "GET", "/metrics", None, None);
    assert_eq!(anon.status, 401, "{}", anon.body);
    assert_eq!(anon.json()["code"], "UNAUTHORIZED");
    let out = server.cli(&[
        "token",
        "create",
        "--name",
        "prometheus",
        "--role",
        "viewer",
        "-q",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let viewer = stdout(&out).trim().to_string();
    let text = http(server.port, "GET", "/metrics", Some(&viewer), None);
    assert_eq!(text.status, 200, "{}", text.body);
    assert!(
        text.body.contains("# TYPE slipway_queue_length gauge"),
        "{}",
        text.body
    );
    assert!(text.body.trim_end().ends_with("# EOF"), "{}", text.body);

    // Two builds into the embedded registry: one completes, one fails.
    let ok = GitRepo::new(&[(
        "Dockerfile",
        &format!(
            "FROM {base}\nLABEL name=obs/app version=1 component=app-container\nRUN echo built > /built\n"
        ),
    )]);
    let bad = GitRepo::new(&[(
        "Dockerfile",
        &format!("FROM {base}\nLABEL name=obs/bad version=1 component=app-container\nRUN exit 3\n"),
    )]);
    let host = server.host();
    let id = server.queue(&ok, &format!("{host}/obs/app:1"), &[]);
    assert_eq!(
        server.wait_final(id)["phase"],
        "Complete",
        "{}",
        server.log(id)
    );
    let id = server.queue(&bad, &format!("{host}/obs/bad:1"), &[]);
    assert_eq!(
        server.wait_final(id)["phase"],
        "Failed",
        "{}",
        server.log(id)
    );

    // Prometheus, scraping every second with the viewer's token.
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, &viewer).unwrap();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n- job_name: slipway\n  metrics_path: /metrics\n  authorization:\n    credentials_file: {}\n  static_configs:\n  - targets: ['127.0.0.1:{}']\n",
            token_file.display(),
            server.port
        ),
    )
    .unwrap();
    let port = free_port();
    let _prom = Killed(
        Command::new(prometheus)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    // Prometheus is ready once it listens and says so.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let listening = std::net::TcpStream::connect(("127.0.0.1", port)).is_ok();
        if listening && http(port, "GET", "/-/ready", None, None).status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "Prometheus did not start");
        std::thread::sleep(Duration::from_millis(200));
    }
    // The target is up: the token worked.
    wait_value(port, "up{job=\"slipway\"}", 1.0);

    // Builds: one ended Complete, one Failed, both manual.
    wait_value(
        port,
        "slipway_builds_ended_total{phase=\"Complete\",trigger=\"manual\"}",
        1.0,
    );
    wait_value(
        port,
        "slipway_builds_ended_total{phase=\"Failed\",trigger=\"manual\"}",
        1.0,
    );
    wait_value(port, "sum(slipway_builds{phase=\"Complete\"})", 1.0);
    wait_value(
        port,
        "slipway_build_duration_seconds_count{phase=\"Complete\",trigger=\"manual\"}",
        1.0,
    );
    wait_value(
        port,
        "slipway_stage_duration_seconds_count{stage=\"push\"}",
        1.0,
    );
    // The queue is empty and both worker builds were placed on the one
    // local cluster (2 slots, none busy now).
    wait_value(port, "slipway_queue_length", 0.0);
    wait_value(
        port,
        "slipway_placements_total{cluster=\"local\",outcome=\"placed\"}",
        2.0,
    );
    wait_value(port, "slipway_queue_wait_seconds_count", 2.0);
    wait_value(port, "slipway_cluster_max_builds{cluster=\"local\"}", 2.0);
    wait_value(
        port,
        "slipway_cluster_active_builds{cluster=\"local\"}",
        0.0,
    );
    wait_value(port, "slipway_cluster_enabled{cluster=\"local\"}", 1.0);
    // The registry took one image manifest (the complete build's) and its
    // blobs; its blob bytes are what the repositories hold.
    let puts = query(
        port,
        "sum(slipway_registry_requests_total{method=\"PUT\",route=\"manifest\"})",
    );
    assert!(
        puts.first().is_some_and(|(_, v)| *v >= 1.0),
        "no manifest PUT: {puts:?}"
    );
    let bytes_in = query(port, "slipway_registry_bytes_total{direction=\"in\"}");
    assert!(
        bytes_in.first().is_some_and(|(_, v)| *v > 1000.0),
        "no bytes in: {bytes_in:?}"
    );
    let blobs = query(port, "slipway_registry_blob_bytes");
    assert!(blobs.first().is_some_and(|(_, v)| *v > 1000.0), "{blobs:?}");
    // API requests by route template, never by id.
    let routes = query(port, "slipway_http_requests_total");
    assert!(
        routes
            .iter()
            .any(|(m, _)| m["route"] == "/api/v1/builds/{id}" && m["status"] == "200"),
        "{routes:?}"
    );
    assert!(
        routes.iter().all(|(m, _)| {
            !m["route"]
                .as_str()
                .unwrap()
                .split('/')
                .any(|seg| !seg.is_empty() && seg.bytes().all(|b| b.is_ascii_digit()))
        }),
        "a route label carries an id: {routes:?}"
    );
    // The server's own footprint.
    let rss = query(port, "process_resident_memory_bytes{job=\"slipway\"}");
    assert!(rss.first().is_some_and(|(_, v)| *v > 1e6), "{rss:?}");
    let fds = query(port, "process_open_fds{job=\"slipway\"}");
    assert!(fds.first().is_some_and(|(_, v)| *v > 3.0), "{fds:?}");

    // Readiness and version.
    let ready = http(server.port, "GET", "/readyz", None, None);
    assert_eq!(ready.status, 200, "{}", ready.body);
    assert_eq!(ready.json()["clusters"], 1, "{}", ready.body);
    let version = server.api("GET", "/api/v1/version", None);
    assert_eq!(version.status, 200, "{}", version.body);
    let v = version.json();
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(
        v["commit"].as_str().map(str::len),
        Some(40),
        "the commit the binary was built from: {v}"
    );
    assert!(
        v["tools"]["buildah"]
            .as_str()
            .is_some_and(|s| s.starts_with('1')),
        "{v}"
    );
    assert!(v["tools"]["skopeo"].as_str().is_some(), "{v}");
    // ShellCheck says its version on its second line (`version: 0.9.0`).
    assert!(
        v["tools"]["shellcheck"]
            .as_str()
            .is_some_and(|s| s.starts_with("0.")),
        "{v}"
    );
    assert!(
        v["features"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f == "embedded-registry"),
        "{v}"
    );
    let anon = http(server.port, "GET", "/api/v1/version", None, None);
    assert_eq!(anon.status, 401);
}

/// Read `n` events from `GET path` (SSE) with `headers`: `(id, json)` each.
fn sse_events(
    port: u16,
    path: &str,
    headers: &[(&str, &str)],
    n: usize,
) -> Vec<(i64, serde_json::Value)> {
    use std::io::{BufRead, BufReader, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut req =
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut r = BufReader::new(s);
    let mut line = String::new();
    // The head.
    loop {
        line.clear();
        r.read_line(&mut line).unwrap();
        if line == "\r\n" {
            break;
        }
        assert!(!line.is_empty(), "the stream ended in its head");
    }
    let mut out = Vec::new();
    let (mut id, mut data) = (None, String::new());
    while out.len() < n {
        line.clear();
        assert!(
            r.read_line(&mut line).unwrap() > 0,
            "the stream ended after {out:?}"
        );
        // Chunked framing: size lines are hex, data lines carry a colon.
        let text = line.trim_end();
        if let Some(v) = text.strip_prefix("id:") {
            id = v.trim().parse::<i64>().ok();
        } else if let Some(v) = text.strip_prefix("data:") {
            data = v.trim().to_string();
        } else if text.is_empty() && !data.is_empty() {
            out.push((id.take().unwrap(), serde_json::from_str(&data).unwrap()));
            data.clear();
        }
    }
    out
}

#[test]
fn the_event_stream_is_live_filtered_and_resumable() {
    require_tools();
    let registry = Registry::start();
    let base = registry.push_base_image();
    let server = Server::start(std::path::Path::new(BIN), 1);
    let token = server.token();
    let auth = format!("Bearer {token}");

    // `slipway watch` prints a build's life as it happens.
    let repo = GitRepo::new(&[(
        "Dockerfile",
        &format!("FROM {base}\nLABEL name=ev/app version=1 component=app-container\nRUN true\n"),
    )]);
    let mut watch = server.cli_cmd(&["watch", "--type", "build", "-o", "json"]);
    let mut child = Killed(watch.stdout(Stdio::piped()).spawn().unwrap());
    // The stream starts now: give it a moment to connect.
    std::thread::sleep(Duration::from_millis(500));
    let id = server.queue(&repo, &format!("{}/ev/app:1", server.host()), &[]);
    assert_eq!(
        server.wait_final(id)["phase"],
        "Complete",
        "{}",
        server.log(id)
    );
    let stdout = child.0.stdout.take().unwrap();
    // Read on a thread of its own, so a missing line fails the test
    // instead of hanging it.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for l in std::io::BufReader::new(stdout).lines() {
            if tx.send(l.unwrap()).is_err() {
                break;
            }
        }
    });
    let mut lines: Vec<serde_json::Value> = Vec::new();
    while lines.last().is_none_or(|v| v["phase"] != "Complete") {
        let l = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|e| panic!("slipway watch printed no more ({e}): {lines:#?}"));
        lines.push(serde_json::from_str(&l).unwrap());
    }
    let phases: Vec<&str> = lines.iter().filter_map(|v| v["phase"].as_str()).collect();
    assert_eq!(
        phases,
        ["New", "Pending", "Running", "Complete"],
        "{lines:#?}"
    );
    assert!(
        lines
            .iter()
            .all(|v| v["type"] == "build" && v["build"] == id)
    );
    assert!(
        lines.iter().all(|v| v["project"] == "default"),
        "{lines:#?}"
    );

    // From the start, filtered to scans: the build's scan.
    let scans = sse_events(
        server.port,
        "/api/v1/events?after=0&types=scan",
        &[("Authorization", &auth)],
        1,
    );
    assert_eq!(scans[0].1["type"], "scan");
    assert_eq!(scans[0].1["build"], id);
    assert_eq!(scans[0].1["outcome"], "passed");

    // A reconnect with Last-Event-ID resumes right after that event.
    let all = sse_events(
        server.port,
        "/api/v1/events?after=0",
        &[("Authorization", &auth)],
        5,
    );
    assert!(all.windows(2).all(|w| w[0].0 < w[1].0), "{all:?}");
    let resumed = sse_events(
        server.port,
        "/api/v1/events",
        &[
            ("Authorization", &auth),
            ("Last-Event-ID", &all[2].0.to_string()),
        ],
        2,
    );
    assert_eq!(resumed[0].0, all[3].0);
    assert_eq!(resumed[1].0, all[4].0);
    assert_eq!(resumed[0].1, all[3].1);

    // The server's log: plain text (stderr is a file here, not a
    // terminal), each line of the build's work in its span.
    let log = server.server_log();
    assert!(!log.contains('\u{1b}'), "ANSI codes in a log file: {log}");
    assert!(
        log.lines().any(|l| l.contains(&format!("build{{id={id}"))
            && l.contains("placed on cluster")
            || l.contains(&format!("build{{id={id}")) && l.contains("Complete")),
        "{log}"
    );

    // Refusals: no token, a kind that does not exist, a bad Last-Event-ID.
    let anon = http(server.port, "GET", "/api/v1/events", None, None);
    assert_eq!(anon.status, 401);
    let bad = server.api("GET", "/api/v1/events?types=build,nonsense", None);
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert!(bad.json()["message"].as_str().unwrap().contains("nonsense"));
    let garbled = slipway_test_support::http_raw(
        server.port,
        "GET",
        "/api/v1/events",
        &[("Authorization", &auth), ("Last-Event-ID", "x; DROP")],
        b"",
    );
    assert_eq!(garbled.status, 400, "{}", garbled.body);
}
