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
pub mod signature;
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
    complete(image_part(img, fs, &policy.enabled()), policy)
}

/// The scanners that read only the image itself, never the network: what
/// a worker runs on the image it has just built ([`scan_layout`]).
pub const IMAGE_SCANNERS: [Scanner; 2] = [Scanner::Integrity, Scanner::Capabilities];

/// The inventory of an unpacked image and the findings of those of
/// `scanners` that read only the image ([`IMAGE_SCANNERS`]); not judged.
fn image_part(img: &image::FetchedImage, fs: &rootfs::Rootfs, scanners: &[Scanner]) -> ScanReport {
    let found = inventory::read(fs);
    let mut problems = found.problems;
    problems.extend(
        fs.notes
            .refused
            .iter()
            .map(|r| format!("layer entry not unpacked: {r}")),
    );
    let mut findings = Vec::new();
    let mut ran = Vec::new();
    for scanner in scanners {
        match scanner {
            Scanner::Integrity => findings.extend(integrity::check(fs, &mut problems)),
            Scanner::Capabilities => {
                findings.extend(capabilities::check(&img.labels(), &img.user()))
            }
            Scanner::PackageUpdates | Scanner::LanguageUpdates => continue,
        }
        ran.push(*scanner);
    }
    ScanReport {
        reference: img.reference.clone(),
        manifest_digest: Some(img.manifest_digest.clone()),
        outcome: ScanOutcome::Passed,
        scanners: ran,
        findings,
        problems,
        inventory: found.inventory,
    }
}

/// Finish a report made from the image alone (by [`image_part`], or by
/// the worker that built the image, [`scan_layout`]): run the scanners
/// `policy` enables that need only the inventory and the network
/// (package and language updates), keep the image scanners' findings only
/// for the scanners the policy enables, and judge it by the policy.
pub fn complete(mut report: ScanReport, policy: &ScanPolicy) -> ScanReport {
    let scanners = policy.enabled();
    report
        .findings
        .retain(|f| scanners.contains(&f.scanner()) && IMAGE_SCANNERS.contains(&f.scanner()));
    report.scanners.retain(|s| scanners.contains(s));
    for scanner in &scanners {
        match scanner {
            Scanner::PackageUpdates => {
                let indices = updates::load_all(&policy.repositories, &mut report.problems);
                report
                    .findings
                    .extend(updates::check(&report.inventory, &indices));
            }
            Scanner::LanguageUpdates => {
                let found =
                    language::check(&report.inventory, &policy.indices, &mut report.problems);
                report.findings.extend(found);
            }
            Scanner::Integrity | Scanner::Capabilities => continue,
        }
        report.scanners.push(*scanner);
    }
    report.scanners.sort();
    report.scanners.dedup();
    report.judge(&policy.fail_on);
    report
}

/// Scan the image in the OCI layout `dir` (one platform's, as a worker
/// wrote it to push it to `name`, `registry/repository`) with those of
/// `policy`'s scanners that read only the image ([`IMAGE_SCANNERS`]). The
/// report names `name@<manifest digest>` and carries the inventory for
/// [`complete`]; `work` is scratch space. Never fails: what cannot be read
/// is an [`ScanOutcome::Error`] report.
pub fn scan_layout(
    name: &str,
    dir: &Path,
    work: &Path,
    policy: &ScanPolicy,
    cache: Option<&layers::LayerCache>,
) -> ScanReport {
    let digest = match image::layout_digest(dir) {
        Ok(d) => d,
        Err(e) => return ScanReport::unscanned(name, ScanOutcome::Error, e.to_string()),
    };
    let reference = format!("{name}@{digest}");
    let img = match image::read_layout(&reference, dir) {
        Ok(i) => i,
        Err(e) => return ScanReport::unscanned(&reference, ScanOutcome::Error, e.to_string()),
    };
    let fs = match rootfs::Rootfs::read_layers(&work.join("root"), &img.layers, cache) {
        Ok(fs) => fs,
        Err(e) => return ScanReport::unscanned(&reference, ScanOutcome::Error, e.to_string()),
    };
    let scanners: Vec<Scanner> = policy
        .enabled()
        .into_iter()
        .filter(|s| IMAGE_SCANNERS.contains(s))
        .collect();
    image_part(&img, &fs, &scanners)
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

#[cfg(test)]
mod tests {
    use super::*;
    use slipway_core::scan::Finding;
    use slipway_core::scan::inventory::Ecosystem;

    /// A worker's report is finished by the server's policy: findings of
    /// scanners that are not the image's (or that the policy does not
    /// enable) are dropped, and the outcome is judged again.
    #[test]
    fn a_workers_report_is_completed_and_judged_by_the_servers_policy() {
        let missing = Finding::Missing {
            ecosystem: Ecosystem::Deb,
            package: "bash".into(),
            path: "/bin/bash".into(),
        };
        let forged_update = Finding::Update {
            ecosystem: Ecosystem::Deb,
            package: "bash".into(),
            installed: "1".into(),
            available: "2".into(),
            repository: "http://example.invalid".into(),
        };
        let worker = ScanReport {
            reference: format!("r/x@sha256:{}", "a".repeat(64)),
            manifest_digest: Some(format!("sha256:{}", "a".repeat(64))),
            // The worker says it passed: the server judges for itself.
            outcome: ScanOutcome::Passed,
            scanners: vec![Scanner::Integrity, Scanner::Capabilities],
            findings: vec![missing.clone(), forged_update],
            problems: Vec::new(),
            inventory: Default::default(),
        };
        let policy = ScanPolicy {
            scanners: Some(vec![Scanner::Integrity]),
            fail_on: vec![Scanner::Integrity],
            ..ScanPolicy::default()
        };
        let done = complete(worker.clone(), &policy);
        assert_eq!(done.findings, vec![missing]);
        assert_eq!(done.scanners, vec![Scanner::Integrity]);
        assert_eq!(done.outcome, ScanOutcome::Failed);
        // A policy without integrity keeps none of its findings.
        let policy = ScanPolicy {
            scanners: Some(vec![Scanner::Capabilities]),
            fail_on: vec![Scanner::Integrity],
            ..ScanPolicy::default()
        };
        let done = complete(worker, &policy);
        assert!(done.findings.is_empty(), "{:?}", done.findings);
        assert_eq!(done.outcome, ScanOutcome::Passed);
    }
}
