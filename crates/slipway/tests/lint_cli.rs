//! `slipway lint` as a user runs it: no server, exit status by failure
//! threshold, the three formats, the config file and pragmas.

use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_slipway");

fn lint(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN)
        .arg("lint")
        .args(args)
        .current_dir(dir)
        .env("HOME", dir)
        .env_remove("SLIPWAY_URL")
        .env_remove("SLIPWAY_TOKEN")
        .env_remove("SLIPWAY_TOKEN_FILE")
        .output()
        .expect("run slipway lint");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn exit_status_follows_the_failure_threshold() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("Dockerfile"), "FROM debian\nRUN a\nRUN b\n").unwrap();
    let (code, out, _) = lint(d.path(), &[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("Dockerfile:1 DL3006 warning: Always tag the version"),
        "{out}"
    );
    assert!(out.contains("Dockerfile:3 DL3059 info:"), "{out}");
    // Only errors fail: a warning and an info do not.
    assert_eq!(lint(d.path(), &["-t", "error"]).0, 0);
    assert_eq!(
        lint(d.path(), &["--ignore", "DL3006", "-t", "warning"]).0,
        0
    );
    let (code, _, err) = lint(d.path(), &["-t", "fatal"]);
    assert_ne!(code, 0);
    assert!(err.contains("--failure-threshold \"fatal\""), "{err}");
}

#[test]
fn json_and_sarif_outputs() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("Dockerfile"), "FROM debian:12\nWORKDIR app\n").unwrap();
    let (_, out, _) = lint(d.path(), &["-f", "json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        v,
        serde_json::json!([{
            "code": "DL3000", "column": 1, "file": "Dockerfile", "level": "error",
            "line": 2, "message": "Use absolute WORKDIR"
        }])
    );
    let (_, out, _) = lint(d.path(), &["-f", "sarif"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["version"], "2.1.0");
    let r = &v["runs"][0]["results"][0];
    assert_eq!(r["ruleId"], "DL3000");
    assert_eq!(r["level"], "error");
    assert_eq!(
        r["locations"][0]["physicalLocation"]["region"]["startLine"],
        2
    );
    assert_eq!(
        r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        "Dockerfile"
    );
}

#[test]
fn config_file_pragmas_and_parse_errors() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(
        d.path().join("Dockerfile"),
        "FROM debian\n# hadolint ignore=DL4000\nMAINTAINER me\nCMD run\n",
    )
    .unwrap();
    std::fs::write(
        d.path().join(".hadolint.yaml"),
        "ignored: [DL3006]\noverride:\n  error: [DL3025]\nfailure-threshold: error\n",
    )
    .unwrap();
    let (code, out, _) = lint(d.path(), &[]);
    assert_eq!(
        out,
        "Dockerfile:4 DL3025 error: Use arguments JSON notation for CMD and ENTRYPOINT arguments\n"
    );
    assert_eq!(code, 1);

    std::fs::write(d.path().join("bad.yaml"), "ignore: [DL3006]\n").unwrap();
    let (code, _, err) = lint(d.path(), &["-c", "bad.yaml"]);
    assert_ne!(code, 0);
    assert!(err.contains("ignore"), "{err}");

    std::fs::write(d.path().join("Broken"), "FROM a\nFORM b\n").unwrap();
    let (code, out, _) = lint(d.path(), &["Broken"]);
    assert_eq!(code, 1);
    assert_eq!(out, "Broken:2 DL1000 error: unknown instruction \"FORM\"\n");

    let (code, _, err) = lint(d.path(), &["Missing"]);
    assert_ne!(code, 0);
    assert!(err.contains("cannot read Missing"), "{err}");
}

/// The SARIF output validates against the SARIF 2.1.0 schema, checked by
/// Microsoft's SARIF Multitool (installed by `scripts/test.sh`).
#[test]
fn sarif_validates_against_the_schema() {
    let tool = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/sarif-tools/node_modules/.bin/sarif-multitool");
    assert!(
        tool.exists(),
        "{} is missing: run scripts/test.sh, or `npm install @microsoft/sarif-multitool@5.7.0` in target/sarif-tools",
        tool.display()
    );
    let d = tempfile::tempdir().unwrap();
    std::fs::write(
        d.path().join("Dockerfile"),
        "FROM debian\nWORKDIR app\nRUN a | b\nCMD run\nLABEL Bad=1\n",
    )
    .unwrap();
    let (_, out, _) = lint(d.path(), &["-f", "sarif"]);
    std::fs::write(d.path().join("lint.sarif"), &out).unwrap();
    let status = Command::new(&tool)
        .args(["validate", "lint.sarif", "-o", "validation.sarif"])
        .current_dir(d.path())
        .env("DOTNET_SYSTEM_GLOBALIZATION_INVARIANT", "1")
        .status()
        .unwrap();
    assert!(status.success());
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.path().join("validation.sarif")).unwrap())
            .unwrap();
    let problems: Vec<&serde_json::Value> = report["runs"][0]["results"]
        .as_array()
        .map(|r| r.iter().filter(|r| r["level"] == "error").collect())
        .unwrap_or_default();
    assert!(problems.is_empty(), "schema violations: {problems:#?}");
    // The validator does catch a broken log.
    std::fs::write(
        d.path().join("broken.sarif"),
        r#"{"version":"2.1.0","runs":[{"tool":{}}]}"#,
    )
    .unwrap();
    Command::new(&tool)
        .args(["validate", "broken.sarif", "-o", "broken-report.sarif"])
        .current_dir(d.path())
        .env("DOTNET_SYSTEM_GLOBALIZATION_INVARIANT", "1")
        .status()
        .unwrap();
    let broken = std::fs::read_to_string(d.path().join("broken-report.sarif")).unwrap();
    assert!(broken.contains("JSON1002"), "{broken}");
}

/// ShellCheck's findings with Debian's `shellcheck` installed (setup
/// installs it), a one-line note without it, `--no-fail`, and BuildKit's
/// refusals as DL1000.
#[test]
fn shellcheck_findings_the_note_without_it_and_no_fail() {
    assert!(
        Path::new("/usr/bin/shellcheck").exists(),
        "scripts/setup-debian.sh installs shellcheck"
    );
    let d = tempfile::tempdir().unwrap();
    std::fs::write(
        d.path().join("Dockerfile"),
        "FROM debian:12\n# hadolint ignore=DL3003\nRUN cd /tmp; echo $HOME\n",
    )
    .unwrap();
    let (code, out, err) = lint(d.path(), &["-f", "json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        v,
        serde_json::json!([{
            "code": "SC2086", "column": 1, "file": "Dockerfile", "level": "info",
            "line": 3, "message": "Double quote to prevent globbing and word splitting."
        }]),
        "{err}"
    );
    assert_eq!(code, 1);
    assert_eq!(lint(d.path(), &["--no-fail"]).0, 0);
    // Without shellcheck on PATH: the DL findings and a note.
    let out = Command::new(BIN)
        .args(["lint", "-f", "json"])
        .current_dir(d.path())
        .env("HOME", d.path())
        .env("PATH", "/nonexistent")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "[]");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("ShellCheck (SC) checks were skipped"), "{err}");
    // What BuildKit refuses.
    std::fs::write(d.path().join("Dockerfile"), "# only a comment\n").unwrap();
    let (code, out, _) = lint(d.path(), &[]);
    assert_eq!(code, 1);
    assert!(
        out.contains("DL1000 error: file with no instructions"),
        "{out}"
    );
    std::fs::write(d.path().join("Dockerfile"), "RUN true\n").unwrap();
    let (code, out, _) = lint(d.path(), &["--no-fail"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("DL1000 error: no build stage in current context") && out.contains("DL3061"),
        "{out}"
    );
}
