//! The HTTP API under `/api/v1`, plus `/healthz`: handlers only. Each
//! handler checks its input, reads or writes the store, and wakes the
//! controller that takes it from there through the event bus; work that
//! must finish before the answer (apply, a manual scan) is a step
//! (`crate::steps`).

mod access;
mod audit;
mod auth;
pub(crate) use auth::Caller;
mod builds;
mod clusters;
pub(crate) mod configs;
pub(crate) mod events;
mod identities;
pub(crate) mod images;
mod koji;
mod logins;
mod registry;
pub(crate) mod scans;
mod secrets;
mod signing;
mod table;
mod testing;
pub(crate) mod version;
mod workers;

use table::Table;
pub use table::{Access, RouteInfo};

pub(crate) use auth::require_token;

use crate::Services;
use crate::error::ApiError;
use axum::extract::rejection::QueryRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router, middleware};
use slipway_core::{Build, BuildId};
use std::sync::Arc;

/// Every route under `/api/v1`, with who may call it.
pub(crate) fn table() -> Table {
    use slipway_core::access::Permission::{Build, Global, Manage, Read};
    use table::Access::Token;
    let mut t = Table::default();
    t.add(Token(Build), "/builds", &["POST"], post(builds::create));
    t.add(Token(Read), "/builds", &["GET"], get(builds::list));
    t.add(Token(Read), "/version", &["GET"], get(version::get));
    t.add(
        table::Access::Public,
        "/signing-key",
        &["GET"],
        get(signing::get),
    );
    t.add(
        Token(Read),
        "/builds/{id}/provenance",
        &["GET"],
        get(signing::provenance),
    );
    t.add(
        Token(Build),
        "/builds/{id}/reproduce",
        &["POST"],
        post(signing::reproduce),
    );
    t.add(
        Token(Read),
        "/builds/{id}/reproductions",
        &["GET"],
        get(signing::reproductions),
    );
    t.add(Token(Read), "/events", &["GET"], get(events::stream));
    t.add(Token(Read), "/builds/{id}", &["GET"], get(builds::get));
    t.add(
        Token(Build),
        "/builds/{id}/cancel",
        &["POST"],
        post(builds::cancel),
    );
    t.add(Token(Read), "/builds/{id}/log", &["GET"], get(builds::log));
    t.add(
        Token(Read),
        "/builds/{id}/metadata",
        &["GET"],
        get(builds::metadata),
    );
    t.add(
        Token(Read),
        "/builds/{id}/koji",
        &["GET"],
        get(koji::status),
    );
    t.add(
        Token(Manage),
        "/builds/{id}/koji/import",
        &["POST"],
        post(koji::import),
    );
    t.add(Token(Global), "/registry/gc", &["POST"], post(registry::gc));
    t.add(Token(Read), "/clusters", &["GET"], get(clusters::list));
    t.add(
        Token(Global),
        "/clusters/{name}/{action}",
        &["POST"],
        post(clusters::switch),
    );
    workers::routes(&mut t);
    configs::routes(&mut t);
    scans::routes(&mut t);
    images::routes(&mut t);
    testing::routes(&mut t);
    access::routes(&mut t);
    identities::routes(&mut t);
    audit::routes(&mut t);
    secrets::routes(&mut t);
    logins::routes(&mut t);
    t
}

/// The routes outside `/api/v1`: liveness and readiness, for anyone.
pub(crate) const PUBLIC: [(&str, &str); 2] = [("GET", "/healthz"), ("GET", "/readyz")];

pub fn router(services: Arc<Services>) -> Router {
    let t = table();
    let api = t
        .authenticated
        .route_layer(middleware::from_fn_with_state(
            services.clone(),
            audit::record,
        ))
        .route_layer(middleware::from_fn_with_state(
            services.clone(),
            require_token,
        ))
        .merge(t.open)
        .layer(DefaultBodyLimit::max(services.limits.request_bytes))
        .with_state(services.clone());
    Router::new()
        .route(
            "/healthz",
            get(|| async {
                Json(serde_json::json!({
                    "status": "ok",
                    "version": env!("CARGO_PKG_VERSION"),
                }))
            }),
        )
        .route("/readyz", get(readyz))
        .with_state(services.clone())
        .merge(metrics_route(services.clone()))
        .merge(crate::console::router(services.clone()))
        .nest("/api/v1", api)
        .fallback(|| async { ApiError::not_found("no such endpoint; the API lives under /api/v1") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "METHOD_NOT_ALLOWED",
                "method not allowed on this endpoint",
            )
        })
        .layer(middleware::map_response(json_errors))
        .layer(middleware::from_fn_with_state(
            services,
            crate::metrics::api_layer,
        ))
}

/// `GET /metrics`, Prometheus' text, for any valid token that may read
/// something (a viewer's is enough; give Prometheus one of its own).
pub(crate) const METRICS: (&str, &str) = ("GET", "/metrics");

fn metrics_route(services: Arc<Services>) -> Router {
    Router::new()
        .route(
            METRICS.1,
            get(metrics).route_layer(middleware::from_fn_with_state(
                slipway_core::access::Permission::Read,
                auth::gate,
            )),
        )
        .route_layer(middleware::from_fn_with_state(
            services.clone(),
            require_token,
        ))
        .with_state(services)
}

async fn metrics(State(s): State<Arc<Services>>) -> axum::response::Response {
    match s.metrics.render(&s).await {
        Ok(text) => (
            [(
                axum::http::header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(e) => ApiError::internal(format!("cannot read the metrics: {e}")).into_response(),
    }
}

/// Every error answer is the JSON error body: those the framework makes
/// itself (a body over the limit, a path that is not UTF-8, a query that
/// does not parse) come as plain text and are rewritten here, keeping their
/// status and their text as the message. The console's refusals are pages
/// (HTML) and stay pages.
async fn json_errors(resp: axum::response::Response) -> axum::response::Response {
    let status = resp.status();
    let kept = resp
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json") || v.starts_with("text/html"));
    if status.as_u16() < 400 || kept {
        return resp;
    }
    let (_, body) = resp.into_parts();
    let text = axum::body::to_bytes(body, 4096).await.unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    let message = match text.trim() {
        "" => status
            .canonical_reason()
            .unwrap_or("request refused")
            .to_string(),
        t => t.to_string(),
    };
    let code = slipway_core::api::codes::for_status(status.as_u16());
    ApiError::new(status, code, message).into_response()
}

/// `GET /readyz`: whether the server can take work now: its database
/// answers (and so was migrated: the server opens it only after its
/// migrations ran), its clusters are loaded and serve some platform, and
/// its data dir has at least `min_free_space_mb` free. `/healthz` only
/// says the process is alive.
/// How long `/readyz` waits for the registry's bucket.
const READY_CHECK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

async fn readyz(State(s): State<Arc<Services>>) -> axum::response::Response {
    let not_ready = |message: String| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            slipway_core::api::codes::NOT_READY,
            message,
        )
        .into_response()
    };
    if let Err(e) = s.store.token_count().await {
        return not_ready(format!("the database does not answer: {e}"));
    }
    // Blobs in a bucket: a replica that cannot reach it cannot serve pulls.
    if matches!(
        s.registry.blobs,
        slipway_registry::storage::BlobStore::S3(_)
    ) {
        let check = tokio::time::timeout(READY_CHECK_TIMEOUT, s.registry.blobs.check()).await;
        match check {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                return not_ready(format!("the registry's bucket does not answer: {e}"));
            }
            Err(_) => {
                return not_ready(format!(
                    "the registry's bucket did not answer within {}s",
                    READY_CHECK_TIMEOUT.as_secs()
                ));
            }
        }
    }
    let clusters = match s.effective_clusters().await {
        Ok(c) => c.all().count(),
        Err(e) => return not_ready(format!("cannot read the clusters' switches: {e}")),
    };
    if clusters == 0 {
        return not_ready(
            "no cluster is loaded: check the cluster file (`slipway clusters`) and send SIGHUP"
                .into(),
        );
    }
    match crate::disk::free_bytes(&s.data_dir) {
        Ok(free) if free < s.min_free_bytes => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            slipway_core::api::codes::NOT_READY,
            format!(
                "the data dir has {} MiB free, under the {} MiB floor (min_free_space_mb); free some space (`slipway registry gc`, old builds)",
                free / (1024 * 1024),
                s.min_free_bytes / (1024 * 1024)
            ),
        )
        .into_response(),
        Ok(free) => Json(serde_json::json!({
            "status": "ready",
            "free_bytes": free,
            "clusters": clusters,
        }))
        .into_response(),
        Err(e) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            slipway_core::api::codes::NOT_READY,
            format!("cannot read the data dir's free space: {e}"),
        )
        .into_response(),
    }
}

pub(crate) fn bad_query(e: QueryRejection) -> ApiError {
    ApiError::invalid(format!("bad query string: {}", e.body_text()))
}

/// A positive id from a path; `what` names it in the error (`build id`).
pub(crate) fn parse_positive(raw: &str, what: &str) -> Result<i64, ApiError> {
    raw.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| ApiError::invalid(format!("{what} {raw:?} is not a positive number")))
}

pub(crate) fn parse_id(raw: &str) -> Result<BuildId, ApiError> {
    parse_positive(raw, "build id")
}

/// The build `raw` names, when `caller` may do `what` in its project.
pub(crate) async fn load(
    services: &Services,
    caller: &Caller,
    raw: &str,
    what: slipway_core::access::Permission,
) -> Result<Build, ApiError> {
    let id = parse_id(raw)?;
    match services.store.get_build(id).await? {
        Some(build) => {
            caller.require(build.spec.project_name(), what)?;
            Ok(build)
        }
        None => Err(missing(services, id).await),
    }
}

/// Why build `id` is not there: pruned by its config's history limits
/// (410 Gone), or never existed (404).
pub(crate) async fn missing(services: &Services, id: BuildId) -> ApiError {
    match services.store.pruned_build(id).await {
        Ok(Some(p)) => ApiError::new(
            StatusCode::GONE,
            slipway_core::api::codes::PRUNED,
            format!(
                "build {id} ({}) of config {} was deleted at {} by the config's history limits; `slipway configs {}` shows its newer builds",
                p.phase.to_lowercase(),
                p.config,
                p.pruned_at,
                p.config
            ),
        ),
        Ok(None) => ApiError::not_found(format!("build {id} does not exist")),
        Err(e) => e.into(),
    }
}
