//! Read load (issue 16): 200 concurrent readers for 30 s — a quarter each
//! on the build list (1,000 builds stored), one build's detail, `/healthz`
//! and a registry manifest GET — while 4 builds run. Prints each endpoint's
//! p50/p99, the list's and the detail's p99 over `/healthz`'s (the load
//! generator shares the machine, so `/healthz` is the floor), errors, and
//! the server's peak RSS; exits non-zero when a target is missed:
//!
//! - zero errors;
//! - list and detail p99 ≤ 2 × `/healthz` p99, and their p50 ≤ 20 ms;
//! - server RSS ≤ 150 MB.
//!
//! `cargo bench -p slipway --bench load` (`BENCH_SECONDS=5` for a short run).

use slipway_test_support::{GitRepo, Server, require_tools};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

const DEFAULT_READERS: usize = 200;
const STORED_BUILDS: usize = 1000;

fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn main() {
    require_tools();
    // reqwest is built without a default crypto provider (rustls on ring).
    slipway_tls::install_default_provider();
    let seconds: u64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    // BENCH_READERS=4: one reader per endpoint, for each one's unloaded latency.
    let readers: usize = std::env::var("BENCH_READERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_READERS);
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_slipway"));
    let s = Server::start(bin, 4);
    let token = s.token();
    let base = s.push_base_image();

    // 1,000 stored builds: each fails fast (its source does not exist),
    // with its events, like a busy server's history.
    eprintln!("storing {STORED_BUILDS} builds…");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(readers.max(8))
        .build()
        .unwrap();
    let api = format!("http://127.0.0.1:{}", s.port);
    let auth = format!("Bearer {token}");
    rt.block_on(async {
        let mut tasks = Vec::new();
        for chunk in 0..20 {
            let (client, api, auth) = (client.clone(), api.clone(), auth.clone());
            tasks.push(tokio::spawn(async move {
                for i in 0..STORED_BUILDS / 20 {
                    let body = format!(
                        r#"{{"source":{{"url":"/nonexistent/repo-{chunk}-{i}"}},"output":"bench/stored:{i}","build_args":{{"N":"{i}"}}}}"#
                    );
                    let r = client
                        .post(format!("{api}/api/v1/builds"))
                        .header("Authorization", &auth)
                        .header("Content-Type", "application/json")
                        .body(body)
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(r.status(), 201);
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    });
    // Four builds that run through the whole measurement.
    let repo = GitRepo::new(&[(
        "Dockerfile",
        &format!(
            "FROM {base}\nLABEL name=bench/run version=1 component=run\nRUN sleep {}\n",
            seconds + 120
        ),
    )]);
    let running: Vec<i64> = (0..4)
        .map(|i| {
            s.queue(
                &repo,
                &format!("{}/bench/run:{i}", s.host()),
                &["--scratch"],
            )
        })
        .collect();
    s.wait_until("4 builds running", Duration::from_secs(120), || {
        running
            .iter()
            .all(|&id| s.build_json(id)["phase"] == "Running")
            .then_some(())
    });
    // A manifest to GET: the base image's.
    let manifest_path = "/v2/slipway/busybox/manifests/latest".to_string();
    let detail_path = format!("/api/v1/builds/{}", running[0]);
    let endpoints = [
        "/api/v1/builds".to_string(),
        detail_path,
        "/healthz".to_string(),
        manifest_path,
    ];
    let names = ["list", "detail", "healthz", "manifest"];

    let pid = s.pid().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicU64::new(rss_kb(pid)));
    let sampler = {
        let (stop, peak) = (stop.clone(), peak.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                peak.fetch_max(rss_kb(pid), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };
    eprintln!("{readers} readers for {seconds} s… (server pid {pid})");
    let results = rt.block_on(async {
        let deadline = Instant::now() + Duration::from_secs(seconds);
        let mut tasks = Vec::new();
        for r in 0..readers {
            let which = r % endpoints.len();
            let url = format!("{api}{}", endpoints[which]);
            let (client, auth) = (client.clone(), auth.clone());
            tasks.push(tokio::spawn(async move {
                let mut lat = Vec::new();
                let mut errors = 0u64;
                while Instant::now() < deadline {
                    let t = Instant::now();
                    let r = client
                        .get(&url)
                        .header("Authorization", &auth)
                        .header(
                            "Accept",
                            "application/vnd.oci.image.manifest.v1+json,application/vnd.docker.distribution.manifest.v2+json",
                        )
                        .send()
                        .await;
                    let ok = match r {
                        Ok(resp) => {
                            let status = resp.status();
                            resp.bytes().await.is_ok() && status.is_success()
                        }
                        Err(_) => false,
                    };
                    lat.push(t.elapsed());
                    if !ok {
                        errors += 1;
                    }
                }
                (which, lat, errors)
            }));
        }
        let mut per: Vec<(Vec<Duration>, u64)> = vec![(Vec::new(), 0); endpoints.len()];
        for t in tasks {
            let (which, lat, errors) = t.await.unwrap();
            per[which].0.extend(lat);
            per[which].1 += errors;
        }
        per
    });
    stop.store(true, Ordering::Relaxed);
    sampler.join().unwrap();
    let peak_mb = peak.load(Ordering::Relaxed) as f64 / 1024.0;

    let mut stats = Vec::new();
    let mut total_errors = 0;
    println!("endpoint   requests   errors   p50 ms   p99 ms");
    for (i, (mut lat, errors)) in results.into_iter().enumerate() {
        lat.sort();
        let (p50, p99) = (percentile(&lat, 0.50), percentile(&lat, 0.99));
        println!(
            "{:<10} {:>8} {:>8} {:>8.2} {:>8.2}",
            names[i],
            lat.len(),
            errors,
            p50.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3
        );
        total_errors += errors;
        stats.push((p50, p99));
    }
    let floor = stats[2].1.as_secs_f64();
    let ratio = |i: usize| stats[i].1.as_secs_f64() / floor.max(1e-9);
    println!(
        "p99 over /healthz's: list {:.2}x, detail {:.2}x; server peak RSS {peak_mb:.1} MB",
        ratio(0),
        ratio(1)
    );
    let mut missed = Vec::new();
    if total_errors > 0 {
        missed.push(format!("{total_errors} errors"));
    }
    for (i, name) in [(0, "list"), (1, "detail")] {
        if ratio(i) > 2.0 {
            missed.push(format!("{name} p99 is {:.2}x /healthz's", ratio(i)));
        }
        if stats[i].0 > Duration::from_millis(20) {
            missed.push(format!("{name} p50 is {:?}", stats[i].0));
        }
    }
    if peak_mb > 150.0 {
        missed.push(format!("peak RSS {peak_mb:.1} MB"));
    }
    for id in running {
        s.api("POST", &format!("/api/v1/builds/{id}/cancel"), None);
    }
    // The server (and its builds) go before the exit code is given.
    drop(s);
    if missed.is_empty() {
        println!(
            "PASS: zero errors, list and detail within 2x /healthz's p99 and p50 ≤ 20 ms, RSS ≤ 150 MB"
        );
    } else {
        println!("FAIL: {}", missed.join("; "));
        std::process::exit(1);
    }
}
