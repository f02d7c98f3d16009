//! Reading a few files of a commit without checking it out: one `ls-tree`
//! per directory on the way, one `cat-file` per file.

use super::{Mirror, io};
use crate::SourceError;
use std::collections::HashMap;
use std::path::Path;

/// Files bigger than this are not read through the mirror alone.
const SMALL_FILE: u64 = 8 << 20;

/// What a path names in a commit.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Entry {
    File {
        id: String,
        executable: bool,
        size: u64,
    },
    Dir,
    /// A symlink or a submodule: only a full checkout can tell where it
    /// leads.
    Link,
    Missing,
}

impl Mirror {
    /// Write only `paths` (relative files) of `commit` into `dest`, with
    /// the directories that lead to them, for reading without a checkout.
    /// A path that does not exist is left out. False when a path goes
    /// through a symlink or a submodule, or is not plainly relative: only a
    /// full checkout reads those the way a build would.
    pub async fn checkout_files(
        &self,
        commit: &str,
        dest: &Path,
        paths: &[String],
    ) -> Result<bool, SourceError> {
        let mut listed: HashMap<String, HashMap<String, Entry>> = HashMap::new();
        let mut wanted = Vec::new();
        for p in paths {
            let Some(parts) = plain_parts(p) else {
                return Ok(false);
            };
            match self.entry(commit, &parts, &mut listed).await? {
                // A big file is left to a checkout, which writes it to disk
                // instead of holding it in memory.
                Entry::Link => return Ok(false),
                Entry::File { size, .. } if size > SMALL_FILE => return Ok(false),
                Entry::Missing => {}
                e => wanted.push((parts.join("/"), e)),
            }
        }
        tokio::fs::create_dir_all(dest)
            .await
            .map_err(|e| io("write the checkout", e))?;
        // The directories on the way exist in the commit: make them, so a
        // missing file reads as missing, not as a missing directory.
        for dir in listed.keys().filter(|d| !d.is_empty()) {
            tokio::fs::create_dir_all(dest.join(dir))
                .await
                .map_err(|e| io("write the checkout", e))?;
        }
        for (path, entry) in wanted {
            let target = dest.join(&path);
            match entry {
                Entry::Dir => tokio::fs::create_dir_all(&target)
                    .await
                    .map_err(|e| io("write the checkout", e))?,
                Entry::File { id, executable, .. } => {
                    let out = self
                        .local("cat-file", &["cat-file", "blob", &id], &[])
                        .await?;
                    if !out.ok {
                        return Err(self.fail("cat-file", &out.stderr));
                    }
                    tokio::fs::write(&target, out.stdout)
                        .await
                        .map_err(|e| io("write the checkout", e))?;
                    if executable {
                        use std::os::unix::fs::PermissionsExt;
                        tokio::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o755))
                            .await
                            .map_err(|e| io("write the checkout", e))?;
                    }
                }
                Entry::Link | Entry::Missing => {}
            }
        }
        Ok(true)
    }

    /// What `parts` names in `commit`, walking one directory listing at a
    /// time (each listed once per call, in `listed`, keyed by its path).
    async fn entry(
        &self,
        commit: &str,
        parts: &[&str],
        listed: &mut HashMap<String, HashMap<String, Entry>>,
    ) -> Result<Entry, SourceError> {
        let mut dir = String::new();
        for (i, part) in parts.iter().enumerate() {
            if !listed.contains_key(&dir) {
                let children = self.list(commit, &dir).await?;
                listed.insert(dir.clone(), children);
            }
            let found = listed[&dir].get(*part).cloned().unwrap_or(Entry::Missing);
            let last = i + 1 == parts.len();
            match found {
                Entry::Dir if !last => {
                    if !dir.is_empty() {
                        dir.push('/');
                    }
                    dir.push_str(part);
                }
                // A file on the way: the path does not exist.
                Entry::File { .. } if !last => return Ok(Entry::Missing),
                e => return Ok(e),
            }
        }
        Ok(Entry::Dir)
    }

    /// The entries of the directory `dir` ("" for the root) of `commit`.
    async fn list(&self, commit: &str, dir: &str) -> Result<HashMap<String, Entry>, SourceError> {
        let spec = format!("{commit}:{dir}");
        let out = self
            .local("ls-tree", &["ls-tree", "-l", "-z", &spec], &[])
            .await?;
        if !out.ok {
            return Err(self.fail("ls-tree", &out.stderr));
        }
        Ok(out
            .text()
            .split('\0')
            .filter_map(|line| {
                let (meta, name) = line.split_once('\t')?;
                let mut f = meta.split_whitespace();
                let (mode, _kind, id, size) = (f.next()?, f.next()?, f.next()?, f.next()?);
                let entry = match mode {
                    "040000" => Entry::Dir,
                    "100644" | "100755" => Entry::File {
                        id: id.to_string(),
                        executable: mode == "100755",
                        size: size.parse().unwrap_or(u64::MAX),
                    },
                    _ => Entry::Link,
                };
                Some((name.to_string(), entry))
            })
            .collect())
    }
}

/// The components of a plain relative path (`.` and empty ones dropped),
/// or `None` for an absolute one or one with `..`.
fn plain_parts(path: &str) -> Option<Vec<&str>> {
    if path.starts_with('/') {
        return None;
    }
    let parts: Vec<&str> = path
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    (!parts.contains(&"..") && !parts.is_empty()).then_some(parts)
}

#[cfg(test)]
mod tests {
    use super::plain_parts;

    #[test]
    fn only_plain_relative_paths_are_read_alone() {
        assert_eq!(
            plain_parts("./ctx//Dockerfile"),
            Some(vec!["ctx", "Dockerfile"])
        );
        assert_eq!(plain_parts("ctx/../x"), None);
        assert_eq!(plain_parts("/etc/passwd"), None);
        assert_eq!(plain_parts("."), None);
    }
}
