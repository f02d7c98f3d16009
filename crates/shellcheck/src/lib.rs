//! ShellCheck for the linter: [`Program`] runs the `shellcheck` program
//! over many scripts per process, one process per core with shares of
//! about equal work (each script a file in a private temp directory, in
//! memory where there is a tmpfs, so no script text reaches argv), and
//! reads its JSON. With a cache directory, a script checked before by the
//! same `shellcheck` is answered from it (one file of answers, read and
//! written once per check). The linter decides what the scripts
//! are and which comment becomes a finding
//! (`slipway_dockerfile::lint::shellcheck`).

use sha2::{Digest, Sha256};
use slipway_dockerfile::lint::shellcheck::EXCLUDED;
use slipway_dockerfile::lint::{Severity, ShellCheck, ShellCheckComment};
use std::collections::HashMap;
use std::io::Read;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Scripts per `shellcheck` run (argv stays short).
const CHUNK: usize = 400;

/// Cache entries kept before the cache starts over.
const CACHE_ENTRIES: usize = 20_000;

/// The cache: one JSON file of answers by key.
const PACK: &str = "answers.json";

/// A cache file bigger than this is not read (20,000 answers take a few MB).
const PACK_LIMIT: u64 = 64 << 20;

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

    /// The cache's answers, keyed by program and script: one file read
    /// whole (a cache that cannot be read is an empty one).
    fn load(&self) -> HashMap<String, Vec<Comment>> {
        let Some(dir) = &self.cache else {
            return HashMap::new();
        };
        std::fs::File::open(dir.join(PACK))
            .ok()
            .and_then(|f| {
                let mut text = Vec::new();
                f.take(PACK_LIMIT).read_to_end(&mut text).ok()?;
                serde_json::from_slice(&text).ok()
            })
            .unwrap_or_default()
    }

    /// Write the cache back with `new` answers added: one file, replaced
    /// whole (write then rename), so a reader never sees half of it and
    /// two writers at once only lose each other's new answers. It starts
    /// over rather than grow past `CACHE_ENTRIES`. Best effort: a cache
    /// that cannot be written only costs time.
    fn store(&self, mut known: HashMap<String, Vec<Comment>>, new: Vec<(String, Vec<Comment>)>) {
        let Some(dir) = self.cache.as_deref() else {
            return;
        };
        let pack = dir.join(PACK);
        if !pack.exists() {
            // First write: make the directory private, and drop what an
            // older Slipway kept there (one file per answer).
            let _ = std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir);
            if let Ok(old) = std::fs::read_dir(dir) {
                for e in old.flatten() {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        if known.len() + new.len() > CACHE_ENTRIES {
            known.clear();
        }
        known.extend(new);
        let Ok(json) = serde_json::to_vec(&known) else {
            return;
        };
        // A temporary file of its own: checks running at once in one
        // process (the server's preparations) never write into each other's.
        if let Ok(mut tmp) = tempfile::NamedTempFile::new_in(dir)
            && std::io::Write::write_all(&mut tmp, &json).is_ok()
        {
            let _ = tmp.persist(&pack);
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
        let known = if id.is_some() {
            self.load()
        } else {
            HashMap::new()
        };
        let mut results: Vec<Option<Vec<Comment>>> = keys
            .iter()
            .map(|k| k.as_ref().and_then(|k| known.get(k)).cloned())
            .collect();
        let todo: Vec<usize> = (0..scripts.len())
            .filter(|i| results[*i].is_none())
            .collect();
        if todo.is_empty() {
            return Ok(findings(results));
        }
        let dir = scratch_dir()?;
        for i in &todo {
            std::fs::write(dir.path().join(format!("{i}.sh")), &scripts[*i])
                .map_err(|e| format!("cannot write a script for shellcheck: {e}"))?;
        }
        let found: Vec<Result<Vec<Comment>, String>> = std::thread::scope(|s| {
            let runs: Vec<_> = shares(&todo, scripts)
                .into_iter()
                .map(|share| {
                    let files: Vec<PathBuf> = share
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
        drop(dir);
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
        if id.is_some() {
            let new = todo
                .iter()
                .filter_map(|i| Some((keys[*i].clone()?, results[*i].clone()?)))
                .collect();
            self.store(known, new);
        }
        Ok(findings(results))
    }
}

fn findings(results: Vec<Option<Vec<Comment>>>) -> Vec<Vec<ShellCheckComment>> {
    results
        .into_iter()
        .map(|r| {
            r.unwrap_or_default()
                .into_iter()
                .map(Comment::into_finding)
                .collect()
        })
        .collect()
}

/// A private directory for the scripts of one check, in memory when the
/// machine has a tmpfs for it: on a disk, creating a file per script cost
/// more than checking it.
fn scratch_dir() -> Result<tempfile::TempDir, String> {
    let in_memory = std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .into_iter()
        .chain([PathBuf::from("/dev/shm")])
        .filter(|base| base.is_dir())
        .find_map(|base| {
            tempfile::Builder::new()
                .prefix("slipway-sc-")
                .tempdir_in(base)
                .ok()
        });
    if let Some(d) = in_memory {
        return Ok(d);
    }
    tempfile::Builder::new()
        .prefix("slipway-sc-")
        .tempdir()
        .map_err(|e| format!("cannot make a temp dir: {e}"))
}

/// The scripts `todo` (indexes into `scripts`) split into one share per
/// core (more when a share would pass `CHUNK` scripts), of about equal
/// work: longest first, each to the share with the fewest bytes so far.
fn shares(todo: &[usize], scripts: &[String]) -> Vec<Vec<usize>> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let n = cores.max(todo.len().div_ceil(CHUNK)).min(todo.len()).max(1);
    let mut order = todo.to_vec();
    order.sort_by_key(|i| std::cmp::Reverse(scripts[*i].len()));
    let mut bins: Vec<(usize, Vec<usize>)> = vec![(0, Vec::new()); n];
    for i in order {
        let Some(bin) = bins
            .iter_mut()
            .filter(|b| b.1.len() < CHUNK)
            .min_by_key(|b| b.0)
        else {
            break;
        };
        // Each script also costs a fixed amount (reading, the JSON).
        bin.0 += scripts[i].len() + 64;
        bin.1.push(i);
    }
    bins.into_iter()
        .map(|b| b.1)
        .filter(|b| !b.is_empty())
        .collect()
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
