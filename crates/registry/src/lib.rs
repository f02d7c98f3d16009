//! Slipway's embedded OCI distribution registry.

pub mod digest;
pub mod storage;
