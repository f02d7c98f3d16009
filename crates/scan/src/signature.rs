//! Pushing an image's sigstore (cosign) signature: the simple-signing
//! payload as the one layer of an OCI manifest tagged `sha256-<hex>.sig`
//! in the image's repository, the signature in the layer's
//! `dev.cosignproject.cosign/signature` annotation, the config an image
//! config whose one diff id is the payload's (as cosign writes it).
//! containers/image (with `use-sigstore-attachments`) and cosign find it
//! by that tag.

use crate::distribution::{Session, sha256};
use crate::image::FetchOptions;
use serde_json::json;
use slipway_core::supply::simple_signing::{MEDIA_TYPE, SIGNATURE_ANNOTATION, signature_tag};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";

/// Push the signature of `image` (`registry/name@sha256:…`): `payload`
/// as signed, `signature` base64. Replaces an earlier signature manifest
/// (Slipway is the one signer of what it builds). The signature
/// manifest's `registry/name:tag`.
pub fn push(
    image: &str,
    payload: &[u8],
    signature: &str,
    opts: &FetchOptions,
) -> Result<String, String> {
    let (mut session, repository, digest) = Session::for_image(image, opts)?;
    let tag = signature_tag(digest).ok_or_else(|| format!("{digest} is not a digest"))?;
    let payload_digest = sha256(payload);
    let config = serde_json::to_vec(&json!({
        "architecture": "",
        "os": "",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": [payload_digest]},
    }))
    .map_err(|e| e.to_string())?;
    let config_digest = session.push_blob(&config)?;
    session.push_blob(payload)?;
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": config.len()},
        "layers": [{
            "mediaType": MEDIA_TYPE,
            "digest": payload_digest,
            "size": payload.len(),
            "annotations": {SIGNATURE_ANNOTATION: signature},
        }],
    });
    let bytes = serde_json::to_vec(&manifest).map_err(|e| e.to_string())?;
    session
        .request(
            "PUT",
            &format!("/manifests/{tag}"),
            &[("Content-Type", OCI_MANIFEST)],
            Some(&bytes),
        )?
        .expect(201)?;
    Ok(format!("{repository}:{tag}"))
}
