//! Projects' storage quotas: a blob that would take a project's
//! repositories (each blob counted once) past its `storage_bytes` is
//! refused with `DENIED`, naming the quota, before it becomes visible;
//! the caller discards the upload, so nothing partial remains.

use crate::auth::RegistryAuth;
use slipway_core::access::{project_of_repository, storage_of};

impl RegistryAuth {
    /// `Err(why)` when linking `digest` (`size` bytes) into `repository`
    /// would pass its project's storage quota.
    pub async fn check_storage(
        &self,
        repository: &str,
        digest: &str,
        size: u64,
    ) -> Result<(), String> {
        let store = self.store();
        let projects = store.projects().await.map_err(|e| e.to_string())?;
        let names: Vec<String> = projects.iter().map(|p| p.name.clone()).collect();
        let project = project_of_repository(repository, &names, &self.env_prefixes);
        let Some(quota) = projects
            .iter()
            .find(|p| p.name == project)
            .and_then(|p| p.quota.storage_bytes)
        else {
            return Ok(());
        };
        // Only the project's own repositories' links (an index range each).
        let prefixes = slipway_core::access::repository_prefixes(project, &self.env_prefixes);
        let links = store
            .blob_links(prefixes.as_deref())
            .await
            .map_err(|e| e.to_string())?;
        let (used, held) = storage_of(project, &links, &names, &self.env_prefixes);
        if held.contains(digest) || used.saturating_add(size) <= quota {
            return Ok(());
        }
        Err(format!(
            "project {project}'s registry storage quota is {quota} bytes; it uses {used}, and this blob of {size} bytes would pass it: delete images (slipway untag, slipway prune, then registry gc) or ask a global admin for more"
        ))
    }
}
