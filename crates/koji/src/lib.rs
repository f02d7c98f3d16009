//! Koji, for Slipway: a content generator's side of Koji's XML-RPC API
//! ([`hub`]: login, uploads, `CGInitBuild`, `CGImport`, `CGRefundBuild`)
//! and the placeholder archives that stand for registry images in an
//! import ([`placeholder`]).
//!
//! Everything Koji needs to know about a build is decided by
//! `slipway_core::koji` (the metadata document); this crate only carries it
//! to a hub.

pub mod archive;
pub mod hub;
pub mod placeholder;

pub use hub::{Checksum, Hub, KojiBuild, KojiError, Reservation, Session};
