//! Manifests, tags, the catalog and the referrers API.

use super::*;

/// Paging per the spec: `n` and `last`, and a `Link` header to the next page.
pub(super) fn paging(q: &Query) -> Result<(Option<u32>, Option<String>)> {
    let n = match q.get("n") {
        Some(v) => Some(v.parse::<u32>().map_err(|_| {
            RegistryError::pagination_number_invalid(format!("n={v:?} is not a number of results"))
        })?),
        None => None,
    };
    Ok((n, q.get("last").cloned()))
}

pub(super) fn link_next(resp: &mut Response, path: &str, items: &[String], n: Option<u32>) {
    if let (Some(n), Some(last)) = (n, items.last())
        && n > 0
        && items.len() == n as usize
    {
        header(
            resp,
            "link",
            &format!("<{path}?n={n}&last={last}>; rel=\"next\""),
        );
    }
}

pub(super) async fn catalog(reg: &Registry, q: &Query) -> Result<Response> {
    let (n, last) = paging(q)?;
    let repos = reg.meta.repositories(n, last.as_deref()).await?;
    let mut r = axum::Json(serde_json::json!({ "repositories": repos })).into_response();
    link_next(&mut r, "/v2/_catalog", &repos, n);
    Ok(r)
}

pub(super) async fn tags(reg: &Registry, name: &str, q: &Query) -> Result<Response> {
    check_name(name)?;
    if !reg.meta.repository_exists(name).await? {
        return Err(RegistryError::name_unknown(format!(
            "repository {name} does not exist"
        )));
    }
    let (n, last) = paging(q)?;
    let tags = reg.meta.tags(name, n, last.as_deref()).await?;
    let mut r = axum::Json(serde_json::json!({ "name": name, "tags": tags })).into_response();
    link_next(&mut r, &format!("/v2/{name}/tags/list"), &tags, n);
    Ok(r)
}

/// A reference is a digest or a tag.
async fn resolve_manifest(reg: &Registry, name: &str, reference: &str) -> Result<ManifestRecord> {
    let digest = if reference.contains(':') {
        parse_digest(reference)?.to_string()
    } else {
        // A tag that cannot exist names no manifest (what Distribution and
        // Harbor answer); MANIFEST_INVALID is for uploaded manifests.
        if !valid_tag(reference) {
            return Err(RegistryError::manifest_unknown(format!(
                "no manifest is tagged {reference:?} in {name} (that is not a valid tag)"
            )));
        }
        reg.meta.tag(name, reference).await?.ok_or_else(|| {
            RegistryError::manifest_unknown(format!("manifest {name}:{reference} does not exist"))
        })?
    };
    reg.meta.manifest(name, &digest).await?.ok_or_else(|| {
        RegistryError::manifest_unknown(format!("manifest {name}@{digest} does not exist"))
    })
}

pub(super) async fn get_manifest(
    reg: &Registry,
    name: &str,
    reference: &str,
    head: bool,
) -> Result<Response> {
    check_name(name)?;
    let m = resolve_manifest(reg, name, reference).await?;
    let digest = parse_digest(&m.digest)?;
    let body = if head {
        Body::empty()
    } else {
        Body::from(reg.blobs.read_all(&digest).await?)
    };
    let mut r = (StatusCode::OK, body).into_response();
    header(&mut r, "content-type", &m.media_type);
    header(&mut r, "docker-content-digest", &m.digest);
    header(&mut r, "content-length", &m.size.to_string());
    Ok(r)
}

async fn read_limited(body: Body, limit: usize) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            RegistryError::manifest_invalid(format!("reading the manifest failed: {e}"))
        })?;
        if out.len() + chunk.len() > limit {
            return Err(RegistryError::size_invalid(format!(
                "manifest is larger than {limit} bytes"
            )));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// Who moves a tag through the registry, for its history: a build's token
/// pushes for that build (`build`), anyone else `why`.
fn mover(access: &Access, why: &str) -> TagMove {
    match access.build() {
        Some(b) => TagMove::new(access.who(), Some(b), "build"),
        None => TagMove::new(access.who(), None, why),
    }
}

pub(super) async fn put_manifest(
    reg: &Registry,
    name: &str,
    reference: &str,
    headers: &HeaderMap,
    body: Body,
    access: &Access,
) -> Result<Response> {
    check_name(name)?;
    let by_digest = if reference.contains(':') {
        Some(parse_digest(reference)?)
    } else if valid_tag(reference) {
        None
    } else {
        return Err(RegistryError::manifest_invalid(format!(
            "invalid tag {reference:?}"
        )));
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = read_limited(body, MAX_MANIFEST_BYTES).await?;
    let parsed =
        manifest::parse(content_type.as_deref(), &body).map_err(RegistryError::manifest_invalid)?;
    let algorithm = by_digest
        .as_ref()
        .map(|d| d.algorithm)
        .unwrap_or(Algorithm::Sha256);
    let digest = crate::digest::digest_of(algorithm, &body);
    if let Some(d) = &by_digest
        && d != &digest
    {
        return Err(RegistryError::digest_invalid(format!(
            "manifest digest is {digest}, not {d} as the URL says"
        )));
    }
    // Gated from the checks to the record: GC must not delete a blob
    // this manifest names, or its own bytes, in between (on any server).
    let gate = reg.meta.blob_gate(false).await?;
    let recorded = record_manifest(
        reg,
        name,
        &body,
        &parsed,
        &digest,
        by_digest.is_none().then_some(reference),
        access,
    )
    .await;
    gate.release().await;
    recorded?;
    let mut r = empty(StatusCode::CREATED);
    header(
        &mut r,
        "location",
        &format!("/v2/{name}/manifests/{digest}"),
    );
    header(&mut r, "docker-content-digest", &digest.to_string());
    if let Some(s) = &parsed.subject {
        header(&mut r, "oci-subject", s);
    }
    Ok(r)
}

/// Check that the repository has everything `parsed` names, store its
/// bytes and record it (pointing `tag` at it).
async fn record_manifest(
    reg: &Registry,
    name: &str,
    body: &[u8],
    parsed: &manifest::ParsedManifest,
    digest: &Digest,
    tag: Option<&str>,
    access: &Access,
) -> Result<()> {
    let algorithm = digest.algorithm;
    for b in &parsed.blobs {
        if !reg.meta.blob_visible(name, b).await?
            || reg.blobs.stat(&parse_digest(b)?).await?.is_none()
        {
            return Err(RegistryError::manifest_blob_unknown(format!(
                "blob {b} is not in repository {name}"
            )));
        }
    }
    for m in &parsed.manifests {
        if reg.meta.manifest(name, m).await?.is_none() {
            return Err(RegistryError::manifest_blob_unknown(format!(
                "manifest {m} listed by the index is not in repository {name}"
            )));
        }
    }
    reg.blobs.put(body, algorithm).await?;
    let record = ManifestRecord {
        digest: digest.to_string(),
        media_type: parsed.media_type.clone(),
        size: body.len() as u64,
        artifact_type: parsed.artifact_type.clone(),
        subject: parsed.subject.clone(),
        annotations: parsed.annotations.clone(),
    };
    let references: Vec<String> = parsed
        .blobs
        .iter()
        .chain(&parsed.manifests)
        .cloned()
        .collect();
    reg.meta
        .put_manifest(name, &record, &references, tag, &mover(access, "push"))
        .await?;
    Ok(())
}

pub(super) async fn delete_manifest(
    reg: &Registry,
    name: &str,
    reference: &str,
    access: &Access,
) -> Result<Response> {
    check_name(name)?;
    let by = mover(access, "delete");
    let deleted = if reference.contains(':') {
        let d = parse_digest(reference)?;
        reg.meta.delete_manifest(name, &d.to_string(), &by).await?
    } else {
        reg.meta.delete_tag(name, reference, &by).await?
    };
    if deleted {
        Ok(empty(StatusCode::ACCEPTED))
    } else {
        Err(RegistryError::manifest_unknown(format!(
            "manifest {name}:{reference} does not exist"
        )))
    }
}

pub(super) async fn referrers(reg: &Registry, name: &str, d: &str, q: &Query) -> Result<Response> {
    check_name(name)?;
    let digest = parse_digest(d)?;
    let filter = q.get("artifactType").cloned();
    let mut list = reg.meta.referrers(name, &digest.to_string()).await?;
    if let Some(f) = &filter {
        list.retain(|m| m.artifact_type.as_deref() == Some(f.as_str()));
    }
    let manifests: Vec<serde_json::Value> = list
        .iter()
        .map(|m| {
            let mut v =
                serde_json::json!({"mediaType": m.media_type, "digest": m.digest, "size": m.size});
            if let Some(a) = &m.artifact_type {
                v["artifactType"] = a.clone().into();
            }
            if let Some(ann) = m
                .annotations
                .as_deref()
                .and_then(|a| serde_json::from_str::<serde_json::Value>(a).ok())
            {
                v["annotations"] = ann;
            }
            v
        })
        .collect();
    let body = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": manifest::OCI_INDEX,
        "manifests": manifests,
    });
    let mut r = (StatusCode::OK, body.to_string()).into_response();
    header(&mut r, "content-type", manifest::OCI_INDEX);
    if filter.is_some() {
        header(&mut r, "oci-filters-applied", "artifactType");
    }
    Ok(r)
}
