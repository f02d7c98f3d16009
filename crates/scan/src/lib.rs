//! Image inspection without running the image.
//!
//! ```text
//! image ref ──skopeo copy──► OCI layout ([`image`])
//!     ──each layer streamed once (or cached)──► its description ([`layers`])
//!     ──whiteouts applied in order──► file table, digests, kept files ([`rootfs`])
//!     ──package databases──► Inventory ([`inventory`])
//!     ──scanners──► findings ([`updates`], [`language`], [`integrity`],
//!                   [`capabilities`]) ──policy──► ScanReport
//! ```
//!
//! [`scan_image`] runs the whole chain. Everything here is synchronous
//! file, process and HTTP work; the server runs it on blocking threads.
//! Version ordering for update checks is in [`version`]; reading the
//! URLs scanners are configured with in [`fetch`].

pub mod capabilities;
pub mod distribution;
pub mod fetch;
pub mod image;
pub mod integrity;
pub mod inventory;
pub mod language;
pub mod layers;
pub mod ownership;
pub mod referrer;
pub mod rootfs;
pub mod updates;
pub mod version;

/// Layers for unit tests.
#[cfg(test)]
pub(crate) mod testing {
    /// An uncompressed tar of regular files (path, text), mode 0644.
    pub fn tar_of(files: &[(&str, &str)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (p, text) in files {
            let mut h = tar::Header::new_gnu();
            h.set_mode(0o644);
            h.set_size(text.len() as u64);
            h.set_entry_type(tar::EntryType::Regular);
            b.append_data(&mut h, p, text.as_bytes()).unwrap();
        }
        b.into_inner().unwrap()
    }
}

use slipway_core::scan::{ScanOutcome, ScanPolicy, ScanReport, Scanner};
use std::path::Path;

/// Fetch `reference` into `work` (an empty directory the caller removes),
/// read its layers (each once per `cache`), its inventory, and run the
/// scanners `policy` enables. Never fails: an image that is gone is
/// [`ScanOutcome::Absent`], one that cannot be fetched or read is
/// [`ScanOutcome::Error`], each with why.
pub fn scan_image(
    reference: &str,
    work: &Path,
    opts: &image::FetchOptions,
    policy: &ScanPolicy,
    cache: Option<&layers::LayerCache>,
) -> ScanReport {
    let img = match image::fetch(reference, &work.join("oci"), opts) {
        Ok(i) => i,
        Err(e @ ScanError::Absent { .. }) => {
            return ScanReport::unscanned(reference, ScanOutcome::Absent, e.to_string());
        }
        Err(e) => return ScanReport::unscanned(reference, ScanOutcome::Error, e.to_string()),
    };
    scan_fetched(&img, work, policy, cache)
}

/// Read the layers of an image already at hand (in an OCI layout, or the
/// embedded registry's blob store) and scan it; `work` is scratch space.
pub fn scan_fetched(
    img: &image::FetchedImage,
    work: &Path,
    policy: &ScanPolicy,
    cache: Option<&layers::LayerCache>,
) -> ScanReport {
    let fs = match rootfs::Rootfs::read_layers(&work.join("root"), &img.layers, cache) {
        Ok(fs) => fs,
        Err(e) => {
            return ScanReport::unscanned(&img.reference, ScanOutcome::Error, e.to_string());
        }
    };
    scan_unpacked(img, &fs, policy)
}

/// The scanners over an image already fetched and unpacked.
pub fn scan_unpacked(
    img: &image::FetchedImage,
    fs: &rootfs::Rootfs,
    policy: &ScanPolicy,
) -> ScanReport {
    let found = inventory::read(fs);
    let mut problems = found.problems;
    problems.extend(
        fs.notes
            .refused
            .iter()
            .map(|r| format!("layer entry not unpacked: {r}")),
    );
    let scanners = policy.enabled();
    let mut findings = Vec::new();
    for scanner in &scanners {
        match scanner {
            Scanner::PackageUpdates => {
                let indices = updates::load_all(&policy.repositories, &mut problems);
                findings.extend(updates::check(&found.inventory, &indices));
            }
            Scanner::LanguageUpdates => {
                findings.extend(language::check(
                    &found.inventory,
                    &policy.indices,
                    &mut problems,
                ));
            }
            Scanner::Integrity => findings.extend(integrity::check(fs, &mut problems)),
            Scanner::Capabilities => {
                findings.extend(capabilities::check(&img.labels(), &img.user()))
            }
        }
    }
    let mut report = ScanReport {
        reference: img.reference.clone(),
        manifest_digest: Some(img.manifest_digest.clone()),
        outcome: ScanOutcome::Passed,
        scanners,
        findings,
        problems,
        inventory: found.inventory,
    };
    report.judge(&policy.fail_on);
    report
}

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
    /// An artifact could not be attached to the image.
    #[error("cannot attach to {reference}: {message}")]
    Attach { reference: String, message: String },
}

impl ScanError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        ScanError::Io {
            path: path.display().to_string(),
            source,
        }
    }
}
