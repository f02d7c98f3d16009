//! The S3 backend of the blob store (`object_store`'s S3 client: rustls
//! on ring). Keys, under the configured prefix:
//!
//! ```text
//! blobs/<algorithm>/<first two hex>/<hex>   committed, verified blobs
//! uploads/<id>/started                      an upload session exists
//! uploads/<id>/<offset, 20 digits>          one chunk (PATCH) of it
//! ```
//!
//! Nothing about an upload lives in process memory: several servers share
//! the bucket, and an upload's chunks may reach different ones. Its size is
//! the sum of its chunk objects (found by listing `uploads/<id>/`, which S3
//! answers consistently), and a chunk is accepted only at that size.
//!
//! Invariant: a `blobs/` key is written only with verified content. A commit
//! streams the chunks in order through the digest's hash into a multipart
//! upload to the blob's key and completes it only when the digest matches
//! (it aborts it otherwise); an unfinished multipart upload is never
//! visible. A blob of at most [`SMALL_BLOB`] bytes is hashed in memory and
//! written with one PUT after the check.

use super::{
    BlobBody, BlobInfo, S3Config, StorageError, UploadInfo, new_id, range_inside, valid_upload_id,
};
use crate::digest::{Algorithm, Digest, Hasher};
use bytes::Bytes;
use futures::{Stream, StreamExt, TryStreamExt};
use object_store::aws::AmazonS3Builder;
use object_store::buffered::BufWriter;
use object_store::path::Path as Key;
use object_store::{
    Certificate, ClientOptions, GetOptions, GetRange, ObjectMeta, ObjectStore, ObjectStoreExt,
    PutPayload, WriteMultipart,
};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::io::AsyncWriteExt;

/// Multipart part size, and the size past which a chunk is written as a
/// multipart upload (S3 wants parts of at least 5 MiB; 10,000 parts of
/// 8 MiB allow blobs of 78 GiB).
const PART_BYTES: usize = 8 * 1024 * 1024;
/// Blobs up to this size are committed from memory with a single PUT.
pub const SMALL_BLOB: u64 = 8 * 1024 * 1024;
/// Parts of one multipart upload in flight at once.
const CONCURRENCY: usize = 4;
/// The marker object of an upload session.
const STARTED: &str = "started";

pub struct S3Blobs {
    store: Arc<dyn ObjectStore>,
    /// Key prefix without slashes at either end (`""`: none).
    prefix: String,
    bucket: String,
    endpoint: Option<String>,
}

impl S3Blobs {
    /// A client for the bucket `config` names. Makes no request.
    pub fn open(config: &S3Config) -> Result<Self, StorageError> {
        // reqwest is built without a crypto provider of its own.
        slipway_tls::install_default_provider();
        if config.bucket.trim().is_empty() {
            return Err(StorageError::Config("the S3 bucket is not named".into()));
        }
        let prefix = config.clean_prefix()?;
        let credentials = config.credentials()?;
        let mut options = ClientOptions::new()
            // A blob may take longer than any fixed bound to stream; a
            // stalled connection is caught by the read timeout instead.
            .with_timeout_disabled()
            .with_connect_timeout(Duration::from_secs(10))
            .with_read_timeout(Duration::from_secs(120))
            .with_allow_http(config.allow_http);
        if let Some(path) = &config.ca_file {
            let pem = std::fs::read(path).map_err(|e| {
                StorageError::Config(format!("cannot read CA file {}: {e}", path.display()))
            })?;
            let certs = Certificate::from_pem_bundle(&pem).map_err(|e| {
                StorageError::Config(format!("bad CA file {}: {e}", path.display()))
            })?;
            for c in certs {
                options = options.with_root_certificate(c);
            }
        }
        let mut builder = match &credentials {
            Some(_) => AmazonS3Builder::new(),
            None => AmazonS3Builder::from_env(),
        }
        .with_client_options(options)
        .with_bucket_name(&config.bucket)
        .with_allow_http(config.allow_http)
        .with_virtual_hosted_style_request(config.virtual_hosted_style);
        if let Some(region) = &config.region {
            builder = builder.with_region(region);
        }
        if let Some(endpoint) = &config.endpoint {
            builder = builder.with_endpoint(endpoint);
        }
        if let Some(c) = credentials {
            builder = builder
                .with_access_key_id(c.access_key_id)
                .with_secret_access_key(c.secret_access_key);
            if let Some(t) = c.session_token {
                builder = builder.with_token(t);
            }
        }
        let store = builder
            .build()
            .map_err(|e| StorageError::Config(e.to_string()))?;
        Ok(S3Blobs {
            store: Arc::new(store),
            prefix,
            bucket: config.bucket.clone(),
            endpoint: config.endpoint.clone(),
        })
    }

    pub fn describe(&self) -> String {
        let prefix = if self.prefix.is_empty() {
            String::new()
        } else {
            format!("/{}", self.prefix)
        };
        match &self.endpoint {
            Some(e) => format!("S3 bucket {}{prefix} at {e}", self.bucket),
            None => format!("S3 bucket {}{prefix}", self.bucket),
        }
    }

    /// The bucket can be listed (it exists, the credentials are good).
    pub async fn check(&self) -> Result<(), StorageError> {
        let mut list = self.store.list(Some(&self.key("blobs")));
        match list.next().await {
            Some(Err(e)) => Err(e.into()),
            _ => Ok(()),
        }
    }

    fn key(&self, rel: &str) -> Key {
        if self.prefix.is_empty() {
            Key::from(rel)
        } else {
            Key::from(format!("{}/{rel}", self.prefix))
        }
    }

    fn blob_key(&self, d: &Digest) -> Key {
        self.key(&format!(
            "blobs/{}/{}/{}",
            d.algorithm.as_str(),
            d.hex.get(..2).unwrap_or_default(),
            d.hex
        ))
    }

    fn upload_dir(&self, id: &str) -> Key {
        self.key(&format!("uploads/{id}"))
    }

    fn part_key(&self, id: &str, offset: u64) -> Key {
        self.key(&format!("uploads/{id}/{offset:020}"))
    }

    /// The size of a committed blob, if it exists.
    pub async fn stat(&self, d: &Digest) -> Result<Option<u64>, StorageError> {
        match self.store.head(&self.blob_key(d)).await {
            Ok(m) => Ok(Some(m.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Bytes `start..start+len` of a committed blob, streamed.
    pub async fn read(&self, d: &Digest, start: u64, len: u64) -> Result<BlobBody, StorageError> {
        if len == 0 {
            // S3 has no empty range; only check the start.
            let size = self.stat(d).await?.ok_or_else(|| not_found(d))?;
            range_inside(start, len, size)?;
            return Ok(BlobBody::Bytes(Bytes::new()));
        }
        let end = start
            .checked_add(len)
            .ok_or_else(|| StorageError::Io(std::io::Error::other("range outside the blob")))?;
        let options = GetOptions {
            range: Some(GetRange::Bounded(start..end)),
            ..GetOptions::default()
        };
        let got = self.store.get_opts(&self.blob_key(d), options).await?;
        range_inside(start, len, got.meta.size)?;
        if got.range != (start..end) {
            return Err(StorageError::Io(std::io::Error::other(
                "range outside the blob",
            )));
        }
        Ok(BlobBody::Stream(
            got.into_stream().map_err(StorageError::from).boxed(),
        ))
    }

    pub async fn read_all(&self, d: &Digest) -> Result<Vec<u8>, StorageError> {
        let got = self.store.get(&self.blob_key(d)).await?;
        Ok(got.bytes().await?.to_vec())
    }

    /// A copy of blob `d` in `scratch` (`<algorithm>-<hex>`).
    pub async fn local_file(
        &self,
        d: &Digest,
        scratch: &Path,
    ) -> Result<Option<PathBuf>, StorageError> {
        let dest = scratch.join(format!("{}-{}", d.algorithm.as_str(), d.hex));
        if tokio::fs::metadata(&dest).await.is_ok() {
            return Ok(Some(dest));
        }
        let got = match self.store.get(&self.blob_key(d)).await {
            Ok(g) => g,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let tmp = scratch.join(format!(".{}.part", new_id()));
        let mut f = tokio::fs::File::create(&tmp).await?;
        let mut stream = got.into_stream();
        let copied = async {
            while let Some(chunk) = stream.try_next().await? {
                f.write_all(&chunk).await?;
            }
            f.flush().await?;
            Ok::<_, StorageError>(())
        }
        .await;
        match copied {
            Ok(()) => tokio::fs::rename(&tmp, &dest).await?,
            Err(e) => {
                let _ = tokio::fs::remove_file(&tmp).await;
                return Err(e);
            }
        }
        Ok(Some(dest))
    }

    pub async fn start_upload(&self) -> Result<String, StorageError> {
        let id = new_id();
        self.store
            .put(&self.upload_dir(&id).join(STARTED), PutPayload::new())
            .await?;
        Ok(id)
    }

    /// An upload's chunks in order, and its size. The chunks must follow
    /// each other without a gap.
    async fn parts(&self, id: &str) -> Result<(Vec<ObjectMeta>, u64), StorageError> {
        if !valid_upload_id(id) {
            return Err(StorageError::UploadUnknown(id.into()));
        }
        let listed: Vec<ObjectMeta> = self
            .store
            .list(Some(&self.upload_dir(id)))
            .try_collect()
            .await?;
        let mut started = false;
        let mut parts: Vec<(u64, ObjectMeta)> = Vec::new();
        for m in listed {
            match m.location.filename() {
                Some(STARTED) => started = true,
                Some(n) if n.len() == 20 && n.bytes().all(|b| b.is_ascii_digit()) => {
                    if let Ok(offset) = n.parse::<u64>() {
                        parts.push((offset, m));
                    }
                }
                _ => {}
            }
        }
        if !started {
            return Err(StorageError::UploadUnknown(id.into()));
        }
        parts.sort_by_key(|(offset, _)| *offset);
        let mut size = 0u64;
        for (offset, m) in &parts {
            if *offset != size {
                return Err(StorageError::Inconsistent {
                    id: id.into(),
                    why: format!("a chunk starts at {offset} but the ones before end at {size}"),
                });
            }
            size += m.size;
        }
        Ok((parts.into_iter().map(|(_, m)| m).collect(), size))
    }

    pub async fn upload_size(&self, id: &str) -> Result<u64, StorageError> {
        Ok(self.parts(id).await?.1)
    }

    /// Write the chunk as the object `uploads/<id>/<current size>`.
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
        let size = self.upload_size(id).await?;
        if let Some(s) = start
            && s != size
        {
            return Err(StorageError::OutOfOrder {
                expected: size,
                got: s,
            });
        }
        // No object for an empty chunk (the final PUT of most uploads).
        let first = loop {
            match body.next().await {
                None => return Ok(size),
                Some(Ok(c)) if c.is_empty() => continue,
                Some(Ok(c)) => break c,
                Some(Err(e)) => return Err(StorageError::Stream(e.to_string())),
            }
        };
        let mut w =
            BufWriter::with_capacity(self.store.clone(), self.part_key(id, size), PART_BYTES)
                .with_max_concurrency(CONCURRENCY);
        let mut written = 0u64;
        let mut broken = None;
        let mut next = Some(first);
        while let Some(chunk) = next.take() {
            written += chunk.len() as u64;
            if let Err(e) = w.put(chunk).await {
                let _ = w.abort().await;
                return Err(e.into());
            }
            match body.next().await {
                Some(Ok(c)) => next = Some(c),
                Some(Err(e)) => broken = Some(StorageError::Stream(e.to_string())),
                None => {}
            }
        }
        // What arrived is kept, also when the body broke off: the client
        // may resume from the size it is then told.
        w.shutdown().await?;
        match broken {
            Some(e) => Err(e),
            None => Ok(size + written),
        }
    }

    pub async fn commit(&self, id: &str, expected: &Digest) -> Result<u64, StorageError> {
        let (parts, size) = self.parts(id).await?;
        let dest = self.blob_key(expected);
        let mut hasher = Hasher::new(expected.algorithm);
        let written = if size <= SMALL_BLOB {
            let mut data = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
            for m in &parts {
                let b = self.store.get(&m.location).await?.bytes().await?;
                hasher.update(&b);
                data.extend_from_slice(&b);
            }
            self.verify(id, hasher, expected).await?;
            let n = data.len() as u64;
            self.store.put(&dest, PutPayload::from(data)).await?;
            n
        } else {
            let upload = self.store.put_multipart(&dest).await?;
            let mut w = WriteMultipart::new_with_chunk_size(upload, PART_BYTES);
            let n = match self.copy_parts(&parts, &mut hasher, &mut w).await {
                Ok(n) => n,
                Err(e) => {
                    abandon(w).await;
                    return Err(e);
                }
            };
            if let Err(e) = self.verify(id, hasher, expected).await {
                abandon(w).await;
                return Err(e);
            }
            w.finish().await?;
            n
        };
        self.discard_upload(id).await;
        Ok(written)
    }

    /// Stream `parts` in order through `hasher` into `w`; the bytes copied.
    async fn copy_parts(
        &self,
        parts: &[ObjectMeta],
        hasher: &mut Hasher,
        w: &mut WriteMultipart,
    ) -> Result<u64, StorageError> {
        let mut n = 0u64;
        for m in parts {
            let mut s = self.store.get(&m.location).await?.into_stream();
            while let Some(chunk) = s.try_next().await? {
                hasher.update(&chunk);
                n += chunk.len() as u64;
                w.wait_for_capacity(CONCURRENCY).await?;
                w.put(chunk);
            }
        }
        Ok(n)
    }

    /// On a mismatch the upload is discarded.
    async fn verify(
        &self,
        id: &str,
        hasher: Hasher,
        expected: &Digest,
    ) -> Result<(), StorageError> {
        let actual = hasher.finish();
        if &actual == expected {
            return Ok(());
        }
        self.discard_upload(id).await;
        Err(StorageError::DigestMismatch {
            expected: expected.to_string(),
            actual: actual.to_string(),
        })
    }

    pub async fn put(&self, data: &[u8], algorithm: Algorithm) -> Result<Digest, StorageError> {
        let digest = crate::digest::digest_of(algorithm, data);
        if self.stat(&digest).await? == Some(data.len() as u64) {
            return Ok(digest);
        }
        self.store
            .put(&self.blob_key(&digest), PutPayload::from(data.to_vec()))
            .await?;
        Ok(digest)
    }

    pub async fn discard_upload(&self, id: &str) {
        if !valid_upload_id(id) {
            return;
        }
        let keys = self
            .store
            .list(Some(&self.upload_dir(id)))
            .map_ok(|m| m.location)
            .boxed();
        let failed: Vec<object_store::Error> = self
            .store
            .delete_stream(keys)
            .filter_map(|r| async move { r.err() })
            .collect()
            .await;
        for e in failed {
            if !matches!(e, object_store::Error::NotFound { .. }) {
                tracing::warn!("upload {id}: cannot remove its data: {e}");
            }
        }
    }

    pub async fn delete_blob(&self, d: &Digest) -> Result<bool, StorageError> {
        let key = self.blob_key(d);
        match self.store.head(&key).await {
            Ok(_) => {}
            Err(object_store::Error::NotFound { .. }) => return Ok(false),
            Err(e) => return Err(e.into()),
        }
        match self.store.delete(&key).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(true),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn list_blobs(&self) -> Result<Vec<BlobInfo>, StorageError> {
        let root = self.key("blobs");
        let listed: Vec<ObjectMeta> = self.store.list(Some(&root)).try_collect().await?;
        let mut out = Vec::new();
        for m in listed {
            let Some(parts) = m.location.prefix_match(&root) else {
                continue;
            };
            let parts: Vec<String> = parts.map(|p| p.as_ref().to_string()).collect();
            let [algo, xx, hex] = parts.as_slice() else {
                continue;
            };
            let Ok(digest) = format!("{algo}:{hex}").parse::<Digest>() else {
                continue;
            };
            if !hex.starts_with(xx.as_str()) || xx.len() != 2 {
                continue;
            }
            out.push(BlobInfo {
                digest,
                size: m.size,
                modified: SystemTime::from(m.last_modified),
            });
        }
        Ok(out)
    }

    /// Every upload with its last write.
    pub async fn list_uploads(&self) -> Result<Vec<UploadInfo>, StorageError> {
        let root = self.key("uploads");
        let listed: Vec<ObjectMeta> = self.store.list(Some(&root)).try_collect().await?;
        let mut latest: HashMap<String, SystemTime> = HashMap::new();
        for m in listed {
            let Some(id) = m
                .location
                .prefix_match(&root)
                .and_then(|mut p| p.next())
                .map(|p| p.as_ref().to_string())
            else {
                continue;
            };
            let t = SystemTime::from(m.last_modified);
            let e = latest.entry(id).or_insert(t);
            *e = (*e).max(t);
        }
        Ok(latest
            .into_iter()
            .map(|(id, modified)| UploadInfo { id, modified })
            .collect())
    }
}

/// Abort a multipart upload once its parts in flight have landed (a part
/// that lands after the abort could keep holding storage).
async fn abandon(mut w: WriteMultipart) {
    let _ = w.wait_for_capacity(0).await;
    if let Err(e) = w.abort().await {
        tracing::warn!("cannot abort a multipart upload: {e}");
    }
}

fn not_found(d: &Digest) -> StorageError {
    StorageError::Io(std::io::Error::new(
        std::io::ErrorKind::NotFound,
        format!("blob {d} does not exist"),
    ))
}

#[cfg(test)]
#[path = "s3_tests.rs"]
mod tests;
