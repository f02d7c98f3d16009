//! Slipway's embedded OCI distribution registry (spec v1.1).
//!
//! - [`storage`]: one content-addressed blob store for all repositories,
//!   on the local file system (the default) or in an S3-compatible bucket;
//!   uploads are verified before they become visible, commits are atomic.
//! - [`routes`]: the `/v2/` API and `/auth/token`.
//! - [`auth`]: API tokens, Basic auth and the Docker token flow.
//! - [`manifest`]: which manifests are valid and what they reference
//!   (`slipway_core::oci`, shared with the fuzz targets).
//! - Metadata (which repository sees which blob, manifests, tags, referrers,
//!   upload sessions) lives in the store behind `slipway_store::RegistryStore`.
//!
//! Architecture invariant: the registry knows nothing about builds; the
//! server mounts its router and hands it the store and the blob store
//! (`storage::BlobStore::from_config`).

pub mod auth;
mod quota;
/// Digests and manifests: `slipway_core::oci`'s.
pub use slipway_core::oci::{digest, manifest};
pub mod error;
pub mod gc;
pub mod routes;
pub mod storage;

use slipway_store::RegistryStore;
use std::sync::Arc;

pub struct Registry {
    pub blobs: storage::BlobStore,
    pub meta: Arc<dyn RegistryStore>,
    pub auth: auth::RegistryAuth,
    /// Mount a blob from any repository when a client names only `mount=`.
    pub automatic_mount: bool,
    /// Held shared by writes that make a blob referenced (blob commits,
    /// manifest pushes, mounts) and exclusively by garbage collection.
    pub gc_lock: tokio::sync::RwLock<()>,
    /// Bounds concurrent write requests; past it clients get 429
    /// TOO_MANY_REQUESTS with `Retry-After` instead of piling up.
    pub write_slots: tokio::sync::Semaphore,
}

/// Default bound on concurrent registry write requests.
pub const DEFAULT_MAX_CONCURRENT_WRITES: usize = 256;

pub use routes::{route_kind, router};
