//! Image inspection without running the image.
//!
//! ```text
//! image ref ──skopeo copy──► OCI layout ([`image`])
//!     ──layers, whiteouts──► unpacked root + file table ([`rootfs`])
//!     ──package databases──► Inventory ([`inventory`])
//! ```
//!
//! Everything here is synchronous file and process work; the server runs
//! it on blocking threads. Version ordering for update checks is in
//! [`version`].

pub mod image;
pub mod inventory;
pub mod rootfs;
pub mod version;

use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("layer {layer} is not a readable tar stream: {message}")]
    Layer { layer: String, message: String },
    /// The registry says the image does not exist (any more).
    #[error("image {reference} does not exist: {message}")]
    Absent { reference: String, message: String },
    #[error("cannot fetch image {reference}: {message}")]
    Fetch { reference: String, message: String },
    #[error("image {reference} is malformed: {message}")]
    Malformed { reference: String, message: String },
}

impl ScanError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        ScanError::Io {
            path: path.display().to_string(),
            source,
        }
    }
}
