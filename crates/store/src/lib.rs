//! Persistence for Slipway: the [`Store`] trait and its SQLite implementation.
//!
//! The trait is the only thing the server knows about; a PostgreSQL
//! implementation will sit beside [`SqliteStore`] with its own migrations.
//! Each area's trait and types are in `<area>.rs`, its SQLite code in
//! `sqlite/<area>.rs` (moved there area by area).
//!
//! Invariant: every phase change happens in one conditional `UPDATE … WHERE
//! phase IN (…)`, so two actors (a worker finishing, a user cancelling) can
//! never both win, and every phase change writes an event.

mod access;
mod builds;
mod codec;
mod feed;
mod identities;
mod koji;
mod leases;
mod logins;
mod logs;
pub mod migrate;
mod notifications;
mod postgres;
mod provenance;
mod read;
mod rebuilds;
mod registry;
mod scans;
mod seal;
mod secrets;
mod sessions;
mod sqlite;
mod summaries;
mod tags;
mod tests_store;
mod webhooks;
mod workers;

pub use access::{AccessStore, NewToken, Principal};
pub use feed::{FeedRow, FeedStore};
pub use identities::IdentityStore;
pub use koji::{ImportAttempt, KojiReservation, KojiStore};
pub use leases::{LeaseStore, SERVER_LEASE_PREFIX};
pub use logins::RegistryLoginStore;
pub use logs::LogStore;
pub use notifications::{NewDelivery, NotificationStore};
pub use postgres::PgStore;
pub use provenance::ProvenanceStore;
pub use rebuilds::{ConfigWrite, PrunedBuild, RebuildStore, StoredConfig};
pub use registry::{
    BlobGate, ManifestRecord, RegistryStore, TagDigest, TagEvent, TagLock, TagMove,
};
pub use scans::ScanStore;
pub use secrets::SecretStore;
pub use sessions::SessionStore;
pub use sqlite::SqliteStore;
pub use tests_store::TestStore;
pub use webhooks::{DELIVERY_MEMORY_DAYS, WebhookStore};
pub use workers::{PLACEMENT_BATCH, Placement, WorkerEnd, WorkerStore};

use async_trait::async_trait;
use slipway_core::build::conventions::{LintReport, Preparation, RepoConfig};
use slipway_core::build::phase::RestartDecision;
use slipway_core::{Build, BuildId, BuildPhase, BuildSpec, PushedImage, build::StageTiming};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Read(String),
    /// A locked tag would move or go (a build's unique or primary tag).
    #[error("{0}")]
    Immutable(String),
    /// What a request names is not there.
    #[error("{0}")]
    NotFound(String),
    /// What a request would make exists already.
    #[error("{0}")]
    Conflict(String),
}

impl StoreError {
    /// Whether the database could not be written because its disk is full.
    pub fn is_storage_full(&self) -> bool {
        match self {
            StoreError::Database(sqlx::Error::Database(e)) => {
                // SQLITE_FULL (13), also as an extended code.
                e.code()
                    .and_then(|c| c.parse::<i32>().ok())
                    .is_some_and(|c| c & 0xff == 13)
                    || e.message().contains("database or disk is full")
                    // PostgreSQL's disk_full.
                    || e.code().as_deref() == Some("53100")
            }
            StoreError::Database(sqlx::Error::Io(e)) => e.kind() == std::io::ErrorKind::StorageFull,
            _ => false,
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// What [`Store::queue_build`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Queued {
    Queued(Box<Build>),
    /// Nothing changed: the release is taken, or the tags cannot be made.
    Refused(String),
    /// The build is no longer New (cancelled while it was prepared).
    NotNew(BuildPhase),
}

/// A page of build summaries as a JSON array, with how many it holds and
/// the oldest id in it (the next page's cursor).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildPage {
    pub json: String,
    pub count: u32,
    pub last: Option<BuildId>,
}

/// What a cancel request did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelOutcome {
    /// The build had not started; it is now Cancelled.
    Cancelled,
    /// The build is running; its worker has been asked to stop it.
    Requested,
    /// The build had already ended in this phase.
    AlreadyFinal(BuildPhase),
    NotFound,
}

#[async_trait]
pub trait Store:
    WorkerStore
    + RebuildStore
    + ScanStore
    + FeedStore
    + NotificationStore
    + WebhookStore
    + KojiStore
    + TestStore
    + AccessStore
    + IdentityStore
    + SecretStore
    + RegistryLoginStore
    + LeaseStore
    + SessionStore
    + ProvenanceStore
    + Send
    + Sync
    + 'static
{
    /// Record a new build (phase New), to be prepared.
    async fn create_build(&self, spec: &BuildSpec) -> Result<Build>;
    /// Queue a prepared New build (phase Pending) with one queued worker
    /// build per platform, in one transaction that also reserves its
    /// release: the next free one for its name and version, or the
    /// explicit one unless another build holds it. Placing a worker build
    /// ([`WorkerStore::place_queued`]) starts the build (phase Running).
    async fn queue_build(&self, id: BuildId, prep: &Preparation) -> Result<Queued>;
    /// The releases of `version` taken in `repository` (and, from before
    /// releases were counted per repository, by the name label `name`).
    async fn taken_releases(
        &self,
        repository: &str,
        name: &str,
        version: &str,
    ) -> Result<Vec<String>>;
    /// End a New build that preparation refused, keeping what it found.
    async fn fail_preparation(
        &self,
        id: BuildId,
        phase: BuildPhase,
        reason: &str,
        lint: Option<&LintReport>,
        repo_config: Option<&RepoConfig>,
    ) -> Result<bool>;
    /// End a New build without building it: its inputs (`spec.input_key`)
    /// equal the last successful build's. Keeps the prepared spec.
    async fn skip_build(&self, id: BuildId, spec: &BuildSpec, reason: &str) -> Result<bool>;
    /// Builds still New (to prepare after a restart), oldest first.
    async fn builds_to_prepare(&self) -> Result<Vec<BuildId>>;
    /// Keep the build's content-generator metadata document.
    async fn set_metadata(&self, id: BuildId, metadata: &serde_json::Value) -> Result<()>;
    async fn metadata(&self, id: BuildId) -> Result<Option<serde_json::Value>>;
    async fn get_build(&self, id: BuildId) -> Result<Option<Build>>;
    /// Newest first.
    async fn list_builds(
        &self,
        q: &slipway_core::api::BuildQuery,
    ) -> Result<Vec<slipway_core::api::BuildSummary>>;
    /// The same page as JSON (an array of `BuildSummary`), as the API
    /// answers it.
    async fn list_builds_json(&self, q: &slipway_core::api::BuildQuery) -> Result<BuildPage>;
    async fn record_event(&self, id: BuildId, message: &str) -> Result<()>;
    /// Record the commit the build's ref resolved to, unless one is recorded
    /// already; returns the recorded one. All platforms build one commit.
    async fn set_commit_once(&self, id: BuildId, commit: &str) -> Result<String>;
    async fn record_stage(&self, id: BuildId, timing: StageTiming) -> Result<()>;
    /// End a Running build. Returns false if it was not Running (for example
    /// cancelled meanwhile), in which case nothing changes.
    async fn finish(
        &self,
        id: BuildId,
        phase: BuildPhase,
        reason: Option<&str>,
        image: Option<&PushedImage>,
    ) -> Result<bool>;
    async fn request_cancel(&self, id: BuildId) -> Result<CancelOutcome>;
    async fn cancel_requested(&self, id: BuildId) -> Result<bool>;
    /// Called once at start-up, before any worker runs: re-queue builds left
    /// Running by a dead server, or give up on them.
    async fn recover_interrupted(&self) -> Result<Vec<(BuildId, RestartDecision)>>;
    /// What `/metrics` reads from the store at each scrape.
    async fn gauges(&self) -> Result<Gauges>;
}

/// Counts read from the store for `/metrics`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Gauges {
    /// Builds stored, by phase and trigger kind (`manual` for none).
    pub builds: Vec<(String, String, u64)>,
    /// Worker builds waiting for a cluster.
    pub queued_worker_builds: u64,
    /// The oldest queued worker build's creation time.
    pub oldest_queued: Option<jiff::Timestamp>,
    /// Bytes of the distinct blobs the embedded registry's repositories link.
    pub blob_bytes: u64,
}

/// Create a build and queue it at once as a scratch build, skipping
/// preparation: for tests and benchmarks of the queue itself.
#[doc(hidden)]
pub async fn create_queued_scratch<S: Store + ?Sized>(
    store: &S,
    spec: &BuildSpec,
) -> Result<Build> {
    let mut spec = spec.clone();
    spec.kind = slipway_core::build::conventions::BuildKind::Scratch;
    spec.release = None;
    let build = store.create_build(&spec).await?;
    let prep = Preparation {
        spec,
        identity: None,
        unique_tag: format!("{}-test", build.id),
        floating: Vec::new(),
        extra: Vec::new(),
        lint: None,
        repo_config: None,
    };
    match store.queue_build(build.id, &prep).await? {
        Queued::Queued(b) => Ok(*b),
        other => Err(StoreError::Corrupt(format!(
            "build {} could not be queued: {other:?}",
            build.id
        ))),
    }
}
