//! ShellCheck for the linter: [`Program`] runs the `shellcheck` program
//! over many scripts in one process (each script a file in a private temp
//! directory, so no script text reaches argv) and reads its JSON. The
//! linter decides what the scripts are and which comment becomes a
//! finding (`slipway_dockerfile::lint::shellcheck`).

use slipway_dockerfile::lint::shellcheck::EXCLUDED;
use slipway_dockerfile::lint::{Severity, ShellCheck, ShellCheckComment};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Scripts per `shellcheck` run (argv stays short).
const CHUNK: usize = 400;

/// The `shellcheck` program.
#[derive(Debug, Clone)]
pub struct Program {
    path: PathBuf,
    timeout: Duration,
}

impl Program {
    /// `shellcheck` from `PATH`, when there is one.
    pub fn find() -> Option<Program> {
        let path = std::env::var_os("PATH")?;
        std::env::split_paths(&path)
            .map(|d| d.join("shellcheck"))
            .find(|p| is_executable(p))
            .map(Program::at)
    }

    pub fn at(path: PathBuf) -> Program {
        Program {
            path,
            timeout: Duration::from_secs(120),
        }
    }

    /// Give up on a run after `timeout` (default 2 minutes).
    pub fn with_timeout(mut self, timeout: Duration) -> Program {
        self.timeout = timeout;
        self
    }

    fn run(&self, dir: &Path, files: &[PathBuf]) -> Result<Vec<Comment>, String> {
        let mut child = Command::new(&self.path)
            .args(["--norc", "-f", "json", "--severity=style"])
            .arg(format!("--exclude={}", EXCLUDED.join(",")))
            .args(files)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", self.path.display()))?;
        let mut stdout = child.stdout.take().ok_or("no stdout")?;
        let stderr = child.stderr.take().ok_or("no stderr")?;
        let out = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = stdout.read_to_string(&mut s);
            s
        });
        let err = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = stderr.take(64 * 1024).read_to_string(&mut s);
            s
        });
        let deadline = Instant::now() + self.timeout;
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Ok(None) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!(
                        "shellcheck did not finish within {} s",
                        self.timeout.as_secs()
                    ));
                }
                Err(e) => return Err(format!("shellcheck: {e}")),
            }
        };
        let stdout = out.join().unwrap_or_default();
        let stderr = err.join().unwrap_or_default();
        // 0: no comments, 1: comments; anything else is ShellCheck failing.
        if !matches!(status.code(), Some(0 | 1)) {
            return Err(format!(
                "shellcheck failed ({status}): {}",
                stderr.lines().next().unwrap_or("no message")
            ));
        }
        serde_json::from_str(&stdout).map_err(|e| format!("shellcheck's JSON: {e}"))
    }
}

impl ShellCheck for Program {
    fn check(&self, scripts: &[String]) -> Result<Vec<Vec<ShellCheckComment>>, String> {
        let mut results = vec![Vec::new(); scripts.len()];
        if scripts.is_empty() {
            return Ok(results);
        }
        let dir = tempfile::tempdir().map_err(|e| format!("cannot make a temp dir: {e}"))?;
        let names: Vec<PathBuf> = (0..scripts.len())
            .map(|i| PathBuf::from(format!("{i}.sh")))
            .collect();
        for (name, text) in names.iter().zip(scripts) {
            std::fs::write(dir.path().join(name), text)
                .map_err(|e| format!("cannot write a script for shellcheck: {e}"))?;
        }
        for chunk in names.chunks(CHUNK) {
            for c in self.run(dir.path(), chunk)? {
                let Some(i) = c
                    .file
                    .strip_suffix(".sh")
                    .and_then(|n| n.parse::<usize>().ok())
                    .filter(|i| *i < results.len())
                else {
                    continue;
                };
                results[i].push(ShellCheckComment {
                    line: c.line,
                    column: c.column,
                    level: match c.level.as_str() {
                        "error" => Severity::Error,
                        "warning" => Severity::Warning,
                        "info" => Severity::Info,
                        _ => Severity::Style,
                    },
                    code: c.code,
                    message: c.message,
                });
            }
        }
        Ok(results)
    }
}

/// One entry of `shellcheck -f json`.
#[derive(serde::Deserialize)]
struct Comment {
    file: String,
    line: usize,
    column: usize,
    level: String,
    code: u32,
    message: String,
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}
