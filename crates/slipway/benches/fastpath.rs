//! The fast path (issue 22): Slipway against the plain tools, interleaved
//! in one run against the same Debian `docker-registry`, ratios of
//! medians.
//!
//! - **no-op**: `slipway start CONFIG --wait` and a signed generic webhook
//!   (then the wave read until the config's member ended) for a config whose
//!   inputs did not change, with the default settings (10 s debounce),
//!   against the plain check `git ls-remote` + `skopeo inspect`. Goal
//!   ≤ 200 ms median.
//! - **build**: `slipway build REPO --tag REGISTRY/…` (waits for the end)
//!   of a small image (busybox + 25 MB committed) and a 300 MB one, against
//!   `git clone --depth 1` + `buildah pull` + `unshare --net buildah bud` +
//!   `buildah push` + `skopeo inspect` (vfs storage kept across rounds on
//!   both sides). Goal ≤ 1.10x.
//! - **apply**: N configs (1,000; 200 with `BENCH_QUICK`) of N repositories:
//!   a first `slipway apply` on a fresh server and a re-apply of the same
//!   file, against `git clone --depth 1` of the N repositories one after
//!   another (as the issue measured them). Goals: first ≤ 1.0x, re-apply
//!   ≤ 0.3x. Also `GET /api/v1/configs` and the server's idle RSS with N
//!   configs after 30 s (goal ≤ 40 MB).
//!
//! `cargo bench -p slipway --bench fastpath` (`FASTPATH=noop,build,apply`
//! picks parts; `BENCH_QUICK=1`: the small image only and 200 configs).

use hmac::{Hmac, Mac};
use slipway_test_support::{GitRepo, Registry, Server, http_raw, require_tools, run_ok, stderr};
use std::path::Path;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_slipway");
const ROUNDS: usize = 5;
const SECRET: &str = "a-webhook-secret-of-some-length";

fn median(mut v: Vec<Duration>) -> f64 {
    v.sort();
    v[v.len() / 2].as_secs_f64()
}

fn timed(f: impl FnOnce()) -> Duration {
    let t = Instant::now();
    f();
    t.elapsed()
}

fn goal(met: bool) -> &'static str {
    if met { "met" } else { "NOT met" }
}

fn label(name: &str) -> String {
    format!("LABEL name=bench/{name} version=1 component={name}\n")
}

fn main() {
    require_tools();
    let quick = std::env::var("BENCH_QUICK").is_ok();
    let parts = std::env::var("FASTPATH").unwrap_or_else(|_| "noop,build,apply".into());
    let peer = Registry::start();
    let base = peer.push_base_image();
    let mut report = Vec::new();
    if parts.contains("noop") {
        report.extend(noop(&peer, &base));
    }
    if parts.contains("build") {
        report.extend(build(&peer, &base, quick));
    }
    if parts.contains("apply") {
        report.extend(apply(&base, if quick { 200 } else { 1000 }));
    }
    println!("\nthe fast path, medians of {ROUNDS} interleaved rounds");
    for line in report {
        println!("  {line}");
    }
}

/// A no-op trigger, by `slipway start --wait` and by a signed webhook.
fn noop(peer: &Registry, base: &str) -> Vec<String> {
    let server = Server::start(Path::new(BIN), 1);
    let repo = GitRepo::new(&[(
        "Dockerfile",
        &format!("FROM {base}\n{}RUN echo a > /a\n", label("a")),
    )]);
    let output = format!("{}/bench/a", peer.host());
    let configs = format!(
        "name: a\nsource: {{ url: {}, branch: main }}\noutput: {output}\ntriggers:\n  webhook: {{ secret_env: HOOK }}\n",
        repo.path().display()
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("configs.yaml");
    std::fs::write(&file, configs).unwrap();
    let out = server
        .cli_cmd(&["apply", "-f", &file.display().to_string()])
        .env("HOOK", SECRET)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let first = server.cli(&["start", "a", "--wait"]);
    assert!(first.status.success(), "{}", stderr(&first));
    let commit = repo.git(&["rev-parse", "HEAD"]).trim().to_string();
    let (mut start, mut hook, mut plain) = (vec![], vec![], vec![]);
    for round in 0..ROUNDS {
        start.push(timed(|| {
            let out = server.cli(&["start", "a", "--wait", "-o", "json"]);
            assert!(out.status.success(), "{}", stderr(&out));
        }));
        hook.push(timed(|| webhook_to_skipped(&server, &commit, round)));
        plain.push(timed(|| {
            run_ok(
                "git",
                &[
                    "ls-remote",
                    &repo.path().display().to_string(),
                    "refs/heads/main",
                ],
            );
            run_ok(
                "skopeo",
                &[
                    "inspect",
                    "--raw",
                    "--tls-verify=false",
                    &format!("docker://{output}:latest"),
                ],
            );
        }));
    }
    let builds = server.cli_json(&["builds", "--config", "a", "-o", "json"]);
    // The history keeps the newest; every one after the first is Skipped.
    let later: Vec<_> = builds
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["id"] != 1)
        .collect();
    assert!(
        later.len() >= ROUNDS && later.iter().all(|b| b["phase"] == "Skipped"),
        "every no-op trigger ends Skipped: {builds}"
    );
    let (s, h, p) = (median(start), median(hook), median(plain));
    vec![
        format!(
            "no-op `slipway start --wait`   {:>8.1} ms  (plain ls-remote + skopeo inspect {:.1} ms); goal ≤ 200 ms: {}",
            s * 1e3,
            p * 1e3,
            goal(s <= 0.2)
        ),
        format!(
            "no-op signed webhook → Skipped {:>8.1} ms; goal ≤ 200 ms: {}",
            h * 1e3,
            goal(h <= 0.2)
        ),
    ]
}

/// A signed generic delivery of `commit`, then the wave until the
/// config's member ended Skipped.
fn webhook_to_skipped(server: &Server, commit: &str, round: usize) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let body = format!(
        r#"{{"ref":"refs/heads/main","commit":"{commit}","delivery":"bench-{round}-{now}","timestamp":{now}}}"#
    );
    let mut m = <Hmac<sha2::Sha256> as Mac>::new_from_slice(SECRET.as_bytes()).unwrap();
    m.update(body.as_bytes());
    let sig = format!("sha256={}", hex::encode(m.finalize().into_bytes()));
    let r = http_raw(
        server.port,
        "POST",
        "/api/v1/webhooks/a/generic",
        &[
            ("Content-Type", "application/json"),
            ("X-Slipway-Signature-256", &sig),
        ],
        body.as_bytes(),
    );
    assert_eq!(r.status, 202, "{}", r.body);
    let wave = r.json()["wave"].as_i64().unwrap();
    loop {
        let w = server
            .api("GET", &format!("/api/v1/waves/{wave}"), None)
            .json();
        let a = w["members"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["config"] == "a")
            .cloned()
            .unwrap();
        match a["state"].as_str() {
            Some("skipped") => return,
            Some("waiting" | "building") => std::thread::sleep(Duration::from_millis(5)),
            other => panic!("the no-op webhook ended {other:?}: {w}"),
        }
    }
}

/// Build overhead for the small and (unless quick) the 300 MB image.
fn build(peer: &Registry, base: &str, quick: bool) -> Vec<String> {
    let server = Server::start(Path::new(BIN), 1);
    let plain = tempfile::tempdir().unwrap();
    let root = plain.path().join("storage");
    let runroot = plain.path().join("run");
    let buildah = |args: &[&str]| {
        let mut all = vec![
            "--root",
            root.to_str().unwrap(),
            "--runroot",
            runroot.to_str().unwrap(),
            "--storage-driver",
            "vfs",
        ];
        all.extend_from_slice(args);
        all.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    };
    let sizes: &[(u64, &str)] = if quick {
        &[(25, "small (busybox + 25 MB)")]
    } else {
        &[(25, "small (busybox + 25 MB)"), (300, "300 MB")]
    };
    let mut lines = Vec::new();
    for &(mb, what) in sizes {
        eprintln!("making a repository with {mb} MB committed…");
        let repo = GitRepo::new(&[(
            "Dockerfile",
            &format!(
                "FROM {base}\n{}COPY data /data\n",
                label(&format!("img{mb}"))
            ),
        )]);
        let mut data = vec![0u8; (mb * 1024 * 1024) as usize];
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15 ^ mb;
        for chunk in data.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let b = x.to_le_bytes();
            chunk.copy_from_slice(&b[..chunk.len()]);
        }
        std::fs::write(repo.path().join("data"), &data).unwrap();
        drop(data);
        repo.git(&["add", "data"]);
        repo.git(&[
            "-c",
            "user.name=b",
            "-c",
            "user.email=b@x",
            "commit",
            "-qm",
            "data",
        ]);
        let url = format!("file://{}", repo.path().display());
        let (mut ours, mut theirs) = (vec![], vec![]);
        // One round of each first, untimed: base image pulled, caches warm.
        for round in 0..=ROUNDS {
            run_ok("sync", &[]);
            let tag = format!("{}/slipway/img{mb}:r{round}", peer.host());
            let t = timed(|| {
                let out = server.cli(&["build", &repo.path().display().to_string(), "--tag", &tag]);
                assert!(out.status.success(), "{}", stderr(&out));
            });
            run_ok("sync", &[]);
            let work = tempfile::tempdir().unwrap();
            let src = work.path().join("src");
            let image = format!("{}/plain/img{mb}:r{round}", peer.host());
            let p = timed(|| {
                run_ok(
                    "git",
                    &["clone", "-q", "--depth", "1", &url, src.to_str().unwrap()],
                );
                let pull = buildah(&["pull", "--quiet", "--tls-verify=false", base]);
                run_ok(
                    "buildah",
                    &pull.iter().map(String::as_str).collect::<Vec<_>>(),
                );
                let mut bud = vec!["--net".to_string(), "buildah".to_string()];
                bud.extend(buildah(&[
                    "bud",
                    "--quiet",
                    "--isolation",
                    "chroot",
                    "--pull=never",
                    "-t",
                    &image,
                    src.to_str().unwrap(),
                ]));
                run_ok(
                    "unshare",
                    &bud.iter().map(String::as_str).collect::<Vec<_>>(),
                );
                let push = buildah(&[
                    "push",
                    "--quiet",
                    "--tls-verify=false",
                    &image,
                    &format!("docker://{image}"),
                ]);
                run_ok(
                    "buildah",
                    &push.iter().map(String::as_str).collect::<Vec<_>>(),
                );
                run_ok(
                    "skopeo",
                    &[
                        "inspect",
                        "--raw",
                        "--tls-verify=false",
                        &format!("docker://{image}"),
                    ],
                );
            });
            let rmi = buildah(&["rmi", &image]);
            run_ok(
                "buildah",
                &rmi.iter().map(String::as_str).collect::<Vec<_>>(),
            );
            if round > 0 {
                ours.push(t);
                theirs.push(p);
            }
        }
        // Where Slipway's time went, in its last build.
        let last = server.cli_json(&["builds", "-o", "json"])[0]["id"]
            .as_i64()
            .unwrap();
        let stages: Vec<String> = server.build_json(last)["stages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                format!(
                    "{} {} ms",
                    s["stage"].as_str().unwrap_or("?"),
                    s["duration_ms"]
                )
            })
            .collect();
        eprintln!("{what}: stages of build {last}: {}", stages.join(", "));
        let (o, p) = (median(ours), median(theirs));
        lines.push(format!(
            "build {what:<24} {o:>7.2} s vs plain {p:.2} s: {:.2}x; goal ≤ 1.10x: {}",
            o / p,
            goal(o / p <= 1.10)
        ));
    }
    lines
}

/// First apply and re-apply of `n` configs, the config list, idle RSS.
fn apply(base: &str, n: usize) -> Vec<String> {
    eprintln!("making {n} repositories…");
    let repos: Vec<GitRepo> = (0..n)
        .map(|i| {
            GitRepo::new(&[(
                "Dockerfile",
                &format!("FROM {base}\n{}RUN echo {i}\n", label(&format!("c{i}"))),
            )])
        })
        .collect();
    let yaml: String = repos
        .iter()
        .enumerate()
        .map(|(i, r)| {
            format!(
                "---\nname: c{i}\nsource: {{ url: {}, branch: main }}\noutput: bench/c{i}\n",
                r.path().display()
            )
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("configs.yaml");
    std::fs::write(&file, yaml).unwrap();
    let file = file.display().to_string();
    let (mut first, mut again, mut plain, mut list) = (vec![], vec![], vec![], vec![]);
    let mut rss = 0;
    for round in 0..ROUNDS {
        let server = Server::start(Path::new(BIN), 1);
        let applied = |times: &mut Vec<Duration>| {
            times.push(timed(|| {
                let out = server.cli(&["apply", "-f", &file]);
                assert!(out.status.success(), "{}", stderr(&out));
            }));
        };
        applied(&mut first);
        applied(&mut again);
        for _ in 0..3 {
            list.push(timed(|| {
                let r = server.api("GET", "/api/v1/configs", None);
                assert_eq!(r.status, 200);
            }));
        }
        let clones = tempfile::tempdir().unwrap();
        plain.push(timed(|| {
            for (i, r) in repos.iter().enumerate() {
                let url = format!("file://{}", r.path().display());
                let dest = clones.path().join(i.to_string());
                run_ok(
                    "git",
                    &["clone", "-q", "--depth", "1", &url, dest.to_str().unwrap()],
                );
            }
        }));
        if round == ROUNDS - 1 {
            std::thread::sleep(Duration::from_secs(30));
            let pid = server.pid().unwrap();
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
            rss = status
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    let (f, a, p, l) = (median(first), median(again), median(plain), median(list));
    vec![
        format!(
            "first apply of {n} configs  {f:>7.2} s vs {n} sequential `git clone --depth 1` {p:.2} s: {:.2}x; goal ≤ 1.0x: {}",
            f / p,
            goal(f / p <= 1.0)
        ),
        format!(
            "re-apply of {n} unchanged   {a:>7.2} s: {:.2}x; goal ≤ 0.3x: {}",
            a / p,
            goal(a / p <= 0.3)
        ),
        format!("GET /api/v1/configs with {n}  {:>7.1} ms", l * 1e3),
        format!(
            "idle RSS with {n} configs    {:>7.1} MB; goal ≤ 40 MB: {}",
            rss as f64 / 1024.0,
            goal(rss as f64 / 1024.0 <= 40.0)
        ),
    ]
}
