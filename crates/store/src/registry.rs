//! The registry's metadata: repositories, blob links, manifests, tags,
//! referrers and upload sessions. Digests are plain strings here; the
//! registry crate validates them before they arrive.

use crate::Result;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

pub use crate::tags::{TagDigest, TagEvent, TagLock, TagMove};

/// A stored manifest's descriptor fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestRecord {
    pub digest: String,
    pub media_type: String,
    pub size: u64,
    pub artifact_type: Option<String>,
    pub subject: Option<String>,
    /// JSON object of the manifest's annotations, if any.
    pub annotations: Option<String>,
}

/// Held by a registry write from the moment it relies on a blob being
/// there (a manifest naming it, a mount, a committed upload, a manifest's
/// own bytes) until the database records it, shared; and by garbage
/// collection while it decides and deletes, exclusive. So no write can
/// start to need a blob between GC finding it unreferenced and deleting
/// it, on any server. One server alone on SQLite has its registry's
/// in-process lock for that, and its gate holds nothing; on PostgreSQL it
/// is an advisory lock held across every server sharing the database.
#[must_use = "a gate is held until released"]
pub struct BlobGate {
    held: Option<crate::postgres::gate::Held>,
}

impl BlobGate {
    /// A gate that holds nothing (a store no other server shares).
    pub fn open() -> Self {
        BlobGate { held: None }
    }

    pub(crate) fn held(held: crate::postgres::gate::Held) -> Self {
        BlobGate { held: Some(held) }
    }

    /// Let others in. (Dropped instead, by a cancelled request, the lock
    /// ends with its connection.)
    pub async fn release(self) {
        if let Some(h) = self.held {
            h.release().await;
        }
    }
}

#[async_trait]
pub trait RegistryStore: Send + Sync + 'static {
    /// Take the [`BlobGate`], shared (a write) or exclusive (GC); waits
    /// for the other kind to be released.
    async fn blob_gate(&self, _exclusive: bool) -> Result<BlobGate> {
        Ok(BlobGate::open())
    }

    async fn upload_started(&self, id: &str, repository: &str) -> Result<()>;
    /// The repository an upload session belongs to.
    async fn upload_repository(&self, id: &str) -> Result<Option<String>>;
    async fn upload_finished(&self, id: &str) -> Result<()>;
    /// Upload sessions created before `before` (RFC 3339).
    async fn uploads_before(&self, before: &str) -> Result<Vec<String>>;

    /// Make a committed blob visible in a repository (creating the repository).
    async fn link_blob(&self, repository: &str, digest: &str, size: u64) -> Result<()>;
    /// Whether the repository can see a blob: linked to it, referenced by one
    /// of its manifests, or one of its manifests.
    async fn blob_visible(&self, repository: &str, digest: &str) -> Result<bool>;
    async fn unlink_blob(&self, repository: &str, digest: &str) -> Result<bool>;

    /// Record a manifest, what it references, and optionally point a tag
    /// at it (the move recorded in the tag's history as `by`'s).
    async fn put_manifest(
        &self,
        repository: &str,
        manifest: &ManifestRecord,
        references: &[String],
        tag: Option<&str>,
        by: &TagMove,
    ) -> Result<()>;
    async fn manifest(&self, repository: &str, digest: &str) -> Result<Option<ManifestRecord>>;
    async fn tag(&self, repository: &str, tag: &str) -> Result<Option<String>>;
    /// Delete a manifest and the tags pointing at it.
    async fn delete_manifest(&self, repository: &str, digest: &str, by: &TagMove) -> Result<bool>;
    async fn delete_tag(&self, repository: &str, tag: &str, by: &TagMove) -> Result<bool>;
    /// Point `tag` at `digest`, a manifest the repository has (a tag,
    /// rollback or promotion: no bytes move); the digest it named before.
    async fn move_tag(
        &self,
        repository: &str,
        tag: &str,
        digest: &str,
        by: &TagMove,
    ) -> Result<Option<String>>;
    /// The repository's tags and what they name, in lexical order.
    async fn tag_digests(&self, repository: &str) -> Result<Vec<TagDigest>>;
    /// A tag's moves, newest first, at most `limit`.
    async fn tag_history(&self, repository: &str, tag: &str, limit: u32) -> Result<Vec<TagEvent>>;
    /// Record a move Slipway made in another registry (a promotion
    /// there): `repository` is `host/name`, so it never meets a
    /// repository of the embedded registry.
    async fn record_external_move(
        &self,
        repository: &str,
        tag: &str,
        old: Option<&str>,
        new: Option<&str>,
        by: &TagMove,
    ) -> Result<()>;
    /// Tags in lexical order, after `last`, at most `n`.
    async fn tags(
        &self,
        repository: &str,
        n: Option<u32>,
        last: Option<&str>,
    ) -> Result<Vec<String>>;
    async fn repository_exists(&self, repository: &str) -> Result<bool>;
    /// Repository names in lexical order, after `last`, at most `n`.
    async fn repositories(&self, n: Option<u32>, last: Option<&str>) -> Result<Vec<String>>;
    /// Manifests of a repository whose subject is `digest`.
    async fn referrers(&self, repository: &str, digest: &str) -> Result<Vec<ManifestRecord>>;
    /// Every digest a manifest still needs: the manifests themselves and
    /// everything they reference, in any repository.
    async fn live_digests(&self) -> Result<Vec<String>>;
    /// Forget a blob in every repository (after garbage collection removed it).
    async fn unlink_everywhere(&self, digest: &str) -> Result<()>;
    /// Lock `tag` to `digest` for good (a build's unique or primary tag):
    /// from now on a push that would move it, or a delete, is refused with
    /// [`StoreError::Immutable`](crate::StoreError::Immutable).
    async fn lock_tag(
        &self,
        repository: &str,
        tag: &str,
        digest: &str,
        build: i64,
        kind: &str,
    ) -> Result<()>;
    /// The lock on a tag, if it has one.
    async fn tag_lock(&self, repository: &str, tag: &str) -> Result<Option<TagLock>>;
    /// Take back the locks of `build` (it publishes again, or is pruned).
    async fn unlock_build_tags(&self, build: i64) -> Result<u64>;
    /// Delete manifest `digest` of `repository` if nothing there needs it
    /// any more — no tag names it and no index lists it — with its
    /// referrers (SBOMs), and, for an index, the manifests it listed that
    /// are then needed by nothing either. Returns the manifests deleted;
    /// garbage collection then frees the blobs no manifest references.
    async fn prune_manifest(&self, repository: &str, digest: &str) -> Result<Vec<String>>;
    /// A promotion, all or nothing: make manifest `digest` of `from` (with
    /// the manifests an index lists and the referrers, SBOMs, of each) a
    /// manifest of `to` too — rows only, no bytes copied, whatever the
    /// image's size — point `tags` at it there (recorded as `by`'s), and
    /// lock `lock` (the primary tag, for its build) to it.
    async fn promote(
        &self,
        from: &str,
        digest: &str,
        to: &str,
        tags: &[String],
        lock: Option<(&str, i64)>,
        by: &TagMove,
    ) -> Result<()>;
    /// The build whose unique or primary tag in `repository` names
    /// `digest`.
    async fn build_of_digest(&self, repository: &str, digest: &str) -> Result<Option<i64>>;
}
