//! The OCI distribution API spoken directly, for the few requests Slipway
//! makes itself: attaching referrers (`referrer`) and moving tags in
//! another registry ([`retag`]: one manifest GET and a PUT per tag of the
//! same bytes, instead of a `skopeo copy` process per tag). One
//! [`Session`] per repository: Basic credentials (given, or from a
//! containers auth file), or the Docker/OCI token flow.

use crate::image::FetchOptions;
use base64::Engine;
use serde_json::Value;
use slipway_core::scan::inventory::percent_encode;
use std::collections::BTreeMap;

/// The manifest types an image may have.
pub(crate) const MANIFEST_TYPES: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json";
/// Largest manifest or referrers index read back (the spec's limit is 4 MiB).
pub(crate) const MAX_MANIFEST: u64 = 4 << 20;

/// Give the image `image` (`registry/name@sha256:…`) each of `tags` in its
/// repository, byte for byte: its manifest read once and put under each
/// tag with its own media type, so the digest stays the same.
pub fn retag(image: &str, tags: &[String], opts: &FetchOptions) -> Result<(), String> {
    let (mut session, _, digest) =
        Session::for_image(image, opts).map_err(|e| format!("{image}: {e}"))?;
    let (body, media_type) = read_manifest_in(&mut session, digest)?;
    for tag in tags {
        session
            .request(
                "PUT",
                &format!("/manifests/{tag}"),
                &[("Content-Type", media_type.as_str())],
                Some(&body),
            )?
            .expect(201)?;
    }
    Ok(())
}

/// The manifest of `image` (`registry/name@sha256:…`) as the registry
/// stores it, checked against its digest, and its media type.
pub fn read_manifest(image: &str, opts: &FetchOptions) -> Result<(Vec<u8>, String), String> {
    let (mut session, _, digest) =
        Session::for_image(image, opts).map_err(|e| format!("{image}: {e}"))?;
    read_manifest_in(&mut session, digest)
}

fn read_manifest_in(session: &mut Session, digest: &str) -> Result<(Vec<u8>, String), String> {
    let got = session.request(
        "GET",
        &format!("/manifests/{digest}"),
        &[("Accept", MANIFEST_TYPES)],
        None,
    )?;
    got.expect(200)?;
    let read = sha256(&got.body);
    if read != digest {
        return Err(format!(
            "{}: the registry answered a manifest with digest {read}",
            got.what
        ));
    }
    let media_type = serde_json::from_slice::<Value>(&got.body)
        .ok()
        .and_then(|v| v.get("mediaType")?.as_str().map(str::to_string))
        .or_else(|| {
            got.header("content-type")
                .map(|c| c.split(';').next().unwrap_or(c).trim().to_string())
        })
        .ok_or_else(|| format!("{}: the manifest has no media type", got.what))?;
    Ok((got.body, media_type))
}

/// The manifest and the config of the image `image` (`registry/name@sha256:…`,
/// an image manifest), each checked against its digest.
pub fn read_image(image: &str, opts: &FetchOptions) -> Result<(Value, Value), String> {
    let (mut session, _, digest) =
        Session::for_image(image, opts).map_err(|e| format!("{image}: {e}"))?;
    let (bytes, _) = read_manifest_in(&mut session, digest)?;
    let manifest: Value = serde_json::from_slice(&bytes)
        .map_err(|e| format!("{image}: the manifest is not JSON: {e}"))?;
    let config_digest = manifest["config"]["digest"]
        .as_str()
        .ok_or_else(|| format!("{image}: the manifest names no config"))?
        .to_string();
    let got = session.request("GET", &format!("/blobs/{config_digest}"), &[], None)?;
    got.expect(200)?;
    if sha256(&got.body) != config_digest {
        return Err(format!(
            "{}: the config does not match its digest",
            got.what
        ));
    }
    let config: Value = serde_json::from_slice(&got.body)
        .map_err(|e| format!("{image}: the config is not JSON: {e}"))?;
    Ok((manifest, config))
}

/// Put an OCI image index of `members` (each `(platform,
/// registry/name@sha256:…)`, all in `repository`, `registry/name`) under
/// `tag`: each member's manifest is read for its media type and size, then
/// one PUT. Returns the index's digest.
pub fn push_index(
    repository: &str,
    tag: &str,
    members: &[(&slipway_core::cluster::Platform, &str)],
    opts: &FetchOptions,
) -> Result<String, String> {
    let (host, name) = repository
        .split_once('/')
        .ok_or("the repository names no registry")?;
    let mut session = Session::new(host, name, opts)?;
    let mut read = Vec::new();
    for (platform, image) in members {
        let (image_repo, digest) = image
            .split_once('@')
            .ok_or_else(|| format!("{image}: not named by digest"))?;
        if image_repo != repository {
            return Err(format!("{image} is not in {repository}"));
        }
        let (bytes, media_type) = read_manifest_in(&mut session, digest)?;
        read.push((*platform, digest, bytes.len() as u64, media_type));
    }
    let entries: Vec<slipway_core::oci::manifest::IndexMember<'_>> = read
        .iter()
        .map(
            |(platform, digest, size, media_type)| slipway_core::oci::manifest::IndexMember {
                media_type,
                digest,
                size: *size,
                platform,
            },
        )
        .collect();
    let index = slipway_core::oci::manifest::image_index(&entries);
    let put = session.request(
        "PUT",
        &format!("/manifests/{tag}"),
        &[("Content-Type", slipway_core::oci::manifest::OCI_INDEX)],
        Some(&index),
    )?;
    put.expect(201)?;
    let digest = sha256(&index);
    if let Some(said) = put.header("docker-content-digest")
        && said != digest
    {
        return Err(format!(
            "{}: the registry stored the index as {said}, not {digest}",
            put.what
        ));
    }
    Ok(digest)
}

/// `sha256:<hex>` of `bytes`.
pub(crate) fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

/// One repository on one registry, with the credentials it takes.
pub(crate) struct Session {
    base: String,
    pub(crate) name: String,
    /// `Basic …` from the credentials given, if any.
    basic: Option<String>,
    /// What the registry answered the last 401 with, once satisfied.
    authorization: Option<String>,
}

pub(crate) struct Reply {
    pub(crate) status: u16,
    headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
    pub(crate) what: String,
}

impl Reply {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn expect(&self, status: u16) -> Result<(), String> {
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
    /// The session for the repository of `image` (`registry/name@digest`),
    /// with that repository (`registry/name`) and the digest.
    pub(crate) fn for_image<'a>(
        image: &'a str,
        opts: &FetchOptions,
    ) -> Result<(Session, &'a str, &'a str), String> {
        let (repository, digest) = image
            .split_once('@')
            .ok_or("the image must be named by digest (name@sha256:…)")?;
        let (host, name) = repository
            .split_once('/')
            .ok_or("the image reference names no registry")?;
        Ok((Session::new(host, name, opts)?, repository, digest))
    }

    pub(crate) fn new(host: &str, name: &str, opts: &FetchOptions) -> Result<Session, String> {
        let scheme = if opts.tls_verify { "https" } else { "http" };
        let userpass = match &opts.credentials {
            Some(c) => Some(c.clone()),
            None => match &opts.authfile {
                Some(f) => credentials_in(f, host)?,
                None => default_credentials(host),
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
    pub(crate) fn request(
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
}

/// `user:password` for `host` in a containers auth file.
pub(crate) fn credentials_in(path: &std::path::Path, host: &str) -> Result<Option<String>, String> {
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

/// `user:password` for `host` from the auth files skopeo and buildah read
/// when given none (`$REGISTRY_AUTH_FILE`, then containers' and Docker's in
/// the user's directories): what the server's user logged in with. An
/// unreadable one is passed over.
fn default_credentials(host: &str) -> Option<String> {
    let env = |k: &str| std::env::var_os(k).map(std::path::PathBuf::from);
    let home = env("HOME");
    let candidates = [
        env("REGISTRY_AUTH_FILE"),
        env("XDG_RUNTIME_DIR").map(|d| d.join("containers/auth.json")),
        env("XDG_CONFIG_HOME")
            .or_else(|| home.as_ref().map(|h| h.join(".config")))
            .map(|d| d.join("containers/auth.json")),
        home.as_ref().map(|h| h.join(".docker/config.json")),
    ];
    candidates
        .into_iter()
        .flatten()
        .filter(|p| p.is_file())
        .find_map(|p| credentials_in(&p, host).ok().flatten())
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
}
