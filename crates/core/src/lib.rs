//! Slipway's domain model, with no I/O and no async.
//!
//! Everything that decides *what* should happen to a build lives here:
//! which phase transitions are legal ([`phase`]), which cluster runs a
//! worker build ([`cluster`]), what a valid build request
//! looks like ([`build`]), how image references and source locations are read
//! ([`image_ref`], [`source`]), which user-given paths are acceptable
//! ([`paths`]), and what rebuilds when ([`image_config`], [`rebuild`],
//! [`trigger`], [`input_key`]), and what an image contains and what scanning found in it
//! ([`inventory`], [`scan`]) and how it is written as an SBOM ([`sbom`]). Adapters (store, source, builder) and the server call into this
//! crate; it never calls out.
//!
//! The API's wire types are defined here too ([`api`]) so that the server and
//! the CLI share one definition.

pub mod api;
pub mod build;
pub mod cccp;
pub mod cluster;
pub mod conventions;
pub mod image_config;
pub mod image_ref;
pub mod input_key;
pub mod inventory;
pub mod koji;
pub mod notify;
pub mod paths;
pub mod phase;
pub mod rebuild;
pub mod sbom;
pub mod scan;
pub mod source;
pub mod token;
pub mod trigger;

pub use build::{
    Build, BuildEvent, BuildId, BuildRequest, BuildSpec, PushedImage, Stage, WorkerBuild,
    WorkerBuildId,
};
pub use cluster::{Cluster, Clusters, Platform};
pub use image_ref::ImageRef;
pub use phase::BuildPhase;
