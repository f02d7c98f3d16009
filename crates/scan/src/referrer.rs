//! Attaching a document to an image as an OCI referrer (OCI distribution
//! spec 1.1): an artifact manifest whose `subject` is the image manifest
//! and whose `artifactType` says what it carries, pushed to the image's
//! repository.
//!
//! Registries with the referrers API index it from the `subject`. For those
//! without it (Docker Distribution 2.x, Debian's `docker-registry`), the
//! spec's fallback is kept too: an image index tagged
//! `sha256-<subject hex>` lists the image's referrers, so clients such as
//! oras find them either way.
//!
//! The distribution API is spoken directly (four requests: HEAD the
//! subject, upload two blobs, PUT the manifest) through
//! [`crate::distribution`], with the same HTTP client as the index fetches,
//! so the registry credentials and TLS rules are the scan's.

use crate::ScanError;
use crate::distribution::{MANIFEST_TYPES, Session, sha256};
use crate::image::FetchOptions;
use serde_json::{Value, json};
use slipway_core::scan::inventory::percent_encode;
use std::collections::BTreeMap;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const EMPTY_MEDIA_TYPE: &str = "application/vnd.oci.empty.v1+json";

/// A document to attach.
#[derive(Debug, Clone)]
pub struct Artifact<'a> {
    /// The referrer's `artifactType`, also its one layer's media type.
    pub artifact_type: &'a str,
    /// The layer's `org.opencontainers.image.title`.
    pub file_name: &'a str,
    pub content: &'a [u8],
    /// The manifest's annotations.
    pub annotations: BTreeMap<String, String>,
}

/// Where an artifact was put.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attached {
    /// `registry/name@sha256:…` of the artifact manifest.
    pub reference: String,
    pub digest: String,
    /// Whether the registry indexed it by its subject (the referrers API);
    /// otherwise the fallback tag lists it.
    pub indexed_by_registry: bool,
}

/// Attach `artifact` to `image` (`registry/name@sha256:…`).
pub fn attach(
    image: &str,
    artifact: &Artifact<'_>,
    opts: &FetchOptions,
) -> Result<Attached, ScanError> {
    let fail = |message: String| ScanError::Attach {
        reference: image.to_string(),
        message,
    };
    let (mut session, repository, subject_digest) =
        Session::for_image(image, opts).map_err(fail)?;

    // The subject's descriptor: its media type and size as stored.
    let head = session
        .request(
            "HEAD",
            &format!("/manifests/{subject_digest}"),
            &[("Accept", MANIFEST_TYPES)],
            None,
        )
        .map_err(fail)?;
    if head.status == 404 {
        return Err(fail(format!(
            "the registry has no manifest {subject_digest} in {}",
            session.name
        )));
    }
    head.expect(200).map_err(fail)?;
    let subject = json!({
        "mediaType": head.header("content-type").unwrap_or(OCI_MANIFEST),
        "digest": subject_digest,
        "size": head
            .header("content-length")
            .and_then(|l| l.parse::<u64>().ok())
            .ok_or_else(|| fail("the registry did not say the image manifest's size".into()))?,
    });

    let empty = session.push_blob(b"{}").map_err(fail)?;
    let layer = session.push_blob(artifact.content).map_err(fail)?;
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": artifact.artifact_type,
        "config": {"mediaType": EMPTY_MEDIA_TYPE, "digest": empty, "size": 2, "data": "e30="},
        "layers": [{
            "mediaType": artifact.artifact_type,
            "digest": layer,
            "size": artifact.content.len(),
            "annotations": {"org.opencontainers.image.title": artifact.file_name},
        }],
        "subject": subject,
        "annotations": artifact.annotations,
    });
    let bytes = serde_json::to_vec(&manifest).map_err(|e| fail(e.to_string()))?;
    let digest = sha256(&bytes);
    let put = session
        .request(
            "PUT",
            &format!("/manifests/{digest}"),
            &[("Content-Type", OCI_MANIFEST)],
            Some(&bytes),
        )
        .map_err(fail)?;
    put.expect(201).map_err(fail)?;
    let indexed_by_registry = put.header("oci-subject").is_some();
    if !indexed_by_registry {
        let descriptor = json!({
            "mediaType": OCI_MANIFEST,
            "digest": digest,
            "size": bytes.len(),
            "artifactType": artifact.artifact_type,
            "annotations": artifact.annotations,
        });
        session
            .add_to_fallback_index(subject_digest, descriptor)
            .map_err(fail)?;
    }
    Ok(Attached {
        reference: format!("{repository}@{digest}"),
        digest,
        indexed_by_registry,
    })
}

impl Session {
    /// Upload `content` unless the repository has it; its digest.
    pub(crate) fn push_blob(&mut self, content: &[u8]) -> Result<String, String> {
        let digest = sha256(content);
        let head = self.request("HEAD", &format!("/blobs/{digest}"), &[], None)?;
        if head.status == 200 {
            return Ok(digest);
        }
        let start = self.request("POST", "/blobs/uploads/", &[], Some(&[]))?;
        start.expect(202)?;
        let location = start
            .header("location")
            .ok_or_else(|| format!("{}: no upload location", start.what))?;
        let separator = if location.contains('?') { '&' } else { '?' };
        let url = format!("{location}{separator}digest={}", percent_encode(&digest));
        let put = self.request(
            "PUT",
            &url,
            &[("Content-Type", "application/octet-stream")],
            Some(content),
        )?;
        put.expect(201)?;
        Ok(digest)
    }

    /// Add `descriptor` to the index tagged `sha256-<hex>` (made when
    /// missing), replacing an entry with the same digest.
    fn add_to_fallback_index(&mut self, subject: &str, descriptor: Value) -> Result<(), String> {
        let tag = subject.replacen(':', "-", 1);
        let got = self.request(
            "GET",
            &format!("/manifests/{tag}"),
            &[("Accept", OCI_INDEX)],
            None,
        )?;
        let mut index = if got.status == 404 {
            json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []})
        } else {
            got.expect(200)?;
            serde_json::from_slice(&got.body)
                .map_err(|e| format!("{}: the referrers tag is not JSON: {e}", got.what))?
        };
        let manifests = index["manifests"]
            .as_array_mut()
            .ok_or_else(|| format!("{tag}: the referrers tag is not an image index"))?;
        manifests.retain(|m| m["digest"] != descriptor["digest"]);
        manifests.push(descriptor);
        let bytes = serde_json::to_vec(&index).map_err(|e| e.to_string())?;
        self.request(
            "PUT",
            &format!("/manifests/{tag}"),
            &[("Content-Type", OCI_INDEX)],
            Some(&bytes),
        )?
        .expect(201)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_without_a_digest_are_refused_before_any_request() {
        let e = attach(
            "localhost:1/a:latest",
            &Artifact {
                artifact_type: "application/spdx+json",
                file_name: "x",
                content: b"{}",
                annotations: BTreeMap::new(),
            },
            &FetchOptions::insecure(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("named by digest"), "{e}");
    }
}
