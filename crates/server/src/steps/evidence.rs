//! What speaks for a build's image before it is promoted, read as it is
//! now: its signatures in the embedded registry (each verified with the
//! server's key), its provenance (kept with the build, verified, naming
//! the image, attached to it), and what rebuilds found. The promotion
//! gates `signed`, `provenance` and `reproducible`, and an environment's
//! policy rules, read these.

use crate::Services;
use slipway_core::oci::digest::Digest;
use slipway_core::supply::dsse::{
    ENVELOPE_MEDIA_TYPE, Envelope, IN_TOTO_PAYLOAD_TYPE, base64_decode,
};
use slipway_core::supply::provenance::Read;
use slipway_core::supply::simple_signing::{Payload, signature_layers, signature_tag};
use slipway_core::{Build, BuildPhase};
use slipway_store::StoreError;

/// The image's manifests: the published one (an index for several
/// platforms) and each platform's.
pub(crate) fn manifests(build: &Build) -> Vec<String> {
    let mut digests: Vec<String> = build.image.iter().map(|i| i.digest.clone()).collect();
    for w in &build.workers {
        if w.phase == BuildPhase::Complete
            && let Some(i) = &w.image
            && !digests.contains(&i.digest)
        {
            digests.push(i.digest.clone());
        }
    }
    digests
}

/// Whether `digest` in `repository` (embedded registry) has a sigstore
/// signature naming it that verifies with the server's key.
pub(crate) async fn signed(
    services: &Services,
    repository: &str,
    digest: &str,
) -> Result<bool, StoreError> {
    let Some(tag) = signature_tag(digest) else {
        return Ok(false);
    };
    let Some(manifest_digest) = services.registry.meta.tag(repository, &tag).await? else {
        return Ok(false);
    };
    let Some(manifest) = read_json(services, &manifest_digest).await else {
        return Ok(false);
    };
    let public = services.signing.public();
    for (payload_digest, signature) in signature_layers(&manifest) {
        let Some(signature) = base64_decode(signature) else {
            continue;
        };
        let Some(payload) = read_blob(services, payload_digest).await else {
            continue;
        };
        if Payload::parse_for(&payload, digest).is_ok() && public.verify(&payload, &signature) {
            return Ok(true);
        }
    }
    Ok(false)
}

async fn read_blob(services: &Services, digest: &str) -> Option<Vec<u8>> {
    let d: Digest = digest.parse().ok()?;
    services.registry.blobs.read_all(&d).await.ok()
}

async fn read_json(services: &Services, digest: &str) -> Option<serde_json::Value> {
    serde_json::from_slice(&read_blob(services, digest).await?).ok()
}

/// The build's provenance read back, when it is kept with the build and
/// verifies with the server's key; else why not.
pub(crate) async fn provenance(
    services: &Services,
    build: &Build,
) -> Result<Result<Read, String>, StoreError> {
    let Some(text) = services.store.provenance(build.id).await? else {
        return Ok(Err("no provenance is kept with the build".into()));
    };
    let opened = Envelope::parse(text.as_bytes())
        .and_then(|e| e.open(IN_TOTO_PAYLOAD_TYPE))
        .map_err(|e| format!("its provenance does not read: {e}"));
    let opened = match opened {
        Ok(o) => o,
        Err(e) => return Ok(Err(e)),
    };
    let public = services.signing.public();
    if !opened
        .signatures
        .iter()
        .any(|(_, sig)| public.verify(&opened.signed, sig))
    {
        return Ok(Err(
            "its provenance does not verify with the server's key".into()
        ));
    }
    let read = serde_json::from_slice::<serde_json::Value>(&opened.payload)
        .map_err(|e| e.to_string())
        .and_then(|s| slipway_core::supply::provenance::read(&s));
    Ok(read.map_err(|e| format!("its provenance is not SLSA provenance: {e}")))
}

/// Why the `provenance` gate does not pass, if it does not: the
/// provenance verifies, names the build's image, and is attached to it in
/// the registry.
pub(crate) async fn provenance_problem(
    services: &Services,
    build: &Build,
    read: &Result<Read, String>,
) -> Result<Option<String>, StoreError> {
    let read = match read {
        Ok(r) => r,
        Err(why) => return Ok(Some(why.clone())),
    };
    let Some(image) = &build.image else {
        return Ok(Some("the build has no image".into()));
    };
    if !read.subjects.iter().any(|(_, d)| *d == image.digest) {
        return Ok(Some(format!(
            "its provenance does not name its image {}",
            image.digest
        )));
    }
    let referrers = services
        .registry
        .meta
        .referrers(&build.spec.output.repository, &image.digest)
        .await?;
    if !referrers
        .iter()
        .any(|m| m.artifact_type.as_deref() == Some(ENVELOPE_MEDIA_TYPE))
    {
        return Ok(Some(
            "its provenance is not attached to the image in the registry".into(),
        ));
    }
    Ok(None)
}

/// The newest rebuild's verdict on the build.
pub(crate) async fn reproducible(
    services: &Services,
    build: &Build,
) -> Result<Option<bool>, StoreError> {
    Ok(services
        .store
        .reproductions(build.id)
        .await?
        .first()
        .map(|(identical, _)| *identical))
}
