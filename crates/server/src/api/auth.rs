//! The API's authentication middleware and the caller it finds: an API
//! token (live: not revoked, not expired) reaches the routes its binding
//! allows — the route table says what each asks ([`gate`]) and handlers
//! check the project of what they touch ([`Caller::require`]); a worker
//! build's token reaches only that worker build's routes.

pub use crate::caller::Caller;
use crate::caller::{hint, verb};
use crate::error::ApiError;
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;
use slipway_core::access::Permission;
pub use slipway_core::token::hash_token;
use slipway_store::Store;
use std::sync::Arc;

/// Per-route middleware: the caller's binding must allow `what`
/// somewhere (handlers then check the project of what they touch).
pub async fn gate(
    State(what): State<Permission>,
    req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let Some(caller) = req.extensions().get::<Caller>() else {
        return Err(ApiError::forbidden(
            "a worker build's token reaches only its worker build's routes",
        ));
    };
    if !caller.0.binding.allows_somewhere(what) {
        let b = caller.0.binding.describe();
        return Err(ApiError::forbidden(format!(
            "token {} ({b}) may not {} here{}",
            caller.0.name,
            verb(what),
            hint(what)
        )));
    }
    Ok(next.run(req).await)
}

/// The API routes a console session's cookie may read (GET only: the
/// cookie is SameSite=Strict, and a cookie never reaches a route that
/// changes anything, so no CSRF token is needed here): what a build's
/// page follows live or offers for download (its log, metadata, scans
/// and SBOMs), a scan, and the event stream. The handlers check the
/// caller's project as for a token.
fn console_readable(req: &Request) -> bool {
    if req.method() != axum::http::Method::GET {
        return false;
    }
    // Nested under /api/v1, the router sees the path without it.
    let path = req
        .extensions()
        .get::<axum::extract::OriginalUri>()
        .map_or_else(|| req.uri().path().to_string(), |u| u.path().to_string());
    let number = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if path == "/api/v1/events" {
        return true;
    }
    if let Some(id) = path.strip_prefix("/api/v1/scans/") {
        return number(id);
    }
    let Some((id, rest)) = path
        .strip_prefix("/api/v1/builds/")
        .and_then(|r| r.split_once('/'))
    else {
        return false;
    };
    number(id)
        && matches!(
            rest,
            "log" | "metadata" | "scans" | "sboms" | "sboms/spdx" | "sboms/cyclonedx"
        )
}

/// Axum middleware: require `Authorization: Bearer <token>` naming a live
/// token (or, for the routes [`console_readable`] names, a console
/// session's cookie).
pub async fn require_token(
    State(services): State<Arc<crate::Services>>,
    req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let store: &Arc<dyn Store> = &services.store;
    if req.headers().get(header::AUTHORIZATION).is_none()
        && console_readable(&req)
        && let Some(me) = crate::console::signed(&services, req.headers()).await
    {
        let mut req = req;
        req.extensions_mut().insert(Caller(me.principal));
        return Ok(next.run(req).await);
    }
    let header = req
        .headers()
        .get(header::AUTHORIZATION)
        .ok_or_else(|| {
            ApiError::unauthorized(
                "missing bearer token: send 'Authorization: Bearer <token>' (the admin token is in <data-dir>/admin-token)",
            )
        })?
        .to_str()
        .map_err(|_| ApiError::unauthorized("the Authorization header is not valid text"))?;
    let token = header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
        .map(str::trim)
        .ok_or_else(|| {
            ApiError::unauthorized("the Authorization header must use the Bearer scheme")
        })?;
    let hash = hash_token(token);
    if let Some(principal) = store.principal(&hash).await? {
        let mut req = req;
        req.extensions_mut().insert(Caller(principal));
        return Ok(next.run(req).await);
    }
    // A worker build's token reaches that worker build's endpoints only.
    if let Some(worker) = store.worker_token(&hash).await? {
        let path = req
            .extensions()
            .get::<axum::extract::OriginalUri>()
            .map_or_else(|| req.uri().path().to_string(), |u| u.path().to_string());
        if worker_build_of(&path) == Some(worker) {
            return Ok(next.run(req).await);
        }
        return Err(ApiError::forbidden(format!(
            "this token belongs to worker build {worker}; it only reaches /api/v1/worker-builds/{worker}"
        )));
    }
    Err(ApiError::unauthorized(
        "invalid token: unknown, revoked or expired (`slipway token list` shows yours)",
    ))
}

/// The worker build id in `/api/v1/worker-builds/{id}[/…]`.
fn worker_build_of(path: &str) -> Option<i64> {
    let rest = path.strip_prefix("/api/v1/worker-builds/")?;
    rest.split('/').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_reads_only_named_gets() {
        let req = |m: &str, p: &str| {
            Request::builder()
                .method(m)
                .uri(p)
                .body(axum::body::Body::empty())
                .unwrap()
        };
        for p in [
            "/api/v1/events",
            "/api/v1/builds/7/log",
            "/api/v1/builds/7/metadata",
            "/api/v1/builds/7/sboms/spdx",
            "/api/v1/scans/3",
        ] {
            assert!(console_readable(&req("GET", p)), "{p}");
        }
        for (m, p) in [
            ("POST", "/api/v1/builds/7/cancel"),
            ("GET", "/api/v1/builds/7/cancel"),
            ("GET", "/api/v1/builds"),
            ("GET", "/api/v1/builds/7"),
            ("GET", "/api/v1/builds/x/log"),
            ("GET", "/api/v1/builds/7/log/x"),
            ("GET", "/api/v1/scans"),
            ("GET", "/api/v1/tokens"),
            ("DELETE", "/api/v1/builds/7/log"),
        ] {
            assert!(!console_readable(&req(m, p)), "{m} {p}");
        }
    }

    #[test]
    fn worker_paths() {
        assert_eq!(worker_build_of("/api/v1/worker-builds/12"), Some(12));
        assert_eq!(worker_build_of("/api/v1/worker-builds/12/log"), Some(12));
        assert_eq!(worker_build_of("/api/v1/worker-builds/x/log"), None);
        assert_eq!(worker_build_of("/api/v1/builds/12"), None);
    }
}
