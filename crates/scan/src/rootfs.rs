//! An image's filesystem rebuilt from its layers, without running it.
//!
//! Layers are applied in order into a directory Slipway owns, with the OCI
//! whiteouts honoured (`.wh.NAME` deletes NAME from lower layers,
//! `.wh..wh..opq` empties a directory of what lower layers put there).
//! What the tar headers said about each file — type, mode, owner, mtime,
//! size, link target, file capabilities — is kept in [`Rootfs::files`],
//! because the unpacked copy neither keeps owners nor is meant to run.
//!
//! Invariant: nothing is ever written, linked or deleted outside the root.
//! Paths are resolved one component at a time with symlinks read as the
//! image would see them (an absolute link target starts again at the
//! image's root, `..` stops at it), the way a container runtime's
//! "secure join" does; tar entries naming `..` are refused.

use crate::ScanError;
use std::collections::{BTreeMap, HashSet, VecDeque};
use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// What a tar entry was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    File,
    Dir,
    Symlink,
    CharDevice,
    BlockDevice,
    Fifo,
}

/// A file as the image's layers describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileMeta {
    pub kind: FileKind,
    /// Permission bits and setuid/setgid/sticky (`mode & 0o7777`).
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub mtime: u64,
    pub size: u64,
    /// A symlink's target, as written.
    pub link: Option<String>,
    /// Device numbers of character and block devices.
    pub device: Option<(u32, u32)>,
    /// The raw `security.capability` extended attribute, when set.
    pub capabilities: Option<Vec<u8>>,
}

/// What unpacking skipped, for the scan report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnpackNotes {
    pub layers: usize,
    /// Entries refused (a `..` path, a link out of the root, a path
    /// through a file), with why.
    pub refused: Vec<String>,
}

/// An unpacked image filesystem.
#[derive(Debug)]
pub struct Rootfs {
    root: PathBuf,
    /// Keyed by absolute image path (`/etc/os-release`), as the layers
    /// left it.
    pub files: BTreeMap<String, FileMeta>,
    pub notes: UnpackNotes,
}

/// At most this many symlinks are followed resolving one path (Linux's
/// limit).
const MAX_LINKS: usize = 40;

impl Rootfs {
    /// Apply `layers` (tar streams, plain, gzip or zstd, lowest first) into
    /// the empty directory `root`.
    pub fn unpack(root: &Path, layers: &[PathBuf]) -> Result<Rootfs, ScanError> {
        fs::create_dir_all(root).map_err(|e| ScanError::io(root, e))?;
        let mut fs = Rootfs {
            root: root.to_path_buf(),
            files: BTreeMap::new(),
            notes: UnpackNotes::default(),
        };
        for layer in layers {
            let file = fs::File::open(layer).map_err(|e| ScanError::io(layer, e))?;
            fs.apply(decompress(file).map_err(|e| ScanError::io(layer, e))?)
                .map_err(|e| ScanError::Layer {
                    layer: layer.display().to_string(),
                    message: e.to_string(),
                })?;
            fs.notes.layers += 1;
        }
        Ok(fs)
    }

    /// The directory holding the unpacked tree.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `path` (an image path) with every symlink resolved inside the
    /// image; with `follow_last` false a final symlink is kept.
    pub fn resolve(&self, path: &str, follow_last: bool) -> io::Result<String> {
        resolve_in(&self.root, path, follow_last)
    }

    /// Where `path` is on the host, symlinks resolved inside the image.
    pub fn host_path(&self, path: &str) -> io::Result<PathBuf> {
        Ok(self.host(&self.resolve(path, true)?))
    }

    fn host(&self, resolved: &str) -> PathBuf {
        self.root.join(resolved.trim_start_matches('/'))
    }

    pub fn read(&self, path: &str) -> io::Result<Vec<u8>> {
        fs::read(self.host_path(path)?)
    }

    /// The file at `path` as text, or `None` when it does not exist.
    pub fn read_text(&self, path: &str) -> io::Result<Option<String>> {
        match self.read(path) {
            Ok(bytes) => Ok(Some(String::from_utf8_lossy(&bytes).into_owned())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) if e.kind() == io::ErrorKind::NotADirectory => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The image's metadata of `path` (symlinks in its directories
    /// resolved; a final symlink is described, not followed).
    pub fn meta(&self, path: &str) -> Option<&FileMeta> {
        let resolved = self.resolve(path, false).ok()?;
        self.files.get(&resolved)
    }

    /// Image paths of the entries directly in directory `dir`.
    pub fn list(&self, dir: &str) -> Vec<String> {
        let Ok(resolved) = self.resolve(dir, true) else {
            return Vec::new();
        };
        let Ok(entries) = fs::read_dir(self.host(&resolved)) else {
            return Vec::new();
        };
        let base = resolved.trim_end_matches('/');
        let mut out: Vec<String> = entries
            .filter_map(Result::ok)
            .map(|e| format!("{base}/{}", e.file_name().to_string_lossy()))
            .collect();
        out.sort();
        out
    }

    fn apply(&mut self, stream: Box<dyn Read>) -> io::Result<()> {
        let mut archive = tar::Archive::new(stream);
        let mut written: HashSet<String> = HashSet::new();
        for entry in archive.entries()? {
            let mut entry = entry?;
            let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            let Some(parts) = entry_parts(&raw) else {
                self.notes.refused.push(format!("{raw}: names \"..\""));
                continue;
            };
            let Some((name, dirs)) = parts.split_last() else {
                continue; // the root directory itself
            };
            let parent = match resolve_in(&self.root, &dirs.join("/"), true) {
                Ok(p) => p,
                Err(e) => {
                    self.notes.refused.push(format!("{raw}: {e}"));
                    continue;
                }
            };
            let parent_key = parent.trim_end_matches('/').to_string();
            if name == ".wh..wh..opq" {
                self.make_opaque(&parent_key, &written)?;
                continue;
            }
            if let Some(hidden) = name.strip_prefix(".wh.") {
                self.remove(&format!("{parent_key}/{hidden}"))?;
                continue;
            }
            let key = format!("{parent_key}/{name}");
            if let Err(e) = fs::create_dir_all(self.host(&parent)) {
                self.notes.refused.push(format!("{raw}: {e}"));
                continue;
            }
            let header = entry.header();
            let mut meta = FileMeta {
                kind: FileKind::File,
                mode: header.mode().unwrap_or(0o644) & 0o7777,
                uid: header.uid().unwrap_or(0),
                gid: header.gid().unwrap_or(0),
                mtime: header.mtime().unwrap_or(0),
                size: header.size().unwrap_or(0),
                link: None,
                device: None,
                capabilities: None,
            };
            if let Some(exts) = entry.pax_extensions()? {
                for ext in exts.flatten() {
                    if ext.key_bytes() == b"SCHILY.xattr.security.capability" {
                        meta.capabilities = Some(ext.value_bytes().to_vec());
                    }
                }
            }
            let target = self.host(&key);
            use tar::EntryType as T;
            let entry_type = entry.header().entry_type();
            match entry_type {
                T::Directory => {
                    meta.kind = FileKind::Dir;
                    meta.size = 0;
                    match fs::symlink_metadata(&target) {
                        Ok(m) if m.is_dir() => {}
                        Ok(_) => {
                            fs::remove_file(&target)?;
                            fs::create_dir(&target)?;
                        }
                        Err(_) => fs::create_dir(&target)?,
                    }
                    fs::set_permissions(
                        &target,
                        fs::Permissions::from_mode((meta.mode & 0o777) | 0o700),
                    )?;
                }
                T::Regular | T::Continuous | T::GNUSparse => {
                    remove_host(&target)?;
                    let mut out = fs::OpenOptions::new()
                        .write(true)
                        .create_new(true)
                        .open(&target)?;
                    io::copy(&mut entry, &mut out)?;
                    fs::set_permissions(
                        &target,
                        fs::Permissions::from_mode((meta.mode & 0o777) | 0o400),
                    )?;
                }
                T::Symlink => {
                    let link = entry
                        .link_name_bytes()
                        .map(|b| String::from_utf8_lossy(&b).into_owned())
                        .unwrap_or_default();
                    remove_host(&target)?;
                    std::os::unix::fs::symlink(&link, &target)?;
                    meta.kind = FileKind::Symlink;
                    meta.size = link.len() as u64;
                    meta.link = Some(link);
                }
                T::Link => {
                    let link = entry
                        .link_name_bytes()
                        .map(|b| String::from_utf8_lossy(&b).into_owned())
                        .unwrap_or_default();
                    let Some(link_parts) = entry_parts(&link) else {
                        self.notes
                            .refused
                            .push(format!("{raw}: hard link to {link} names \"..\""));
                        continue;
                    };
                    let source = resolve_in(&self.root, &link_parts.join("/"), false)?;
                    let Some(source_meta) = self.files.get(&source).cloned() else {
                        self.notes
                            .refused
                            .push(format!("{raw}: hard link to missing {link}"));
                        continue;
                    };
                    remove_host(&target)?;
                    if source_meta.kind == FileKind::File {
                        fs::hard_link(self.host(&source), &target)?;
                    }
                    meta = source_meta;
                }
                T::Char | T::Block | T::Fifo => {
                    meta.kind = match entry_type {
                        T::Char => FileKind::CharDevice,
                        T::Block => FileKind::BlockDevice,
                        _ => FileKind::Fifo,
                    };
                    meta.size = 0;
                    let major = entry.header().device_major().ok().flatten();
                    let minor = entry.header().device_minor().ok().flatten();
                    meta.device = major.zip(minor);
                    // Not created: only described.
                    remove_host(&target)?;
                }
                _ => continue,
            }
            written.insert(key.clone());
            self.files.insert(key, meta);
        }
        Ok(())
    }

    /// Delete `key` and everything below it (a whiteout).
    fn remove(&mut self, key: &str) -> io::Result<()> {
        remove_host(&self.host(key))?;
        let below = format!("{key}/");
        self.files
            .retain(|k, _| k != key && !k.starts_with(below.as_str()));
        Ok(())
    }

    /// Empty directory `dir` of everything lower layers put there.
    fn make_opaque(&mut self, dir: &str, written: &HashSet<String>) -> io::Result<()> {
        let below = format!("{dir}/");
        let doomed: Vec<String> = self
            .files
            .keys()
            .filter(|k| k.starts_with(below.as_str()) && !written.contains(k.as_str()))
            .filter(|k| !k[below.len()..].contains('/'))
            .cloned()
            .collect();
        for k in doomed {
            self.remove(&k)?;
        }
        Ok(())
    }
}

/// The components of a tar entry's path; `None` if one is `..`.
fn entry_parts(raw: &str) -> Option<Vec<String>> {
    let mut parts = Vec::new();
    for p in raw.split('/') {
        match p {
            "" | "." => {}
            ".." => return None,
            p => parts.push(p.to_string()),
        }
    }
    Some(parts)
}

/// Remove whatever is at `path` without following a symlink there.
fn remove_host(path: &Path) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Resolve image path `path` under `root`, following symlinks as the image
/// sees them. Returns the image path (`/a/b`), which never leaves the root.
fn resolve_in(root: &Path, path: &str, follow_last: bool) -> io::Result<String> {
    let mut pending: VecDeque<String> = path
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .map(str::to_string)
        .collect();
    let mut resolved: Vec<String> = Vec::new();
    let mut links = 0;
    while let Some(part) = pending.pop_front() {
        if part == ".." {
            resolved.pop();
            continue;
        }
        let mut host = root.to_path_buf();
        host.extend(&resolved);
        host.push(&part);
        let last = pending.is_empty();
        match fs::symlink_metadata(&host) {
            Ok(m) if m.file_type().is_symlink() && (follow_last || !last) => {
                links += 1;
                if links > MAX_LINKS {
                    return Err(io::Error::other(format!(
                        "too many levels of symbolic links in {path}"
                    )));
                }
                let target = fs::read_link(&host)?;
                let target = target.to_string_lossy();
                if target.starts_with('/') {
                    resolved.clear();
                }
                for p in target
                    .split('/')
                    .filter(|p| !p.is_empty() && *p != ".")
                    .rev()
                {
                    pending.push_front(p.to_string());
                }
            }
            _ => resolved.push(part),
        }
    }
    Ok(format!("/{}", resolved.join("/")))
}

/// A layer stream, decompressed by its magic number.
fn decompress(mut file: fs::File) -> io::Result<Box<dyn Read>> {
    use std::io::{Seek, SeekFrom};
    let mut magic = [0u8; 4];
    let n = file.read(&mut magic)?;
    file.seek(SeekFrom::Start(0))?;
    let file = io::BufReader::new(file);
    Ok(match &magic[..n] {
        [0x1f, 0x8b, ..] => Box::new(flate2::read::MultiGzDecoder::new(file)),
        [0x28, 0xb5, 0x2f, 0xfd] => Box::new(zstd::stream::read::Decoder::new(file)?),
        _ => Box::new(file),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(
            fs.read_text("/etc/keep").unwrap().as_deref(),
            Some("changed")
        );
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
        assert_eq!(
            fs.read_text("/usr/lib/added").unwrap().as_deref(),
            Some("via lib")
        );
        // `up` (../../../..) stops at the image's root.
        assert!(root.join("etc").is_dir());
        // The absolute link resolved to the image's own path.
        let inside = fs.resolve("/escape/victim", true).unwrap();
        assert!(
            inside.starts_with(&outside.display().to_string()),
            "{inside}"
        );
        assert!(root.join(inside.trim_start_matches('/')).starts_with(&root));
        // A hard link shares its source's description and content.
        assert_eq!(fs.read_text("/hard").unwrap().as_deref(), Some("libc"));
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
