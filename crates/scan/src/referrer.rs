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
//! subject, upload two blobs, PUT the manifest) with the same HTTP client
//! as the index fetches, so the registry credentials and TLS rules are the
//! scan's. Authentication: Basic, or the Docker/OCI token flow.

use crate::ScanError;
use crate::image::FetchOptions;
use base64::Engine;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use slipway_core::scan::inventory::percent_encode;
use std::collections::BTreeMap;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const EMPTY_MEDIA_TYPE: &str = "application/vnd.oci.empty.v1+json";
/// The manifest types a subject may have.
const MANIFEST_TYPES: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json";
/// Largest manifest or referrers index read back (the spec's limit is 4 MiB).
const MAX_MANIFEST: u64 = 4 << 20;

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
    let (repository, subject_digest) = image
        .split_once('@')
        .ok_or_else(|| fail("the image must be named by digest (name@sha256:…)".into()))?;
    let (host, name) = repository
        .split_once('/')
        .ok_or_else(|| fail("the image reference names no registry".into()))?;
    let mut session = Session::new(host, name, opts).map_err(fail)?;

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
            "the registry has no manifest {subject_digest} in {name}"
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

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// One repository on one registry, with the credentials it takes.
struct Session {
    base: String,
    name: String,
    /// `Basic …` from the credentials given, if any.
    basic: Option<String>,
    /// What the registry answered the last 401 with, once satisfied.
    authorization: Option<String>,
}

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    what: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn expect(&self, status: u16) -> Result<(), String> {
        if self.status == status {
            return Ok(());
        }
        let body = String::from_utf8_lossy(&self.body);
        let body = body.trim();
        Err(format!(
            "{}: the registry answered {}{}",
            self.what,
            self.status,
            if body.is_empty() {
                String::new()
            } else {
                format!(": {}", body.chars().take(300).collect::<String>())
            }
        ))
    }
}

impl Session {
    fn new(host: &str, name: &str, opts: &FetchOptions) -> Result<Session, String> {
        let scheme = if opts.tls_verify { "https" } else { "http" };
        let userpass = match &opts.credentials {
            Some(c) => Some(c.clone()),
            None => match &opts.authfile {
                Some(f) => credentials_in(f, host)?,
                None => None,
            },
        };
        Ok(Session {
            base: format!("{scheme}://{host}"),
            name: name.to_string(),
            basic: userpass.map(|c| {
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(c)
                )
            }),
            authorization: None,
        })
    }

    /// `path` under `/v2/<name>`, or an absolute URL or path (upload
    /// locations), authenticated: a 401 is answered once per challenge.
    fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Result<Reply, String> {
        let url = if path.starts_with("http://") || path.starts_with("https://") {
            path.to_string()
        } else if path.starts_with("/v2/") {
            format!("{}{path}", self.base)
        } else {
            format!("{}/v2/{}{path}", self.base, self.name)
        };
        let first = self.send(method, &url, headers, body)?;
        if first.status != 401 {
            return Ok(first);
        }
        let challenge = first.header("www-authenticate").unwrap_or("").to_string();
        self.authorization = Some(self.answer(&challenge)?);
        self.send(method, &url, headers, body)
    }

    fn send(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Result<Reply, String> {
        let what = format!("{method} {url}");
        let mut builder = ureq::http::Request::builder().method(method).uri(url);
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        if let Some(a) = &self.authorization {
            builder = builder.header("Authorization", a);
        }
        let agent = crate::fetch::agent();
        let result = match body {
            Some(b) => builder
                .body(b.to_vec())
                .map_err(|e| format!("{what}: {e}"))
                .and_then(|r| agent.run(r).map_err(|e| format!("{what}: {e}"))),
            None => builder
                .body(())
                .map_err(|e| format!("{what}: {e}"))
                .and_then(|r| agent.run(r).map_err(|e| format!("{what}: {e}"))),
        };
        let mut response = result?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
            .collect();
        let body = if method == "HEAD" {
            Vec::new()
        } else {
            response
                .body_mut()
                .with_config()
                .limit(MAX_MANIFEST)
                .read_to_vec()
                .map_err(|e| format!("{what}: {e}"))?
        };
        Ok(Reply {
            status,
            headers,
            body,
            what,
        })
    }

    /// The `Authorization` value that answers a 401's challenge.
    fn answer(&self, challenge: &str) -> Result<String, String> {
        let no_creds = || {
            format!(
                "{}: the registry wants credentials and none were given for it",
                self.base
            )
        };
        let (scheme, params) = challenge.split_once(' ').unwrap_or((challenge, ""));
        if scheme.eq_ignore_ascii_case("basic") {
            return self.basic.clone().ok_or_else(no_creds);
        }
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(format!(
                "{}: unsupported authentication challenge {challenge:?}",
                self.base
            ));
        }
        let params = challenge_params(params);
        let realm = params
            .get("realm")
            .ok_or_else(|| format!("{}: a Bearer challenge without a realm", self.base))?;
        let scope = format!("repository:{}:pull,push", self.name);
        let mut url = format!("{realm}?scope={}", percent_encode(&scope));
        if let Some(service) = params.get("service") {
            url.push_str(&format!("&service={}", percent_encode(service)));
        }
        let mut req = crate::fetch::agent().get(&url);
        if let Some(b) = &self.basic {
            req = req.header("Authorization", b);
        }
        let mut response = req.call().map_err(|e| format!("{url}: {e}"))?;
        let status = response.status().as_u16();
        if status == 401 || status == 403 {
            return Err(if self.basic.is_some() {
                format!("{url}: the registry refused the credentials ({status})")
            } else {
                no_creds()
            });
        }
        if status != 200 {
            return Err(format!("{url}: the token service answered {status}"));
        }
        let body: Value = serde_json::from_slice(
            &response
                .body_mut()
                .with_config()
                .limit(MAX_MANIFEST)
                .read_to_vec()
                .map_err(|e| format!("{url}: {e}"))?,
        )
        .map_err(|e| format!("{url}: not a token response: {e}"))?;
        body["token"]
            .as_str()
            .or_else(|| body["access_token"].as_str())
            .map(|t| format!("Bearer {t}"))
            .ok_or_else(|| format!("{url}: the token response has no token"))
    }

    /// Upload `content` unless the repository has it; its digest.
    fn push_blob(&mut self, content: &[u8]) -> Result<String, String> {
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

/// `user:password` for `host` in a containers auth file.
fn credentials_in(path: &std::path::Path, host: &str) -> Result<Option<String>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the auth file {}: {e}", path.display()))?;
    let file: Value = serde_json::from_str(&text)
        .map_err(|e| format!("the auth file {} is not JSON: {e}", path.display()))?;
    let Some(auth) = file["auths"][host]["auth"].as_str() else {
        return Ok(None);
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(auth)
        .map_err(|_| format!("the auth file's entry for {host} is not base64"))?;
    String::from_utf8(bytes)
        .map(Some)
        .map_err(|_| format!("the auth file's entry for {host} is not text"))
}

/// `key="value"` pairs of a challenge (values may be quoted and contain
/// commas).
fn challenge_params(s: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut rest = s.trim();
    while let Some((key, after)) = rest.split_once('=') {
        let key = key
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_ascii_lowercase();
        let (value, next) = if let Some(quoted) = after.strip_prefix('"') {
            match quoted.find('"') {
                Some(end) => (&quoted[..end], &quoted[end + 1..]),
                None => (quoted, ""),
            }
        } else {
            match after.find(',') {
                Some(end) => (&after[..end], &after[end..]),
                None => (after, ""),
            }
        };
        out.insert(key, value.to_string());
        rest = next.trim_start_matches(',').trim();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_are_read_with_quoted_commas() {
        let p = challenge_params(
            r#"realm="https://r.example/token",service="registry",scope="repository:a/b:pull,push""#,
        );
        assert_eq!(p["realm"], "https://r.example/token");
        assert_eq!(p["service"], "registry");
        assert_eq!(p["scope"], "repository:a/b:pull,push");
        let p = challenge_params("realm=https://x/t, service=s");
        assert_eq!(p["realm"], "https://x/t");
        assert_eq!(p["service"], "s");
    }

    #[test]
    fn auth_files_give_the_host_entry_only() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("auth.json");
        std::fs::write(
            &f,
            r#"{"auths":{"r.example:5000":{"auth":"dXNlcjpwYXNz"}}}"#,
        )
        .unwrap();
        assert_eq!(
            credentials_in(&f, "r.example:5000").unwrap().as_deref(),
            Some("user:pass")
        );
        assert_eq!(credentials_in(&f, "other").unwrap(), None);
        std::fs::write(&f, r#"{"auths":{"h":{"auth":"***"}}}"#).unwrap();
        assert!(credentials_in(&f, "h").unwrap_err().contains("not base64"));
    }

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
