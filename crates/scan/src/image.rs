//! Fetching an image from any registry Slipway can reach, with skopeo, into
//! an OCI image layout, and reading its manifest, config and layers.

use crate::ScanError;
use std::path::{Path, PathBuf};
use std::process::Command;

/// How to reach the registry. The default verifies TLS.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// `user:password` (never logged).
    pub credentials: Option<String>,
    /// A containers auth file (`auth.json`) to read credentials from.
    pub authfile: Option<PathBuf>,
    /// Verify TLS (off for plain-HTTP registries such as the embedded one).
    pub tls_verify: bool,
    /// The architecture to pick from a multi-platform image (default: this
    /// machine's).
    pub arch: Option<String>,
}

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions {
            credentials: None,
            authfile: None,
            tls_verify: true,
            arch: None,
        }
    }
}

/// Plain HTTP, for loopback registries.
impl FetchOptions {
    pub fn insecure() -> Self {
        FetchOptions {
            tls_verify: false,
            ..Self::default()
        }
    }
}

/// An image in a local OCI layout.
#[derive(Debug, Clone)]
pub struct FetchedImage {
    pub reference: String,
    /// The digest of the image manifest read (one platform's).
    pub manifest_digest: String,
    /// Layer blobs, lowest first.
    pub layers: Vec<PathBuf>,
    /// The OCI image configuration (`config.Labels`, `config.User`, …).
    pub config: serde_json::Value,
}

impl FetchedImage {
    /// The image's labels.
    pub fn labels(&self) -> std::collections::BTreeMap<String, String> {
        self.config["config"]["Labels"]
            .as_object()
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The user the image runs as (`config.User`; empty means root).
    pub fn user(&self) -> String {
        self.config["config"]["User"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

/// Copy `reference` (`host/repo[:tag|@digest]`) into the OCI layout `dir`.
pub fn fetch(reference: &str, dir: &Path, opts: &FetchOptions) -> Result<FetchedImage, ScanError> {
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent).map_err(|e| ScanError::io(parent, e))?;
    }
    let mut cmd = Command::new("skopeo");
    cmd.arg("copy").arg("--quiet");
    cmd.arg(format!("--src-tls-verify={}", opts.tls_verify));
    if let Some(c) = &opts.credentials {
        cmd.arg("--src-creds").arg(c);
    }
    if let Some(f) = &opts.authfile {
        cmd.arg("--src-authfile").arg(f);
    }
    if let Some(a) = &opts.arch {
        cmd.arg("--override-arch").arg(a);
    }
    cmd.arg(format!("docker://{reference}"))
        .arg(format!("oci:{}:image", dir.display()));
    let out = cmd.output().map_err(|e| ScanError::Fetch {
        reference: reference.to_string(),
        message: match e.kind() {
            std::io::ErrorKind::NotFound => {
                "skopeo is not installed here (apt-get install skopeo)".into()
            }
            _ => format!("cannot run skopeo: {e}"),
        },
    })?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
        let message = last_line(&stderr);
        let absent = ["manifest unknown", "name unknown", "not found", "404"]
            .iter()
            .any(|m| stderr.to_lowercase().contains(m));
        return Err(if absent {
            ScanError::Absent {
                reference: reference.to_string(),
                message,
            }
        } else {
            ScanError::Fetch {
                reference: reference.to_string(),
                message,
            }
        });
    }
    read_layout(reference, dir)
}

fn last_line(s: &str) -> String {
    s.lines().last().unwrap_or(s).to_string()
}

/// The digest of the manifest an OCI layout holds (its `index.json`'s
/// first, as skopeo and buildah write one platform's image).
pub fn layout_digest(dir: &Path) -> Result<String, ScanError> {
    let what = dir.display().to_string();
    let index = read_json(&what, &dir.join("index.json"))?;
    index["manifests"][0]["digest"]
        .as_str()
        .filter(|d| d.parse::<slipway_core::oci::digest::Digest>().is_ok())
        .map(str::to_string)
        .ok_or_else(|| ScanError::Malformed {
            reference: what,
            message: "index.json names no manifest".into(),
        })
}

/// Read the image in an OCI layout (its `index.json`'s first manifest,
/// as skopeo writes one platform's image).
pub fn read_layout(reference: &str, dir: &Path) -> Result<FetchedImage, ScanError> {
    let manifest_digest = layout_digest(dir).map_err(|e| match e {
        ScanError::Malformed { message, .. } => ScanError::Malformed {
            reference: reference.to_string(),
            message,
        },
        e => e,
    })?;
    let blobs = dir.join("blobs");
    read_store(reference, &manifest_digest, None, &|algo, hex| {
        Some(blobs.join(algo).join(hex))
    })
}

fn read_json(reference: &str, path: &Path) -> Result<serde_json::Value, ScanError> {
    let bytes = std::fs::read(path).map_err(|e| ScanError::io(path, e))?;
    serde_json::from_slice(&bytes).map_err(|e| ScanError::Malformed {
        reference: reference.to_string(),
        message: format!("{} is not JSON: {e}", path.display()),
    })
}

/// Read the image `manifest_digest` names from a content-addressed store
/// whose blob `algo:hex` is the file `blob(algo, hex)` (an OCI layout, or
/// the embedded registry's blob store, read in place). An index picks the
/// Linux image of `arch` (OCI naming: amd64, arm64; default this
/// machine's).
pub fn read_store(
    reference: &str,
    manifest_digest: &str,
    arch: Option<&str>,
    blob: &dyn Fn(&str, &str) -> Option<PathBuf>,
) -> Result<FetchedImage, ScanError> {
    let bad = |message: String| ScanError::Malformed {
        reference: reference.to_string(),
        message,
    };
    let path = |digest: &str| -> Result<PathBuf, ScanError> {
        let (algo, hex) = digest
            .split_once(':')
            .filter(|(a, h)| {
                matches!(*a, "sha256" | "sha512")
                    && !h.is_empty()
                    && h.bytes().all(|b| b.is_ascii_hexdigit())
            })
            .ok_or_else(|| bad(format!("{digest:?} is not a digest")))?;
        blob(algo, hex).ok_or_else(|| bad(format!("blob {digest} is not there")))
    };
    let mut manifest_digest = manifest_digest.to_string();
    let mut manifest = read_json(reference, &path(&manifest_digest)?)?;
    if let Some(list) = manifest["manifests"].as_array() {
        let want = arch.map(str::to_string).unwrap_or_else(|| {
            slipway_core::Platform::host()
                .oci_architecture()
                .to_string()
        });
        let chosen = list
            .iter()
            .find(|m| {
                m["platform"]["architecture"] == want.as_str()
                    && m["platform"]["os"].as_str().is_none_or(|os| os == "linux")
            })
            .and_then(|m| m["digest"].as_str())
            .ok_or_else(|| bad(format!("the image has no linux/{want} manifest")))?;
        manifest_digest = chosen.to_string();
        manifest = read_json(reference, &path(&manifest_digest)?)?;
    }
    let config_digest = manifest["config"]["digest"]
        .as_str()
        .ok_or_else(|| bad("the manifest names no config".into()))?;
    let config = read_json(reference, &path(config_digest)?)?;
    let layers = manifest["layers"]
        .as_array()
        .ok_or_else(|| bad("the manifest has no layers".into()))?
        .iter()
        .map(|l| {
            l["digest"]
                .as_str()
                .ok_or_else(|| bad("a layer has no digest".into()))
                .and_then(path)
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(FetchedImage {
        reference: reference.to_string(),
        manifest_digest,
        layers,
        config,
    })
}
