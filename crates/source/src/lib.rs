//! Git sources: resolve a ref to a commit, fetch exactly that commit with
//! depth 1.
//!
//! We shell out to the system `git` (Debian's): it brings every transport,
//! credential helpers, SSH and LFS for free, and its errors are the ones users
//! already know. Every call runs with `GIT_TERMINAL_PROMPT=0` so a source that
//! wants a password fails at once instead of hanging, and with a time limit.
//!
//! Architecture invariant: user-given strings (URL, ref) reach git only after
//! `slipway_core::build::source` validated them, and always after a `--` or as values
//! of options, never as options themselves.

use slipway_core::build::source::{SourceLocation, is_commit_id};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use tokio::process::Command;

/// How long one git command may take.
const GIT_TIMEOUT: Duration = Duration::from_secs(600);

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
    #[error("git {0} took longer than {1:?}")]
    Timeout(&'static str, Duration),
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
    stdout: String,
    stderr: String,
}

async fn git(
    action: &'static str,
    dir: Option<&Path>,
    args: &[&str],
) -> Result<GitOutput, SourceError> {
    let mut cmd = Command::new("git");
    cmd.args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_ASKPASS", "/bin/true")
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    if let Some(d) = dir {
        cmd.current_dir(d);
    }
    let out = tokio::time::timeout(GIT_TIMEOUT, cmd.output())
        .await
        .map_err(|_| SourceError::Timeout(action, GIT_TIMEOUT))?
        .map_err(SourceError::Spawn)?;
    Ok(GitOutput {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
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
    let url = location.git_url();
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
    let mut args = vec!["ls-remote", "--", url.as_str()];
    args.extend(patterns.iter().map(String::as_str));
    let out = git("ls-remote", None, &args).await?;
    if !out.ok {
        return Err(SourceError::Unreachable {
            url: location.redacted(),
            detail: detail(&out.stderr, location),
        });
    }
    let refs: Vec<(&str, &str)> = out
        .stdout
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .collect();
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
    let spec = if path == "." || path.is_empty() {
        "HEAD^{tree}".to_string()
    } else {
        format!("HEAD:{path}")
    };
    let out = git(
        "rev-parse",
        Some(dir),
        &["rev-parse", "--verify", "-q", &spec],
    )
    .await?;
    let id = out.stdout.trim();
    if out.ok && !id.is_empty() {
        Ok(format!("git-tree:{id}"))
    } else {
        Err(SourceError::Git {
            action: "rev-parse",
            url: dir.display().to_string(),
            detail: format!("{path} is not a directory of the checkout"),
        })
    }
}

/// Fetch exactly `commit` (depth 1) into the empty or missing directory
/// `dest` and check it out, with submodules.
pub async fn fetch(
    location: &SourceLocation,
    commit: &str,
    dest: &Path,
) -> Result<(), SourceError> {
    let url = location.git_url();
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
    step("init", git("init", Some(dest), &["init", "-q"]).await?)?;
    step(
        "remote add",
        git(
            "remote add",
            Some(dest),
            &["remote", "add", "origin", "--", &url],
        )
        .await?,
    )?;
    let out = git(
        "fetch",
        Some(dest),
        &["fetch", "-q", "--depth", "1", "--no-tags", "origin", commit],
    )
    .await?;
    if !out.ok {
        let d = detail(&out.stderr, location);
        if d.contains("not our ref")
            || d.contains("couldn't find remote ref")
            || d.contains("no such remote ref")
        {
            return Err(SourceError::UnknownCommit {
                url: shown,
                commit: commit.to_string(),
            });
        }
        return Err(SourceError::Git {
            action: "fetch",
            url: shown,
            detail: d,
        });
    }
    step(
        "checkout",
        git(
            "checkout",
            Some(dest),
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
    )
    .await?;
    step("submodule update", out)
}
