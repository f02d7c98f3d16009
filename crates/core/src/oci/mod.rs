//! The OCI distribution and image formats as the registry meets them:
//! content digests ([`digest`]) and which manifests are valid and what they
//! reference ([`manifest`]). Pure parsing, so the registry, the scanner and
//! the fuzz targets share one definition.

pub mod digest;
pub mod manifest;
