//! What a server that died (SIGKILL, OOM, power) leaves behind, removed at
//! the next start, before any build runs:
//!
//! - processes of its builds: anything whose command line names this data
//!   dir's buildah storage or whose working directory is inside its work
//!   dir (an orphaned `buildah`, `skopeo`, `git`, `slipway worker`, or a
//!   RUN step that outlived them). RUN steps normally die with their PID
//!   namespace; this catches whatever did not.
//! - buildah's working containers (each a full copy of a root filesystem)
//!   and the local images and manifest lists builds make, in this data
//!   dir's storage;
//! - work dirs (checkouts, scan scratch space) and token files.
//!
//! Nothing of a running build can be hit: at start there is none, and
//! every queued or re-queued build starts from a fresh work dir.

use slipway_builder::Buildah;
use std::path::Path;

/// What was cleaned, for the log.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Cleaned {
    pub processes: usize,
    pub containers: usize,
    pub images: usize,
    pub work_entries: usize,
}

impl Cleaned {
    pub fn is_empty(&self) -> bool {
        *self == Cleaned::default()
    }
}

impl std::fmt::Display for Cleaned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} orphaned processes killed, {} buildah containers and {} local images removed, {} work dirs and token files deleted",
            self.processes, self.containers, self.images, self.work_entries
        )
    }
}

/// Clean up after the previous run of a server on `data_dir`.
pub async fn after_last_run(data_dir: &Path, work_dir: &Path, buildah: &Buildah) -> Cleaned {
    let storage = data_dir.join("buildah/storage");
    let processes = kill_orphans(&storage, work_dir).await;
    let (containers, images) = buildah.remove_leftovers().await;
    let work_entries = empty_dir(work_dir);
    Cleaned {
        processes,
        containers,
        images,
        work_entries,
    }
}

/// The processes that belong to builds of this data dir (other than this
/// process): their command line names `storage` or their working
/// directory is under `work_dir`.
pub fn orphans(storage: &Path, work_dir: &Path) -> Vec<i32> {
    let me = std::process::id();
    let storage = storage.display().to_string();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in entries.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        if pid == me {
            continue;
        }
        let dir = e.path();
        let cmdline = std::fs::read(dir.join("cmdline")).unwrap_or_default();
        let names_storage = cmdline
            .split(|b| *b == 0)
            .any(|arg| String::from_utf8_lossy(arg).contains(&storage));
        let in_work =
            std::fs::read_link(dir.join("cwd")).is_ok_and(|cwd| cwd.starts_with(work_dir));
        if (names_storage || in_work)
            && let Ok(pid) = i32::try_from(pid)
        {
            out.push(pid);
        }
    }
    out
}

async fn kill_orphans(storage: &Path, work_dir: &Path) -> usize {
    let found = orphans(storage, work_dir);
    for &pid in &found {
        // SAFETY: kill(2) has no memory-safety preconditions; the pid was
        // just read from /proc and belongs to a build of this data dir.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
        }
        tracing::warn!("killed orphaned build process {pid}");
    }
    if !found.is_empty() {
        // Let the kernel reap them before their files are removed.
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    found.len()
}

/// Remove everything inside `dir` (not `dir` itself); how many entries.
fn empty_dir(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut n = 0;
    for e in entries.flatten() {
        let p = e.path();
        let removed = if p.is_dir() && !p.is_symlink() {
            std::fs::remove_dir_all(&p)
        } else {
            std::fs::remove_file(&p)
        };
        match removed {
            Ok(()) => n += 1,
            Err(err) => tracing::warn!("cannot remove {}: {err}", p.display()),
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_processes_by_storage_or_work_dir() {
        let d = tempfile::tempdir().unwrap();
        let storage = d.path().join("buildah/storage");
        let work = d.path().join("work");
        std::fs::create_dir_all(work.join("7-x86_64")).unwrap();
        let mut by_arg = std::process::Command::new("sh")
            .args(["-c", "sleep 30", "sh"])
            .arg(storage.display().to_string())
            .spawn()
            .unwrap();
        let mut by_cwd = std::process::Command::new("sleep")
            .arg("30")
            .current_dir(work.join("7-x86_64"))
            .spawn()
            .unwrap();
        let mut other = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        // A child is seen only once it has exec'd (before, /proc shows
        // this test's own command line).
        for c in [&by_arg, &by_cwd, &other] {
            let cmdline = format!("/proc/{}/cmdline", c.id());
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
            while !std::fs::read(&cmdline)
                .is_ok_and(|b| b.starts_with(b"sh\0") || b.starts_with(b"sleep\0"))
                && std::time::Instant::now() < deadline
            {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
        }
        let found = orphans(&storage, &work);
        let id = |c: &std::process::Child| i32::try_from(c.id()).unwrap();
        assert!(found.contains(&id(&by_arg)), "{found:?}");
        assert!(found.contains(&id(&by_cwd)), "{found:?}");
        assert!(!found.contains(&id(&other)));
        for c in [&mut by_arg, &mut by_cwd, &mut other] {
            let _ = c.kill();
            let _ = c.wait();
        }
        assert_eq!(empty_dir(&work), 1);
        assert!(work.exists() && std::fs::read_dir(&work).unwrap().next().is_none());
    }
}
