//! Manifest validation: which media types we accept, what a manifest
//! references, and the descriptor fields the referrers API needs.

use serde_json::Value;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
#[cfg(test)]
const OCI_IMAGE_CONFIG: &str = "application/vnd.oci.image.config.v1+json";

/// Manifests larger than this are refused.
pub const MAX_MANIFEST_BYTES: usize = 4 * 1024 * 1024;

/// What a valid manifest tells us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedManifest {
    pub media_type: String,
    /// Blobs (config, layers) that must exist in the repository.
    pub blobs: Vec<String>,
    /// Child manifests (of an index) that must exist in the repository.
    pub manifests: Vec<String>,
    pub subject: Option<String>,
    pub artifact_type: Option<String>,
    pub annotations: Option<String>,
}

fn is_index(mt: &str) -> bool {
    mt == OCI_INDEX || mt == DOCKER_LIST
}

fn descriptor_digest(d: &Value, what: &str) -> Result<String, String> {
    let digest = d
        .get("digest")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("{what} has no digest"))?;
    digest
        .parse::<super::digest::Digest>()
        .map_err(|e| format!("{what}: {e}"))?;
    if d.get("size").and_then(Value::as_i64).is_none_or(|s| s < 0) {
        return Err(format!("{what} has no valid size"));
    }
    Ok(digest.to_string())
}

/// Validate `body` sent with `Content-Type: content_type`.
pub fn parse(content_type: Option<&str>, body: &[u8]) -> Result<ParsedManifest, String> {
    let v: Value =
        serde_json::from_slice(body).map_err(|e| format!("manifest is not valid JSON: {e}"))?;
    if !v.is_object() {
        return Err("manifest must be a JSON object".into());
    }
    if v.get("schemaVersion").and_then(Value::as_i64) != Some(2) {
        return Err("manifest schemaVersion must be 2".into());
    }
    let body_type = v.get("mediaType").and_then(Value::as_str);
    let header_type = content_type
        .map(|c| c.split(';').next().unwrap_or(c).trim())
        .filter(|c| !c.is_empty() && *c != "application/json" && *c != "application/octet-stream");
    let media_type = match (header_type, body_type) {
        (Some(h), Some(b)) if h != b => {
            return Err(format!(
                "Content-Type {h} does not match the manifest's mediaType {b}"
            ));
        }
        (Some(h), _) => h,
        (None, Some(b)) => b,
        (None, None) if v.get("manifests").is_some() => OCI_INDEX,
        (None, None) => OCI_MANIFEST,
    };
    if ![OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST].contains(&media_type) {
        return Err(format!("unsupported manifest media type {media_type}"));
    }
    let mut blobs = Vec::new();
    let mut manifests = Vec::new();
    if is_index(media_type) {
        let list = v
            .get("manifests")
            .and_then(Value::as_array)
            .ok_or("an index needs a manifests list")?;
        for (i, m) in list.iter().enumerate() {
            manifests.push(descriptor_digest(m, &format!("manifests[{i}]"))?);
        }
    } else {
        let config = v.get("config").ok_or("an image manifest needs a config")?;
        blobs.push(descriptor_digest(config, "config")?);
        let layers = v
            .get("layers")
            .and_then(Value::as_array)
            .ok_or("an image manifest needs a layers list")?;
        for (i, l) in layers.iter().enumerate() {
            blobs.push(descriptor_digest(l, &format!("layers[{i}]"))?);
        }
    }
    let subject = match v.get("subject") {
        Some(s) => Some(descriptor_digest(s, "subject")?),
        None => None,
    };
    // The referrers API's artifactType: the manifest's own, else (image
    // manifests) the config descriptor's media type, whatever it is — the
    // image-spec says a referrer's artifactType MUST then be the config's
    // mediaType, a plain image config included.
    let artifact_type = v
        .get("artifactType")
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| {
            v.get("config")
                .and_then(|c| c.get("mediaType"))
                .and_then(Value::as_str)
                .map(str::to_string)
        });
    let annotations = v
        .get("annotations")
        .filter(|a| a.is_object())
        .map(|a| a.to_string());
    Ok(ParsedManifest {
        media_type: media_type.to_string(),
        blobs,
        manifests,
        subject,
        artifact_type,
        annotations,
    })
}

/// One platform's manifest in an image index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexMember<'a> {
    pub media_type: &'a str,
    pub digest: &'a str,
    /// The manifest's size in bytes, as stored.
    pub size: u64,
    pub platform: &'a crate::cluster::Platform,
}

/// The bytes of an OCI image index of `members`, in their order, each with
/// its platform (`os`, `architecture`, `variant`), as `buildah manifest
/// push --format oci` writes one.
pub fn image_index(members: &[IndexMember<'_>]) -> Vec<u8> {
    let manifests: Vec<Value> = members
        .iter()
        .map(|m| {
            let mut platform = serde_json::json!({
                "architecture": m.platform.oci_architecture(),
                "os": "linux",
            });
            if let Some(v) = m.platform.oci_variant() {
                platform["variant"] = v.into();
            }
            serde_json::json!({
                "mediaType": m.media_type,
                "digest": m.digest,
                "size": m.size,
                "platform": platform,
            })
        })
        .collect();
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": manifests,
    });
    // A `Value` always serializes.
    serde_json::to_vec(&index).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(c: char) -> String {
        format!("sha256:{}", c.to_string().repeat(64))
    }

    #[test]
    fn image_manifest_with_subject() {
        let m = serde_json::json!({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "artifactType": "application/spdx+json",
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": d('a'), "size": 2},
            "layers": [{"mediaType": "application/spdx+json", "digest": d('b'), "size": 10}],
            "subject": {"mediaType": OCI_MANIFEST, "digest": d('c'), "size": 5},
            "annotations": {"k": "v"}
        });
        let p = parse(Some(OCI_MANIFEST), m.to_string().as_bytes()).unwrap();
        assert_eq!(p.blobs, [d('a'), d('b')]);
        assert_eq!(p.subject, Some(d('c')));
        assert_eq!(p.artifact_type.as_deref(), Some("application/spdx+json"));
        assert_eq!(p.annotations.as_deref(), Some(r#"{"k":"v"}"#));
    }

    #[test]
    fn artifact_type_falls_back_to_config_media_type() {
        let m = serde_json::json!({
            "schemaVersion": 2,
            "config": {"mediaType": "application/vnd.example+json", "digest": d('a'), "size": 2},
            "layers": []
        });
        let p = parse(None, m.to_string().as_bytes()).unwrap();
        assert_eq!(p.media_type, OCI_MANIFEST);
        assert_eq!(
            p.artifact_type.as_deref(),
            Some("application/vnd.example+json")
        );
        // A plain image config is a config media type like any other.
        let m = serde_json::json!({
            "schemaVersion": 2,
            "config": {"mediaType": OCI_IMAGE_CONFIG, "digest": d('a'), "size": 2},
            "layers": [],
            "subject": {"mediaType": OCI_MANIFEST, "digest": d('c'), "size": 5}
        });
        let p = parse(None, m.to_string().as_bytes()).unwrap();
        assert_eq!(p.artifact_type.as_deref(), Some(OCI_IMAGE_CONFIG));
    }

    #[test]
    fn index_lists_children() {
        let m = serde_json::json!({"schemaVersion": 2, "mediaType": DOCKER_LIST,
            "manifests": [{"mediaType": DOCKER_MANIFEST, "digest": d('e'), "size": 7}]});
        let p = parse(Some(DOCKER_LIST), m.to_string().as_bytes()).unwrap();
        assert_eq!(p.manifests, [d('e')]);
        assert!(p.blobs.is_empty());
    }

    #[test]
    fn refuses_malformed() {
        let good_cfg = format!(r#"{{"digest":"{}","size":1}}"#, d('a'));
        for (ct, body) in [
            (None, "not json".to_string()),
            (None, "[1]".to_string()),
            (None, r#"{"schemaVersion":1}"#.to_string()),
            (
                Some("application/vnd.unknown+json"),
                format!(r#"{{"schemaVersion":2,"config":{good_cfg},"layers":[]}}"#),
            ),
            (
                Some(OCI_INDEX),
                format!(
                    r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{good_cfg},"layers":[]}}"#
                ),
            ),
            (
                None,
                r#"{"schemaVersion":2,"config":{"digest":"sha256:zz","size":1},"layers":[]}"#
                    .to_string(),
            ),
            (
                None,
                format!(r#"{{"schemaVersion":2,"config":{good_cfg}}}"#),
            ),
            (
                None,
                format!(
                    r#"{{"schemaVersion":2,"config":{{"digest":"{}"}},"layers":[]}}"#,
                    d('a')
                ),
            ),
        ] {
            assert!(parse(ct, body.as_bytes()).is_err(), "{ct:?} {body}");
        }
    }

    #[test]
    fn an_index_lists_each_platform_and_validates() {
        use crate::cluster::Platform;
        let (x86, arm) = (
            Platform::parse("x86_64").unwrap(),
            Platform::parse("armv7hl").unwrap(),
        );
        let d1 = format!("sha256:{}", "a".repeat(64));
        let d2 = format!("sha256:{}", "b".repeat(64));
        let bytes = image_index(&[
            IndexMember {
                media_type: OCI_MANIFEST,
                digest: &d1,
                size: 500,
                platform: &x86,
            },
            IndexMember {
                media_type: DOCKER_MANIFEST,
                digest: &d2,
                size: 700,
                platform: &arm,
            },
        ]);
        let parsed = parse(Some(OCI_INDEX), &bytes).unwrap();
        assert_eq!(parsed.media_type, OCI_INDEX);
        assert_eq!(parsed.manifests, vec![d1.clone(), d2.clone()]);
        let v: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(v["manifests"][0]["platform"]["architecture"], "amd64");
        assert!(v["manifests"][0]["platform"].get("variant").is_none());
        assert_eq!(v["manifests"][1]["platform"]["architecture"], "arm");
        assert_eq!(v["manifests"][1]["platform"]["variant"], "v7");
        assert_eq!(v["manifests"][1]["mediaType"], DOCKER_MANIFEST);
        assert_eq!(v["manifests"][1]["size"], 700);
    }
}
