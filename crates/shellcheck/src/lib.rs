//! ShellCheck for the linter: [`Program`] runs the `shellcheck` program
//! over many scripts per process, one process per core (each script a file
//! in a private temp directory, so no script text reaches argv), and reads
//! its JSON. With a cache directory, a script checked before by the same
//! `shellcheck` is answered from it. The linter decides what the scripts
//! are and which comment becomes a finding
//! (`slipway_dockerfile::lint::shellcheck`).

use sha2::{Digest, Sha256};
use slipway_dockerfile::lint::shellcheck::EXCLUDED;
use slipway_dockerfile::lint::{Severity, ShellCheck, ShellCheckComment};
use std::io::Read;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Scripts per `shellcheck` run (argv stays short).
const CHUNK: usize = 400;

/// Cache entries kept before the cache starts over.
const CACHE_ENTRIES: usize = 20_000;

/// The `shellcheck` program.
#[derive(Debug, Clone)]
pub struct Program {
    path: PathBuf,
    timeout: Duration,
    cache: Option<PathBuf>,
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
            cache: None,
        }
    }

    /// Keep answers in `dir` (made private if missing), keyed by the
    /// program (path, size, modification time) and the script.
    pub fn with_cache(mut self, dir: PathBuf) -> Program {
        self.cache = Some(dir);
        self
    }

    /// What identifies the program in cache keys (path, size, mtime, the
    /// excluded codes), or `None` without a usable cache.
    fn program_id(&self) -> Option<String> {
        self.cache.as_ref()?;
        let meta = self.path.metadata().ok()?;
        let modified = meta
            .modified()
            .ok()?
            .duration_since(std::time::UNIX_EPOCH)
            .ok()?;
        Some(format!(
            "{}\0{}\0{}\0{}\0",
            self.path.display(),
            meta.len(),
            modified.as_nanos(),
            EXCLUDED.join(",")
        ))
    }

    fn cached(&self, key: &str) -> Option<Vec<Comment>> {
        let text = std::fs::read(self.cache.as_ref()?.join(key)).ok()?;
        serde_json::from_slice(&text).ok()
    }

    /// The cache directory, made private if missing, with room for `new`
    /// more answers (it starts over rather than grow past
    /// `CACHE_ENTRIES`); best effort: a cache that cannot be written only
    /// costs time.
    fn cache_with_room(&self, new: usize) -> Option<&Path> {
        let dir = self.cache.as_deref()?;
        let make = || {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
        };
        if !dir.exists() {
            let _ = make();
        }
        if std::fs::read_dir(dir).is_ok_and(|d| d.count() + new > CACHE_ENTRIES) {
            let _ = std::fs::remove_dir_all(dir);
            let _ = make();
        }
        Some(dir)
    }

    fn remember(dir: &Path, key: &str, comments: &[Comment]) {
        let Ok(json) = serde_json::to_vec(comments) else {
            return;
        };
        let tmp = dir.join(format!("{key}.{}.tmp", std::process::id()));
        if std::fs::write(&tmp, json).is_ok() {
            let _ = std::fs::rename(&tmp, dir.join(key));
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
        serde_json::from_str(&stdout).map_err(|e| {
            format!(
                "shellcheck failed ({status}) and gave no JSON ({e}): {}",
                stderr.lines().next().unwrap_or("no message")
            )
        })
    }
}

impl ShellCheck for Program {
    fn check(&self, scripts: &[String]) -> Result<Vec<Vec<ShellCheckComment>>, String> {
        let mut results: Vec<Option<Vec<Comment>>> = vec![None; scripts.len()];
        // Cache keys: the program's identity (one stat) and the script.
        let id = self.program_id();
        let keys: Vec<Option<String>> = scripts
            .iter()
            .map(|s| {
                let id = id.as_ref()?;
                let mut h = Sha256::new();
                h.update(id);
                h.update(s);
                Some(hex::encode(h.finalize()))
            })
            .collect();
        for (r, k) in results.iter_mut().zip(&keys) {
            *r = k.as_deref().and_then(|k| self.cached(k));
        }
        let todo: Vec<usize> = (0..scripts.len())
            .filter(|i| results[*i].is_none())
            .collect();
        if !todo.is_empty() {
            let dir = tempfile::tempdir().map_err(|e| format!("cannot make a temp dir: {e}"))?;
            for i in &todo {
                std::fs::write(dir.path().join(format!("{i}.sh")), &scripts[*i])
                    .map_err(|e| format!("cannot write a script for shellcheck: {e}"))?;
            }
            // One process per core, each with its share of the scripts.
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            let per = todo.len().div_ceil(cores).clamp(1, CHUNK);
            let found: Vec<Result<Vec<Comment>, String>> = std::thread::scope(|s| {
                let runs: Vec<_> = todo
                    .chunks(per)
                    .map(|chunk| {
                        let files: Vec<PathBuf> = chunk
                            .iter()
                            .map(|i| PathBuf::from(format!("{i}.sh")))
                            .collect();
                        let dir = dir.path();
                        s.spawn(move || self.run(dir, &files))
                    })
                    .collect();
                runs.into_iter()
                    .map(|r| {
                        r.join()
                            .unwrap_or_else(|_| Err("shellcheck runner panicked".into()))
                    })
                    .collect()
            });
            for i in &todo {
                results[*i] = Some(Vec::new());
            }
            for c in found
                .into_iter()
                .collect::<Result<Vec<_>, _>>()?
                .into_iter()
                .flatten()
            {
                let Some(i) = c
                    .file
                    .strip_suffix(".sh")
                    .and_then(|n| n.parse::<usize>().ok())
                    .filter(|i| *i < scripts.len())
                else {
                    continue;
                };
                if let Some(r) = &mut results[i] {
                    r.push(c);
                }
            }
            if let Some(cache) = self.cache_with_room(todo.len()) {
                for i in &todo {
                    if let (Some(k), Some(r)) = (&keys[*i], &results[*i]) {
                        Self::remember(cache, k, r);
                    }
                }
            }
        }
        Ok(results
            .into_iter()
            .map(|r| {
                r.unwrap_or_default()
                    .into_iter()
                    .map(Comment::into_finding)
                    .collect()
            })
            .collect())
    }
}

/// One entry of `shellcheck -f json` (and of the cache).
#[derive(Clone, serde::Deserialize, serde::Serialize)]
struct Comment {
    file: String,
    line: usize,
    column: usize,
    level: String,
    code: u32,
    message: String,
}

impl Comment {
    fn into_finding(self) -> ShellCheckComment {
        ShellCheckComment {
            line: self.line,
            column: self.column,
            level: match self.level.as_str() {
                "error" => Severity::Error,
                "warning" => Severity::Warning,
                "info" => Severity::Info,
                _ => Severity::Style,
            },
            code: self.code,
            message: self.message,
        }
    }
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}
