//! The OCI distribution API under `/v2/`, plus the token endpoint.
//!
//! axum cannot put a wildcard in the middle of a path, and repository names
//! contain slashes, so `/v2/{*rest}` is parsed here by hand into a [`Route`].

use crate::Registry;
use crate::auth::{Access, Need};
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
use slipway_store::{ManifestRecord, TagMove};
use std::collections::HashMap;
use std::sync::Arc;

#[cfg(test)]
mod backend_tests;
mod blobs;
mod manifests;

use blobs::*;
use manifests::*;

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

/// The kind of distribution route `path` is (`base`, `catalog`, `tags`,
/// `manifest`, `referrers`, `blob_upload`, `blob`, `token`, or `other`):
/// a low-cardinality label for request metrics.
pub fn route_kind(path: &str) -> &'static str {
    if path == "/auth/token" {
        return "token";
    }
    match parse_route(path) {
        Some(Route::Base) => "base",
        Some(Route::Catalog) => "catalog",
        Some(Route::Tags(_)) => "tags",
        Some(Route::Manifest(..)) => "manifest",
        Some(Route::Blob(..)) => "blob",
        Some(Route::Upload(..)) => "blob_upload",
        Some(Route::Referrers(..)) => "referrers",
        None => "other",
    }
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
    let access = reg
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
            put_manifest(reg, &name, &r, &headers, body, &access).await
        }
        (Route::Manifest(name, r), Method::DELETE) => {
            delete_manifest(reg, &name, &r, &access).await
        }
        (Route::Blob(name, d), m @ (Method::GET | Method::HEAD)) => {
            get_blob(reg, &name, &d, m == Method::HEAD, &headers).await
        }
        (Route::Blob(name, d), Method::DELETE) => delete_blob(reg, &name, &d).await,
        (Route::Upload(name, id), Method::POST) if id.is_empty() => {
            start_upload(reg, &name, &q, &access.grants, body).await
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
        Ok(access) => {
            let t = reg.auth.issue_to(access);
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
