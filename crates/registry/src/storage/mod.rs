//! The content-addressed blob store, shared by every repository, on one of
//! two backends:
//!
//! - [`fs`] (the default): files under a local directory.
//! - [`s3`]: objects in an S3-compatible bucket, which several Slipway
//!   servers behind a load balancer can share (an upload's chunks may
//!   reach different servers).
//!
//! Invariant, on both: a blob becomes readable only once it is complete and
//! verified against its digest. A reader never sees a partial or wrong
//! blob, also after a crash, and a blob pushed to many repositories is
//! stored once.
//!
//! [`BlobStore`] is an enum over the two; its methods are the registry's
//! one way in, whatever the backend.

mod config;
pub mod fs;
pub mod s3;
#[cfg(test)]
pub(crate) mod tests;

pub use config::{BlobBackendConfig, S3Config, SecretSource};

use crate::digest::{Algorithm, Digest};
use bytes::Bytes;
use futures::Stream;
use futures::stream::BoxStream;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

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
    /// The object store answered with an error (or could not be reached).
    #[error("object storage error: {0}")]
    Remote(#[from] object_store::Error),
    /// An upload's stored chunks do not line up (two clients wrote the same
    /// upload at once, which the distribution spec does not allow).
    #[error("upload {id} is inconsistent: {why}")]
    Inconsistent { id: String, why: String },
    /// The backend's configuration cannot be used.
    #[error("blob storage configuration: {0}")]
    Config(String),
}

/// A committed blob, as garbage collection sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobInfo {
    pub digest: Digest,
    pub size: u64,
    /// When it was last written (its age decides GC's grace period).
    pub modified: SystemTime,
}

/// An upload session's data in the backend, as garbage collection sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadInfo {
    pub id: String,
    /// When a chunk was last written to it (or it was started).
    pub modified: SystemTime,
}

/// A blob's bytes (or a range of them): in memory (a memory map, for the
/// filesystem) or streamed from the backend.
pub enum BlobBody {
    Bytes(Bytes),
    Stream(BoxStream<'static, Result<Bytes, StorageError>>),
}

impl std::fmt::Debug for BlobBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BlobBody::Bytes(b) => write!(f, "BlobBody::Bytes({} bytes)", b.len()),
            BlobBody::Stream(_) => f.write_str("BlobBody::Stream"),
        }
    }
}

impl BlobBody {
    /// All of it in memory (tests, small reads).
    pub async fn collect(self) -> Result<Bytes, StorageError> {
        use futures::TryStreamExt;
        match self {
            BlobBody::Bytes(b) => Ok(b),
            BlobBody::Stream(s) => {
                let parts: Vec<Bytes> = s.try_collect().await?;
                Ok(Bytes::from(parts.concat()))
            }
        }
    }
}

/// The blob store: one backend, chosen at start (see [`BlobBackendConfig`]).
pub enum BlobStore {
    Fs(fs::FsBlobs),
    S3(s3::S3Blobs),
}

impl std::fmt::Debug for BlobStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

/// Dispatch `$call` to whichever backend `$self` is.
macro_rules! each {
    ($self:expr, $b:ident => $call:expr) => {
        match $self {
            BlobStore::Fs($b) => $call,
            BlobStore::S3($b) => $call,
        }
    };
}

impl BlobStore {
    /// The filesystem backend rooted at `root` (`<root>/blobs`, `<root>/uploads`).
    pub fn open(root: &Path) -> std::io::Result<Self> {
        Ok(BlobStore::Fs(fs::FsBlobs::open(root)?))
    }

    /// The S3 backend (no request is made; see [`BlobStore::check`]).
    pub fn open_s3(config: &S3Config) -> Result<Self, StorageError> {
        Ok(BlobStore::S3(s3::S3Blobs::open(config)?))
    }

    /// The backend `config` names; the filesystem one defaults to
    /// `default_root` (the server's `<data>/registry`).
    pub fn from_config(
        config: &BlobBackendConfig,
        default_root: &Path,
    ) -> Result<Self, StorageError> {
        match config {
            BlobBackendConfig::Filesystem { root } => {
                Ok(Self::open(root.as_deref().unwrap_or(default_root))?)
            }
            BlobBackendConfig::S3(c) => Self::open_s3(c),
        }
    }

    /// Which backend and where, for logs (never a credential).
    pub fn describe(&self) -> String {
        match self {
            BlobStore::Fs(b) => format!("filesystem at {}", b.root().display()),
            BlobStore::S3(b) => b.describe(),
        }
    }

    /// Whether the backend answers (S3: the bucket can be listed with
    /// these credentials). For a clear error at start rather than at the
    /// first push.
    pub async fn check(&self) -> Result<(), StorageError> {
        each!(self, b => b.check().await)
    }

    /// Filesystem backend: the file of blob `d`. The S3 backend has no
    /// file: it returns a path that never exists, so `is_file()` is false.
    /// Prefer [`BlobStore::local_file`], which works on both.
    pub fn blob_path(&self, d: &Digest) -> PathBuf {
        match self {
            BlobStore::Fs(b) => b.blob_path(d),
            BlobStore::S3(_) => PathBuf::from("/nonexistent/slipway-s3-blob")
                .join(d.algorithm.as_str())
                .join(&d.hex),
        }
    }

    /// A local file holding blob `d`, for readers that need a path (the
    /// image scanner): the blob's own file on the filesystem backend, a
    /// copy downloaded into `scratch` (named `<algorithm>-<hex>`, removed
    /// by the caller with `scratch`) on S3. `None` when there is no such blob.
    pub async fn local_file(
        &self,
        d: &Digest,
        scratch: &Path,
    ) -> Result<Option<PathBuf>, StorageError> {
        each!(self, b => b.local_file(d, scratch).await)
    }

    /// The size of a committed blob, if it exists.
    pub async fn stat(&self, d: &Digest) -> Result<Option<u64>, StorageError> {
        each!(self, b => b.stat(d).await)
    }

    /// A committed blob's bytes `start..start+len`, streamed (S3) or
    /// memory-mapped (filesystem). Errors when the range is outside the blob.
    pub async fn read(&self, d: &Digest, start: u64, len: u64) -> Result<BlobBody, StorageError> {
        each!(self, b => b.read(d, start, len).await)
    }

    /// A committed blob's bytes `start..start+len`, in memory.
    pub async fn map(&self, d: &Digest, start: u64, len: u64) -> Result<Bytes, StorageError> {
        self.read(d, start, len).await?.collect().await
    }

    /// A whole committed blob in memory (manifests).
    pub async fn read_all(&self, d: &Digest) -> Result<Vec<u8>, StorageError> {
        each!(self, b => b.read_all(d).await)
    }

    /// Start an upload session with a fresh random id.
    pub async fn start_upload(&self) -> Result<String, StorageError> {
        each!(self, b => b.start_upload().await)
    }

    /// The number of bytes an upload holds.
    pub async fn upload_size(&self, id: &str) -> Result<u64, StorageError> {
        each!(self, b => b.upload_size(id).await)
    }

    /// Append a chunk. `start`, when given (from `Content-Range`), must equal
    /// the current size. Returns the new size. When `body` fails half-way,
    /// what was received is kept (the client may resume from there) and
    /// [`StorageError::Stream`] is returned.
    pub async fn append<S, E>(
        &self,
        id: &str,
        start: Option<u64>,
        body: S,
    ) -> Result<u64, StorageError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin + Send,
        E: std::fmt::Display,
    {
        each!(self, b => b.append(id, start, body).await)
    }

    /// Verify the upload against `expected` and make it a blob. On mismatch
    /// the upload is discarded and nothing is stored. Returns the blob size.
    pub async fn commit(&self, id: &str, expected: &Digest) -> Result<u64, StorageError> {
        each!(self, b => b.commit(id, expected).await)
    }

    /// Store `data` as a blob directly (manifests, small monolithic pushes).
    pub async fn put(&self, data: &[u8], algorithm: Algorithm) -> Result<Digest, StorageError> {
        each!(self, b => b.put(data, algorithm).await)
    }

    /// Remove an upload's data (no error when there is none).
    pub async fn discard_upload(&self, id: &str) {
        each!(self, b => b.discard_upload(id).await)
    }

    /// Remove a committed blob; whether it existed.
    pub async fn delete_blob(&self, d: &Digest) -> Result<bool, StorageError> {
        each!(self, b => b.delete_blob(d).await)
    }

    /// Every committed blob, for garbage collection.
    /// Copy every blob of this store that `to` lacks into `to` (moving an
    /// installation's blobs to object storage), each streamed through an
    /// upload of `to` and verified against its digest there; a blob `to`
    /// has already is skipped, so a copy that stopped can run again.
    /// `progress` hears each blob copied. Returns (blobs copied, bytes).
    pub async fn copy_to(
        &self,
        to: &BlobStore,
        progress: &(dyn Fn(&Digest, u64) + Sync),
    ) -> Result<(u64, u64), StorageError> {
        let (mut n, mut bytes) = (0, 0);
        for blob in self.list_blobs().await? {
            if to.stat(&blob.digest).await? == Some(blob.size) {
                continue;
            }
            let id = to.start_upload().await?;
            let body: BoxStream<'static, Result<Bytes, StorageError>> =
                match self.read(&blob.digest, 0, blob.size).await? {
                    BlobBody::Bytes(b) => Box::pin(futures::stream::once(async move { Ok(b) })),
                    BlobBody::Stream(s) => s,
                };
            let copied = async {
                to.append(&id, Some(0), body).await?;
                to.commit(&id, &blob.digest).await
            }
            .await;
            if let Err(e) = copied {
                to.discard_upload(&id).await;
                return Err(e);
            }
            n += 1;
            bytes += blob.size;
            progress(&blob.digest, blob.size);
        }
        Ok((n, bytes))
    }

    pub async fn list_blobs(&self) -> Result<Vec<BlobInfo>, StorageError> {
        each!(self, b => b.list_blobs().await)
    }

    /// Every upload session holding data in the backend, for garbage
    /// collection (which removes old ones the metadata store has forgotten).
    pub async fn list_uploads(&self) -> Result<Vec<UploadInfo>, StorageError> {
        each!(self, b => b.list_uploads().await)
    }
}

pub(crate) fn new_id() -> String {
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

/// `start..start+len` as indices into a blob of `size` bytes, if inside it.
pub(crate) fn range_inside(start: u64, len: u64, size: u64) -> Result<(), StorageError> {
    match start.checked_add(len) {
        Some(end) if end <= size => Ok(()),
        _ => Err(StorageError::Io(std::io::Error::other(
            "range outside the blob",
        ))),
    }
}
