//! Slipway's domain model, with no I/O and no async.
//!
//! Everything that decides *what* should happen to a build lives here,
//! grouped by domain:
//!
//! - [`build`]: what a valid build request looks like, the build record,
//!   legal phase transitions ([`build::phase`]), build conventions
//!   ([`build::conventions`]) and git source locations ([`build::source`]);
//! - [`cluster`]: which cluster runs a worker build;
//! - [`rebuild`]: what rebuilds when: image configs, the config graph, the
//!   wave planner, triggers, input keys, the CentOS index import;
//! - [`scan`]: what an image contains, what scanning found in it, and its
//!   SBOMs;
//! - [`koji`]: Koji content-generator metadata;
//! - [`supply`]: provenance statements, DSSE envelopes and image
//!   signature payloads;
//! - [`notify`]: who hears about builds and scans, and what they are told;
//! - [`oci`]: digests and manifests as the registry validates them;
//! - shared by all: image references ([`image_ref`]), user-given paths
//!   ([`paths`]), API tokens ([`token`]), and the API's wire types
//!   ([`api`]), so that the server and the CLI share one definition.
//!
//! Adapters (store, source, builder) and the server call into this crate;
//! it never calls out.

pub mod access;
pub mod api;
pub mod build;
pub mod cluster;
pub mod image_ref;
pub mod koji;
pub mod notify;
pub mod oci;
pub mod paths;
pub mod promotion;
pub mod rebuild;
pub mod scan;
pub mod supply;
pub mod token;

pub use build::phase::BuildPhase;
pub use build::{
    Build, BuildEvent, BuildId, BuildRequest, BuildSpec, PushedImage, Stage, WorkerBuild,
    WorkerBuildId,
};
pub use cluster::{Cluster, Clusters, Platform};
pub use image_ref::ImageRef;
