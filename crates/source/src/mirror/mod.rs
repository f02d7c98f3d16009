//! One persistent bare mirror per source: each commit a build needs is
//! fetched into it once (depth 1), and every later read is local: the
//! files preparation reads, the context's tree id, the checkout a local
//! worker builds from.
//!
//! A mirror is keyed by the scope (the project), the URL without
//! credentials and the credentials, through a salted hash: two projects
//! that name one URL, or two configs with different credentials for it,
//! never read each other's fetched objects, and the directory name says
//! nothing about the password. Each fetch names the URL without
//! credentials; they reach it only through git's environment, as in
//! [`crate::fetch`], and no mirror file holds them.
//!
//! Concurrency: fetches into one mirror take its lock (git's own
//! `shallow.lock` and ref locks would otherwise make a second fetch fail);
//! reads take none (a fetch only adds packs, by rename). Automatic `gc` is
//! off, so no read ever races a repack; one process owns the data
//! directory, so lock files left by a crash are removed when a mirror is
//! first opened.

mod files;

use crate::{Remote, SourceError, detail, git};
use sha2::{Digest, Sha256};
use slipway_core::build::source::{SourceLocation, is_commit_id};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The mirrors under one directory (`<data-dir>/git`).
#[derive(Debug)]
pub struct Mirrors {
    root: PathBuf,
    salt: tokio::sync::OnceCell<Vec<u8>>,
    /// Per mirror: its fetch lock, holding whether this process has
    /// opened it (initialised, stale locks removed).
    locks: Mutex<HashMap<PathBuf, Arc<tokio::sync::Mutex<bool>>>>,
}

/// One source's mirror.
#[derive(Debug, Clone)]
pub struct Mirror {
    dir: PathBuf,
    location: SourceLocation,
    lock: Arc<tokio::sync::Mutex<bool>>,
}

/// The file whose modification time says when a mirror was last used.
const USED: &str = "slipway-used";

/// The ref naming the newest commit fetched into a mirror.
const FETCHED_REF: &str = "refs/slipway/fetched";

impl Mirrors {
    pub fn new(root: impl Into<PathBuf>) -> Mirrors {
        Mirrors {
            root: root.into(),
            salt: tokio::sync::OnceCell::new(),
            locks: Mutex::new(HashMap::new()),
        }
    }

    /// The mirror of `location` for `scope` (a project), made when missing.
    pub async fn open(
        &self,
        location: &SourceLocation,
        scope: &str,
    ) -> Result<Mirror, SourceError> {
        let remote = Remote::of(location);
        let salt = self.salt.get_or_try_init(|| self.salt()).await?;
        let mut h = Sha256::new();
        for part in [
            scope,
            remote.url.as_str(),
            remote.creds.as_ref().map_or("", |c| c.username.as_str()),
            remote.creds.as_ref().map_or("", |c| c.password.as_str()),
        ] {
            h.update((part.len() as u64).to_le_bytes());
            h.update(part);
        }
        h.update(salt);
        let name = hex::encode(&h.finalize()[..16]);
        let dir = self.root.join(format!("{name}.git"));
        let lock = self.lock_of(&dir).ok_or_else(poisoned)?;
        let mirror = Mirror {
            dir,
            location: location.clone(),
            lock,
        };
        let mut opened = mirror.lock.lock().await;
        if !*opened {
            mirror.init().await?;
            *opened = true;
        }
        // When it was last used: what `prune_unused` goes by.
        let used = mirror.dir.join(USED);
        let _ = tokio::task::spawn_blocking(move || {
            std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&used)
                .and_then(|f| f.set_modified(std::time::SystemTime::now()))
        })
        .await;
        drop(opened);
        Ok(mirror)
    }

    /// Remove the mirrors no build has used for `unused` (and what a crash
    /// left of one being made); the paths removed. A mirror is removed
    /// under its lock, so a build opening it meanwhile waits and then makes
    /// it again.
    pub async fn prune_unused(&self, unused: std::time::Duration) -> Vec<PathBuf> {
        let Ok(mut entries) = tokio::fs::read_dir(&self.root).await else {
            return Vec::new();
        };
        let now = std::time::SystemTime::now();
        let age = |p: &Path| {
            std::fs::metadata(p)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| now.duration_since(t).ok())
        };
        let mut removed = Vec::new();
        while let Ok(Some(e)) = entries.next_entry().await {
            let path = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            if name.contains(".new-") {
                if age(&path).is_some_and(|a| a > std::time::Duration::from_secs(3600))
                    && tokio::fs::remove_dir_all(&path).await.is_ok()
                {
                    removed.push(path);
                }
                continue;
            }
            if !name.ends_with(".git") {
                continue;
            }
            let Some(lock) = self.lock_of(&path) else {
                continue;
            };
            let mut opened = lock.lock().await;
            let last = age(&path.join(USED)).or_else(|| age(&path));
            if last.is_some_and(|a| a > unused) && tokio::fs::remove_dir_all(&path).await.is_ok() {
                *opened = false;
                removed.push(path);
            }
        }
        removed
    }

    /// The lock of the mirror at `dir` (`None` if the table is poisoned).
    fn lock_of(&self, dir: &Path) -> Option<Arc<tokio::sync::Mutex<bool>>> {
        let mut locks = self.locks.lock().ok()?;
        Some(locks.entry(dir.to_path_buf()).or_default().clone())
    }

    /// This directory's random salt for mirror names (made on first use,
    /// readable by the owner only).
    async fn salt(&self) -> Result<Vec<u8>, SourceError> {
        let path = self.root.join("salt");
        match tokio::fs::read(&path).await {
            Ok(s) if s.len() == 32 => return Ok(s),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io("read the mirrors' salt", e)),
        }
        create_private_dir(&self.root).await?;
        let salt: [u8; 32] = rand::random();
        let tmp = self.root.join(format!(
            "salt.{}.tmp",
            hex::encode(rand::random::<[u8; 8]>())
        ));
        write_private(&tmp, &salt).await?;
        // Two servers cannot share a data dir; a stale salt of the wrong
        // size is replaced.
        tokio::fs::rename(&tmp, &path)
            .await
            .map_err(|e| io("write the mirrors' salt", e))?;
        Ok(salt.to_vec())
    }
}

fn io(what: &str, error: std::io::Error) -> SourceError {
    SourceError::Mirror {
        what: what.to_string(),
        error,
    }
}

fn poisoned() -> SourceError {
    io(
        "lock",
        std::io::Error::other("the mirror lock table is poisoned"),
    )
}

async fn create_private_dir(dir: &Path) -> Result<(), SourceError> {
    let dir = dir.to_path_buf();
    tokio::task::spawn_blocking(move || {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
    })
    .await
    .map_err(|e| io("make a directory", std::io::Error::other(e)))?
    .map_err(|e| io("make a directory", e))
}

async fn write_private(path: &Path, bytes: &[u8]) -> Result<(), SourceError> {
    use tokio::io::AsyncWriteExt;
    let mut f = tokio::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .await
        .map_err(|e| io("write a file", e))?;
    f.write_all(bytes)
        .await
        .map_err(|e| io("write a file", e))?;
    f.flush().await.map_err(|e| io("write a file", e))
}

impl Mirror {
    pub fn path(&self) -> &Path {
        &self.dir
    }

    fn fail(&self, action: &'static str, stderr: &str) -> SourceError {
        SourceError::Git {
            action,
            url: self.location.redacted(),
            detail: detail(stderr, &self.location),
        }
    }

    /// Run git on the mirror (no network, no credentials).
    async fn local(
        &self,
        action: &'static str,
        args: &[&str],
        envs: &[(&str, &Path)],
    ) -> Result<crate::GitOutput, SourceError> {
        let mut all = vec!["--git-dir", path_str(&self.dir)?];
        all.extend_from_slice(args);
        git(action, None, &all, None, false, envs).await
    }

    /// Make the bare repository if it is missing (in a temporary directory
    /// renamed into place, so a crash never leaves half a mirror), and
    /// remove lock files a crashed fetch left. Its config stays git's
    /// default: the URL (without credentials) and the settings a fetch
    /// needs are given to each fetch, and `description` names the source
    /// for a person looking.
    async fn init(&self) -> Result<(), SourceError> {
        if tokio::fs::try_exists(self.dir.join("HEAD"))
            .await
            .unwrap_or(false)
        {
            for stale in [
                "shallow.lock",
                "packed-refs.lock",
                "config.lock",
                "HEAD.lock",
            ] {
                let _ = tokio::fs::remove_file(self.dir.join(stale)).await;
            }
            return Ok(());
        }
        let parent = self.dir.parent().unwrap_or(Path::new("."));
        create_private_dir(parent).await?;
        let tmp = self
            .dir
            .with_extension(format!("new-{}", hex::encode(rand::random::<[u8; 8]>())));
        let tmp_str = path_str(&tmp)?;
        let out = git(
            "init",
            None,
            &["init", "-q", "--bare", "--", tmp_str],
            None,
            false,
            &[],
        )
        .await?;
        if !out.ok {
            let _ = tokio::fs::remove_dir_all(&tmp).await;
            return Err(self.fail("init", &out.stderr));
        }
        let _ = tokio::fs::write(
            tmp.join("description"),
            format!("Slipway's mirror of {}\n", self.location.redacted()),
        )
        .await;
        tokio::fs::rename(&tmp, &self.dir)
            .await
            .map_err(|e| io("move a new mirror into place", e))
    }

    async fn has_commit(&self, commit: &str) -> Result<bool, SourceError> {
        let spec = format!("{commit}^{{commit}}");
        Ok(self
            .local("cat-file", &["cat-file", "-e", &spec], &[])
            .await?
            .ok)
    }

    /// Make sure `commit` is in the mirror: a shallow fetch of exactly it
    /// when it is not (the only network call), none when it is.
    pub async fn ensure_commit(&self, commit: &str) -> Result<(), SourceError> {
        if !is_commit_id(commit) {
            return Err(SourceError::UnknownCommit {
                url: self.location.redacted(),
                commit: commit.to_string(),
            });
        }
        if self.has_commit(commit).await? {
            return Ok(());
        }
        let _fetching = self.lock.lock().await;
        // Another build may have fetched it while this one waited.
        if self.has_commit(commit).await? {
            return Ok(());
        }
        let remote = Remote::of(&self.location);
        let dir = path_str(&self.dir)?;
        // The one ref: the newest commit fetched. Refs are what a fetch
        // tells the server it has, so the next commit comes as what changed
        // since, not as a whole tree again; earlier commits stay (no gc).
        let refspec = format!("+{commit}:{FETCHED_REF}");
        let out = git(
            "fetch",
            None,
            &[
                "--git-dir",
                dir,
                // No automatic gc (no read races a repack); the fetch kept
                // as one pack, not a file per object.
                "-c",
                "gc.auto=0",
                "-c",
                "maintenance.auto=false",
                "-c",
                "fetch.unpackLimit=1",
                "fetch",
                "--progress",
                "--depth",
                "1",
                "--no-tags",
                "--no-write-fetch-head",
                "--",
                remote.url.as_str(),
                &refspec,
            ],
            Some(&remote),
            true,
            &[],
        )
        .await?;
        if !out.ok {
            return Err(crate::fetch_error(&out.stderr, &self.location, commit));
        }
        Ok(())
    }

    /// The git tree id of `path` (relative, `.` for the root) in `commit`:
    /// the same string [`crate::tree_id`] gives for a checkout of it.
    pub async fn tree_id(&self, commit: &str, path: &str) -> Result<String, SourceError> {
        crate::tree_id_in(None, &["--git-dir", path_str(&self.dir)?], commit, path)
            .await?
            .ok_or_else(|| SourceError::Git {
                action: "rev-parse",
                url: self.location.redacted(),
                detail: format!("{path} is not a directory of commit {commit}"),
            })
    }

    /// When `commit` (fetched before) was committed, seconds since the epoch.
    pub async fn commit_time(&self, commit: &str) -> Result<i64, SourceError> {
        crate::commit_time_in(
            None,
            &["--git-dir", path_str(&self.dir)?],
            commit,
            &self.location.redacted(),
        )
        .await
    }

    /// Write `commit` (fetched before) into the empty or missing directory
    /// `dest`, for a build or for reading: only the files `only` names when
    /// given and they allow it ([`Mirror::checkout_files`]), else the whole
    /// tree ([`Mirror::checkout`]); a commit with submodules is cloned with
    /// them ([`crate::fetch`]). True when it was cloned.
    pub async fn write_tree(
        &self,
        commit: &str,
        dest: &Path,
        only: Option<&[String]>,
    ) -> Result<bool, SourceError> {
        if let Some(paths) = only
            && self.checkout_files(commit, dest, paths).await?
        {
            return Ok(false);
        }
        if self.checkout(commit, dest).await? {
            return Ok(false);
        }
        crate::fetch(&self.location, commit, dest).await?;
        Ok(true)
    }

    /// Write the whole tree of `commit` (fetched before) into the empty or
    /// missing directory `dest`, without a `.git` (as BuildKit gives a git
    /// context). False, writing nothing, when the commit has submodules:
    /// those need a real clone ([`crate::fetch`]).
    pub async fn checkout(&self, commit: &str, dest: &Path) -> Result<bool, SourceError> {
        let gitmodules = format!("{commit}:.gitmodules");
        if self
            .local("cat-file", &["cat-file", "-e", &gitmodules], &[])
            .await?
            .ok
        {
            return Ok(false);
        }
        tokio::fs::create_dir_all(dest)
            .await
            .map_err(|e| io("write the checkout", e))?;
        // A private index beside `dest`: the mirror's own is never touched,
        // so checkouts run side by side.
        let index = dest.with_extension("index");
        let out = self
            .local(
                "checkout",
                &[
                    "--work-tree",
                    path_str(dest)?,
                    "read-tree",
                    "-u",
                    "--reset",
                    commit,
                ],
                &[("GIT_INDEX_FILE", &index)],
            )
            .await;
        let _ = tokio::fs::remove_file(&index).await;
        let out = out?;
        if !out.ok {
            return Err(self.fail("checkout", &out.stderr));
        }
        Ok(true)
    }
}

fn path_str(p: &Path) -> Result<&str, SourceError> {
    p.to_str().ok_or_else(|| {
        io(
            "use a path",
            std::io::Error::other(format!("{} is not a UTF-8 path", p.display())),
        )
    })
}
