//! One pass over a layer's tar stream: what it puts, deletes and empties,
//! in order, without writing any of it to disk.
//!
//! Every entry's header is kept ([`FileMeta`]); every regular file is
//! digested (MD5 for dpkg, SHA-256 for rpm) while it streams past; and the
//! content of the few files the analysers read — package databases, release
//! files, language package metadata, copyright files — is kept in memory
//! ([`wanted`]). Nothing else of a file is kept. [`crate::rootfs`] applies
//! the layers of an image in order to this description.
//!
//! A layer's description depends only on its bytes, so it is cached
//! ([`LayerCache`]) under the digest of its uncompressed stream (its
//! `diff_id`), computed here, never taken from the image's config: a
//! config claiming another layer's `diff_id` must not read that layer's
//! files from the cache.

use crate::rootfs::{FileKind, FileMeta};
use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// The layout of a layer's description: the cache keeps each version
/// apart, so a description made by an older Slipway (which kept other
/// files, or digested differently) is never read as a newer one. Bump it
/// with any change to [`wanted`], [`Op`], [`LayerIndex`] or `FileMeta`.
pub const DESCRIPTION_VERSION: u32 = 2;

/// The largest file whose content is kept (an rpm database can be tens
/// of megabytes; anything bigger is reported, not read).
pub const MAX_KEPT_FILE: u64 = 128 * 1024 * 1024;

/// What one entry of a layer does, in stream order. Paths are the
/// entry's components joined with `/`, without a leading `/`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    /// Something is put at `path`; `content` indexes [`LayerIndex::contents`]
    /// when it was kept.
    Put {
        path: String,
        meta: FileMeta,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        content: Option<u32>,
    },
    /// A hard link at `path` to `target`.
    Link { path: String, target: String },
    /// `.wh.NAME`: `path` and everything below it go.
    Whiteout { path: String },
    /// `.wh..wh..opq`: what lower layers put in `dir` goes.
    Opaque { dir: String },
    /// An entry not applied, and why.
    Refused { why: String },
}

/// A layer as [`analyse`] read it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerIndex {
    /// SHA-256 of the uncompressed stream (`sha256:…`).
    pub diff_id: String,
    pub ops: Vec<Op>,
    /// The kept files' bytes.
    #[serde(with = "b64_list")]
    pub contents: Vec<Vec<u8>>,
}

/// Whether the analysers read the file at `path` (no leading `/`): its
/// content is kept.
pub fn wanted(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    let in_etc_or_lib = path.starts_with("etc/") || path.starts_with("usr/lib/");
    (in_etc_or_lib
        && matches!(
            name,
            "os-release"
                | "debian_version"
                | "redhat-release"
                | "system-release"
                | "alpine-release"
                | "lsb-release"
        ))
        || path.starts_with("var/lib/dpkg/status")
        || (path.starts_with("var/lib/dpkg/info/")
            && (name.ends_with(".md5sums")
                || name.ends_with(".list")
                || name.ends_with(".conffiles")))
        || path == "lib/apk/db/installed"
        || path.starts_with("var/lib/rpm/")
        || path.starts_with("usr/lib/sysimage/rpm/")
        || path.ends_with(".dist-info/METADATA")
        || path.ends_with(".dist-info/RECORD")
        || path.ends_with(".egg-info/PKG-INFO")
        || path.ends_with(".egg-info")
        || name == "package.json"
        || name == "pyproject.toml"
        || (name.ends_with(".gemspec") && path.contains("/specifications/"))
        || (path.starts_with("usr/share/doc/") && name == "copyright")
}

/// The components of a tar entry's path; `None` if one is `..`.
pub fn entry_parts(raw: &str) -> Option<Vec<&str>> {
    let mut parts = Vec::new();
    for p in raw.split('/') {
        match p {
            "" | "." => {}
            ".." => return None,
            p => parts.push(p),
        }
    }
    Some(parts)
}

/// Read a layer stream (plain, gzip or zstd) once, in two threads: one
/// decompresses and digests the stream (its `diff_id`), the other reads
/// the tar entries and digests the files, so that a big layer takes the
/// longer of the two, not their sum.
pub fn analyse(file: &Path) -> io::Result<LayerIndex> {
    let raw = std::fs::File::open(file)?;
    let mut stream = Sha256Reader::new(decompress(raw)?);
    let (chunks, received) = std::sync::mpsc::sync_channel::<io::Result<Vec<u8>>>(16);
    let decompressor = std::thread::spawn(move || {
        loop {
            let mut chunk = vec![0u8; CHUNK];
            match read_full(&mut stream, &mut chunk) {
                Ok(0) => break,
                Ok(n) => {
                    chunk.truncate(n);
                    if chunks.send(Ok(chunk)).is_err() {
                        break; // the reader gave up
                    }
                }
                Err(e) => {
                    let _ = chunks.send(Err(e));
                    break;
                }
            }
        }
        stream.finish()
    });
    let mut reader = ChunkReader {
        chunks: received,
        current: Vec::new(),
        at: 0,
    };
    let read = analyse_tar(&mut reader).and_then(|index| {
        // The tar reader stops at the end-of-archive blocks; the digest is
        // of the whole stream, padding included.
        io::copy(&mut reader, &mut io::sink())?;
        Ok(index)
    });
    drop(reader);
    let digest = decompressor
        .join()
        .map_err(|_| io::Error::other("the decompressing thread panicked"))?;
    let mut index = read?;
    index.diff_id = format!("sha256:{}", hex::encode(digest));
    Ok(index)
}

/// How much decompressed stream one message between the threads holds.
const CHUNK: usize = 1024 * 1024;

/// Fill `buf` unless the stream ends first; how much was read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// The decompressed stream, as the other thread sends it.
struct ChunkReader {
    chunks: std::sync::mpsc::Receiver<io::Result<Vec<u8>>>,
    current: Vec<u8>,
    at: usize,
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.at == self.current.len() {
            match self.chunks.recv() {
                Ok(chunk) => {
                    self.current = chunk?;
                    self.at = 0;
                }
                Err(_) => return Ok(0), // the end of the stream
            }
        }
        let n = buf.len().min(self.current.len() - self.at);
        buf[..n].copy_from_slice(&self.current[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

fn analyse_tar(stream: &mut dyn Read) -> io::Result<LayerIndex> {
    let mut index = LayerIndex::default();
    let mut archive = tar::Archive::new(stream);
    let mut buf = vec![0u8; 256 * 1024];
    for entry in archive.entries()? {
        let mut entry = entry?;
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let Some(parts) = entry_parts(&raw) else {
            index.ops.push(Op::Refused {
                why: format!("{raw}: names \"..\""),
            });
            continue;
        };
        let Some((name, dirs)) = parts.split_last() else {
            continue; // the root directory itself
        };
        let path = parts.join("/");
        if *name == ".wh..wh..opq" {
            index.ops.push(Op::Opaque {
                dir: dirs.join("/"),
            });
            continue;
        }
        if let Some(hidden) = name.strip_prefix(".wh.") {
            let mut gone = dirs.to_vec();
            gone.push(hidden);
            index.ops.push(Op::Whiteout {
                path: gone.join("/"),
            });
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
            md5: None,
            sha256: None,
            first_mode: None,
        };
        if let Some(exts) = entry.pax_extensions()? {
            for ext in exts.flatten() {
                if ext.key_bytes() == b"SCHILY.xattr.security.capability" {
                    meta.capabilities = Some(ext.value_bytes().to_vec());
                }
            }
        }
        use tar::EntryType as T;
        let entry_type = entry.header().entry_type();
        let link_name = || {
            entry
                .link_name_bytes()
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default()
        };
        let mut content = None;
        match entry_type {
            T::Directory => {
                meta.kind = FileKind::Dir;
                meta.size = 0;
            }
            T::Regular | T::Continuous | T::GNUSparse => {
                let keep = wanted(&path);
                if keep && meta.size > MAX_KEPT_FILE {
                    index.ops.push(Op::Refused {
                        why: format!(
                            "/{path}: {} bytes, more than the {MAX_KEPT_FILE} read of a package database or metadata file",
                            meta.size
                        ),
                    });
                }
                let keep = keep && meta.size <= MAX_KEPT_FILE;
                let mut kept = Vec::new();
                let (mut md5, mut sha) = (Md5::new(), sha2::Sha256::new());
                let mut size = 0u64;
                loop {
                    let n = entry.read(&mut buf)?;
                    if n == 0 {
                        break;
                    }
                    let chunk = &buf[..n];
                    md5.update(chunk);
                    sha.update(chunk);
                    if keep {
                        kept.extend_from_slice(chunk);
                    }
                    size += n as u64;
                }
                meta.size = size;
                meta.md5 = Some(md5.finalize().into());
                meta.sha256 = Some(sha.finalize().into());
                if keep {
                    content = Some(u32::try_from(index.contents.len()).unwrap_or(u32::MAX));
                    index.contents.push(kept);
                }
            }
            T::Symlink => {
                let link = link_name();
                meta.kind = FileKind::Symlink;
                meta.size = link.len() as u64;
                meta.link = Some(link);
            }
            T::Link => {
                let target = link_name();
                match entry_parts(&target) {
                    Some(t) => index.ops.push(Op::Link {
                        path,
                        target: t.join("/"),
                    }),
                    None => index.ops.push(Op::Refused {
                        why: format!("{raw}: hard link to {target} names \"..\""),
                    }),
                }
                continue;
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
            }
            _ => continue,
        }
        index.ops.push(Op::Put {
            path,
            meta,
            content,
        });
    }
    Ok(index)
}

/// A reader that digests what passes through it.
struct Sha256Reader<R> {
    inner: R,
    digest: sha2::Sha256,
}

impl<R: Read> Sha256Reader<R> {
    fn new(inner: R) -> Self {
        Sha256Reader {
            inner,
            digest: sha2::Sha256::new(),
        }
    }

    fn finish(self) -> [u8; 32] {
        self.digest.finalize().into()
    }
}

impl<R: Read> Read for Sha256Reader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.digest.update(&buf[..n]);
        Ok(n)
    }
}

/// A layer stream, decompressed by its magic number.
pub fn decompress(mut file: std::fs::File) -> io::Result<Box<dyn Read + Send>> {
    use std::io::{Seek, SeekFrom};
    let mut magic = [0u8; 4];
    let n = file.read(&mut magic)?;
    file.seek(SeekFrom::Start(0))?;
    let file = io::BufReader::with_capacity(256 * 1024, file);
    Ok(match &magic[..n] {
        [0x1f, 0x8b, ..] => Box::new(flate2::read::MultiGzDecoder::new(file)),
        [0x28, 0xb5, 0x2f, 0xfd] => Box::new(zstd::stream::read::Decoder::new(file)?),
        _ => Box::new(file),
    })
}

/// Layer descriptions kept between scans, in a directory of their own:
/// `layers/HEX.json.zst` by `diff_id`, and `blobs/HEX` naming the
/// `diff_id` a (compressed) blob was found to have. Bounded: past
/// `max_bytes` the least recently used go.
#[derive(Debug, Clone)]
pub struct LayerCache {
    pub dir: PathBuf,
    pub max_bytes: u64,
}

impl LayerCache {
    /// The description of the blob `digest`, if it was analysed before.
    pub fn get(&self, blob_digest: &str) -> Option<LayerIndex> {
        let blob = self.versioned().join("blobs").join(hex_of(blob_digest)?);
        let diff_id = std::fs::read_to_string(&blob).ok()?;
        let file = self
            .versioned()
            .join("layers")
            .join(hex_of(diff_id.trim())?);
        let json = zstd::stream::decode_all(std::fs::File::open(&file).ok()?).ok()?;
        let index: LayerIndex = serde_json::from_slice(&json).ok()?;
        drop(json);
        // Used now: the last to go.
        let now = std::time::SystemTime::now();
        let _ = std::fs::File::options()
            .write(true)
            .open(&file)
            .and_then(|f| f.set_modified(now));
        (index.diff_id == diff_id.trim()).then_some(index)
    }

    /// Keep `index`, the description of blob `blob_digest`.
    pub fn put(&self, blob_digest: &str, index: &LayerIndex) -> io::Result<()> {
        let (Some(blob_hex), Some(diff_hex)) = (hex_of(blob_digest), hex_of(&index.diff_id)) else {
            return Ok(());
        };
        let layers = self.versioned().join("layers");
        let blobs = self.versioned().join("blobs");
        std::fs::create_dir_all(&layers)?;
        std::fs::create_dir_all(&blobs)?;
        let json = serde_json::to_vec(index).map_err(io::Error::other)?;
        let packed = zstd::stream::encode_all(&json[..], 3)?;
        write_atomically(&layers.join(diff_hex), &packed)?;
        write_atomically(&blobs.join(blob_hex), index.diff_id.as_bytes())?;
        // Descriptions of another version are never read again.
        if let Ok(entries) = std::fs::read_dir(&self.dir) {
            let current = format!("v{DESCRIPTION_VERSION}");
            for e in entries.filter_map(Result::ok) {
                if e.file_name().to_string_lossy() != current {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
        self.trim(&layers)
    }

    /// This version's directory; older versions' are removed when a
    /// description is kept.
    fn versioned(&self) -> PathBuf {
        self.dir.join(format!("v{DESCRIPTION_VERSION}"))
    }

    /// Remove the least recently used descriptions past `max_bytes`.
    fn trim(&self, layers: &Path) -> io::Result<()> {
        let mut files: Vec<(std::time::SystemTime, u64, PathBuf)> = std::fs::read_dir(layers)?
            .filter_map(Result::ok)
            .filter_map(|e| {
                let m = e.metadata().ok()?;
                Some((m.modified().ok()?, m.len(), e.path()))
            })
            .collect();
        let mut total: u64 = files.iter().map(|f| f.1).sum();
        files.sort();
        for (_, len, path) in files {
            if total <= self.max_bytes {
                break;
            }
            let _ = std::fs::remove_file(&path);
            total = total.saturating_sub(len);
        }
        Ok(())
    }
}

/// The hex part of `sha256:HEX`, when it is one.
fn hex_of(digest: &str) -> Option<&str> {
    let hex = digest.strip_prefix("sha256:")?;
    (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then_some(hex)
}

fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

/// Kept contents as base64 strings in the cache's JSON.
mod b64_list {
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[Vec<u8>], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(
            v.iter()
                .map(|b| base64::engine::general_purpose::STANDARD.encode(b)),
        )
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<u8>>, D::Error> {
        Vec::<String>::deserialize(d)?
            .into_iter()
            .map(|s| {
                base64::engine::general_purpose::STANDARD
                    .decode(s)
                    .map_err(serde::de::Error::custom)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gz_layer(dir: &Path, files: &[(&str, &str)]) -> (PathBuf, Vec<u8>) {
        let plain = crate::testing::tar_of(files);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &plain).unwrap();
        let packed = gz.finish().unwrap();
        let digest = hex::encode(sha2::Sha256::digest(&packed));
        let path = dir.join(digest);
        std::fs::write(&path, &packed).unwrap();
        (path, plain)
    }

    #[test]
    fn a_layer_is_described_once_and_kept_by_what_it_is() {
        let t = tempfile::tempdir().unwrap();
        let (layer, plain) = gz_layer(
            t.path(),
            &[
                ("etc/os-release", "ID=debian\n"),
                ("usr/bin/tool", "binary"),
                ("usr/share/doc/tool/copyright", "License: MIT\n"),
            ],
        );
        let index = analyse(&layer).unwrap();
        // The diff_id is the uncompressed stream's digest.
        assert_eq!(
            index.diff_id,
            format!("sha256:{}", hex::encode(sha2::Sha256::digest(&plain)))
        );
        // Kept: what the analysers read; digested: everything.
        let kept: Vec<(&str, Option<&[u8]>)> = index
            .ops
            .iter()
            .filter_map(|op| match op {
                Op::Put { path, content, .. } => Some((
                    path.as_str(),
                    content.map(|i| index.contents[i as usize].as_slice()),
                )),
                _ => None,
            })
            .collect();
        assert_eq!(
            kept,
            [
                ("etc/os-release", Some(&b"ID=debian\n"[..])),
                ("usr/bin/tool", None),
                ("usr/share/doc/tool/copyright", Some(&b"License: MIT\n"[..])),
            ]
        );
        let Op::Put { meta, .. } = &index.ops[1] else {
            panic!()
        };
        assert_eq!(meta.md5, Some(Md5::digest(b"binary").into()));

        // Cached under the blob it came from, found again whole.
        let cache = LayerCache {
            dir: t.path().join("cache"),
            max_bytes: 1 << 20,
        };
        let blob = format!("sha256:{}", layer.file_name().unwrap().to_string_lossy());
        assert!(cache.get(&blob).is_none());
        cache.put(&blob, &index).unwrap();
        assert_eq!(cache.get(&blob).as_ref(), Some(&index));
        // Another blob name finds nothing, though it may claim the same
        // diff_id in its image's config.
        assert!(cache.get(&format!("sha256:{}", "0".repeat(64))).is_none());
        // Past its bound, the least recently used go.
        let small = LayerCache {
            dir: t.path().join("cache"),
            max_bytes: 0,
        };
        small.put(&blob, &index).unwrap();
        assert!(small.get(&blob).is_none());
    }

    #[test]
    fn wanted_files_are_the_ones_the_analysers_read() {
        for p in [
            "etc/os-release",
            "usr/lib/os-release",
            "var/lib/dpkg/status",
            "var/lib/dpkg/status.d/base",
            "var/lib/dpkg/info/libc6:amd64.md5sums",
            "var/lib/dpkg/info/libc6:amd64.list",
            "lib/apk/db/installed",
            "var/lib/rpm/rpmdb.sqlite",
            "usr/lib/python3/dist-packages/pip-23.0.1.dist-info/METADATA",
            "opt/venv/lib/python3.11/site-packages/flask-3.0.0.dist-info/RECORD",
            "app/node_modules/left-pad/package.json",
            "app/package.json",
            "usr/share/doc/bash/copyright",
            "var/lib/gems/3.1.0/specifications/rake-13.0.6.gemspec",
        ] {
            assert!(wanted(p), "{p}");
        }
        for p in [
            "usr/bin/bash",
            "etc/passwd",
            "usr/share/doc/bash/changelog.gz",
            "var/lib/dpkg/info/libc6:amd64.postinst",
            "home/u/os-release",
        ] {
            assert!(!wanted(p), "{p}");
        }
    }
}
