//! Koji content-generator metadata (metadata_version 0) for a finished
//! build: what OSBS imports into Koji with `CGImport`.
//!
//! One buildroot and one `docker-image` output per platform, plus the
//! build log as a `log` output (added when the document is served, because
//! the log is complete only once the build has ended). Slipway keeps images
//! in a registry, not as archives; a Koji hub still wants a file for every
//! output, and checks its size and checksum on import. So an image output
//! names a small placeholder archive, `docker-image-<config id>.<arch>.tar.gz`
//! (OSBS's naming) holding a README with the image's pull specs (what
//! atomic-reactor does for registry-first builds): [`placeholder_readme`]
//! is its text, the Koji adapter makes the archive, and [`set_file`]
//! records its size and checksum. The image's manifest digest is in
//! `extra.docker.digests`; `extra.docker.layer_sizes` are the compressed
//! sizes the registry stores, as `skopeo inspect` reports them.
//!
//! The build's image type is `build.extra.image` alone: a hub refuses a
//! document that also has `build.extra.typeinfo.image` ("Duplicate
//! typeinfo"), and adds `typeinfo` itself.
//!
//! The JSON schema is `docs/schemas/koji-cg-metadata-v0.schema.json`.

use crate::build::Build;
use crate::cluster::Platform;
use jiff::Timestamp;
use serde_json::{Value, json};

/// What the registry says about one platform's image.
#[derive(Debug, Clone)]
pub struct PlatformImage {
    pub platform: Platform,
    /// The cluster that built it.
    pub cluster: Option<String>,
    pub manifest_digest: String,
    /// The manifest as the registry serves it.
    pub manifest: Value,
    /// The image configuration blob.
    pub config: Value,
}

/// A tool in the buildroot, with its version line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tool {
    pub name: String,
    pub version: String,
}

/// Where and with what the images were built.
#[derive(Debug, Clone)]
pub struct Buildroot {
    /// `PRETTY_NAME` of the build host's /etc/os-release.
    pub os: String,
    pub tools: Vec<Tool>,
    pub generator_version: String,
}

/// The published result: the primary image (or index) and its digest.
#[derive(Debug, Clone)]
pub struct Published {
    pub repository: String,
    pub digest: String,
    pub media_type: String,
    /// Whether `digest` names an image index of several platforms.
    pub is_index: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot make content-generator metadata: {0}")]
pub struct MetadataError(pub String);

fn err(m: impl Into<String>) -> MetadataError {
    MetadataError(m.into())
}

/// The document for `build`, without the log output (see [`log_output`]).
pub fn cg_metadata(
    build: &Build,
    published: &Published,
    images: &[PlatformImage],
    root: &Buildroot,
    end: Timestamp,
) -> Result<Value, MetadataError> {
    let spec = &build.spec;
    // The labels the image has (Dockerfile, base image and Slipway's own),
    // as its configuration records them.
    let mut labels = spec.labels.clone();
    if let Some(image_labels) = images
        .first()
        .and_then(|i| i.config.pointer("/config/Labels"))
        .and_then(Value::as_object)
    {
        for (k, v) in image_labels {
            if let Some(v) = v.as_str() {
                labels.insert(k.clone(), v.to_string());
            }
        }
    }
    let component = crate::build::conventions::COMPONENT_LABELS
        .iter()
        .find_map(|k| labels.get(*k));
    // Koji names the build after the component (as OSBS does); scratch
    // builds fall back to the repository name.
    let name = component.cloned().unwrap_or_else(|| {
        published
            .repository
            .rsplit('/')
            .next()
            .unwrap_or("image")
            .to_string()
    });
    let version = labels.get("version").cloned().unwrap_or_else(|| "0".into());
    let release = spec
        .release
        .clone()
        .unwrap_or_else(|| format!("scratch.{}", build.id));
    let commit = build
        .commit
        .as_deref()
        .ok_or_else(|| err("the build has no commit"))?;
    let start = build.started_at.unwrap_or(build.created_at).as_second();
    let pull_refs: Vec<String> = spec
        .tags
        .iter()
        .map(|t| format!("{}:{t}", published.repository))
        .chain([format!("{}@{}", published.repository, published.digest)])
        .collect();
    let mut image_extra = json!({});
    if published.is_index {
        image_extra["index"] = json!({
            "pull": pull_refs,
            "tags": spec.tags,
            "digests": { published.media_type.clone(): published.digest },
        });
    }
    let mut buildroots = Vec::new();
    let mut outputs = Vec::new();
    for (i, img) in images.iter().enumerate() {
        let id = i + 1;
        let arch = img.platform.as_str();
        buildroots.push(json!({
            "id": id,
            "host": { "os": root.os, "arch": arch },
            "content_generator": { "name": "slipway", "version": root.generator_version },
            "container": { "type": "none", "arch": arch },
            "tools": root.tools.iter().map(|t| json!({"name": t.name, "version": t.version})).collect::<Vec<_>>(),
            "components": [],
            "extra": { "slipway": { "build_id": build.id, "cluster": img.cluster } },
        }));
        outputs.push(image_output(id, img, published, &pull_refs, &spec.tags)?);
    }
    Ok(json!({
        "metadata_version": 0,
        "build": {
            "name": name,
            "version": version,
            "release": release,
            "source": format!("{}#{commit}", spec.source.location.redacted()),
            "start_time": start,
            "end_time": end.as_second(),
            "extra": {
                "image": image_extra,
                "slipway": {
                    "build_id": build.id,
                    "kind": spec.kind,
                    "lint_findings": build.lint.as_ref().map_or(0, |l| l.findings.len()),
                },
            },
        },
        "buildroots": buildroots,
        "output": outputs,
    }))
}

fn image_output(
    buildroot: usize,
    img: &PlatformImage,
    published: &Published,
    pull_refs: &[String],
    tags: &[String],
) -> Result<Value, MetadataError> {
    let m = &img.manifest;
    let size_of = |d: &Value| d.get("size").and_then(Value::as_u64);
    let config_desc = m
        .get("config")
        .ok_or_else(|| err("manifest has no config"))?;
    let config_digest = config_desc
        .get("digest")
        .and_then(Value::as_str)
        .ok_or_else(|| err("manifest config has no digest"))?;
    let layers = m
        .get("layers")
        .and_then(Value::as_array)
        .ok_or_else(|| err("manifest has no layers"))?;
    let diff_ids: Vec<&str> = img
        .config
        .pointer("/rootfs/diff_ids")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut layer_sizes = Vec::new();
    for (i, l) in layers.iter().enumerate() {
        let size = size_of(l).ok_or_else(|| err("a layer has no size"))?;
        layer_sizes.push(json!({
            "digest": l.get("digest").and_then(Value::as_str),
            "diff_id": diff_ids.get(i),
            "size": size,
        }));
    }
    let media_type = m
        .get("mediaType")
        .and_then(Value::as_str)
        .unwrap_or("application/vnd.oci.image.manifest.v1+json");
    let parent_id = m
        .pointer("/annotations/org.opencontainers.image.base.digest")
        .and_then(Value::as_str);
    let arch = img.platform.as_str();
    let hex = config_digest.trim_start_matches("sha256:");
    let mut repositories = pull_refs.to_vec();
    if published.is_index {
        repositories.push(format!("{}@{}", published.repository, img.manifest_digest));
    }
    // Size and checksum are the placeholder archive's (`set_file`).
    Ok(json!({
        "buildroot_id": buildroot,
        "filename": format!("docker-image-{hex}.{arch}.tar.gz"),
        "filesize": 0,
        "arch": arch,
        "checksum": "",
        "checksum_type": "sha256",
        "type": "docker-image",
        "components": [],
        "extra": {
            "image": { "arch": arch },
            "docker": {
                "id": config_digest,
                "parent_id": parent_id,
                "repositories": repositories,
                "tags": tags,
                "digests": { media_type: img.manifest_digest },
                "layer_sizes": layer_sizes,
                "config": img.config,
            },
        },
    }))
}

/// The text of the placeholder archive an image output names: what the
/// image is and where to pull it, from the output's own fields, so the
/// same document always gives the same archive.
pub fn placeholder_readme(output: &Value) -> String {
    let docker = &output["extra"]["docker"];
    let list = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut text = String::from(
        "This archive stands for a container image that lives in a registry.\nPull it with one of:\n\n",
    );
    for r in list(&docker["repositories"]) {
        text.push_str(&format!("    {r}\n"));
    }
    text.push_str(&format!(
        "\nImage configuration: {}\nArchitecture: {}\n",
        docker["id"].as_str().unwrap_or("unknown"),
        output["arch"].as_str().unwrap_or("unknown")
    ));
    if let Some(digests) = docker["digests"].as_object() {
        for (media_type, d) in digests {
            text.push_str(&format!(
                "Manifest ({media_type}): {}\n",
                d.as_str().unwrap_or("")
            ));
        }
    }
    text
}

/// Record the size and SHA-256 (hex) of the file an output names.
pub fn set_file(output: &mut Value, size: u64, sha256_hex: &str) {
    output["filesize"] = json!(size);
    output["checksum"] = json!(sha256_hex);
    output["checksum_type"] = json!("sha256");
}

/// Where a build's import into Koji stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImportState {
    /// Its NVR is reserved in Koji (`CGInitBuild`); the build is not done.
    Reserved,
    /// Waiting for its (next) attempt.
    Pending,
    /// In Koji, as `koji_build_id`.
    Imported,
    /// The hub refused it; `slipway koji import BUILD` tries again.
    Failed,
    /// The build did not complete and its reservation was given back
    /// (`CGRefundBuild`: the Koji build is FAILED or CANCELED).
    Refunded,
}

impl ImportState {
    pub const ALL: [ImportState; 5] = [
        ImportState::Reserved,
        ImportState::Pending,
        ImportState::Imported,
        ImportState::Failed,
        ImportState::Refunded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ImportState::Reserved => "reserved",
            ImportState::Pending => "pending",
            ImportState::Imported => "imported",
            ImportState::Failed => "failed",
            ImportState::Refunded => "refunded",
        }
    }

    pub fn parse(s: &str) -> Option<ImportState> {
        ImportState::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

/// A build's Koji import, as `GET /builds/{id}/koji` shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct KojiImport {
    pub build: crate::BuildId,
    pub state: ImportState,
    pub attempts: u32,
    /// The NVR reserved, imported (or tried).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nvr: Option<String>,
    /// The Koji build id: of the reservation, then of the import.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub koji_build_id: Option<i64>,
    /// The last error: the hub's own words, or why it could not be reached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::api::time::seconds_opt"
    )]
    pub next_attempt_at: Option<Timestamp>,
    #[serde(with = "crate::api::time::seconds")]
    pub updated_at: Timestamp,
}

/// When to try an import again after `attempts` failed ones that could
/// not reach the hub: 2, 4, 8 … seconds, at most 5 minutes apart, for as
/// long as it takes (a hub that is down gets the import once it is back).
pub fn retry_delay(attempts: u32) -> std::time::Duration {
    let secs = 2u64.saturating_pow(attempts.clamp(1, 20)).min(300);
    std::time::Duration::from_secs(secs)
}

/// The build log as a `log` output of the first buildroot.
pub fn log_output(size: u64, sha256_hex: &str) -> Value {
    json!({
        "buildroot_id": 1,
        "filename": "build.log",
        "filesize": size,
        "arch": "noarch",
        "checksum": sha256_hex,
        "checksum_type": "sha256",
        "type": "log",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_say_where_the_image_is_and_record_their_file() {
        let mut o = json!({
            "arch": "aarch64",
            "filesize": 0,
            "checksum": "",
            "extra": {"docker": {
                "id": "sha256:c0",
                "repositories": ["reg/app:1.0-1", "reg/app@sha256:d1"],
                "digests": {"application/vnd.oci.image.manifest.v1+json": "sha256:d1"},
            }},
        });
        let text = placeholder_readme(&o);
        assert!(
            text.contains("    reg/app:1.0-1\n    reg/app@sha256:d1\n"),
            "{text}"
        );
        assert!(text.contains("Architecture: aarch64"), "{text}");
        assert!(text.contains("Manifest (application/vnd.oci.image.manifest.v1+json): sha256:d1"));
        // The same output, the same text (the archive is made twice).
        assert_eq!(text, placeholder_readme(&o));
        set_file(&mut o, 321, "ab");
        for st in ImportState::ALL {
            assert_eq!(ImportState::parse(st.as_str()), Some(st));
        }
        assert_eq!(ImportState::parse("Imported"), None);
        assert_eq!(retry_delay(1).as_secs(), 2);
        assert_eq!(retry_delay(3).as_secs(), 8);
        assert_eq!(retry_delay(40).as_secs(), 300);
        assert_eq!(
            (o["filesize"].as_u64(), o["checksum"].as_str()),
            (Some(321), Some("ab"))
        );
    }
}
