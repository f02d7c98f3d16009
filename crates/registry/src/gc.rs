//! Garbage collection: remove blobs that no manifest in any repository
//! references, and upload sessions left behind.
//!
//! Safety: GC holds the registry's write lock while it decides and deletes;
//! manifest pushes and blob commits hold the read lock, so no manifest can
//! start referencing a blob between "unreferenced" and "deleted". Blobs
//! younger than the grace period are kept, because a client pushes layers
//! before the manifest that references them.

use crate::Registry;
use crate::digest::Digest;
use serde::Serialize;
use std::collections::HashSet;
use std::time::{Duration, SystemTime};

#[derive(Debug, Clone, Default, Serialize)]
pub struct GcReport {
    pub dry_run: bool,
    /// Blobs removed (or, in a dry run, that would be).
    pub deleted_blobs: Vec<String>,
    pub freed_bytes: u64,
    /// Blobs kept because a manifest needs them or they are younger than the grace period.
    pub kept_blobs: usize,
    /// Upload sessions removed (or that would be).
    pub stale_uploads: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum GcError {
    #[error(transparent)]
    Store(#[from] slipway_store::StoreError),
    #[error("cannot read the blob store: {0}")]
    Io(#[from] std::io::Error),
}

/// Collect garbage. `grace`: keep unreferenced blobs younger than this;
/// `upload_age`: remove upload sessions older than this.
pub async fn collect(
    reg: &Registry,
    dry_run: bool,
    grace: Duration,
    upload_age: Duration,
) -> Result<GcReport, GcError> {
    let _exclusive = reg.gc_lock.write().await;
    let mut report = GcReport {
        dry_run,
        ..GcReport::default()
    };
    let live: HashSet<String> = reg.meta.live_digests().await?.into_iter().collect();
    let now = SystemTime::now();
    for (digest, path) in reg.blobs.all_blobs()? {
        let meta = match std::fs::metadata(&path) {
            Ok(m) => m,
            Err(_) => continue,
        };
        let age = meta
            .modified()
            .ok()
            .and_then(|m| now.duration_since(m).ok())
            .unwrap_or_default();
        let d = digest.to_string();
        if live.contains(&d) || age < grace {
            report.kept_blobs += 1;
            continue;
        }
        if !dry_run {
            reg.meta.unlink_everywhere(&d).await?;
            reg.blobs
                .delete_blob(&digest)
                .await
                .map_err(|e| std::io::Error::other(e.to_string()))?;
        }
        report.freed_bytes += meta.len();
        report.deleted_blobs.push(d);
    }
    let cutoff = jiff::Timestamp::now()
        .checked_sub(
            jiff::SignedDuration::try_from(upload_age).unwrap_or(jiff::SignedDuration::ZERO),
        )
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    for id in reg.meta.uploads_before(&cutoff.to_string()).await? {
        if !dry_run {
            reg.blobs.discard_upload(&id).await;
            reg.meta.upload_finished(&id).await?;
        }
        report.stale_uploads.push(id);
    }
    report.deleted_blobs.sort();
    Ok(report)
}

impl crate::storage::BlobStore {
    /// Every committed blob with its path.
    pub fn all_blobs(&self) -> std::io::Result<Vec<(Digest, std::path::PathBuf)>> {
        let mut out = Vec::new();
        let root = self.blobs_root();
        for algo in std::fs::read_dir(&root)? {
            let algo = algo?;
            for prefix in std::fs::read_dir(algo.path())? {
                for file in std::fs::read_dir(prefix?.path())? {
                    let file = file?;
                    let name = format!(
                        "{}:{}",
                        algo.file_name().to_string_lossy(),
                        file.file_name().to_string_lossy()
                    );
                    if let Ok(d) = name.parse::<Digest>() {
                        out.push((d, file.path()));
                    }
                }
            }
        }
        Ok(out)
    }
}
