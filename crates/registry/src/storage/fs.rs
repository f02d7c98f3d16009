//! The filesystem backend of the blob store (the default).
//!
//! ```text
//! <root>/blobs/<algorithm>/<first two hex>/<hex>   committed, immutable blobs
//! <root>/uploads/<id>                              upload sessions in progress
//! ```
//!
//! Invariant: a file appears under `blobs/` only by `rename(2)` of an upload
//! that was fully written, fsynced and verified against its digest. So a blob
//! that can be read is always complete and correct, also after a crash, and a
//! blob pushed to many repositories is stored once.

use super::{BlobBody, BlobInfo, StorageError, UploadInfo, new_id, range_inside};
use crate::digest::{Algorithm, Digest, Hasher};
use bytes::Bytes;
use futures::{Stream, StreamExt};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The running state of one upload: what has been written and, while the
/// server keeps running, a SHA-256 of it so far (to avoid re-reading at commit).
struct UploadState {
    size: u64,
    sha256: Option<Hasher>,
}

pub struct FsBlobs {
    root: PathBuf,
    uploads: Mutex<HashMap<String, Arc<tokio::sync::Mutex<UploadState>>>>,
}

const READ_BUF: usize = 256 * 1024;

impl FsBlobs {
    pub fn open(root: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(root.join("blobs"))?;
        std::fs::create_dir_all(root.join("uploads"))?;
        Ok(FsBlobs {
            root: root.to_path_buf(),
            uploads: Mutex::new(HashMap::new()),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub async fn check(&self) -> Result<(), StorageError> {
        tokio::fs::metadata(self.root.join("blobs")).await?;
        Ok(())
    }

    pub fn blob_path(&self, d: &Digest) -> PathBuf {
        self.root
            .join("blobs")
            .join(d.algorithm.as_str())
            .join(&d.hex[..2])
            .join(&d.hex)
    }

    fn upload_path(&self, id: &str) -> PathBuf {
        self.root.join("uploads").join(id)
    }

    /// The size of a committed blob, if it exists.
    pub async fn stat(&self, d: &Digest) -> Result<Option<u64>, StorageError> {
        match tokio::fs::metadata(self.blob_path(d)).await {
            Ok(m) => Ok(Some(m.len())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn local_file(
        &self,
        d: &Digest,
        _scratch: &Path,
    ) -> Result<Option<PathBuf>, StorageError> {
        Ok(self.stat(d).await?.map(|_| self.blob_path(d)))
    }

    pub async fn read(&self, d: &Digest, start: u64, len: u64) -> Result<BlobBody, StorageError> {
        Ok(BlobBody::Bytes(self.map(d, start, len).await?))
    }

    /// A committed blob's bytes `start..start+len`, memory-mapped: the body is
    /// sent straight from the page cache without copying through a read
    /// buffer. Safe because blob files are immutable: they are only ever
    /// created by rename and removed by unlink, which keeps a mapped inode alive.
    pub async fn map(&self, d: &Digest, start: u64, len: u64) -> Result<Bytes, StorageError> {
        let path = self.blob_path(d);
        let map = tokio::task::spawn_blocking(move || -> std::io::Result<memmap2::Mmap> {
            let f = std::fs::File::open(path)?;
            // SAFETY: blob files are never written after their rename into
            // place (see the module invariant), so the mapping cannot change
            // under us; unlinking keeps the mapped inode alive.
            unsafe { memmap2::Mmap::map(&f) }
        })
        .await
        .map_err(std::io::Error::other)??;
        range_inside(start, len, map.len() as u64)?;
        match (usize::try_from(start), usize::try_from(start + len)) {
            (Ok(s), Ok(e)) => Ok(Bytes::from_owner(map).slice(s..e)),
            _ => Err(StorageError::Io(std::io::Error::other(
                "range outside the blob",
            ))),
        }
    }

    pub async fn read_all(&self, d: &Digest) -> Result<Vec<u8>, StorageError> {
        Ok(tokio::fs::read(self.blob_path(d)).await?)
    }

    /// Start an upload session with a fresh random id.
    pub async fn start_upload(&self) -> Result<String, StorageError> {
        let id = new_id();
        tokio::fs::File::create(self.upload_path(&id)).await?;
        self.state(&id, 0);
        Ok(id)
    }

    fn state(&self, id: &str, size: u64) -> Arc<tokio::sync::Mutex<UploadState>> {
        let mut map = self.uploads.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(id.to_string())
            .or_insert_with(|| {
                Arc::new(tokio::sync::Mutex::new(UploadState {
                    size,
                    // Resumed after a restart: the hash is recomputed at commit.
                    sha256: (size == 0).then(|| Hasher::new(Algorithm::Sha256)),
                }))
            })
            .clone()
    }

    /// The number of bytes an upload holds.
    pub async fn upload_size(&self, id: &str) -> Result<u64, StorageError> {
        match tokio::fs::metadata(self.upload_path(id)).await {
            Ok(m) => Ok(m.len()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(StorageError::UploadUnknown(id.into()))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Append a chunk. `start`, when given (from `Content-Range`), must equal
    /// the current size. Returns the new size.
    pub async fn append<S, E>(
        &self,
        id: &str,
        start: Option<u64>,
        mut body: S,
    ) -> Result<u64, StorageError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin + Send,
        E: std::fmt::Display,
    {
        let on_disk = self.upload_size(id).await?;
        let state = self.state(id, on_disk);
        let mut st = state.lock().await;
        if st.size != on_disk {
            // A write failed half-way earlier: trust the file, drop the running hash.
            st.size = on_disk;
            st.sha256 = None;
        }
        if let Some(s) = start
            && s != st.size
        {
            return Err(StorageError::OutOfOrder {
                expected: st.size,
                got: s,
            });
        }
        let mut f = tokio::fs::OpenOptions::new()
            .append(true)
            .open(self.upload_path(id))
            .await?;
        let mut buf = Vec::with_capacity(READ_BUF);
        let mut result = Ok(());
        while let Some(chunk) = body.next().await {
            match chunk {
                Ok(c) => {
                    if let Some(h) = st.sha256.as_mut() {
                        h.update(&c);
                    }
                    buf.extend_from_slice(&c);
                    if buf.len() >= READ_BUF {
                        f.write_all(&buf).await?;
                        st.size += buf.len() as u64;
                        buf.clear();
                    }
                }
                Err(e) => {
                    result = Err(StorageError::Stream(e.to_string()));
                    break;
                }
            }
        }
        if !buf.is_empty() {
            f.write_all(&buf).await?;
            st.size += buf.len() as u64;
        }
        f.flush().await?;
        if result.is_err() {
            // What was hashed may include bytes that never reached the file.
            st.sha256 = None;
        }
        result.map(|()| st.size)
    }

    /// Verify the upload against `expected` and make it a blob. On mismatch
    /// the upload is discarded and nothing is stored. Returns the blob size.
    pub async fn commit(&self, id: &str, expected: &Digest) -> Result<u64, StorageError> {
        let path = self.upload_path(id);
        let on_disk = self.upload_size(id).await?;
        let state = self.state(id, on_disk);
        let st = state.lock().await;
        let running = match (&st.sha256, expected.algorithm) {
            (Some(h), Algorithm::Sha256) if st.size == on_disk => Some(h.clone().finish()),
            _ => None,
        };
        let actual = match running {
            Some(d) => d,
            None => hash_file(&path, expected.algorithm).await?,
        };
        drop(st);
        if &actual != expected {
            self.discard_upload(id).await;
            return Err(StorageError::DigestMismatch {
                expected: expected.to_string(),
                actual: actual.to_string(),
            });
        }
        let f = tokio::fs::File::open(&path).await?;
        f.sync_all().await?;
        let dest = self.blob_path(expected);
        if let Some(parent) = dest.parent() {
            tokio::fs::create_dir_all(parent).await?;
        }
        tokio::fs::rename(&path, &dest).await?;
        if let Some(parent) = dest.parent() {
            sync_dir(parent).await;
        }
        self.forget(id);
        Ok(on_disk)
    }

    /// Store `data` as a blob directly (manifests, small monolithic pushes).
    pub async fn put(&self, data: &[u8], algorithm: Algorithm) -> Result<Digest, StorageError> {
        let digest = crate::digest::digest_of(algorithm, data);
        if self.stat(&digest).await? == Some(data.len() as u64) {
            return Ok(digest);
        }
        let id = new_id();
        let tmp = self.upload_path(&id);
        let mut f = tokio::fs::File::create(&tmp).await?;
        f.write_all(data).await?;
        f.sync_all().await?;
        let dest = self.blob_path(&digest);
        if let Some(parent) = dest.parent() {
            tokio::fs::create_dir_all(parent).await?;
        }
        tokio::fs::rename(&tmp, &dest).await?;
        Ok(digest)
    }

    pub async fn discard_upload(&self, id: &str) {
        let _ = tokio::fs::remove_file(self.upload_path(id)).await;
        self.forget(id);
    }

    fn forget(&self, id: &str) {
        self.uploads
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
    }

    pub async fn delete_blob(&self, d: &Digest) -> Result<bool, StorageError> {
        match tokio::fs::remove_file(self.blob_path(d)).await {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Every committed blob: `blobs/<algorithm>/<xx>/<hex>`.
    pub async fn list_blobs(&self) -> Result<Vec<BlobInfo>, StorageError> {
        let root = self.root.join("blobs");
        let list = tokio::task::spawn_blocking(move || list_blob_files(&root))
            .await
            .map_err(std::io::Error::other)??;
        Ok(list)
    }

    /// Every upload file (also the temporary files of [`FsBlobs::put`]).
    pub async fn list_uploads(&self) -> Result<Vec<UploadInfo>, StorageError> {
        let mut out = Vec::new();
        let mut dir = tokio::fs::read_dir(self.root.join("uploads")).await?;
        while let Some(e) = dir.next_entry().await? {
            let id = e.file_name().to_string_lossy().into_owned();
            // Gone since the listing (committed or discarded): skip it.
            let Ok(meta) = e.metadata().await else {
                continue;
            };
            out.push(UploadInfo {
                id,
                modified: meta.modified().unwrap_or(std::time::UNIX_EPOCH),
            });
        }
        Ok(out)
    }
}

fn list_blob_files(root: &Path) -> std::io::Result<Vec<BlobInfo>> {
    let mut out = Vec::new();
    for algo in std::fs::read_dir(root)? {
        let algo = algo?;
        for prefix in std::fs::read_dir(algo.path())? {
            for file in std::fs::read_dir(prefix?.path())? {
                let file = file?;
                let name = format!(
                    "{}:{}",
                    algo.file_name().to_string_lossy(),
                    file.file_name().to_string_lossy()
                );
                let Ok(digest) = name.parse::<Digest>() else {
                    continue;
                };
                // Deleted since the listing: not a blob any more.
                let Ok(meta) = file.metadata() else {
                    continue;
                };
                out.push(BlobInfo {
                    digest,
                    size: meta.len(),
                    modified: meta.modified().unwrap_or(std::time::UNIX_EPOCH),
                });
            }
        }
    }
    Ok(out)
}

async fn hash_file(path: &Path, algorithm: Algorithm) -> Result<Digest, StorageError> {
    let mut f = tokio::fs::File::open(path).await?;
    let mut h = Hasher::new(algorithm);
    let mut buf = vec![0u8; READ_BUF];
    loop {
        let n = f.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finish())
}

async fn sync_dir(dir: &Path) {
    if let Ok(d) = tokio::fs::File::open(dir).await {
        let _ = d.sync_all().await;
    }
}
