//! The `shellcheck` program (Debian's, installed by scripts/setup-debian.sh)
//! over scripts: comments per script in order, the cache, and failures.

use slipway_dockerfile::lint::ShellCheck;
use slipway_shellcheck::Program;
use std::path::PathBuf;
use std::time::Duration;

fn program() -> Program {
    Program::find().expect("shellcheck on PATH (scripts/setup-debian.sh installs it)")
}

#[test]
fn comments_come_back_per_script_and_a_cache_answers_again() {
    let scripts = vec![
        "#!/bin/sh\necho $1\n".to_string(),
        "#!/bin/sh\necho ok\n".to_string(),
        "#!/bin/bash\ncd /tmp\n[[ -f x ]] && ls | grep y\n".to_string(),
    ];
    let cache = tempfile::tempdir().unwrap();
    let sc = cache.path().join("sc");
    // What an older Slipway kept (one file per answer) goes away.
    std::fs::create_dir(&sc).unwrap();
    std::fs::write(sc.join("0123abcd"), "[]").unwrap();
    let p = program().with_cache(sc.clone());
    let got = p.check(&scripts).unwrap();
    assert_eq!(got.len(), 3);
    assert_eq!(got[0].iter().map(|c| c.code).collect::<Vec<_>>(), [2086]);
    assert!(got[1].is_empty());
    let codes: Vec<u32> = got[2].iter().map(|c| c.code).collect();
    assert!(codes.contains(&2164) && codes.contains(&2010), "{codes:?}");
    let kept: Vec<String> = std::fs::read_dir(&sc)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(kept, ["answers.json"]);
    let answers: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&std::fs::read(sc.join("answers.json")).unwrap()).unwrap();
    assert_eq!(answers.len(), 3);
    // A run that could not start a process still answers: from the cache.
    let again = p
        .clone()
        .with_timeout(Duration::ZERO)
        .check(&scripts)
        .unwrap();
    assert_eq!(again, got);
}

#[test]
fn a_failing_or_hanging_program_is_an_error_not_a_clean_result() {
    let scripts = vec!["#!/bin/sh\necho $1\n".to_string()];
    let e = Program::at(PathBuf::from("/bin/false"))
        .check(&scripts)
        .unwrap_err();
    assert!(e.contains("shellcheck failed"), "{e}");
    let dir = tempfile::tempdir().unwrap();
    let slow = dir.path().join("slow");
    std::fs::write(&slow, "#!/bin/sh\nsleep 30\n").unwrap();
    std::process::Command::new("chmod")
        .arg("+x")
        .arg(&slow)
        .status()
        .unwrap();
    let e = Program::at(slow)
        .with_timeout(Duration::from_millis(200))
        .check(&scripts)
        .unwrap_err();
    assert!(e.contains("did not finish"), "{e}");
    let e = Program::at(PathBuf::from("/nonexistent/shellcheck"))
        .check(&scripts)
        .unwrap_err();
    assert!(e.contains("cannot run"), "{e}");
}
