//! Image configs, their event log, and rebuild waves.
//!
//! What rebuilds and in which order is decided in
//! [`slipway_core::rebuild`]; this module keeps the configs, coalesces
//! triggers into waves and records each member's progress.
//!
//! Invariant: a config is a member of a wave at most once (primary key
//! `(wave_id, config)`), so a burst of triggers queues it once per wave.

use crate::Result;
use async_trait::async_trait;
use jiff::{SignedDuration, Timestamp};
use slipway_core::BuildId;
use slipway_core::api::ApplyResponse;
use slipway_core::rebuild::image_config::{HistoryLimits, ImageConfig};
use slipway_core::rebuild::trigger::Trigger;
use slipway_core::rebuild::{MemberState, Wave, WaveMemberRecord};

/// A config as stored, with what the server learned about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredConfig {
    /// Canonical form, webhook secret included.
    pub config: ImageConfig,
    /// The Dockerfile's FROM images, read at `base_commit`.
    pub base_images: Vec<String>,
    pub base_commit: Option<String>,
    pub poll_head: Option<String>,
    pub next_poll_at: Option<Timestamp>,
    pub next_schedule_at: Option<Timestamp>,
    /// When its latest image is scanned again (`None`: not yet planned,
    /// or rescans are off).
    pub next_rescan_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// One config to write: the config and its FROM images read at a commit.
#[derive(Debug, Clone)]
pub struct ConfigWrite {
    pub config: ImageConfig,
    pub base_images: Vec<String>,
    pub base_commit: Option<String>,
}

#[async_trait]
pub trait RebuildStore: Send + Sync {
    /// Create or update `configs` and delete the configs named in
    /// `delete`, in one transaction. The caller has checked the resulting
    /// graph.
    async fn apply_configs(
        &self,
        configs: &[ConfigWrite],
        delete: &[String],
    ) -> Result<ApplyResponse>;
    /// All configs, by name.
    async fn list_configs(&self) -> Result<Vec<StoredConfig>>;
    async fn get_config(&self, name: &str) -> Result<Option<StoredConfig>>;
    async fn delete_config(&self, name: &str) -> Result<bool>;
    /// Record the FROM images a build's preparation read.
    async fn set_base_images(&self, name: &str, base_images: &[String], commit: &str)
    -> Result<()>;
    async fn set_poll_state(
        &self,
        name: &str,
        head: Option<&str>,
        next_at: Option<Timestamp>,
    ) -> Result<()>;
    async fn set_next_schedule(&self, name: &str, next_at: Option<Timestamp>) -> Result<()>;
    async fn record_config_event(
        &self,
        config: &str,
        message: &str,
        build: Option<BuildId>,
    ) -> Result<()>;
    /// Newest last: (time, message, build).
    async fn config_events(
        &self,
        config: &str,
        limit: u32,
    ) -> Result<Vec<(Timestamp, String, Option<BuildId>)>>;
    /// Add a trigger for `config` to the wave that is still gathering (or
    /// to a new one gathering for `debounce`). A config already in that
    /// wave keeps one membership; its trigger becomes the newest one and
    /// `force` sticks. With `latest_only` (SerialLatestOnly), a wave whose
    /// window closed but that has not started yet (it waits for a running
    /// wave) and has the config as a root takes the trigger instead: the
    /// newer trigger supersedes the waiting one. Returns the wave.
    async fn add_trigger(
        &self,
        config: &str,
        trigger: &Trigger,
        force: bool,
        debounce: SignedDuration,
        latest_only: bool,
    ) -> Result<i64>;
    /// Waves that are Running, or Gathering with their window closed.
    async fn due_waves(&self) -> Result<Vec<Wave>>;
    async fn get_wave(&self, id: i64) -> Result<Option<Wave>>;
    /// Newest first.
    async fn list_waves(&self, limit: u32) -> Result<Vec<Wave>>;
    /// Gathering → Running with `members` (parents before children); the
    /// roots already in the wave keep their triggers.
    async fn start_wave(&self, id: i64, members: &[WaveMemberRecord]) -> Result<()>;
    /// Record a member's new state (and its build, reason).
    async fn set_member(
        &self,
        wave: i64,
        config: &str,
        state: MemberState,
        build: Option<BuildId>,
        reason: Option<&str>,
    ) -> Result<()>;
    async fn finish_wave(&self, id: i64) -> Result<()>;
    /// The config's newest Complete build: (id, input key, image digest).
    async fn last_complete_build(
        &self,
        config: &str,
    ) -> Result<Option<(BuildId, Option<String>, Option<String>)>>;
    /// The config's newest build: (id, phase).
    async fn last_build(&self, config: &str) -> Result<Option<(BuildId, String)>>;
    /// Every config's newest build and its phase, in one query.
    async fn last_builds(&self) -> Result<std::collections::HashMap<String, (BuildId, String)>>;
    /// Seconds the newest Complete build of each config took, by config.
    async fn build_durations(&self) -> Result<std::collections::HashMap<String, u64>>;
    /// Builds of the config that have not finished, oldest first:
    /// (id, phase).
    async fn active_builds(&self, config: &str) -> Result<Vec<(BuildId, String)>>;
    /// Cancel a build that has not started because a newer trigger
    /// superseded it (SerialLatestOnly). False if it already started or
    /// ended.
    async fn cancel_superseded(&self, id: BuildId, reason: &str) -> Result<bool>;
    /// Delete the config's finished builds beyond its history limits,
    /// newest kept: `keep.successful` Complete or Skipped builds and
    /// `keep.failed` Failed, Error or Cancelled ones. Never deleted: the
    /// config's newest Complete build (its current image, which children
    /// are pinned to and build avoidance compares with) and builds of
    /// waves still running. A pruned build's events and worker records go
    /// with it; a tombstone stays, and so does the release it held.
    /// Returns the pruned builds, oldest first.
    /// Delete the config's builds beyond its history limits (leaving
    /// tombstones); with `dry_run`, only say which. Complete, Skipped and
    /// unsuccessful builds are counted apart (Skipped builds never push a
    /// real one out); the newest Complete build and builds of running
    /// waves are kept. Returns the builds as they were.
    async fn prune_history(
        &self,
        config: &str,
        keep: HistoryLimits,
        dry_run: bool,
    ) -> Result<Vec<slipway_core::Build>>;
    /// What is left of a pruned build.
    async fn pruned_build(&self, id: BuildId) -> Result<Option<PrunedBuild>>;
}

/// The tombstone of a build deleted by its config's history limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrunedBuild {
    pub id: BuildId,
    pub config: String,
    /// The phase it had ended in.
    pub phase: String,
    pub pruned_at: Timestamp,
}
