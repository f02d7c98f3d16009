//! The registry's metadata: repositories, blob links, manifests, tags,
//! referrers and upload sessions. Digests are plain strings here; the
//! registry crate validates them before they arrive.

use crate::Result;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

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

#[async_trait]
pub trait RegistryStore: Send + Sync + 'static {
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

    /// Record a manifest, what it references, and optionally point a tag at it.
    async fn put_manifest(
        &self,
        repository: &str,
        manifest: &ManifestRecord,
        references: &[String],
        tag: Option<&str>,
    ) -> Result<()>;
    async fn manifest(&self, repository: &str, digest: &str) -> Result<Option<ManifestRecord>>;
    async fn tag(&self, repository: &str, tag: &str) -> Result<Option<String>>;
    /// Delete a manifest and the tags pointing at it.
    async fn delete_manifest(&self, repository: &str, digest: &str) -> Result<bool>;
    async fn delete_tag(&self, repository: &str, tag: &str) -> Result<bool>;
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
}
