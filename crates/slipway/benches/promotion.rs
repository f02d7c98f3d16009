//! Promotion speed: promoting a built image of 1 MB, 100 MB and 1 GB
//! within the embedded registry (`POST /api/v1/promote`, a metadata
//! operation) against the peer's way of moving an image between two
//! repositories, `skopeo copy` between two repositories of Debian's
//! `docker-registry`, in one run. Prints the time per promotion, the ratio
//! to the peer, and checks the goals: every promotion ≤ 20 ms, and the
//! 1 GB / 1 MB time ratio ≤ 1.5 (independent of size).
//!
//! `cargo bench -p slipway --bench promotion` (`BENCH_QUICK=1`: 1 MB and
//! 10 MB only).

use slipway_test_support::{GitRepo, Registry, Server, require_tools, run_ok};
use std::path::Path;
use std::time::{Duration, Instant};

/// Promotions (and peer copies) measured per size; the median is reported.
const ROUNDS: usize = 5;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    require_tools();
    let quick = std::env::var("BENCH_QUICK").is_ok();
    let sizes: &[(u64, &str)] = if quick {
        &[(1, "1 MB"), (10, "10 MB")]
    } else {
        &[(1, "1 MB"), (100, "100 MB"), (1024, "1 GB")]
    };
    let envs: String = (0..ROUNDS)
        .map(|i| format!("  e{i}:\n    prefix: env{i}\n    gates: []\n"))
        .collect();
    let bin = Path::new(env!("CARGO_BIN_EXE_slipway"));
    let server = Server::start_with_config(
        bin,
        1,
        Some(&format!(
            "registry_anonymous_pull: true\nenvironments:\n{envs}"
        )),
    );
    let host = server.host();
    let base = server.push_base_image();
    let peer = Registry::start();
    let mut rows = Vec::new();
    for &(mb, label) in sizes {
        // An image with one layer of `mb` MB of random bytes.
        eprintln!("building a {label} image…");
        let repo = GitRepo::new(&[(
            "Dockerfile",
            &format!(
                "FROM {base}\nLABEL name=bench/img{mb} version=1 component=img{mb}\nRUN head -c {} /dev/urandom > /blob\n",
                mb * 1024 * 1024
            ),
        )]);
        let image = format!("{host}/bench/img{mb}:x");
        let id = server.queue(&repo, &image, &[]);
        let b = server.wait_final(id);
        assert_eq!(b["phase"], "Complete", "{b}");

        // The build's writes reach the disk first: neither side pays for
        // flushing the other's.
        run_ok("sync", &[]);
        // Slipway: promote it to ROUNDS environments, one at a time.
        let mut ours = Vec::new();
        for i in 0..ROUNDS {
            let body = format!("{{\"what\": \"{id}\", \"to\": \"e{i}\"}}");
            let t = Instant::now();
            let r = server.api("POST", "/api/v1/promote", Some(&body));
            ours.push(t.elapsed());
            assert_eq!(r.status, 200, "{}", r.body);
        }

        // The peer: the same image in docker-registry, copied between two
        // of its repositories by skopeo.
        let src = format!("{}/src/img{mb}:x", peer.host());
        run_ok(
            "skopeo",
            &[
                "copy",
                "--src-tls-verify=false",
                "--dest-tls-verify=false",
                &format!("docker://{image}"),
                &format!("docker://{src}"),
            ],
        );
        run_ok("sync", &[]);
        let mut theirs = Vec::new();
        for i in 0..ROUNDS {
            let dst = format!("{}/dst{i}/img{mb}:x", peer.host());
            let t = Instant::now();
            run_ok(
                "skopeo",
                &[
                    "copy",
                    "--src-tls-verify=false",
                    "--dest-tls-verify=false",
                    &format!("docker://{src}"),
                    &format!("docker://{dst}"),
                ],
            );
            theirs.push(t.elapsed());
        }
        rows.push((label, median(ours), median(theirs), mb));
    }
    println!(
        "\npromotion within the embedded registry vs skopeo copy between docker-registry repositories (median of {ROUNDS})"
    );
    println!(
        "{:<8} {:>14} {:>14} {:>10}",
        "size", "slipway", "skopeo copy", "ratio"
    );
    for (label, ours, theirs, _) in &rows {
        println!(
            "{:<8} {:>11.2} ms {:>11.2} ms {:>9.4}",
            label,
            ours.as_secs_f64() * 1000.0,
            theirs.as_secs_f64() * 1000.0,
            ours.as_secs_f64() / theirs.as_secs_f64()
        );
    }
    let worst = rows.iter().map(|r| r.1).max().unwrap_or_default();
    let small = rows.first().map(|r| r.1).unwrap_or_default();
    let large = rows.last().map(|r| r.1).unwrap_or_default();
    let growth = large.as_secs_f64() / small.as_secs_f64();
    println!(
        "goal: every promotion ≤ 20 ms: {} (slowest {:.2} ms)",
        if worst <= Duration::from_millis(20) {
            "met"
        } else {
            "NOT met"
        },
        worst.as_secs_f64() * 1000.0
    );
    println!(
        "goal: largest / smallest ≤ 1.5: {} ({growth:.2})",
        if growth <= 1.5 { "met" } else { "NOT met" }
    );
}
