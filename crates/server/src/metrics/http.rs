//! Request metrics: the API's, labelled by the route template the request
//! matched in the route table (so `/api/v1/builds/{id}`, never an id), and
//! the embedded registry's, by the kind of distribution route
//! (`manifest`, `blob`, `blob_upload`, …), with body bytes in and out.

use super::RequestL;
use crate::Services;
use axum::extract::{Request, State};
use axum::http::header::CONTENT_LENGTH;
use axum::middleware::Next;
use axum::response::Response;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

/// The route templates of the API (the route table, the public routes,
/// `/metrics`), split into segments.
fn templates() -> &'static Vec<(String, Vec<String>)> {
    static T: OnceLock<Vec<(String, Vec<String>)>> = OnceLock::new();
    T.get_or_init(|| {
        let mut paths: Vec<String> = crate::route_table().into_iter().map(|r| r.path).collect();
        paths.push("/metrics".into());
        paths.sort();
        paths.dedup();
        paths
            .into_iter()
            .map(|p| {
                let segs = p.split('/').map(str::to_string).collect();
                (p, segs)
            })
            .collect()
    })
}

/// The template `path` matches (`{x}` matches one segment, `{*x}` the
/// rest), the literal ones first; `other` for none, so that a client
/// cannot make a label per path it sends.
pub(crate) fn route_of(path: &str) -> String {
    let segs: Vec<&str> = path.split('/').collect();
    let matches = |t: &[String]| {
        let mut i = 0;
        for (j, s) in t.iter().enumerate() {
            if s.starts_with("{*") {
                return j <= segs.len();
            }
            match segs.get(i) {
                Some(p) if s == p || (s.starts_with('{') && !p.is_empty()) => i += 1,
                _ => return false,
            }
        }
        i == segs.len()
    };
    let literal = |t: &[String]| t.iter().filter(|s| !s.starts_with('{')).count();
    templates()
        .iter()
        .filter(|(_, t)| matches(t))
        .max_by_key(|(_, t)| literal(t))
        .map_or_else(|| "other".to_string(), |(p, _)| p.clone())
}

fn length(headers: &axum::http::HeaderMap) -> u64 {
    headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse().ok())
        .unwrap_or(0)
}

/// Count and time an API request.
pub async fn api_layer(State(s): State<Arc<Services>>, req: Request, next: Next) -> Response {
    let method = req.method().as_str().to_string();
    let route = route_of(req.uri().path());
    let start = Instant::now();
    let resp = next.run(req).await;
    s.metrics.http(
        RequestL {
            method,
            route,
            status: resp.status().as_u16().to_string(),
        },
        start.elapsed().as_secs_f64(),
    );
    resp
}

/// Count and time a registry request, with its body bytes (as declared).
pub async fn registry_layer(State(s): State<Arc<Services>>, req: Request, next: Next) -> Response {
    let method = req.method().as_str().to_string();
    let route = slipway_registry::route_kind(req.uri().path()).to_string();
    let bytes_in = length(req.headers());
    let start = Instant::now();
    let resp = next.run(req).await;
    let bytes_out = if method == "HEAD" {
        0
    } else {
        length(resp.headers())
    };
    s.metrics.registry_request(
        RequestL {
            method,
            route,
            status: resp.status().as_u16().to_string(),
        },
        start.elapsed().as_secs_f64(),
        (bytes_in, bytes_out),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_labelled_by_their_template() {
        assert_eq!(route_of("/api/v1/builds/12"), "/api/v1/builds/{id}");
        assert_eq!(route_of("/api/v1/builds"), "/api/v1/builds");
        assert_eq!(route_of("/metrics"), "/metrics");
        assert_eq!(route_of("/healthz"), "/healthz");
        assert_eq!(route_of("/api/v1/no/such/thing/at/all"), "other");
        assert_eq!(route_of("/api/v1/builds/"), "other");
    }
}
