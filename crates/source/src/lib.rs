//! Git sources: resolve a ref to a commit, fetch exactly that commit with
//! depth 1.
//!
//! We shell out to the system `git` (Debian's): it brings every transport,
//! credential helpers, SSH and LFS for free, and its errors are the ones users
//! already know. Every call runs with `GIT_TERMINAL_PROMPT=0` so a source that
//! wants a password fails at once instead of hanging.
//!
//! Hangs: a network call (`ls-remote`, `fetch`, submodules) that has
//! printed nothing within the connect timeout, or nothing more within the
//! no-progress timeout, is killed with its whole process group (git's
//! helpers: `git-remote-http`, `ssh`), and so is any call whose future is
//! dropped (a cancelled build). [`set_timeouts`] sets both; `fetch` runs
//! with `--progress` so a healthy transfer keeps talking.
//!
//! Secrets: a URL's user and password never reach git's command line (where
//! `ps` shows them) nor `.git/config`: git gets the URL without them and a
//! credential helper, configured through `GIT_CONFIG_*` variables, that
//! answers from two variables of git's own environment.
//!
//! Architecture invariant: user-given strings (URL, ref) reach git only after
//! `slipway_core::source` validated them, and always after a `--` or as values
//! of options, never as options themselves.

mod mirror;
pub use mirror::{Mirror, Mirrors};

use slipway_core::build::source::{GitCredentials, SourceLocation, is_commit_id};
use std::path::Path;
use std::process::Stdio;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::process::Command;

/// How long git may take over a network call: until its first output, and
/// between outputs after that.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub connect: Duration,
    pub no_progress: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(60),
            no_progress: Duration::from_secs(300),
        }
    }
}

static TIMEOUTS: Mutex<Option<Timeouts>> = Mutex::new(None);

/// Set the timeouts of every git network call from now on (the server
/// config's `git:` section).
pub fn set_timeouts(t: Timeouts) {
    if let Ok(mut g) = TIMEOUTS.lock() {
        *g = Some(t);
    }
}

fn timeouts() -> Timeouts {
    TIMEOUTS.lock().ok().and_then(|g| *g).unwrap_or_default()
}

/// How long one local git command (init, checkout, rev-parse) may take.
const LOCAL_TIMEOUT: Duration = Duration::from_secs(600);

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("cannot reach git repository {url}: {detail}")]
    Unreachable { url: String, detail: String },
    #[error("git ref {git_ref:?} not found in {url}; check the branch or tag name")]
    UnknownRef { url: String, git_ref: String },
    #[error("commit {commit} not found in {url}")]
    UnknownCommit { url: String, commit: String },
    #[error("git {action} failed for {url}: {detail}")]
    Git {
        action: &'static str,
        url: String,
        detail: String,
    },
    #[error("cannot run git: {0}; is git installed?")]
    Spawn(std::io::Error),
    #[error("git mirror: cannot {what}: {error}")]
    Mirror { what: String, error: std::io::Error },
    #[error(
        "git {0} {1}; the git server hangs or is unreachable (the limits are the server config's git: connect_timeout_seconds and no_progress_timeout_seconds)"
    )]
    Timeout(&'static str, String),
}

/// A ref resolved to the commit it points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedRef {
    pub commit: String,
    /// The full ref name that matched (`refs/heads/main`), or the commit id.
    pub ref_name: String,
}

struct GitOutput {
    ok: bool,
    /// As git wrote it (a blob need not be text).
    stdout: Vec<u8>,
    stderr: String,
}

impl GitOutput {
    fn text(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.stdout)
    }
}

/// Kills a child's process group when dropped before the child was
/// reaped: a timeout, or the caller's future dropped (a cancel).
struct GroupGuard(Option<i32>);

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if let Some(pgid) = self.0 {
            // SAFETY: kill(2) on the process group made for this child; no
            // memory-safety preconditions.
            unsafe {
                libc::kill(-pgid, libc::SIGKILL);
            }
        }
    }
}

/// Where git fetches from: the URL without credentials, and the
/// credentials for it.
struct Remote {
    url: String,
    creds: Option<GitCredentials>,
}

impl Remote {
    fn of(location: &SourceLocation) -> Remote {
        let (url, creds) = location.git_url_and_credentials();
        Remote { url, creds }
    }

    /// `scheme://host` of the URL: the credentials are offered to that
    /// host only (not to a submodule's).
    fn origin(&self) -> String {
        let (scheme, rest) = self.url.split_once("://").unwrap_or(("", &self.url));
        let host = rest.split('/').next().unwrap_or("");
        format!("{scheme}://{host}")
    }
}

/// The credential helper git is given through its environment: it prints
/// the user and password from two variables only git's process tree has.
const CREDENTIAL_HELPER: &str = "!f() { test \"$1\" = get || exit 0; printf 'username=%s\\npassword=%s\\n' \"$SLIPWAY_GIT_USERNAME\" \"$SLIPWAY_GIT_PASSWORD\"; }; f";

/// Read a pipe to its end, noting when output last came.
async fn drain<R: tokio::io::AsyncRead + Unpin>(
    pipe: Option<R>,
    last_output: &Mutex<Option<Instant>>,
) -> Vec<u8> {
    use tokio::io::AsyncReadExt;
    let mut all = Vec::new();
    let Some(mut pipe) = pipe else {
        return all;
    };
    let mut buf = [0u8; 8192];
    loop {
        match pipe.read(&mut buf).await {
            Ok(0) | Err(_) => return all,
            Ok(n) => {
                all.extend_from_slice(&buf[..n]);
                if let Ok(mut l) = last_output.lock() {
                    *l = Some(Instant::now());
                }
            }
        }
    }
}

/// Run git. `network` calls are watched for the connect and no-progress
/// timeouts; local ones get [`LOCAL_TIMEOUT`] in all.
async fn git(
    action: &'static str,
    dir: Option<&Path>,
    args: &[&str],
    remote: Option<&Remote>,
    network: bool,
    envs: &[(&str, &Path)],
) -> Result<GitOutput, SourceError> {
    let mut cmd = Command::new("git");
    cmd.args(args)
        .envs(envs.iter().copied())
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_ASKPASS", "/bin/true")
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    if let Some(r) = remote
        && let Some(c) = &r.creds
    {
        // Replace any configured helper with ours, for this call and this
        // host only.
        cmd.env("GIT_CONFIG_COUNT", "2")
            .env("GIT_CONFIG_KEY_0", "credential.helper")
            .env("GIT_CONFIG_VALUE_0", "")
            .env(
                "GIT_CONFIG_KEY_1",
                format!("credential.{}.helper", r.origin()),
            )
            .env("GIT_CONFIG_VALUE_1", CREDENTIAL_HELPER)
            .env("SLIPWAY_GIT_USERNAME", &c.username)
            .env("SLIPWAY_GIT_PASSWORD", &c.password);
    }
    let t = timeouts();
    if network {
        // curl gives up on a transfer slower than 1 KiB/s for this long.
        cmd.env("GIT_HTTP_LOW_SPEED_LIMIT", "1024").env(
            "GIT_HTTP_LOW_SPEED_TIME",
            t.no_progress.as_secs().max(1).to_string(),
        );
    }
    if let Some(d) = dir {
        cmd.current_dir(d);
    }
    // SAFETY: prctl(PR_SET_PDEATHSIG) is async-signal-safe and touches no
    // memory: git dies with the process that started it.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    let mut child = cmd.spawn().map_err(SourceError::Spawn)?;
    let mut guard = GroupGuard(child.id().and_then(|p| i32::try_from(p).ok()));
    let started = Instant::now();
    let last_output: Mutex<Option<Instant>> = Mutex::new(None);
    let mut out_pipe = child.stdout.take();
    let mut err_pipe = child.stderr.take();
    let run = async {
        let (o, e, status) = tokio::join!(
            drain(out_pipe.take(), &last_output),
            drain(err_pipe.take(), &last_output),
            child.wait()
        );
        (o, e, status)
    };
    let watchdog = async {
        loop {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let now = Instant::now();
            let last = last_output.lock().ok().and_then(|l| *l);
            let why = match last {
                _ if !network => (now - started > LOCAL_TIMEOUT)
                    .then(|| format!("took longer than {}s", LOCAL_TIMEOUT.as_secs())),
                None => (now - started > t.connect)
                    .then(|| format!("got no answer within {}s", t.connect.as_secs())),
                Some(at) => (now - at > t.no_progress)
                    .then(|| format!("made no progress for {}s", t.no_progress.as_secs())),
            };
            if let Some(why) = why {
                return why;
            }
        }
    };
    let (stdout, stderr, status) = tokio::select! {
        r = run => r,
        why = watchdog => {
            // The guard kills the whole group as it goes.
            return Err(SourceError::Timeout(action, why));
        }
    };
    let status = status.map_err(SourceError::Spawn)?;
    // Reaped: the group id may be reused from here on.
    guard.0 = None;
    Ok(GitOutput {
        ok: status.success(),
        stdout,
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    })
}

/// The most telling line of git's stderr, with the URL's credentials hidden.
fn detail(stderr: &str, location: &SourceLocation) -> String {
    let raw = location.git_url();
    let shown = location.redacted();
    let line = stderr
        .lines()
        .map(str::trim)
        .rfind(|l| l.starts_with("fatal:") || l.starts_with("error:"))
        .or_else(|| stderr.lines().map(str::trim).rfind(|l| !l.is_empty()))
        .unwrap_or("no output from git");
    line.replace(&raw, &shown)
}

/// Resolve `git_ref` (a branch, tag, full ref name or full commit id; the
/// remote's HEAD when `None`) to a commit without cloning.
pub async fn resolve(
    location: &SourceLocation,
    git_ref: Option<&str>,
) -> Result<ResolvedRef, SourceError> {
    let remote = Remote::of(location);
    if let Some(r) = git_ref
        && is_commit_id(r)
    {
        // Checked when fetched: ls-remote only lists ref tips.
        return Ok(ResolvedRef {
            commit: r.to_lowercase(),
            ref_name: r.to_lowercase(),
        });
    }
    let patterns: Vec<String> = match git_ref {
        None => vec!["HEAD".into()],
        Some(r) if r.starts_with("refs/") => vec![r.to_string(), format!("{r}^{{}}")],
        Some(r) => vec![
            format!("refs/heads/{r}"),
            format!("refs/tags/{r}"),
            format!("refs/tags/{r}^{{}}"),
        ],
    };
    let mut args = vec!["ls-remote", "--", remote.url.as_str()];
    args.extend(patterns.iter().map(String::as_str));
    let out = git("ls-remote", None, &args, Some(&remote), true, &[]).await?;
    if !out.ok {
        return Err(SourceError::Unreachable {
            url: location.redacted(),
            detail: detail(&out.stderr, location),
        });
    }
    let listed = out.text();
    let refs: Vec<(&str, &str)> = listed.lines().filter_map(|l| l.split_once('\t')).collect();
    // Preference: the order of `patterns`, and a peeled tag (^{}) over the tag object.
    let find = |name: &str| {
        refs.iter()
            .find(|(_, n)| *n == name)
            .map(|(c, _)| c.to_string())
    };
    let pick = match git_ref {
        None => find("HEAD").map(|c| (c, "HEAD".to_string())),
        Some(_) => {
            let heads = &patterns[0];
            let (tag, peeled) = if patterns.len() == 3 {
                (&patterns[1], &patterns[2])
            } else {
                (&patterns[0], &patterns[1])
            };
            find(heads)
                .map(|c| (c, heads.clone()))
                .or_else(|| find(peeled).map(|c| (c, tag.clone())))
                .or_else(|| find(tag).map(|c| (c, tag.clone())))
        }
    };
    match pick {
        Some((commit, ref_name)) => Ok(ResolvedRef { commit, ref_name }),
        None => Err(SourceError::UnknownRef {
            url: location.redacted(),
            git_ref: git_ref.unwrap_or("HEAD").to_string(),
        }),
    }
}

/// The git tree id of `path` (relative, `.` for the root) in the checkout
/// `dir`'s HEAD: a hash of exactly the files under it, so it is the same
/// for two commits that did not touch the directory.
pub async fn tree_id(dir: &Path, path: &str) -> Result<String, SourceError> {
    tree_id_in(Some(dir), &[], "HEAD", path)
        .await?
        .ok_or_else(|| SourceError::Git {
            action: "rev-parse",
            url: dir.display().to_string(),
            detail: format!("{path} is not a directory of the checkout"),
        })
}

/// When `rev` of the checkout `dir` was committed (seconds since the
/// epoch): a build's `SOURCE_DATE_EPOCH`, the one time its image carries.
pub async fn commit_time(dir: &Path, rev: &str) -> Result<i64, SourceError> {
    commit_time_in(Some(dir), &[], rev, &dir.display().to_string()).await
}

async fn commit_time_in(
    dir: Option<&Path>,
    git_dir: &[&str],
    rev: &str,
    shown: &str,
) -> Result<i64, SourceError> {
    let mut args = git_dir.to_vec();
    let spec = format!("{rev}^{{commit}}");
    args.extend(["show", "-s", "--format=%ct", &spec]);
    let out = git("show", dir, &args, None, false, &[]).await?;
    let text = out.text();
    out.ok
        .then(|| text.trim().parse::<i64>().ok())
        .flatten()
        .ok_or_else(|| SourceError::Git {
            action: "show",
            url: shown.to_string(),
            detail: format!(
                "cannot read the commit time of {rev}: {}",
                if out.ok {
                    text.trim()
                } else {
                    out.stderr.trim()
                }
            ),
        })
}

/// `git-tree:<id>` of `path` in `rev` (git run in `dir` with `git_dir`
/// arguments), or `None` when the revision has no such path. A checkout
/// and a mirror give the same string for the same commit.
async fn tree_id_in(
    dir: Option<&Path>,
    git_dir: &[&str],
    rev: &str,
    path: &str,
) -> Result<Option<String>, SourceError> {
    let spec = if path == "." || path.is_empty() {
        format!("{rev}^{{tree}}")
    } else {
        format!("{rev}:{path}")
    };
    let mut args = git_dir.to_vec();
    args.extend(["rev-parse", "--verify", "-q", &spec]);
    let out = git("rev-parse", dir, &args, None, false, &[]).await?;
    let id = out.text();
    let id = id.trim();
    Ok((out.ok && !id.is_empty()).then(|| format!("git-tree:{id}")))
}

/// Why a fetch of `commit` failed, from git's stderr.
fn fetch_error(stderr: &str, location: &SourceLocation, commit: &str) -> SourceError {
    let d = detail(stderr, location);
    if d.contains("not our ref")
        || d.contains("couldn't find remote ref")
        || d.contains("no such remote ref")
    {
        return SourceError::UnknownCommit {
            url: location.redacted(),
            commit: commit.to_string(),
        };
    }
    SourceError::Git {
        action: "fetch",
        url: location.redacted(),
        detail: d,
    }
}

/// Fetch exactly `commit` (depth 1) into the empty or missing directory
/// `dest` and check it out, with submodules.
pub async fn fetch(
    location: &SourceLocation,
    commit: &str,
    dest: &Path,
) -> Result<(), SourceError> {
    let remote = Remote::of(location);
    let shown = location.redacted();
    tokio::fs::create_dir_all(dest)
        .await
        .map_err(SourceError::Spawn)?;
    let step = |action: &'static str, out: GitOutput| -> Result<(), SourceError> {
        if out.ok {
            Ok(())
        } else {
            Err(SourceError::Git {
                action,
                url: shown.clone(),
                detail: detail(&out.stderr, location),
            })
        }
    };
    let local = |action: &'static str, args: &'static [&'static str]| {
        git(action, Some(dest), args, None, false, &[])
    };
    step("init", local("init", &["init", "-q"]).await?)?;
    // The URL without credentials: .git/config keeps no secret.
    step(
        "remote add",
        git(
            "remote add",
            Some(dest),
            &["remote", "add", "origin", "--", &remote.url],
            None,
            false,
            &[],
        )
        .await?,
    )?;
    // --progress: a healthy transfer keeps printing, so only a stalled one
    // meets the no-progress timeout.
    let out = git(
        "fetch",
        Some(dest),
        &[
            "fetch",
            "--progress",
            "--depth",
            "1",
            "--no-tags",
            "origin",
            commit,
        ],
        Some(&remote),
        true,
        &[],
    )
    .await?;
    if !out.ok {
        return Err(fetch_error(&out.stderr, location, commit));
    }
    step(
        "checkout",
        local(
            "checkout",
            &[
                "-c",
                "advice.detachedHead=false",
                "checkout",
                "-q",
                "--detach",
                "FETCH_HEAD",
            ],
        )
        .await?,
    )?;
    // Submodules only when there are any (the command is a shell script
    // that costs a fork storm even with nothing to do).
    if tokio::fs::try_exists(dest.join(".gitmodules"))
        .await
        .unwrap_or(true)
    {
        let out = git(
            "submodule update",
            Some(dest),
            &[
                "submodule",
                "update",
                "-q",
                "--init",
                "--recursive",
                "--depth",
                "1",
            ],
            Some(&remote),
            true,
            &[],
        )
        .await?;
        step("submodule update", out)?;
    }
    Ok(())
}
