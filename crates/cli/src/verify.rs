//! `slipway verify IMAGE`: check, as a consumer would, that an image was
//! signed by the server's key and that its provenance verifies and names
//! it — reading the registry directly (the OCI distribution API), not the
//! server's records.
//!
//! The key is the server's (`GET /api/v1/signing-key`) or a PEM file
//! (`--key`), so an image copied elsewhere can be checked against a key
//! kept apart. The server's own registry is read with the CLI's token;
//! another registry anonymously (over https; plain HTTP on loopback). Every answer read is size-bounded and
//! checked against its digest.

use crate::client::{Client, ClientError, http_client};
use crate::{CliError, Output, print_json};
use serde::Serialize;
use serde_json::Value;
use slipway_core::ImageRef;
use slipway_core::oci::digest::{Algorithm, digest_of};
use slipway_core::supply::dsse::{
    ENVELOPE_MEDIA_TYPE, Envelope, IN_TOTO_PAYLOAD_TYPE, base64_decode,
};
use slipway_core::supply::provenance;
use slipway_core::supply::simple_signing::{Payload, signature_layers, signature_tag};
use slipway_signing::PublicKey;
use std::path::PathBuf;

/// The most a manifest, signature payload or provenance envelope may be.
const MAX_DOCUMENT: usize = 4 << 20;
/// Platform manifests of an index checked at most.
const MAX_PLATFORMS: usize = 64;

const MANIFEST_TYPES: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json";

#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// The image: `registry/repository:tag` or `…@sha256:…` (without a
    /// registry: the server's)
    pub image: String,
    /// The public key (PEM) to check against [default: the server's,
    /// from GET /api/v1/signing-key]
    #[arg(long)]
    pub key: Option<PathBuf>,
    #[arg(short, long, value_enum, default_value_t)]
    pub output: Output,
}

/// One manifest's signature.
#[derive(Debug, Serialize)]
pub struct SignatureCheck {
    pub digest: String,
    pub verified: bool,
    /// Why not, when not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct ProvenanceCheck {
    pub verified: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub builder: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub base_images: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct Verification {
    /// `registry/repository@digest`: what was checked.
    pub image: String,
    pub digest: String,
    pub key_id: String,
    pub verified: bool,
    /// The image's manifest, and each platform's when it is an index.
    pub signatures: Vec<SignatureCheck>,
    pub provenance: ProvenanceCheck,
}

/// Reads one repository over the distribution API.
struct Reader {
    http: reqwest::Client,
    base: String,
    repository: String,
    token: Option<String>,
}

impl Reader {
    /// `registry/repository`, as signatures name it.
    fn repository_name(&self) -> String {
        let host = self
            .base
            .split_once("://")
            .map_or(self.base.as_str(), |(_, h)| h);
        format!("{host}/{}", self.repository)
    }

    async fn get(&self, path: &str, accept: &str) -> Result<Option<Vec<u8>>, String> {
        let url = format!("{}/v2/{}/{path}", self.base, self.repository);
        let mut req = self.http.get(&url).header("Accept", accept);
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        let mut resp = req
            .timeout(std::time::Duration::from_secs(60))
            .send()
            .await
            .map_err(|e| format!("cannot reach {url}: {e}"))?;
        match resp.status().as_u16() {
            200 => {}
            404 => return Ok(None),
            401 | 403 => {
                return Err(format!(
                    "{url}: the registry refused access (HTTP {}); slipway verify reads the server's registry with your token and others anonymously",
                    resp.status().as_u16()
                ));
            }
            s => return Err(format!("{url}: HTTP {s}")),
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| format!("{url}: the answer was cut: {e}"))?
        {
            if body.len() + chunk.len() > MAX_DOCUMENT {
                return Err(format!("{url}: the answer is over {MAX_DOCUMENT} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Some(body))
    }

    /// A manifest by tag or digest; by digest, checked against it.
    async fn manifest(&self, reference: &str) -> Result<Option<(Vec<u8>, String)>, String> {
        let Some(body) = self
            .get(&format!("manifests/{reference}"), MANIFEST_TYPES)
            .await?
        else {
            return Ok(None);
        };
        let digest = digest_of(Algorithm::Sha256, &body).to_string();
        if reference.contains(':') && reference != digest {
            return Err(format!(
                "the registry answered {reference} with a manifest whose digest is {digest}"
            ));
        }
        Ok(Some((body, digest)))
    }

    async fn blob(&self, digest: &str) -> Result<Vec<u8>, String> {
        let body = self
            .get(&format!("blobs/{digest}"), "*/*")
            .await?
            .ok_or_else(|| format!("blob {digest} is not in the registry"))?;
        if digest_of(Algorithm::Sha256, &body).to_string() != digest {
            return Err(format!("blob {digest} does not match its digest"));
        }
        Ok(body)
    }
}

/// The sigstore signature of `digest`, verified with `key`.
async fn check_signature(reader: &Reader, digest: &str, key: &PublicKey) -> SignatureCheck {
    let checked = async {
        let tag = signature_tag(digest).ok_or("not a sha256 digest")?;
        let Some((body, _)) = reader.manifest(&tag).await? else {
            return Err(format!("no signature ({tag} is not in the repository)"));
        };
        let manifest: Value =
            serde_json::from_slice(&body).map_err(|e| format!("{tag} is not JSON: {e}"))?;
        let mut why = format!("{tag} holds no signature by this key");
        for (payload_digest, signature) in signature_layers(&manifest) {
            let Some(signature) = base64_decode(signature) else {
                continue;
            };
            let payload = reader.blob(payload_digest).await?;
            if !key.verify(&payload, &signature) {
                why = format!("{tag}: a signature does not verify with this key");
                continue;
            }
            match Payload::parse_for(&payload, digest) {
                Ok(p) => {
                    let want = reader.repository_name();
                    if p.critical.identity.docker_reference != want {
                        why = format!(
                            "the signature is for {}, not {want}",
                            p.critical.identity.docker_reference
                        );
                        continue;
                    }
                    return Ok(());
                }
                Err(e) => why = e,
            }
        }
        Err(why)
    }
    .await;
    SignatureCheck {
        digest: digest.to_string(),
        verified: checked.is_ok(),
        problem: checked.err(),
    }
}

/// The provenance attached to `digest`: verified with `key`, naming it.
async fn check_provenance(reader: &Reader, digest: &str, key: &PublicKey) -> ProvenanceCheck {
    let mut out = ProvenanceCheck {
        verified: false,
        problem: None,
        builder: None,
        source: None,
        commit: None,
        base_images: Vec::new(),
    };
    let found = async {
        // The referrers API, else the spec's fallback: an index tagged
        // `sha256-<hex>` (registries without the API).
        let index = match reader
            .get(
                &format!("referrers/{digest}"),
                "application/vnd.oci.image.index.v1+json",
            )
            .await?
        {
            Some(index) => index,
            None => {
                let tag = digest.replacen(':', "-", 1);
                reader
                    .get(
                        &format!("manifests/{tag}"),
                        "application/vnd.oci.image.index.v1+json",
                    )
                    .await?
                    .ok_or("no provenance is attached to it (no referrers, no referrers tag)")?
            }
        };
        let index: Value = serde_json::from_slice(&index)
            .map_err(|e| format!("the referrers are not JSON: {e}"))?;
        let mut why = "no provenance is attached to it".to_string();
        for m in index["manifests"].as_array().into_iter().flatten() {
            if m["artifactType"] != ENVELOPE_MEDIA_TYPE {
                continue;
            }
            let Some(d) = m["digest"].as_str() else {
                continue;
            };
            let Some((body, _)) = reader.manifest(d).await? else {
                continue;
            };
            let manifest: Value = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
            let Some(layer) = manifest["layers"][0]["digest"].as_str() else {
                continue;
            };
            let envelope = reader.blob(layer).await?;
            let opened = match Envelope::parse(&envelope).and_then(|e| e.open(IN_TOTO_PAYLOAD_TYPE))
            {
                Ok(o) => o,
                Err(e) => {
                    why = format!("an attached envelope does not read: {e}");
                    continue;
                }
            };
            if !opened
                .signatures
                .iter()
                .any(|(_, sig)| key.verify(&opened.signed, sig))
            {
                why = "the attached provenance does not verify with this key".into();
                continue;
            }
            let statement: Value = serde_json::from_slice(&opened.payload)
                .map_err(|e| format!("the statement is not JSON: {e}"))?;
            let read = provenance::read(&statement)?;
            if !read.subjects.iter().any(|(_, d)| d == digest) {
                why = "the attached provenance names other images".into();
                continue;
            }
            return Ok(read);
        }
        Err(why)
    }
    .await;
    match found {
        Ok(r) => {
            out.verified = true;
            out.builder = Some(r.builder_id);
            out.source = Some(r.source_url);
            out.commit = r.commit;
            out.base_images = r.base_images;
        }
        Err(e) => out.problem = Some(e),
    }
    out
}

pub async fn verify(client: &Client, args: VerifyArgs) -> Result<(), CliError> {
    let server = &client.endpoint.url;
    let (scheme, server_host) = server
        .split_once("://")
        .map(|(s, h)| (s, h.trim_end_matches('/')))
        .unwrap_or(("http", server.as_str()));
    let image = ImageRef::parse_with_default(&args.image, Some(server_host))
        .map_err(|e| CliError::Usage(format!("{}: {e}", args.image)))?;
    let key = match &args.key {
        Some(path) => {
            let text = std::fs::read(path).map_err(|e| {
                CliError::Usage(format!("cannot read the key {}: {e}", path.display()))
            })?;
            PublicKey::from_pem(&text).map_err(|e| {
                CliError::Usage(format!(
                    "{} is not a public key (PEM): {e}; `curl …/api/v1/signing-key | jq -r .public_key` gives the server's",
                    path.display()
                ))
            })?
        }
        None => {
            let info: slipway_core::api::SigningKeyInfo = client.get_json("/signing-key").await?;
            PublicKey::from_pem(info.public_key.as_bytes())
                .map_err(|e| ClientError::Protocol(format!("the server's signing key: {e}")))?
        }
    };
    let own = image.registry == server_host;
    // Another registry: https, but plain HTTP on loopback (as buildah and
    // skopeo treat a registry on this machine).
    let base = if own {
        format!("{scheme}://{}", image.registry)
    } else if image.is_loopback() {
        format!("http://{}", image.registry)
    } else {
        format!("https://{}", image.registry)
    };
    let reader = Reader {
        http: http_client(&base, client.endpoint.ca_file.as_deref())?,
        base,
        repository: image.repository.clone(),
        token: own.then(|| client.endpoint.token.clone()),
    };
    let reference = image
        .digest
        .clone()
        .or_else(|| image.tag.clone())
        .unwrap_or_else(|| "latest".into());
    let Some((body, digest)) = reader.manifest(&reference).await.map_err(CliError::Usage)? else {
        return Err(CliError::Usage(format!(
            "{} is not in the registry",
            args.image
        )));
    };
    let manifest: Value = serde_json::from_slice(&body)
        .map_err(|e| CliError::Usage(format!("{}: the manifest is not JSON: {e}", args.image)))?;
    let mut signatures = vec![check_signature(&reader, &digest, &key).await];
    let children: Vec<String> = manifest["manifests"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["digest"].as_str().map(str::to_string))
        .take(MAX_PLATFORMS)
        .collect();
    for child in &children {
        signatures.push(check_signature(&reader, child, &key).await);
    }
    let provenance = check_provenance(&reader, &digest, &key).await;
    let verified = provenance.verified && signatures.iter().all(|s| s.verified);
    let result = Verification {
        image: format!("{}/{}@{digest}", image.registry, image.repository),
        digest,
        key_id: key.keyid(),
        verified,
        signatures,
        provenance,
    };
    match args.output {
        Output::Json => print_json(&result),
        Output::Table => print!("{}", text(&result)),
    }
    if verified {
        Ok(())
    } else {
        Err(CliError::NotVerified)
    }
}

fn text(v: &Verification) -> String {
    let mark = |ok: bool| if ok { "ok" } else { "FAILED" };
    let mut out = format!("image:       {}\nkey:         {}\n", v.image, v.key_id);
    for s in &v.signatures {
        out.push_str(&format!(
            "signature:   {} {}{}\n",
            mark(s.verified),
            s.digest,
            s.problem
                .as_deref()
                .map(|p| format!(": {p}"))
                .unwrap_or_default()
        ));
    }
    let p = &v.provenance;
    match &p.problem {
        None => {
            out.push_str(&format!(
                "provenance:  ok, built by {} from {}{}\n",
                p.builder.as_deref().unwrap_or("?"),
                p.source.as_deref().unwrap_or("?"),
                p.commit
                    .as_deref()
                    .map(|c| format!(" @ {c}"))
                    .unwrap_or_default()
            ));
            for b in &p.base_images {
                out.push_str(&format!("base image:  {b}\n"));
            }
        }
        Some(why) => out.push_str(&format!("provenance:  FAILED: {why}\n")),
    }
    out.push_str(if v.verified {
        "verified\n"
    } else {
        "NOT verified: do not trust this image as built by this server\n"
    });
    out
}
