//! Console page speed (issue 23): with 1,000 builds stored and one build
//! whose log has 100,000 lines, the server time of the dashboard, the
//! builds list (first and an older page), a build's page and the big
//! log's page, read from each page's `Server-Timing` header over 200
//! requests each (round trips printed beside it). Fails when a page's p99
//! server time passes 50 ms.
//!
//! `cargo bench -p slipway --bench console`.

use slipway_test_support::{GitRepo, Server, http_raw, require_tools};
use std::time::Instant;

const STORED_BUILDS: usize = 1000;
const REQUESTS: usize = 200;
const GOAL_MS: f64 = 50.0;

fn header<'a>(r: &'a slipway_test_support::HttpResponse, name: &str) -> Option<&'a str> {
    r.headers.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    sorted[(((sorted.len() - 1) as f64) * p).round() as usize]
}

fn main() {
    require_tools();
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_slipway"));
    let s = Server::start(bin, 2);
    let base = s.push_base_image();

    // The big log: a real build printing 100,000 lines.
    let repo = GitRepo::new(&[(
        "Dockerfile",
        &format!("FROM {base}\nLABEL name=bench/log version=1 component=log\nRUN seq 1 100000\n"),
    )]);
    let big = s.queue(&repo, &format!("{}/bench/log:1", s.host()), &["--scratch"]);
    // 1,000 stored builds, each failing fast (its source does not exist).
    eprintln!("storing {STORED_BUILDS} builds…");
    for i in 0..STORED_BUILDS {
        let body = format!(
            r#"{{"source":{{"url":"/nonexistent/repo-{i}"}},"output":"bench/stored:{i}"}}"#
        );
        let r = s.api("POST", "/api/v1/builds", Some(&body));
        assert_eq!(r.status, 201, "{}", r.body);
    }
    assert_eq!(s.wait_final(big)["phase"], "Complete");
    let lines = s
        .api("GET", &format!("/api/v1/builds/{big}/log"), None)
        .body
        .lines()
        .count();
    assert!(lines > 100_000, "the big log has {lines} lines");
    let newest = s.api("GET", "/api/v1/builds?limit=1", None).json()[0]["id"]
        .as_i64()
        .unwrap();

    let r = http_raw(
        s.port,
        "POST",
        "/login",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        format!("token={}", s.token()).as_bytes(),
    );
    let cookie = header(&r, "set-cookie")
        .and_then(|c| c.split(';').next())
        .expect("a session cookie")
        .to_string();

    let pages = [
        ("dashboard", "/".to_string()),
        ("builds list", "/builds".to_string()),
        (
            "builds, older page",
            format!("/builds?before={}", newest - 500),
        ),
        ("build page", format!("/builds/{newest}")),
        ("build page, 100,000-line log", format!("/builds/{big}")),
    ];
    println!("console pages, {STORED_BUILDS} builds stored, {REQUESTS} requests each (ms):");
    println!(
        "{:<30} {:>9} {:>9} {:>9} {:>9}",
        "page", "server50", "server99", "trip50", "trip99"
    );
    let mut missed = Vec::new();
    for (name, path) in pages {
        let (mut server, mut trip) = (Vec::new(), Vec::new());
        for _ in 0..REQUESTS {
            let t = Instant::now();
            let r = http_raw(s.port, "GET", &path, &[("Cookie", &cookie)], b"");
            trip.push(t.elapsed().as_secs_f64() * 1000.0);
            assert_eq!(r.status, 200, "{path}: {}", r.body);
            let dur = header(&r, "server-timing")
                .and_then(|v| v.strip_prefix("app;dur="))
                .and_then(|v| v.parse::<f64>().ok())
                .expect("a Server-Timing header");
            server.push(dur);
        }
        server.sort_by(f64::total_cmp);
        trip.sort_by(f64::total_cmp);
        let p99 = pct(&server, 0.99);
        println!(
            "{name:<30} {:>9.2} {p99:>9.2} {:>9.2} {:>9.2}",
            pct(&server, 0.5),
            pct(&trip, 0.5),
            pct(&trip, 0.99)
        );
        if p99 > GOAL_MS {
            missed.push(format!("{name}: p99 {p99:.1} ms > {GOAL_MS} ms"));
        }
    }
    if !missed.is_empty() {
        eprintln!("missed: {}", missed.join("; "));
        std::process::exit(1);
    }
    println!("every page's p99 server time is within {GOAL_MS} ms");
}
