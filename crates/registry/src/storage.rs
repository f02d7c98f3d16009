//! The content-addressed blob store, shared by every repository.
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

use crate::digest::{Algorithm, Digest, Hasher};
use bytes::Bytes;
use futures::{Stream, StreamExt};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("upload {0} does not exist")]
    UploadUnknown(String),
    #[error("content does not match digest {expected} (got {actual})")]
    DigestMismatch { expected: String, actual: String },
    #[error("chunk starts at {got} but the upload has {expected} bytes")]
    OutOfOrder { expected: u64, got: u64 },
    #[error("the upload stream failed: {0}")]
    Stream(String),
    #[error("storage I/O error: {0}")]
    Io(#[from] std::io::Error),
}

/// The running state of one upload: what has been written and, while the
/// server keeps running, a SHA-256 of it so far (to avoid re-reading at commit).
struct UploadState {
    size: u64,
    sha256: Option<Hasher>,
}

pub struct BlobStore {
    root: PathBuf,
    uploads: Mutex<HashMap<String, Arc<tokio::sync::Mutex<UploadState>>>>,
}

const READ_BUF: usize = 256 * 1024;

impl BlobStore {
    pub fn open(root: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(root.join("blobs"))?;
        std::fs::create_dir_all(root.join("uploads"))?;
        Ok(BlobStore {
            root: root.to_path_buf(),
            uploads: Mutex::new(HashMap::new()),
        })
    }

    pub fn blobs_root(&self) -> PathBuf {
        self.root.join("blobs")
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
    pub async fn stat(&self, d: &Digest) -> Option<u64> {
        tokio::fs::metadata(self.blob_path(d))
            .await
            .ok()
            .map(|m| m.len())
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
        let (start, end) = (usize::try_from(start), usize::try_from(start + len));
        match (start, end) {
            (Ok(s), Ok(e)) if e <= map.len() => Ok(Bytes::from_owner(map).slice(s..e)),
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
        S: Stream<Item = Result<Bytes, E>> + Unpin,
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
        if self.stat(&digest).await == Some(data.len() as u64) {
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
}

fn new_id() -> String {
    use rand::RngCore;
    let mut b = [0u8; 16];
    rand::rng().fill_bytes(&mut b);
    hex::encode(b)
}

/// Whether `id` looks like an upload id we issued (so it is safe in a path).
pub fn valid_upload_id(id: &str) -> bool {
    id.len() == 32
        && id
            .chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::digest_of;

    fn chunks(
        parts: &[&'static [u8]],
    ) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Unpin {
        futures::stream::iter(
            parts
                .iter()
                .map(|p| Ok(Bytes::from_static(p)))
                .collect::<Vec<_>>(),
        )
    }

    #[tokio::test]
    async fn chunked_upload_commits_once_verified() {
        let d = tempfile::tempdir().unwrap();
        let s = BlobStore::open(d.path()).unwrap();
        let id = s.start_upload().await.unwrap();
        assert_eq!(
            s.append(&id, Some(0), chunks(&[b"hello ", b"wor"]))
                .await
                .unwrap(),
            9
        );
        let e = s.append(&id, Some(3), chunks(&[b"x"])).await.unwrap_err();
        assert!(matches!(
            e,
            StorageError::OutOfOrder {
                expected: 9,
                got: 3
            }
        ));
        assert_eq!(s.append(&id, Some(9), chunks(&[b"ld"])).await.unwrap(), 11);
        let want = digest_of(Algorithm::Sha256, b"hello world");
        assert_eq!(s.stat(&want).await, None, "visible before commit");
        assert_eq!(s.commit(&id, &want).await.unwrap(), 11);
        assert_eq!(s.read_all(&want).await.unwrap(), b"hello world");
        assert!(matches!(
            s.upload_size(&id).await,
            Err(StorageError::UploadUnknown(_))
        ));
    }

    #[tokio::test]
    async fn mismatch_stores_nothing() {
        let d = tempfile::tempdir().unwrap();
        let s = BlobStore::open(d.path()).unwrap();
        let id = s.start_upload().await.unwrap();
        s.append(&id, None, chunks(&[b"data"])).await.unwrap();
        let wrong = digest_of(Algorithm::Sha256, b"other");
        assert!(matches!(
            s.commit(&id, &wrong).await,
            Err(StorageError::DigestMismatch { .. })
        ));
        assert_eq!(s.stat(&wrong).await, None);
        assert_eq!(
            std::fs::read_dir(d.path().join("uploads")).unwrap().count(),
            0
        );
        assert_eq!(
            std::fs::read_dir(d.path().join("blobs")).unwrap().count(),
            0
        );
    }

    #[tokio::test]
    async fn resumes_after_restart_and_supports_sha512() {
        let d = tempfile::tempdir().unwrap();
        let id = {
            let s = BlobStore::open(d.path()).unwrap();
            let id = s.start_upload().await.unwrap();
            s.append(&id, None, chunks(&[b"part one,"])).await.unwrap();
            id
        };
        // A new store: no in-memory hash; the file is the truth.
        let s = BlobStore::open(d.path()).unwrap();
        assert_eq!(s.upload_size(&id).await.unwrap(), 9);
        s.append(&id, Some(9), chunks(&[b" part two"]))
            .await
            .unwrap();
        let want = digest_of(Algorithm::Sha512, b"part one, part two");
        s.commit(&id, &want).await.unwrap();
        assert_eq!(s.read_all(&want).await.unwrap(), b"part one, part two");
    }

    #[tokio::test]
    async fn reads_ranges_and_puts_small_blobs() {
        let d = tempfile::tempdir().unwrap();
        let s = BlobStore::open(d.path()).unwrap();
        let dg = s.put(b"0123456789", Algorithm::Sha256).await.unwrap();
        assert_eq!(&s.map(&dg, 2, 5).await.unwrap()[..], b"23456");
        assert_eq!(&s.map(&dg, 0, 10).await.unwrap()[..], b"0123456789");
        assert!(s.map(&dg, 8, 5).await.is_err(), "past the end");
        assert_eq!(
            s.put(b"0123456789", Algorithm::Sha256).await.unwrap(),
            dg,
            "idempotent"
        );
        assert!(s.delete_blob(&dg).await.unwrap());
        assert!(!s.delete_blob(&dg).await.unwrap());
    }

    #[tokio::test]
    async fn broken_stream_keeps_what_was_written() {
        let d = tempfile::tempdir().unwrap();
        let s = BlobStore::open(d.path()).unwrap();
        let id = s.start_upload().await.unwrap();
        let body = futures::stream::iter(vec![
            Ok(Bytes::from_static(b"abc")),
            Err("connection reset"),
        ]);
        assert!(matches!(
            s.append(&id, None, body).await,
            Err(StorageError::Stream(_))
        ));
        assert_eq!(s.upload_size(&id).await.unwrap(), 3);
        // The interrupted upload is never visible as a blob.
        assert_eq!(
            std::fs::read_dir(d.path().join("blobs")).unwrap().count(),
            0
        );
        s.append(&id, Some(3), chunks(&[b"def"])).await.unwrap();
        s.commit(&id, &digest_of(Algorithm::Sha256, b"abcdef"))
            .await
            .unwrap();
    }
}
