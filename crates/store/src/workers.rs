//! Worker builds (one per platform of a build) and their placement on
//! clusters. The placement rule itself is [`slipway_core::cluster`]; this
//! module counts active builds, walks the queue and records the result, all
//! in one write transaction so that two placers could never overfill a
//! cluster.

use crate::Result;
use async_trait::async_trait;
use slipway_core::{
    BuildId, BuildPhase, Clusters, Platform, PushedImage, WorkerBuild, WorkerBuildId,
};
use std::collections::HashMap;

/// How many worker builds the scheduler places per call of
/// [`WorkerStore::place_queued`]: big enough that a deep queue is placed in
/// few passes (each pass reads the queue once), small enough that one pass
/// holds the write lock only for milliseconds.
pub const PLACEMENT_BATCH: usize = 1000;

/// A worker build that placement has just put on a cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    pub worker: WorkerBuildId,
    pub build: BuildId,
    pub platform: Platform,
    pub cluster: String,
    /// When it was queued (its placement's wait, for metrics); `None`
    /// where a placement is rebuilt from a worker build.
    pub queued_at: Option<jiff::Timestamp>,
    /// The holder that placed it ([`crate::LeaseStore::holder`]); `None`
    /// where a placement is rebuilt from a worker build.
    pub owner: Option<String>,
}

/// What ending a worker build did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkerEnd {
    /// Worker builds of the same build that are not final yet.
    pub remaining: u32,
}

#[async_trait]
pub trait WorkerStore: Send + Sync + 'static {
    /// Place up to `limit` queued worker builds, highest priority first and
    /// in submission order within a priority, each on the least-loaded
    /// cluster of its platform that has room (skipping clusters it already
    /// tried). Each placed worker build becomes Running on its cluster, and
    /// its build Running if it was Pending. Worker builds whose platform has
    /// no room stay queued.
    async fn place_queued(&self, clusters: &Clusters, limit: usize) -> Result<Vec<Placement>>;
    async fn get_worker_build(&self, id: WorkerBuildId) -> Result<Option<WorkerBuild>>;
    async fn worker_builds(&self, build: BuildId) -> Result<Vec<WorkerBuild>>;
    /// Active (Running) worker builds per cluster name.
    async fn active_per_cluster(&self) -> Result<HashMap<String, u32>>;
    /// Its cluster could not take the worker build: back to the queue, to
    /// be placed on another cluster, or Error once
    /// [`MAX_SUBMIT_ATTEMPTS`] clusters have failed. Returns the new phase.
    async fn submission_failed(&self, id: WorkerBuildId, reason: &str) -> Result<BuildPhase>;
    /// End a Running worker build; `None` if it was not Running. With
    /// `owner`, only while it is still that holder's placement: a server's
    /// own backends report so, and an end from a run the server was
    /// declared dead for (it was re-queued, then placed again) is not the
    /// new placement's. Reports over the API pass `None`: their tokens are
    /// revoked when a worker build is re-queued.
    async fn finish_worker_build(
        &self,
        id: WorkerBuildId,
        phase: BuildPhase,
        reason: Option<&str>,
        image: Option<&PushedImage>,
        owner: Option<&str>,
    ) -> Result<Option<WorkerEnd>>;
    /// A token for one worker build's calls to the API, valid until `expires`.
    async fn add_worker_token(
        &self,
        worker: WorkerBuildId,
        token_hash: &str,
        expires: jiff::Timestamp,
    ) -> Result<()>;
    /// The worker build a token belongs to, if it exists and has not expired.
    async fn worker_token(&self, token_hash: &str) -> Result<Option<WorkerBuildId>>;
    /// Revoke a worker build's tokens (it ended).
    async fn drop_worker_tokens(&self, worker: WorkerBuildId) -> Result<()>;
    /// `slipway cluster enable|disable`: overrides of the file's `enabled`.
    async fn cluster_overrides(&self) -> Result<HashMap<String, bool>>;
    async fn set_cluster_enabled(&self, name: &str, enabled: bool) -> Result<()>;
}
