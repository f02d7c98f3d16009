//! An image's filesystem as its layers describe it, without running it
//! and without writing it anywhere.
//!
//! Each layer is read once ([`crate::layers`]), in parallel and from the
//! layer cache when it was read before; their descriptions are applied in
//! order to an in-memory file table, with the OCI whiteouts honoured
//! (`.wh.NAME` deletes NAME from lower layers, `.wh..wh..opq` empties a
//! directory of what lower layers put there). What the tar headers said
//! about each file — type, mode, owner, mtime, size, link target, file
//! capabilities — and the digests of its content are kept in
//! [`Rootfs::files`]; the content of the files the analysers read is kept
//! in memory. Only the rpm database, which the real `rpm` reads, is ever
//! written out ([`Rootfs::extract_dir`]), into a scratch directory.
//!
//! Paths are resolved one component at a time with symlinks read as the
//! image would see them (an absolute link target starts again at the
//! image's root, `..` stops at it), the way a container runtime's "secure
//! join" does; tar entries naming `..` are refused.

use crate::ScanError;
use crate::layers::{LayerCache, LayerIndex, Op, entry_parts};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What a tar entry was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FileKind {
    File,
    Dir,
    Symlink,
    CharDevice,
    BlockDevice,
    Fifo,
}

/// A file as the image's layers describe it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileMeta {
    pub kind: FileKind,
    /// Permission bits and setuid/setgid/sticky (`mode & 0o7777`).
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub mtime: u64,
    pub size: u64,
    /// A symlink's target, as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    /// Device numbers of character and block devices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<(u32, u32)>,
    /// The raw `security.capability` extended attribute, when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<Vec<u8>>,
    /// A regular file's MD5 (what dpkg records).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "hex_opt")]
    pub md5: Option<[u8; 16]>,
    /// A regular file's SHA-256 (what rpm records nowadays).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "hex_opt")]
    pub sha256: Option<[u8; 32]>,
    /// A regular file a later layer wrote again: its mode as the first
    /// layer that had it wrote it (a `chmod u+s` in a later layer shows).
    #[serde(skip)]
    pub first_mode: Option<u32>,
}

/// What reading the layers skipped, for the scan report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnpackNotes {
    pub layers: usize,
    /// Layers described from the cache, not read again.
    pub cached: usize,
    /// Entries refused (a `..` path, a link out of the root, a path
    /// through a file), with why.
    pub refused: Vec<String>,
}

/// An image filesystem, described.
#[derive(Debug)]
pub struct Rootfs {
    /// Where [`Rootfs::extract_dir`] writes (the caller's scratch space).
    scratch: PathBuf,
    /// Keyed by absolute image path (`/etc/os-release`), as the layers
    /// left it.
    pub files: BTreeMap<String, FileMeta>,
    /// The kept content of the files the analysers read, by key.
    contents: HashMap<String, Arc<Vec<u8>>>,
    pub notes: UnpackNotes,
}

/// At most this many symlinks are followed resolving one path (Linux's
/// limit).
const MAX_LINKS: usize = 40;

impl Rootfs {
    /// Apply `layers` (tar streams, plain, gzip or zstd, lowest first),
    /// with `scratch` (an empty directory the caller removes) for the
    /// little that must be written out.
    pub fn unpack(scratch: &Path, layers: &[PathBuf]) -> Result<Rootfs, ScanError> {
        Rootfs::read_layers(scratch, layers, None)
    }

    /// [`Rootfs::unpack`], each layer read at most once per `cache` (a
    /// layer blob's file name in an OCI layout is its digest).
    pub fn read_layers(
        scratch: &Path,
        layers: &[PathBuf],
        cache: Option<&LayerCache>,
    ) -> Result<Rootfs, ScanError> {
        let (indices, cached) = describe_all(layers, cache)?;
        let mut fs = Rootfs {
            scratch: scratch.to_path_buf(),
            files: BTreeMap::new(),
            contents: HashMap::new(),
            notes: UnpackNotes {
                cached,
                ..UnpackNotes::default()
            },
        };
        for index in indices {
            fs.apply(&index);
            fs.notes.layers += 1;
        }
        Ok(fs)
    }

    /// `path` (an image path) with every symlink resolved inside the
    /// image; with `follow_last` false a final symlink is kept.
    pub fn resolve(&self, path: &str, follow_last: bool) -> io::Result<String> {
        resolve_in(&self.files, path, follow_last)
    }

    /// The content of the file at `path` (symlinks followed inside the
    /// image). Only the files the analysers read are kept
    /// ([`crate::layers::wanted`]); another file's content is an error.
    pub fn read(&self, path: &str) -> io::Result<Vec<u8>> {
        let key = self.resolve(path, true)?;
        match self.files.get(&key) {
            None => Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{path}: no such file in the image"),
            )),
            Some(m) if m.kind != FileKind::File => {
                Err(io::Error::other(format!("{path}: not a regular file")))
            }
            Some(_) => match self.contents.get(&key) {
                Some(bytes) => Ok(bytes.as_ref().clone()),
                None => Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    format!("{path}: its content is not read by the scanner"),
                )),
            },
        }
    }

    /// The file at `path` as text, or `None` when it does not exist.
    pub fn read_text(&self, path: &str) -> io::Result<Option<String>> {
        match self.read(path) {
            Ok(bytes) => Ok(Some(String::from_utf8_lossy(&bytes).into_owned())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// [`Rootfs::read_text`] for a scanner: a file that cannot be read is
    /// noted in `problems` (`path: error`) and gives `None`, as a missing
    /// one does.
    pub fn read_text_noting(&self, path: &str, problems: &mut Vec<String>) -> Option<String> {
        self.read_text(path).unwrap_or_else(|e| {
            problems.push(format!("{path}: {e}"));
            None
        })
    }

    /// The image's metadata of `path` (symlinks in its directories
    /// resolved; a final symlink is described, not followed).
    pub fn meta(&self, path: &str) -> Option<&FileMeta> {
        let resolved = self.resolve(path, false).ok()?;
        self.files.get(&resolved)
    }

    /// The regular file at `path` (symlinks followed), with its digests.
    pub fn regular(&self, path: &str) -> Option<&FileMeta> {
        let resolved = self.resolve(path, true).ok()?;
        self.files
            .get(&resolved)
            .filter(|m| m.kind == FileKind::File)
    }

    /// Image paths of the entries directly in directory `dir`.
    pub fn list(&self, dir: &str) -> Vec<String> {
        let Ok(resolved) = self.resolve(dir, true) else {
            return Vec::new();
        };
        let base = resolved.trim_end_matches('/');
        let prefix = format!("{base}/");
        self.files
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .filter(|(k, _)| !k[prefix.len()..].contains('/'))
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// Write the regular files directly in image directory `dir` (the rpm
    /// database) into the scratch directory, for a tool that reads files;
    /// where they are.
    pub fn extract_dir(&self, dir: &str) -> io::Result<PathBuf> {
        let resolved = self.resolve(dir, true)?;
        let to = self
            .scratch
            .join("extracted")
            .join(resolved.trim_start_matches('/'));
        std::fs::create_dir_all(&to)?;
        for path in self.list(&resolved) {
            let Some(bytes) = self.contents.get(&path) else {
                continue;
            };
            let name = path.rsplit('/').next().unwrap_or(&path);
            std::fs::write(to.join(name), bytes.as_slice())?;
        }
        Ok(to)
    }

    fn apply(&mut self, index: &LayerIndex) {
        let mut written: HashSet<String> = HashSet::new();
        for op in &index.ops {
            match op {
                Op::Refused { why } => self.notes.refused.push(why.clone()),
                Op::Whiteout { path } => {
                    if let Some(key) = self.key_of(path) {
                        self.remove(&key);
                    }
                }
                Op::Opaque { dir } => {
                    let dir = match self.resolve(dir, true) {
                        Ok(d) => d,
                        Err(e) => {
                            self.notes.refused.push(format!("{dir}: {e}"));
                            continue;
                        }
                    };
                    self.make_opaque(dir.trim_end_matches('/'), &written);
                }
                Op::Put {
                    path,
                    meta,
                    content,
                } => {
                    let Some(key) = self.key_of(path) else {
                        continue;
                    };
                    let before = self.files.get(&key);
                    let keeps_dir = meta.kind == FileKind::Dir
                        && before.is_some_and(|m| m.kind == FileKind::Dir);
                    let first_mode = before
                        .filter(|m| m.kind == FileKind::File && meta.kind == FileKind::File)
                        .map(|m| m.first_mode.unwrap_or(m.mode));
                    if !keeps_dir {
                        self.remove(&key);
                    }
                    match content.and_then(|i| index.contents.get(i as usize)) {
                        Some(bytes) => {
                            self.contents.insert(key.clone(), Arc::new(bytes.clone()));
                        }
                        None => {
                            self.contents.remove(&key);
                        }
                    }
                    let mut meta = meta.clone();
                    meta.first_mode = first_mode;
                    self.files.insert(key.clone(), meta);
                    written.insert(key);
                }
                Op::Link { path, target } => {
                    let Ok(source) = self.resolve(target, false) else {
                        self.notes
                            .refused
                            .push(format!("{path}: hard link to unresolvable {target}"));
                        continue;
                    };
                    let Some(source_meta) = self.files.get(&source).cloned() else {
                        self.notes
                            .refused
                            .push(format!("{path}: hard link to missing {target}"));
                        continue;
                    };
                    let Some(key) = self.key_of(path) else {
                        continue;
                    };
                    self.remove(&key);
                    if let Some(bytes) = self.contents.get(&source).cloned() {
                        self.contents.insert(key.clone(), bytes);
                    }
                    self.files.insert(key.clone(), source_meta);
                    written.insert(key);
                }
            }
        }
    }

    /// The table key of entry path `path`: its directories resolved in
    /// the image as it is now, its own name kept.
    fn key_of(&mut self, path: &str) -> Option<String> {
        let parts = entry_parts(path)?;
        let (name, dirs) = parts.split_last()?;
        match resolve_in(&self.files, &dirs.join("/"), true) {
            Ok(parent) => Some(format!("{}/{name}", parent.trim_end_matches('/'))),
            Err(e) => {
                self.notes.refused.push(format!("{path}: {e}"));
                None
            }
        }
    }

    /// Delete `key` and everything below it.
    fn remove(&mut self, key: &str) {
        self.files.remove(key);
        self.contents.remove(key);
        let below = format!("{key}/");
        let doomed: Vec<String> = self
            .files
            .range(below.clone()..)
            .take_while(|(k, _)| k.starts_with(&below))
            .map(|(k, _)| k.clone())
            .collect();
        for k in doomed {
            self.files.remove(&k);
            self.contents.remove(&k);
        }
    }

    /// Empty directory `dir` of everything lower layers put there.
    fn make_opaque(&mut self, dir: &str, written: &HashSet<String>) {
        let below = format!("{dir}/");
        let doomed: Vec<String> = self
            .files
            .range(below.clone()..)
            .take_while(|(k, _)| k.starts_with(&below))
            .filter(|(k, _)| !k[below.len()..].contains('/') && !written.contains(k.as_str()))
            .map(|(k, _)| k.clone())
            .collect();
        for k in doomed {
            self.remove(&k);
        }
    }
}

/// Describe every layer: from the cache, else read (in parallel, a thread
/// per core) and cached. How many came from the cache.
fn describe_all(
    layers: &[PathBuf],
    cache: Option<&LayerCache>,
) -> Result<(Vec<LayerIndex>, usize), ScanError> {
    let digest_of = |p: &Path| {
        p.file_name()
            .map(|n| format!("sha256:{}", n.to_string_lossy()))
    };
    let mut out: Vec<Option<LayerIndex>> = layers
        .iter()
        .map(|l| cache.zip(digest_of(l)).and_then(|(c, d)| c.get(&d)))
        .collect();
    let cached = out.iter().filter(|i| i.is_some()).count();
    let todo: Vec<usize> = (0..layers.len()).filter(|i| out[*i].is_none()).collect();
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(todo.len().max(1));
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<(usize, Result<LayerIndex, ScanError>)> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let at = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(&i) = todo.get(at) else {
                            break;
                        };
                        let layer = &layers[i];
                        let read = crate::layers::analyse(layer).map_err(|e| ScanError::Layer {
                            layer: layer.display().to_string(),
                            message: e.to_string(),
                        });
                        mine.push((i, read));
                    }
                    mine
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap_or_default())
            .collect()
    });
    for (i, read) in results {
        let index = read?;
        if let (Some(c), Some(d)) = (cache, digest_of(&layers[i])) {
            // A cache that cannot be written costs only time.
            let _ = c.put(&d, &index);
        }
        out[i] = Some(index);
    }
    out.into_iter()
        .enumerate()
        .map(|(i, x)| {
            x.ok_or_else(|| ScanError::Layer {
                layer: layers[i].display().to_string(),
                message: "not read".into(),
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .map(|v| (v, cached))
}

/// Resolve image path `path` in the file table, following symlinks as
/// the image sees them. Returns the image path (`/a/b`), which never
/// leaves the root.
fn resolve_in(
    files: &BTreeMap<String, FileMeta>,
    path: &str,
    follow_last: bool,
) -> io::Result<String> {
    let mut pending: VecDeque<String> = path
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .map(str::to_string)
        .collect();
    // The path resolved so far (`/a/b`), and where each component starts,
    // so that `..` and a further component cost no rebuilding.
    let mut resolved = String::with_capacity(path.len() + 1);
    let mut starts: Vec<usize> = Vec::new();
    let mut links = 0;
    while let Some(part) = pending.pop_front() {
        if part == ".." {
            if let Some(at) = starts.pop() {
                resolved.truncate(at);
            }
            continue;
        }
        let last = pending.is_empty();
        let at = resolved.len();
        resolved.push('/');
        resolved.push_str(&part);
        match files.get(&resolved) {
            Some(m) if m.kind == FileKind::Symlink && (follow_last || !last) => {
                resolved.truncate(at);
                links += 1;
                if links > MAX_LINKS {
                    return Err(io::Error::other(format!(
                        "too many levels of symbolic links in {path}"
                    )));
                }
                let target = m.link.as_deref().unwrap_or("");
                if target.starts_with('/') {
                    resolved.clear();
                    starts.clear();
                }
                for p in target
                    .split('/')
                    .filter(|p| !p.is_empty() && *p != ".")
                    .rev()
                {
                    pending.push_front(p.to_string());
                }
            }
            _ => starts.push(at),
        }
    }
    if resolved.is_empty() {
        resolved.push('/');
    }
    Ok(resolved)
}

/// Fixed-size digests as hex strings in the cache's JSON.
mod hex_opt {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer, const N: usize>(
        v: &Option<[u8; N]>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match v {
            Some(b) => s.serialize_some(&hex::encode(b)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>, const N: usize>(
        d: D,
    ) -> Result<Option<[u8; N]>, D::Error> {
        let Some(text) = Option::<String>::deserialize(d)? else {
            return Ok(None);
        };
        let bytes = hex::decode(&text).map_err(serde::de::Error::custom)?;
        bytes
            .try_into()
            .map(Some)
            .map_err(|_| serde::de::Error::custom("a digest of the wrong length"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    /// Whether the regular file at `path` holds `text` (by its digests:
    /// only the files the analysers read are kept whole).
    fn holds(fs: &Rootfs, path: &str, text: &str) -> bool {
        use md5::Digest;
        fs.regular(path).is_some_and(|m| {
            m.md5 == Some(md5::Md5::digest(text).into())
                && m.sha256 == Some(sha2::Sha256::digest(text).into())
                && m.size == text.len() as u64
        })
    }

    /// A tar layer from (path, kind) entries: `f:` text file, `d` dir,
    /// `l:` symlink target, `h:` hard link target.
    fn layer(dir: &Path, name: &str, entries: &[(&str, &str)]) -> PathBuf {
        let path = dir.join(name);
        let mut b = tar::Builder::new(fs::File::create(&path).unwrap());
        for (p, what) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_mode(0o644);
            h.set_uid(1000);
            h.set_gid(1000);
            h.set_mtime(1_700_000_000);
            if *what == "d" {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                h.set_size(0);
                b.append_data(&mut h, p, io::empty()).unwrap();
            } else if let Some(text) = what.strip_prefix("f:") {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(text.len() as u64);
                b.append_data(&mut h, p, text.as_bytes()).unwrap();
            } else if let Some(target) = what.strip_prefix("l:") {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_size(0);
                b.append_link(&mut h, p, target).unwrap();
            } else if let Some(target) = what.strip_prefix("h:") {
                h.set_entry_type(tar::EntryType::Link);
                h.set_size(0);
                b.append_link(&mut h, p, target).unwrap();
            }
        }
        b.finish().unwrap();
        path
    }

    #[test]
    fn whiteouts_delete_and_opaque_directories_empty() {
        let t = tempfile::tempdir().unwrap();
        let l1 = layer(
            t.path(),
            "1.tar",
            &[
                ("etc", "d"),
                ("etc/keep", "f:keep"),
                ("etc/gone", "f:gone"),
                ("opt", "d"),
                ("opt/old", "d"),
                ("opt/old/a", "f:a"),
                ("opt/x", "f:x"),
            ],
        );
        let l2 = layer(
            t.path(),
            "2.tar",
            &[
                ("etc/.wh.gone", "f:"),
                ("opt/new", "f:new"),
                ("opt/.wh..wh..opq", "f:"),
                ("etc/keep", "f:changed"),
            ],
        );
        let root = t.path().join("root");
        let fs = Rootfs::unpack(&root, &[l1, l2]).unwrap();
        assert!(holds(&fs, "/etc/keep", "changed"));
        assert_eq!(fs.read_text("/etc/gone").unwrap(), None);
        assert!(fs.meta("/etc/gone").is_none());
        // The opaque marker empties what lower layers put in /opt, but
        // keeps what its own layer added, even before the marker.
        assert_eq!(fs.list("/opt"), ["/opt/new"]);
        assert!(fs.meta("/opt/old/a").is_none());
        let keep = fs.meta("/etc/keep").unwrap();
        assert_eq!((keep.uid, keep.mode, keep.size), (1000, 0o644, 7));
        assert_eq!(fs.notes.layers, 2);
    }

    #[test]
    fn symlinks_resolve_inside_the_image_and_nothing_escapes() {
        let t = tempfile::tempdir().unwrap();
        let outside = t.path().join("outside");
        fs::create_dir(&outside).unwrap();
        fs::write(outside.join("victim"), "host file").unwrap();
        let l1 = layer(
            t.path(),
            "1.tar",
            &[
                ("usr", "d"),
                ("usr/lib", "d"),
                ("usr/lib/libc.so", "f:libc"),
                ("lib", "l:usr/lib"),
                // An absolute link: inside the image it means the image's /etc.
                ("escape", &format!("l:{}", outside.display())),
                ("up", "l:../../../.."),
                ("hard", "h:usr/lib/libc.so"),
            ],
        );
        let l2 = layer(
            t.path(),
            "2.tar",
            &[
                ("escape/victim", "f:written through a link"),
                ("escape/.wh.victim", "f:"),
                ("up/etc", "d"),
                ("lib/added", "f:via lib"),
            ],
        );
        // tar::Builder refuses to write `..`; a hostile layer would not.
        let l3 = t.path().join("3.tar");
        let mut b = tar::Builder::new(fs::File::create(&l3).unwrap());
        let mut h = tar::Header::new_gnu();
        h.as_gnu_mut().unwrap().name[..7].copy_from_slice(b"../evil");
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(0o644);
        h.set_size(1);
        h.set_cksum();
        b.append(&h, &b"x"[..]).unwrap();
        b.finish().unwrap();
        drop(b);
        let root = t.path().join("root");
        let fs = Rootfs::unpack(&root, &[l1, l2, l3]).unwrap();
        assert_eq!(
            std::fs::read_to_string(outside.join("victim")).unwrap(),
            "host file",
            "a layer wrote outside the root"
        );
        assert!(!t.path().join("evil").exists());
        assert!(fs.notes.refused.iter().any(|r| r.contains("..")));
        // lib → usr/lib, so lib/added landed in /usr/lib.
        assert_eq!(
            fs.resolve("/lib/libc.so", true).unwrap(),
            "/usr/lib/libc.so"
        );
        assert!(holds(&fs, "/usr/lib/added", "via lib"));
        // `up` (../../../..) stops at the image's root.
        assert_eq!(fs.meta("/etc").unwrap().kind, FileKind::Dir);
        // The absolute link resolved to the image's own path.
        let inside = fs.resolve("/escape/victim", true).unwrap();
        assert!(
            inside.starts_with(&outside.display().to_string()),
            "{inside}"
        );
        // A hard link shares its source's description and content.
        assert!(holds(&fs, "/hard", "libc"));
        assert_eq!(fs.meta("/hard").unwrap().size, 4);
        assert_eq!(fs.meta("/lib").unwrap().kind, FileKind::Symlink);
    }

    #[test]
    fn a_corrupt_layer_is_a_clear_error() {
        let t = tempfile::tempdir().unwrap();
        let bad = t.path().join("bad.tar.gz");
        fs::write(&bad, [0x1f, 0x8b, 8, 0, 1, 2, 3, 4, 5, 6, 7]).unwrap();
        let err = Rootfs::unpack(&t.path().join("root"), &[bad]).unwrap_err();
        assert!(matches!(err, ScanError::Layer { .. }), "{err}");
        assert!(err.to_string().contains("bad.tar.gz"), "{err}");
    }

    #[test]
    fn symlink_loops_are_an_error_not_a_hang() {
        let t = tempfile::tempdir().unwrap();
        let l1 = layer(t.path(), "1.tar", &[("a", "l:b"), ("b", "l:a")]);
        let fs = Rootfs::unpack(&t.path().join("root"), &[l1]).unwrap();
        let err = fs.resolve("/a/x", true).unwrap_err();
        assert!(err.to_string().contains("too many levels"), "{err}");
    }
}
