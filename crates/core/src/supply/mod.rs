//! Supply chain: what Slipway says about the images it builds, in the
//! formats other tools verify.
//!
//! - [`provenance`]: an in-toto Statement v1 with an SLSA Provenance v1
//!   predicate (who built the image, from what, how);
//! - [`dsse`]: the DSSE envelope that carries a signed statement, and the
//!   pre-authentication encoding its signature covers;
//! - [`simple_signing`]: the payload of a sigstore (cosign) image
//!   signature, which containers' `policy.json` `sigstoreSigned`
//!   requirement and `cosign verify` check;
//! - [`reproduce`]: what a rebuild pins, and how its images are compared
//!   with the original's.
//!
//! Signing itself (keys, ECDSA) is the `slipway-signing` crate's: this
//! module only builds and reads the documents.

pub mod dsse;
pub mod provenance;
pub mod reproduce;
pub mod simple_signing;
