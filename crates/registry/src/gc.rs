//! Garbage collection: remove blobs that no manifest in any repository
//! references, and upload sessions left behind (those the metadata store
//! lists as old, and data in the blob store that no session owns any more).
//! Blobs are listed from the blob store's backend (files or S3 objects).
//!
//! Safety: GC holds the registry's write lock while it decides and deletes;
//! manifest pushes and blob commits hold the read lock, so no manifest can
//! start referencing a blob between "unreferenced" and "deleted". Blobs
//! younger than the grace period are kept, because a client pushes layers
//! before the manifest that references them.
//!
//! That lock is this process's. Servers sharing one database and one
//! bucket also take the store's blob gate ([`slipway_store::BlobGate`], an
//! advisory lock on PostgreSQL): GC exclusive for the whole collection, a
//! write shared from the moment it relies on a blob being there until the
//! database records it (a manifest's checks to its row, a mount's look to
//! its link, an upload's commit to its link). So a push on another server
//! cannot make a blob GC has found unreferenced referenced again before
//! GC deletes it: it waits, then finds the blob gone and is refused
//! (`MANIFEST_BLOB_UNKNOWN`, the client pushes the blob again) or, an
//! upload, writes it anew.

use crate::Registry;
use crate::storage::StorageError;
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
    #[error("blob store: {0}")]
    Storage(#[from] StorageError),
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
    let gate = reg.meta.blob_gate(true).await?;
    let report = collect_gated(reg, dry_run, grace, upload_age).await;
    gate.release().await;
    report
}

async fn collect_gated(
    reg: &Registry,
    dry_run: bool,
    grace: Duration,
    upload_age: Duration,
) -> Result<GcReport, GcError> {
    let mut report = GcReport {
        dry_run,
        ..GcReport::default()
    };
    let live: HashSet<String> = reg.meta.live_digests().await?.into_iter().collect();
    let now = SystemTime::now();
    for blob in reg.blobs.list_blobs().await? {
        let age = now.duration_since(blob.modified).unwrap_or_default();
        let d = blob.digest.to_string();
        if live.contains(&d) || age < grace {
            report.kept_blobs += 1;
            continue;
        }
        if !dry_run {
            reg.meta.unlink_everywhere(&d).await?;
            reg.blobs.delete_blob(&blob.digest).await?;
        }
        report.freed_bytes += blob.size;
        report.deleted_blobs.push(d);
    }
    let cutoff = jiff::Timestamp::now()
        .checked_sub(
            jiff::SignedDuration::try_from(upload_age).unwrap_or(jiff::SignedDuration::ZERO),
        )
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    let mut stale = HashSet::new();
    for id in reg.meta.uploads_before(&cutoff.to_string()).await? {
        if !dry_run {
            reg.blobs.discard_upload(&id).await;
            reg.meta.upload_finished(&id).await?;
        }
        stale.insert(id.clone());
        report.stale_uploads.push(id);
    }
    // Data no session owns (a server stopped between writing it and
    // recording the session, or a session forgotten without its data),
    // once it is as old as a stale session.
    for upload in reg.blobs.list_uploads().await? {
        let age = now.duration_since(upload.modified).unwrap_or_default();
        if age < upload_age
            || stale.contains(&upload.id)
            || reg.meta.upload_repository(&upload.id).await?.is_some()
        {
            continue;
        }
        if !dry_run {
            reg.blobs.discard_upload(&upload.id).await;
        }
        report.stale_uploads.push(upload.id);
    }
    report.deleted_blobs.sort();
    report.stale_uploads.sort();
    Ok(report)
}
