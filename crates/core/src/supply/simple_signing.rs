//! The payload of a sigstore (cosign) image signature: the "simple
//! signing" JSON naming an image by repository and manifest digest, signed
//! as it is (ECDSA over its bytes) and stored as the one layer of a
//! manifest tagged `sha256-<hex>.sig` in the image's repository, the
//! signature in the layer's `dev.cosignproject.cosign/signature`
//! annotation. containers/image (`policy.json` `sigstoreSigned`, with
//! `use-sigstore-attachments: true`) and `cosign verify` read it there.

use serde::{Deserialize, Serialize};

/// The signature layer's media type.
pub const MEDIA_TYPE: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// The layer annotation holding the base64 signature.
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// `critical.type`.
pub const SIGNATURE_TYPE: &str = "cosign container image signature";

/// The tag of an image's signature manifest: `sha256-<hex>.sig`.
pub fn signature_tag(manifest_digest: &str) -> Option<String> {
    let (algorithm, hex) = manifest_digest.split_once(':')?;
    (!algorithm.is_empty() && !hex.is_empty() && hex.chars().all(|c| c.is_ascii_alphanumeric()))
        .then(|| format!("{algorithm}-{hex}.sig"))
}

/// Whether `tag` is a signature manifest's (`<algorithm>-<hex>.sig`): the
/// place of an image's signatures, not a name of an image.
pub fn is_signature_tag(tag: &str) -> bool {
    tag.strip_suffix(".sig")
        .and_then(|t| t.split_once('-'))
        .is_some_and(|(algorithm, hex)| {
            !algorithm.is_empty()
                && algorithm.chars().all(|c| c.is_ascii_alphanumeric())
                && hex.len() >= 32
                && hex.chars().all(|c| c.is_ascii_hexdigit())
        })
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payload {
    pub critical: Critical,
    /// Always written (containers/image wants the key); cosign's own
    /// payloads carry `null`.
    #[serde(default)]
    pub optional: Option<Optional>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Critical {
    pub identity: Identity,
    pub image: Image,
    #[serde(rename = "type")]
    pub kind: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// `registry/repository`, as cosign signs it (no tag: an image has
    /// several; consumers match it with `matchRepository`).
    #[serde(rename = "docker-reference")]
    pub docker_reference: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Image {
    #[serde(rename = "docker-manifest-digest")]
    pub docker_manifest_digest: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Optional {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creator: Option<String>,
    /// Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<i64>,
}

/// The signatures a cosign signature manifest (`sha256-<hex>.sig`)
/// holds: each simple-signing layer's payload digest and its base64
/// signature annotation, in order. Other layers are passed over.
pub fn signature_layers(manifest: &serde_json::Value) -> Vec<(&str, &str)> {
    manifest["layers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|layer| layer["mediaType"] == MEDIA_TYPE)
        .filter_map(|layer| {
            Some((
                layer["digest"].as_str()?,
                layer["annotations"][SIGNATURE_ANNOTATION].as_str()?,
            ))
        })
        .collect()
}

impl Payload {
    pub fn new(repository: &str, manifest_digest: &str, creator: &str, timestamp: i64) -> Payload {
        Payload {
            critical: Critical {
                identity: Identity {
                    docker_reference: repository.to_string(),
                },
                image: Image {
                    docker_manifest_digest: manifest_digest.to_string(),
                },
                kind: SIGNATURE_TYPE.to_string(),
            },
            optional: Some(Optional {
                creator: Some(creator.to_string()),
                timestamp: Some(timestamp),
            }),
        }
    }

    /// The bytes to sign and store.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Read a signed payload and check that it is a cosign signature of
    /// `manifest_digest` (the signature itself is the caller's to check,
    /// over these same bytes).
    pub fn parse_for(bytes: &[u8], manifest_digest: &str) -> Result<Payload, String> {
        let p: Payload = serde_json::from_slice(bytes)
            .map_err(|e| format!("the signature payload is not simple-signing JSON: {e}"))?;
        if p.critical.kind != SIGNATURE_TYPE {
            return Err(format!(
                "the signature payload's type is {:?}, not {SIGNATURE_TYPE:?}",
                p.critical.kind
            ));
        }
        if p.critical.image.docker_manifest_digest != manifest_digest {
            return Err(format!(
                "the signature is for {}, not {manifest_digest}",
                p.critical.image.docker_manifest_digest
            ));
        }
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn signature_layers_are_the_simple_signing_ones_with_a_signature() {
        let m = serde_json::json!({"layers": [
            {"mediaType": super::MEDIA_TYPE, "digest": "sha256:a",
             "annotations": {super::SIGNATURE_ANNOTATION: "c2ln"}},
            {"mediaType": "application/octet-stream", "digest": "sha256:b",
             "annotations": {super::SIGNATURE_ANNOTATION: "eA=="}},
            {"mediaType": super::MEDIA_TYPE, "digest": "sha256:c"},
        ]});
        assert_eq!(super::signature_layers(&m), vec![("sha256:a", "c2ln")]);
        assert!(super::signature_layers(&serde_json::json!({})).is_empty());
    }

    use super::*;

    #[test]
    fn the_payload_is_what_containers_image_and_cosign_read() {
        let p = Payload::new(
            "reg.example:5000/team/app",
            "sha256:abc",
            "Slipway 1.0",
            1_700_000_000,
        );
        let v: serde_json::Value = serde_json::from_slice(&p.to_bytes()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "critical": {
                    "identity": {"docker-reference": "reg.example:5000/team/app"},
                    "image": {"docker-manifest-digest": "sha256:abc"},
                    "type": "cosign container image signature"
                },
                "optional": {"creator": "Slipway 1.0", "timestamp": 1_700_000_000}
            })
        );
        assert_eq!(Payload::parse_for(&p.to_bytes(), "sha256:abc").unwrap(), p);
        assert!(
            Payload::parse_for(&p.to_bytes(), "sha256:abd")
                .unwrap_err()
                .contains("not sha256:abd")
        );
        let other = String::from_utf8(p.to_bytes())
            .unwrap()
            .replace(SIGNATURE_TYPE, "atomic container signature");
        assert!(Payload::parse_for(other.as_bytes(), "sha256:abc").is_err());
        // cosign's own payloads carry `"optional": null`.
        let cosign = br#"{"critical":{"identity":{"docker-reference":"r/a"},"image":{"docker-manifest-digest":"sha256:abc"},"type":"cosign container image signature"},"optional":null}"#;
        assert!(Payload::parse_for(cosign, "sha256:abc").is_ok());
    }

    #[test]
    fn signature_tags() {
        assert_eq!(
            signature_tag("sha256:0a1b").as_deref(),
            Some("sha256-0a1b.sig")
        );
        assert_eq!(signature_tag("sha256"), None);
        assert_eq!(signature_tag("sha256:../x"), None);
        let tag = signature_tag(&format!("sha256:{}", "0a".repeat(32))).unwrap();
        assert!(is_signature_tag(&tag));
        for not in [
            "latest",
            "1.0-1",
            "sha256-abc.sig",
            "v1.sig",
            "-0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a.sig",
        ] {
            assert!(!is_signature_tag(not), "{not}");
        }
    }
}
