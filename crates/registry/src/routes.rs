//! The OCI distribution API under `/v2/`, plus the token endpoint.
//!
//! axum cannot put a wildcard in the middle of a path, and repository names
//! contain slashes, so `/v2/{*rest}` is parsed here by hand into a [`Route`].

use crate::Registry;
use crate::auth::Need;
use crate::digest::{Algorithm, Digest};
use crate::error::RegistryError;
use crate::manifest::{self, MAX_MANIFEST_BYTES};
use crate::storage::valid_upload_id;
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use futures::StreamExt;
use slipway_core::image_ref::valid_tag;
use slipway_core::token::{Action, Grant, allowed};
use slipway_store::ManifestRecord;
use std::collections::HashMap;
use std::sync::Arc;

type Result<T> = std::result::Result<T, RegistryError>;

pub fn router(registry: Arc<Registry>) -> Router {
    Router::new()
        .route("/v2", any(dispatch))
        .route("/v2/", any(dispatch))
        .route("/v2/{*rest}", any(dispatch))
        .route("/auth/token", get(token))
        .with_state(registry)
}

/// A parsed `/v2/…` path.
#[derive(Debug, PartialEq, Eq)]
enum Route {
    Base,
    Catalog,
    Tags(String),
    Manifest(String, String),
    Blob(String, String),
    /// Repository and upload id (empty for a new upload).
    Upload(String, String),
    Referrers(String, String),
}

fn parse_route(path: &str) -> Option<Route> {
    let rest = path.strip_prefix("/v2")?;
    let rest = rest.strip_prefix('/').unwrap_or(rest);
    if rest.is_empty() {
        return Some(Route::Base);
    }
    if rest == "_catalog" {
        return Some(Route::Catalog);
    }
    if let Some(name) = rest.strip_suffix("/tags/list") {
        return Some(Route::Tags(name.into()));
    }
    if let Some((name, r)) = rest.rsplit_once("/manifests/") {
        return Some(Route::Manifest(name.into(), r.into()));
    }
    if let Some((name, d)) = rest.rsplit_once("/referrers/") {
        return Some(Route::Referrers(name.into(), d.into()));
    }
    if let Some(name) = rest
        .strip_suffix("/blobs/uploads")
        .or_else(|| rest.strip_suffix("/blobs/uploads/"))
    {
        return Some(Route::Upload(name.into(), String::new()));
    }
    if let Some((name, id)) = rest.rsplit_once("/blobs/uploads/") {
        return Some(Route::Upload(name.into(), id.into()));
    }
    if let Some((name, d)) = rest.rsplit_once("/blobs/") {
        return Some(Route::Blob(name.into(), d.into()));
    }
    None
}

/// The distribution spec's repository name grammar.
pub fn valid_name(name: &str) -> bool {
    fn component(c: &str) -> bool {
        let b = c.as_bytes();
        if b.is_empty() || !is_alnum(b[0]) || !is_alnum(b[b.len() - 1]) {
            return false;
        }
        let mut i = 0;
        while i < b.len() {
            if is_alnum(b[i]) {
                i += 1;
                continue;
            }
            // A separator: ".", "_", "__" or a run of "-".
            let start = i;
            while i < b.len() && !is_alnum(b[i]) {
                i += 1;
            }
            let sep = &c[start..i];
            let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-');
            if !ok {
                return false;
            }
        }
        true
    }
    fn is_alnum(c: u8) -> bool {
        c.is_ascii_lowercase() || c.is_ascii_digit()
    }
    !name.is_empty() && name.len() <= 255 && name.split('/').all(component)
}

fn check_name(name: &str) -> Result<()> {
    if valid_name(name) {
        Ok(())
    } else {
        Err(RegistryError::name_invalid(format!(
            "invalid repository name {name:?}"
        )))
    }
}

fn parse_digest(d: &str) -> Result<Digest> {
    d.parse()
        .map_err(|e: crate::digest::DigestError| RegistryError::digest_invalid(e.to_string()))
}

type Query = HashMap<String, String>;

/// The request's query parameters, decoded by axum (serde_urlencoded).
fn query(req: &Request) -> Query {
    axum::extract::Query::<Query>::try_from_uri(req.uri())
        .map(|q| q.0)
        .unwrap_or_default()
}

fn header(resp: &mut Response, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        resp.headers_mut().insert(name, v);
    }
}

fn empty(status: StatusCode) -> Response {
    let mut r = (status, Body::empty()).into_response();
    header(&mut r, "content-length", "0");
    r
}

async fn dispatch(State(reg): State<Arc<Registry>>, req: Request) -> Response {
    match handle(&reg, req).await {
        Ok(mut r) => {
            header(&mut r, "docker-distribution-api-version", "registry/2.0");
            r
        }
        Err(e) => {
            let mut r = e.into_response();
            header(&mut r, "docker-distribution-api-version", "registry/2.0");
            r
        }
    }
}

/// What an example request needs, in short (see [`examples`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    Base,
    Catalog,
    Pull,
    Push,
    Delete,
}

/// The path of a route (the inverse of `parse_route`).
fn path_of(route: &Route) -> String {
    match route {
        Route::Base => "/v2/".into(),
        Route::Catalog => "/v2/_catalog".into(),
        Route::Tags(n) => format!("/v2/{n}/tags/list"),
        Route::Manifest(n, r) => format!("/v2/{n}/manifests/{r}"),
        Route::Blob(n, d) => format!("/v2/{n}/blobs/{d}"),
        Route::Upload(n, id) if id.is_empty() => format!("/v2/{n}/blobs/uploads/"),
        Route::Upload(n, id) => format!("/v2/{n}/blobs/uploads/{id}"),
        Route::Referrers(n, d) => format!("/v2/{n}/referrers/{d}"),
    }
}

/// Every kind of registry request — each route under every method — on
/// repository `repo`, with what it needs: what the auth-matrix test walks,
/// made from the same `need` the router asks.
pub fn examples(repo: &str, digest: &str) -> Vec<(&'static str, String, Needs)> {
    let routes = [
        Route::Base,
        Route::Catalog,
        Route::Tags(repo.into()),
        Route::Manifest(repo.into(), "latest".into()),
        Route::Blob(repo.into(), digest.into()),
        Route::Upload(repo.into(), String::new()),
        Route::Upload(repo.into(), "0123456789abcdef0123456789abcdef".into()),
        Route::Referrers(repo.into(), digest.into()),
    ];
    let mut out = Vec::new();
    for r in &routes {
        for m in ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"] {
            let method = Method::from_bytes(m.as_bytes()).unwrap_or(Method::GET);
            let needs = match need(Some(r), &method) {
                Need::Base => Needs::Base,
                Need::Catalog => Needs::Catalog,
                Need::Repository(_, Action::Pull) => Needs::Pull,
                Need::Repository(_, Action::Push) => Needs::Push,
                Need::Repository(_, Action::Delete) => Needs::Delete,
            };
            out.push((m, path_of(r), needs));
        }
    }
    out
}

/// What a request on `route` with `method` needs from its credentials.
fn need(route: Option<&Route>, method: &Method) -> Need {
    let read = matches!(*method, Method::GET | Method::HEAD);
    let on = |name: &str, action| Need::Repository(name.to_string(), action);
    match route {
        None | Some(Route::Base) => Need::Base,
        Some(Route::Catalog) => Need::Catalog,
        Some(Route::Tags(n) | Route::Referrers(n, _)) => on(n, Action::Pull),
        Some(Route::Manifest(n, _) | Route::Blob(n, _)) if read => on(n, Action::Pull),
        Some(Route::Manifest(n, _) | Route::Blob(n, _)) if *method == Method::DELETE => {
            on(n, Action::Delete)
        }
        Some(Route::Manifest(n, _) | Route::Blob(n, _) | Route::Upload(n, _)) => {
            on(n, Action::Push)
        }
    }
}

async fn handle(reg: &Registry, req: Request) -> Result<Response> {
    let route = parse_route(req.uri().path());
    let grants = reg
        .auth
        .authorize(req.headers(), &need(route.as_ref(), req.method()))
        .await?;
    // Writes take a slot (or get 429) and exclude garbage collection (see
    // `gc`); reads need neither.
    let write = !matches!(*req.method(), Method::GET | Method::HEAD);
    let _slot = if write {
        Some(reg.write_slots.try_acquire().map_err(|_| {
            RegistryError::too_many_requests("too many uploads in progress; retry in a moment")
        })?)
    } else {
        None
    };
    let _shared = if write {
        Some(reg.gc_lock.read().await)
    } else {
        None
    };
    let route = route.ok_or_else(|| {
        RegistryError::unsupported(format!("no registry endpoint at {}", req.uri().path()))
    })?;
    let method = req.method().clone();
    let q = query(&req);
    let (parts, body) = req.into_parts();
    let headers = parts.headers;
    match (route, method) {
        (Route::Base, Method::GET | Method::HEAD) => {
            let mut r = (StatusCode::OK, axum::Json(serde_json::json!({}))).into_response();
            header(&mut r, "content-type", "application/json");
            Ok(r)
        }
        (Route::Catalog, Method::GET) => catalog(reg, &q).await,
        (Route::Tags(name), Method::GET) => tags(reg, &name, &q).await,
        (Route::Manifest(name, r), m @ (Method::GET | Method::HEAD)) => {
            get_manifest(reg, &name, &r, m == Method::HEAD).await
        }
        (Route::Manifest(name, r), Method::PUT) => {
            put_manifest(reg, &name, &r, &headers, body).await
        }
        (Route::Manifest(name, r), Method::DELETE) => delete_manifest(reg, &name, &r).await,
        (Route::Blob(name, d), m @ (Method::GET | Method::HEAD)) => {
            get_blob(reg, &name, &d, m == Method::HEAD, &headers).await
        }
        (Route::Blob(name, d), Method::DELETE) => delete_blob(reg, &name, &d).await,
        (Route::Upload(name, id), Method::POST) if id.is_empty() => {
            start_upload(reg, &name, &q, &grants, body).await
        }
        (Route::Upload(name, id), Method::GET) if !id.is_empty() => {
            upload_status(reg, &name, &id).await
        }
        (Route::Upload(name, id), Method::PATCH) if !id.is_empty() => {
            patch_upload(reg, &name, &id, &headers, body).await
        }
        (Route::Upload(name, id), Method::PUT) if !id.is_empty() => {
            finish_upload(reg, &name, &id, &q, &headers, body).await
        }
        (Route::Upload(name, id), Method::DELETE) if !id.is_empty() => {
            cancel_upload(reg, &name, &id).await
        }
        (Route::Referrers(name, d), Method::GET) => referrers(reg, &name, &d, &q).await,
        (_, m) => Err(RegistryError::unsupported(format!(
            "{m} is not supported here"
        ))),
    }
}

/// Paging per the spec: `n` and `last`, and a `Link` header to the next page.
fn paging(q: &Query) -> Result<(Option<u32>, Option<String>)> {
    let n = match q.get("n") {
        Some(v) => Some(v.parse::<u32>().map_err(|_| {
            RegistryError::pagination_number_invalid(format!("n={v:?} is not a number of results"))
        })?),
        None => None,
    };
    Ok((n, q.get("last").cloned()))
}

fn link_next(resp: &mut Response, path: &str, items: &[String], n: Option<u32>) {
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

async fn catalog(reg: &Registry, q: &Query) -> Result<Response> {
    let (n, last) = paging(q)?;
    let repos = reg.meta.repositories(n, last.as_deref()).await?;
    let mut r = axum::Json(serde_json::json!({ "repositories": repos })).into_response();
    link_next(&mut r, "/v2/_catalog", &repos, n);
    Ok(r)
}

async fn tags(reg: &Registry, name: &str, q: &Query) -> Result<Response> {
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

async fn get_manifest(reg: &Registry, name: &str, reference: &str, head: bool) -> Result<Response> {
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

async fn put_manifest(
    reg: &Registry,
    name: &str,
    reference: &str,
    headers: &HeaderMap,
    body: Body,
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
    for b in &parsed.blobs {
        if !reg.meta.blob_visible(name, b).await?
            || reg.blobs.stat(&parse_digest(b)?).await.is_none()
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
    reg.blobs.put(&body, algorithm).await?;
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
    let tag = if by_digest.is_none() {
        Some(reference)
    } else {
        None
    };
    reg.meta
        .put_manifest(name, &record, &references, tag)
        .await?;
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

async fn delete_manifest(reg: &Registry, name: &str, reference: &str) -> Result<Response> {
    check_name(name)?;
    let deleted = if reference.contains(':') {
        let d = parse_digest(reference)?;
        reg.meta.delete_manifest(name, &d.to_string()).await?
    } else {
        reg.meta.delete_tag(name, reference).await?
    };
    if deleted {
        Ok(empty(StatusCode::ACCEPTED))
    } else {
        Err(RegistryError::manifest_unknown(format!(
            "manifest {name}:{reference} does not exist"
        )))
    }
}

/// `Range: bytes=start-end` / `bytes=start-` against a blob of `size` bytes.
fn parse_range(value: &str, size: u64) -> Option<(u64, u64)> {
    let spec = value.trim().strip_prefix("bytes=")?;
    let (s, e) = spec.split_once('-')?;
    if s.is_empty() {
        // Suffix: the last N bytes.
        let n: u64 = e.parse().ok()?;
        if n == 0 || size == 0 {
            return None;
        }
        return Some((size.saturating_sub(n), size - 1));
    }
    let start: u64 = s.parse().ok()?;
    let end: u64 = if e.is_empty() {
        size.checked_sub(1)?
    } else {
        e.parse::<u64>().ok()?.min(size.checked_sub(1)?)
    };
    (start <= end && start < size).then_some((start, end))
}

async fn get_blob(
    reg: &Registry,
    name: &str,
    d: &str,
    head: bool,
    headers: &HeaderMap,
) -> Result<Response> {
    check_name(name)?;
    let digest = parse_digest(d)?;
    let unknown =
        || RegistryError::blob_unknown(format!("blob {digest} is not in repository {name}"));
    if !reg.meta.blob_visible(name, &digest.to_string()).await? {
        return Err(unknown());
    }
    let size = reg.blobs.stat(&digest).await.ok_or_else(unknown)?;
    let range = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    let (status, start, len) = match range {
        Some(v) => match parse_range(v, size) {
            Some((s, e)) => (StatusCode::PARTIAL_CONTENT, s, e - s + 1),
            None => {
                let mut r = RegistryError::range_not_satisfiable(format!(
                    "range {v:?} is outside the blob's {size} bytes"
                ))
                .into_response();
                header(&mut r, "content-range", &format!("bytes */{size}"));
                return Ok(r);
            }
        },
        None => (StatusCode::OK, 0, size),
    };
    let body = if head {
        Body::empty()
    } else {
        Body::from(reg.blobs.map(&digest, start, len).await?)
    };
    let mut r = (status, body).into_response();
    header(&mut r, "content-type", "application/octet-stream");
    header(&mut r, "docker-content-digest", &digest.to_string());
    header(&mut r, "content-length", &len.to_string());
    header(&mut r, "accept-ranges", "bytes");
    if status == StatusCode::PARTIAL_CONTENT {
        header(
            &mut r,
            "content-range",
            &format!("bytes {start}-{}/{size}", start + len - 1),
        );
    }
    Ok(r)
}

async fn delete_blob(reg: &Registry, name: &str, d: &str) -> Result<Response> {
    check_name(name)?;
    let digest = parse_digest(d)?;
    if reg.meta.unlink_blob(name, &digest.to_string()).await? {
        Ok(empty(StatusCode::ACCEPTED))
    } else {
        Err(RegistryError::blob_unknown(format!(
            "blob {digest} is not linked in repository {name}"
        )))
    }
}

fn upload_location(name: &str, id: &str) -> String {
    format!("/v2/{name}/blobs/uploads/{id}")
}

fn upload_response(status: StatusCode, name: &str, id: &str, size: u64) -> Response {
    let mut r = empty(status);
    header(&mut r, "location", &upload_location(name, id));
    header(&mut r, "docker-upload-uuid", id);
    header(&mut r, "range", &format!("0-{}", size.saturating_sub(1)));
    r
}

fn blob_created(name: &str, digest: &Digest) -> Response {
    let mut r = empty(StatusCode::CREATED);
    header(&mut r, "location", &format!("/v2/{name}/blobs/{digest}"));
    header(&mut r, "docker-content-digest", &digest.to_string());
    r
}

async fn start_upload(
    reg: &Registry,
    name: &str,
    q: &Query,
    grants: &[Grant],
    body: Body,
) -> Result<Response> {
    check_name(name)?;
    // Cross-repository mount: from the named repository (which the
    // credentials must be allowed to pull), or (automatic mount, for
    // credentials that may pull everything) from wherever the blob is. Not
    // mountable: fall back to a normal upload, as the spec says.
    if let Some(mount) = q.get("mount") {
        let digest = parse_digest(mount)?;
        let allowed = match q.get("from") {
            Some(from) => {
                valid_name(from)
                    && allowed(grants, from, Action::Pull)
                    && reg.meta.blob_visible(from, &digest.to_string()).await?
            }
            None => {
                reg.automatic_mount
                    && allowed(grants, slipway_core::token::ANY_REPOSITORY, Action::Pull)
            }
        };
        if allowed && let Some(size) = reg.blobs.stat(&digest).await {
            reg.meta.link_blob(name, &digest.to_string(), size).await?;
            return Ok(blob_created(name, &digest));
        }
    }
    let id = reg.blobs.start_upload().await?;
    if let Err(e) = reg.meta.upload_started(&id, name).await {
        // Not recorded (a full disk, say): no file without its session.
        reg.blobs.discard_upload(&id).await;
        return Err(e.into());
    }
    if let Some(d) = q.get("digest") {
        // Monolithic upload in one POST.
        let digest = parse_digest(d)?;
        return commit_upload(reg, name, &id, &digest, body).await;
    }
    Ok(upload_response(StatusCode::ACCEPTED, name, &id, 0))
}

/// The upload `id` must exist and belong to `name`.
async fn check_upload(reg: &Registry, name: &str, id: &str) -> Result<()> {
    check_name(name)?;
    let unknown = || {
        RegistryError::blob_upload_unknown(format!(
            "upload {id} does not exist in repository {name}"
        ))
    };
    if !valid_upload_id(id) {
        return Err(unknown());
    }
    match reg.meta.upload_repository(id).await? {
        Some(repo) if repo == name => Ok(()),
        _ => Err(unknown()),
    }
}

async fn upload_status(reg: &Registry, name: &str, id: &str) -> Result<Response> {
    check_upload(reg, name, id).await?;
    let size = reg.blobs.upload_size(id).await?;
    Ok(upload_response(StatusCode::NO_CONTENT, name, id, size))
}

fn content_range_start(headers: &HeaderMap) -> Result<Option<u64>> {
    let Some(v) = headers
        .get(header::CONTENT_RANGE)
        .and_then(|v| v.to_str().ok())
    else {
        return Ok(None);
    };
    let v = v.trim().strip_prefix("bytes ").unwrap_or(v.trim());
    let start = v
        .split_once('-')
        .and_then(|(s, _)| s.parse::<u64>().ok())
        .ok_or_else(|| {
            RegistryError::range_not_satisfiable(format!("invalid Content-Range {v:?}"))
        })?;
    Ok(Some(start))
}

async fn patch_upload(
    reg: &Registry,
    name: &str,
    id: &str,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response> {
    check_upload(reg, name, id).await?;
    let start = content_range_start(headers)?;
    let appended = reg.blobs.append(id, start, body.into_data_stream()).await;
    let size = drop_if_full(reg, id, appended).await?;
    Ok(upload_response(StatusCode::ACCEPTED, name, id, size))
}

async fn finish_upload(
    reg: &Registry,
    name: &str,
    id: &str,
    q: &Query,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response> {
    check_upload(reg, name, id).await?;
    let d = q.get("digest").ok_or_else(|| {
        RegistryError::digest_invalid("the final PUT of an upload needs ?digest=")
    })?;
    let digest = parse_digest(d)?;
    if let Some(start) = content_range_start(headers)? {
        let size = reg.blobs.upload_size(id).await?;
        if start != size {
            return Err(RegistryError::range_not_satisfiable(format!(
                "chunk starts at {start} but the upload has {size} bytes"
            )));
        }
    }
    commit_upload(reg, name, id, &digest, body).await
}

/// Append the last body, verify, make the blob visible in `name`.
async fn commit_upload(
    reg: &Registry,
    name: &str,
    id: &str,
    digest: &Digest,
    body: Body,
) -> Result<Response> {
    let appended = reg.blobs.append(id, None, body.into_data_stream()).await;
    drop_if_full(reg, id, appended).await?;
    let committed = reg.blobs.commit(id, digest).await;
    // Whatever happened, the session is over: a bad digest discards the data.
    if committed.is_ok()
        || matches!(
            committed,
            Err(crate::storage::StorageError::DigestMismatch { .. })
        )
    {
        reg.meta.upload_finished(id).await?;
    }
    let size = drop_if_full(reg, id, committed).await?;
    reg.meta.link_blob(name, &digest.to_string(), size).await?;
    Ok(blob_created(name, digest))
}

/// A write to upload `id` that ran out of disk ends the upload: its
/// partial data is deleted (which also frees the space it held) and the
/// client is told the disk is full. Other results pass through.
async fn drop_if_full<T>(
    reg: &Registry,
    id: &str,
    r: std::result::Result<T, crate::storage::StorageError>,
) -> Result<T> {
    match r {
        Err(crate::storage::StorageError::Io(e)) if crate::error::is_storage_full(&e) => {
            reg.blobs.discard_upload(id).await;
            if let Err(e) = reg.meta.upload_finished(id).await {
                tracing::warn!("upload {id}: cannot forget it after a full disk: {e}");
            }
            Err(RegistryError::storage_full())
        }
        other => other.map_err(RegistryError::from),
    }
}

async fn cancel_upload(reg: &Registry, name: &str, id: &str) -> Result<Response> {
    check_upload(reg, name, id).await?;
    reg.blobs.discard_upload(id).await;
    reg.meta.upload_finished(id).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

async fn referrers(reg: &Registry, name: &str, d: &str, q: &Query) -> Result<Response> {
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

/// `GET /auth/token`: trade an API token (or a registry token, as a Basic
/// password) for a short-lived registry token with the scopes asked for,
/// cut down to what the credentials allow.
async fn token(State(reg): State<Arc<Registry>>, req: Request) -> Response {
    // `scope` may be repeated, so not the map `query` reads.
    let scopes: Vec<String> =
        axum::extract::Query::<Vec<(String, String)>>::try_from_uri(req.uri())
            .map(|q| q.0)
            .unwrap_or_default()
            .into_iter()
            .filter(|(k, _)| k == "scope")
            .map(|(_, v)| v)
            .collect();
    match reg.auth.token_grants(req.headers(), &scopes).await {
        Ok(grants) => {
            let t = reg.auth.issue(grants);
            axum::Json(serde_json::json!({
                "token": t,
                "access_token": t,
                "expires_in": crate::auth::TOKEN_TTL.as_secs(),
            }))
            .into_response()
        }
        Err(e) => e.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn examples_parse_back_to_their_routes() {
        let ex = examples("team/app", "sha256:00");
        assert_eq!(ex.len(), 8 * 6);
        for (_, path, _) in &ex {
            let r = parse_route(path).unwrap();
            assert_eq!(&path_of(&r), path);
        }
        assert!(ex.contains(&(
            "DELETE",
            "/v2/team/app/manifests/latest".into(),
            Needs::Delete
        )));
        assert!(ex.contains(&("GET", "/v2/_catalog".into(), Needs::Catalog)));
    }

    #[test]
    fn routes() {
        assert_eq!(parse_route("/v2/"), Some(Route::Base));
        assert_eq!(parse_route("/v2/_catalog"), Some(Route::Catalog));
        assert_eq!(
            parse_route("/v2/a/b/tags/list"),
            Some(Route::Tags("a/b".into()))
        );
        assert_eq!(
            parse_route("/v2/a/b/manifests/v1"),
            Some(Route::Manifest("a/b".into(), "v1".into()))
        );
        assert_eq!(
            parse_route("/v2/a/blobs/sha256:x"),
            Some(Route::Blob("a".into(), "sha256:x".into()))
        );
        assert_eq!(
            parse_route("/v2/a/blobs/uploads/"),
            Some(Route::Upload("a".into(), String::new()))
        );
        assert_eq!(
            parse_route("/v2/a/blobs/uploads/abc"),
            Some(Route::Upload("a".into(), "abc".into()))
        );
        assert_eq!(
            parse_route("/v2/a/referrers/sha256:x"),
            Some(Route::Referrers("a".into(), "sha256:x".into()))
        );
        assert_eq!(parse_route("/v2/a/other"), None);
    }

    #[test]
    fn names() {
        for ok in ["a", "a/b", "a-b/c__d", "a.b/c_d", "a---b", "0/1"] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in [
            "", "A", "a//b", "-a", "a-", "a/", "a..b", "a___b", "a/../b", "a b",
        ] {
            assert!(!valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), Some((0, 9)));
        assert_eq!(parse_range("bytes=90-", 100), Some((90, 99)));
        assert_eq!(parse_range("bytes=90-200", 100), Some((90, 99)));
        assert_eq!(parse_range("bytes=-10", 100), Some((90, 99)));
        assert_eq!(parse_range("bytes=100-", 100), None);
        assert_eq!(parse_range("bytes=5-2", 100), None);
        assert_eq!(parse_range("items=0-1", 100), None);
    }

    #[test]
    fn query_decoding() {
        let q = |uri: &str| query(&Request::builder().uri(uri).body(Body::empty()).unwrap());
        let got = q("/v2/a/blobs/uploads/?digest=sha256%3Aab&from=a+b");
        assert_eq!(got.get("digest").map(String::as_str), Some("sha256:ab"));
        assert_eq!(got.get("from").map(String::as_str), Some("a b"));
        // A broken escape stays literal, and is then refused as a digest.
        let bad = q("/x?digest=%zz");
        assert!(parse_digest(&bad["digest"]).is_err());
    }
}
