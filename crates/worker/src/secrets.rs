//! Build secrets as files: the values of the secrets the Dockerfile
//! mounts (`RUN --mount=type=secret,id=NAME`) or `slipway.yaml` gives the
//! prebuild and test commands (`secrets:`), fetched from the host for the
//! build's project only, written to files of their own (0600, in a 0700
//! directory of the work dir, removed when the step ends), and masked in
//! the build log.

use crate::WorkerHost;
use slipway_builder::LogSink;
use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// The secret files of one build; removed on drop.
pub struct SecretFiles {
    dir: PathBuf,
    pub files: Vec<(String, PathBuf)>,
    /// What the log must never show.
    pub needles: Vec<String>,
}

impl SecretFiles {
    /// The directory holding the files, when there are any.
    pub fn dir(&self) -> Option<&Path> {
        (!self.files.is_empty()).then_some(self.dir.as_path())
    }
}

impl Drop for SecretFiles {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Fetch the secrets `ids` and write them into `dir`, which must not
/// exist yet (none: nothing to do).
pub async fn prepare(
    host: &dyn WorkerHost,
    ids: &[String],
    dir: &Path,
) -> Result<SecretFiles, String> {
    let dir = dir.to_path_buf();
    let mut out = SecretFiles {
        dir: dir.clone(),
        files: Vec::new(),
        needles: Vec::new(),
    };
    if ids.is_empty() {
        return Ok(out);
    }
    let values: BTreeMap<String, Vec<u8>> = host.secrets(ids).await?;
    std::fs::DirBuilder::new()
        .mode(0o700)
        .recursive(true)
        .create(&dir)
        .map_err(|e| format!("cannot make {}: {e}", dir.display()))?;
    for (id, value) in &values {
        let path = dir.join(id);
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .and_then(|mut f| f.write_all(value))
            .map_err(|e| format!("cannot write secret {id}: {e}"))?;
        out.files.push((id.clone(), path));
        out.needles.extend(needles(value));
    }
    Ok(out)
}

/// The strings a log must not show of `value`: all of it, and each of
/// its lines (at least 4 characters: shorter ones would mask everything).
fn needles(value: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(value);
    let mut out: Vec<String> = std::iter::once(text.trim())
        .chain(text.lines().map(str::trim))
        .filter(|s| s.len() >= 4)
        .map(str::to_string)
        .collect();
    out.sort_by_key(|s| std::cmp::Reverse(s.len()));
    out.dedup();
    out
}

/// A log sink that masks secret values as `***`.
pub struct Masking<'a> {
    pub inner: &'a dyn LogSink,
    pub needles: &'a [String],
}

impl LogSink for Masking<'_> {
    fn line(&self, text: &str) {
        if self.needles.iter().any(|n| text.contains(n.as_str())) {
            let mut masked = text.to_string();
            for n in self.needles {
                masked = masked.replace(n.as_str(), "***");
            }
            self.inner.line(&masked);
        } else {
            self.inner.line(text);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[derive(Default)]
    struct Lines(Mutex<Vec<String>>);
    impl LogSink for Lines {
        fn line(&self, text: &str) {
            self.0.lock().unwrap().push(text.to_string());
        }
    }

    #[test]
    fn values_and_their_lines_are_masked() {
        let n = needles(b"user=bob\npassword=hunter22\nx\n");
        let lines = Lines::default();
        let m = Masking {
            inner: &lines,
            needles: &n,
        };
        m.line("got password=hunter22 and user=bob, x stays");
        m.line("nothing here");
        assert_eq!(
            *lines.0.lock().unwrap(),
            ["got *** and ***, x stays", "nothing here"]
        );
    }
}
