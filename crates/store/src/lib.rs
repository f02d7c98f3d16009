//! Persistence for Slipway: the [`Store`] trait and its SQLite implementation.
//!
//! The trait is the only thing the server knows about; a PostgreSQL
//! implementation will sit beside [`SqliteStore`] with its own migrations.
//!
//! Invariant: every phase change happens in one conditional `UPDATE … WHERE
//! phase IN (…)`, so two actors (a worker finishing, a user cancelling) can
//! never both win, and every phase change writes an event.

mod registry;
mod sqlite;
mod workers;

pub use registry::{ManifestRecord, RegistryStore};
pub use sqlite::SqliteStore;
pub use workers::{PLACEMENT_BATCH, Placement, WorkerEnd, WorkerStore};

use async_trait::async_trait;
use slipway_core::phase::RestartDecision;
use slipway_core::{Build, BuildId, BuildPhase, BuildSpec, PushedImage, build::StageTiming};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

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
pub trait Store: WorkerStore + Send + Sync + 'static {
    /// Record a new build (phase New) and queue it (phase Pending) with one
    /// queued worker build per platform; placing a worker build
    /// ([`WorkerStore::place_queued`]) starts the build (phase Running).
    async fn create_build(&self, spec: &BuildSpec) -> Result<Build>;
    async fn get_build(&self, id: BuildId) -> Result<Option<Build>>;
    /// Newest first.
    async fn list_builds(&self, limit: u32) -> Result<Vec<Build>>;
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
    async fn add_token(&self, name: &str, token_hash: &str) -> Result<()>;
    /// The name of the token with this hash, if any.
    async fn token_name(&self, token_hash: &str) -> Result<Option<String>>;
    async fn token_count(&self) -> Result<u64>;
}
