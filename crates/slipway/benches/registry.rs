//! Registry throughput: the same push and pull workload against Slipway's
//! embedded registry and Debian's `docker-registry` (CNCF distribution 2.8),
//! both on loopback, in one run; prints MB/s and the ratio Slipway / peer.
//! Then the memory check: the server's RSS while a 1 GiB blob is pushed.
//!
//! `cargo bench -p slipway --bench registry` (`BENCH_QUICK=1` for a short run).

use bytes::Bytes;
use slipway_test_support::{Registry, Server, require_tools};
use std::time::{Duration, Instant};

const MB: usize = 1024 * 1024;
const CHUNK: usize = 5 * MB;
/// Each client pulls its blobs this many times: a pull is several times
/// faster than a push, and one pass of 100 MB lasts too short to measure.
const PULL_PASSES: usize = 4;

#[derive(Clone)]
struct Target {
    base: String,
    auth: Option<String>,
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Monolithic,
    Chunked,
}

fn random_blob(size: usize, seed: u64) -> Bytes {
    use rand::{RngCore, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut v = vec![0u8; size];
    rng.fill_bytes(&mut v);
    Bytes::from(v)
}

fn digest(b: &[u8]) -> String {
    use sha2::Digest as _;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(b)))
}

fn req(
    c: &reqwest::Client,
    t: &Target,
    method: reqwest::Method,
    url: &str,
) -> reqwest::RequestBuilder {
    let full = if url.starts_with("http") {
        url.to_string()
    } else {
        format!("{}{url}", t.base)
    };
    let r = c.request(method, full);
    match &t.auth {
        Some(a) => r.header("Authorization", a),
        None => r,
    }
}

/// A blob and its digest, both made before the clock starts.
struct Blob {
    data: Bytes,
    digest: String,
}

async fn push(c: &reqwest::Client, t: &Target, repo: &str, blob: &Blob, mode: Mode) {
    let (d, blob) = (&blob.digest, &blob.data);
    let r = req(
        c,
        t,
        reqwest::Method::POST,
        &format!("/v2/{repo}/blobs/uploads/"),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), 202, "{:?}", r.text().await);
    let mut loc = r.headers()["location"].to_str().unwrap().to_string();
    if mode == Mode::Chunked {
        let mut off = 0;
        while off < blob.len() {
            let end = (off + CHUNK).min(blob.len());
            let r = req(c, t, reqwest::Method::PATCH, &loc)
                .header("Content-Type", "application/octet-stream")
                .header("Content-Range", format!("{off}-{}", end - 1))
                .body(blob.slice(off..end))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 202);
            loc = r.headers()["location"].to_str().unwrap().to_string();
            off = end;
        }
        let sep = if loc.contains('?') { '&' } else { '?' };
        let r = req(c, t, reqwest::Method::PUT, &format!("{loc}{sep}digest={d}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
    } else {
        let sep = if loc.contains('?') { '&' } else { '?' };
        let r = req(c, t, reqwest::Method::PUT, &format!("{loc}{sep}digest={d}"))
            .header("Content-Type", "application/octet-stream")
            .body(blob.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
    }
}

/// Pull with a lean client: one HTTP/1.1 request on a plain blocking socket,
/// the body read in 1 MiB pieces and discarded, on a thread of its own, with
/// the digest computed before the clock starts. (A client that hashes inside
/// the timed loop, or polls its reads from `block_on`'s thread, measures
/// itself: it capped both servers alike far below what they serve.)
fn pull(t: &Target, repo: &str, blob: &Blob) {
    use std::io::{Read, Write};
    let addr = t.base.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    let auth = t
        .auth
        .as_ref()
        .map(|a| format!("Authorization: {a}\r\n"))
        .unwrap_or_default();
    let head = format!(
        "GET /v2/{repo}/blobs/{} HTTP/1.1\r\nHost: {addr}\r\n{auth}Connection: close\r\n\r\n",
        blob.digest
    );
    s.write_all(head.as_bytes()).unwrap();
    let mut buf = vec![0u8; MB];
    let mut got = Vec::new();
    let body_start = loop {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "connection closed before headers");
        got.extend_from_slice(&buf[..n]);
        if let Some(i) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&got[..body_start]).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    let mut n = got.len() - body_start;
    loop {
        let r = s.read(&mut buf).unwrap();
        if r == 0 {
            break;
        }
        n += r;
    }
    assert_eq!(n, blob.data.len());
}

/// Push then pull `per_client` blobs from each of `clients` tasks; returns (push MB/s, pull MB/s).
async fn run(
    t: &Target,
    size: usize,
    mode: Mode,
    clients: usize,
    per_client: usize,
    round: u64,
) -> (f64, f64) {
    let c = reqwest::Client::new();
    let blobs: Vec<std::sync::Arc<Vec<Blob>>> = (0..clients)
        .map(|i| {
            let blobs = (0..per_client)
                .map(|j| {
                    let data = random_blob(size, round * 1000 + (i * per_client + j) as u64);
                    let digest = digest(&data);
                    Blob { data, digest }
                })
                .collect();
            std::sync::Arc::new(blobs)
        })
        .collect();
    let total = (size * clients * per_client) as f64 / MB as f64;
    let start = Instant::now();
    // One task per client, on the runtime's worker threads.
    let tasks: Vec<_> = blobs
        .iter()
        .enumerate()
        .map(|(i, bs)| {
            let (c, t, bs) = (c.clone(), t.clone(), bs.clone());
            tokio::spawn(async move {
                for b in bs.iter() {
                    push(&c, &t, &format!("bench/c{i}"), b, mode).await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let push_rate = total / start.elapsed().as_secs_f64();
    // Flush dirty pages first so that neither side's pulls compete with
    // the kernel writing back the other side's (or its own) pushes.
    let _ = std::process::Command::new("sync").status();
    let start = Instant::now();
    std::thread::scope(|scope| {
        for (i, bs) in blobs.iter().enumerate() {
            scope.spawn(move || {
                for _ in 0..PULL_PASSES {
                    for b in bs.iter() {
                        pull(t, &format!("bench/c{i}"), b);
                    }
                }
            });
        }
    });
    (
        push_rate,
        total * PULL_PASSES as f64 / start.elapsed().as_secs_f64(),
    )
}

fn rss_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix(field)
                .map(|v| v.trim().trim_end_matches(" kB").trim().parse().unwrap_or(0))
        })
        .unwrap_or(0)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    // reqwest is built without a default crypto provider (rustls on ring).
    slipway_tls::install_default_provider();
    require_tools();
    let quick = std::env::var_os("BENCH_QUICK").is_some();
    let peer = Registry::start();
    let server = Server::start(std::path::Path::new(env!("CARGO_BIN_EXE_slipway")), 1);
    let ours = Target {
        base: format!("http://{}", server.host()),
        auth: Some(format!("Bearer {}", server.token())),
    };
    let theirs = Target {
        base: format!("http://{}", peer.host()),
        auth: None,
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    println!("registry throughput, MB/s (Slipway vs docker-registry 2.8 on loopback, same run)");
    println!(
        "{:<8} {:<11} {:>7} | {:>9} {:>9} {:>6} | {:>9} {:>9} {:>6}",
        "blob", "mode", "clients", "push ours", "peer", "ratio", "pull ours", "peer", "ratio"
    );
    // BENCH_SIZES=10,100 runs only those rows (sizes in MB).
    let sizes: Vec<usize> = match std::env::var("BENCH_SIZES") {
        Ok(v) => v
            .split(',')
            .map(|s| s.trim().parse::<usize>().expect("BENCH_SIZES: sizes in MB") * MB)
            .collect(),
        Err(_) if quick => vec![MB, 10 * MB],
        Err(_) => vec![MB, 10 * MB, 100 * MB],
    };
    let mut worst = f64::MAX;
    let mut round = 0;
    for &size in &sizes {
        for mode in [Mode::Monolithic, Mode::Chunked] {
            for clients in [1usize, 8] {
                // About 200 MB per client per row (at least one blob), less when quick.
                let budget = if quick { 20 * MB } else { 200 * MB };
                let per_client = (budget / size).clamp(1, 50);
                round += 1;
                // Alternate the order so neither side always runs on a warmer page cache.
                let (a, b) = if round % 2 == 0 {
                    let a = rt.block_on(run(&ours, size, mode, clients, per_client, round));
                    let b = rt.block_on(run(&theirs, size, mode, clients, per_client, round + 500));
                    (a, b)
                } else {
                    let b = rt.block_on(run(&theirs, size, mode, clients, per_client, round + 500));
                    let a = rt.block_on(run(&ours, size, mode, clients, per_client, round));
                    (a, b)
                };
                let (rp, rl) = (a.0 / b.0, a.1 / b.1);
                worst = worst.min(rp).min(rl);
                println!(
                    "{:<8} {:<11} {:>7} | {:>9.0} {:>9.0} {:>5.2}x | {:>9.0} {:>9.0} {:>5.2}x",
                    format!("{}MB", size / MB),
                    if mode == Mode::Chunked {
                        "chunked"
                    } else {
                        "monolithic"
                    },
                    clients,
                    a.0,
                    b.0,
                    rp,
                    a.1,
                    b.1,
                    rl
                );
            }
        }
    }
    println!("worst ratio: {worst:.2}x (goal: >= 1.20x on every row)");

    // Memory: on a fresh server (so earlier rows do not inflate the
    // baseline), stream a 1 GiB blob, never held in memory by the client,
    // and sample the server's RSS throughout.
    drop(server);
    let server = Server::start(std::path::Path::new(env!("CARGO_BIN_EXE_slipway")), 1);
    let ours = Target {
        base: format!("http://{}", server.host()),
        auth: Some(format!("Bearer {}", server.token())),
    };
    let pid = server.pid().expect("server pid");
    let before = rss_kib(pid, "VmRSS:");
    let total: usize = if quick { 256 * MB } else { 1024 * MB };
    let chunk = random_blob(MB, 7);
    let mut hasher = <sha2::Sha256 as sha2::Digest>::new();
    for _ in 0..total / MB {
        sha2::Digest::update(&mut hasher, &chunk);
    }
    let d = format!("sha256:{}", hex::encode(sha2::Digest::finalize(hasher)));
    let peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(before));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = {
        let (peak, stop) = (peak.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                peak.fetch_max(rss_kib(pid, "VmRSS:"), std::sync::atomic::Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    rt.block_on(async {
        let c = reqwest::Client::new();
        let r = req(
            &c,
            &ours,
            reqwest::Method::POST,
            "/v2/bench/big/blobs/uploads/",
        )
        .send()
        .await
        .unwrap();
        let loc = r.headers()["location"].to_str().unwrap().to_string();
        let body = futures::stream::iter(
            (0..total / MB).map(move |_| Ok::<_, std::io::Error>(chunk.clone())),
        );
        let r = req(
            &c,
            &ours,
            reqwest::Method::PUT,
            &format!("{loc}?digest={d}"),
        )
        .header("Content-Length", total.to_string())
        .body(reqwest::Body::wrap_stream(body))
        .send()
        .await
        .unwrap();
        assert_eq!(r.status(), 201);
    });
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = watcher.join();
    let grew = peak
        .load(std::sync::atomic::Ordering::Relaxed)
        .saturating_sub(before);
    println!(
        "memory: pushing a {} MiB blob raised the server's RSS by {:.1} MiB, from {:.1} to a peak of {:.1} MiB (goal: <= 64 MiB)",
        total / MB,
        grew as f64 / 1024.0,
        before as f64 / 1024.0,
        peak.load(std::sync::atomic::Ordering::Relaxed) as f64 / 1024.0
    );
}
