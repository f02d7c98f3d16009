//! The HTTP API under `/api/v1`, plus `/healthz`.

use crate::Services;
use crate::auth::require_token;
use crate::error::ApiError;
use axum::body::{Body, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router, middleware};
use serde::Deserialize;
use slipway_core::api::CancelResponse;
use slipway_core::{Build, BuildId, BuildPhase, BuildRequest};
use slipway_store::CancelOutcome;
use std::sync::Arc;

pub fn router(services: Arc<Services>) -> Router {
    let api = Router::new()
        .route("/builds", post(create_build).get(list_builds))
        .route("/builds/{id}", get(get_build))
        .route("/builds/{id}/cancel", post(cancel_build))
        .route("/builds/{id}/log", get(build_log))
        .route("/builds/{id}/metadata", get(build_metadata))
        .route("/registry/gc", post(registry_gc))
        .route("/clusters", get(list_clusters))
        .route("/clusters/{name}/{action}", post(switch_cluster))
        .merge(crate::worker_api::routes())
        .merge(crate::config_api::routes())
        .merge(crate::scan_api::routes())
        .route_layer(middleware::from_fn_with_state(
            services.store.clone(),
            require_token,
        ))
        .merge(crate::config_api::webhook_routes())
        .with_state(services);
    Router::new()
        .route(
            "/healthz",
            get(|| async { Json(serde_json::json!({"status": "ok"})) }),
        )
        .nest("/api/v1", api)
        .fallback(|| async { ApiError::not_found("no such endpoint; the API lives under /api/v1") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "METHOD_NOT_ALLOWED",
                "method not allowed on this endpoint",
            )
        })
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

fn parse_id(raw: &str) -> Result<BuildId, ApiError> {
    parse_positive(raw, "build id")
}

pub(crate) async fn load(services: &Services, raw: &str) -> Result<Build, ApiError> {
    let id = parse_id(raw)?;
    match services.store.get_build(id).await? {
        Some(build) => Ok(build),
        None => Err(missing(services, id).await),
    }
}

/// Why build `id` is not there: pruned by its config's history limits
/// (410 Gone), or never existed (404).
async fn missing(services: &Services, id: BuildId) -> ApiError {
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

async fn create_build(State(s): State<Arc<Services>>, body: Bytes) -> Result<Response, ApiError> {
    let req: BuildRequest = serde_json::from_slice(&body).map_err(|e| {
        ApiError::invalid(format!("request body is not a valid build request: {e}"))
    })?;
    let spec = req
        .validate(Some(s.default_registry.as_str()))
        .map_err(|e| ApiError::invalid(e.to_string()))?;
    s.check_served(&spec.platforms)
        .await
        .map_err(|m| ApiError::invalid(format!("platforms: {m}")))?;
    let build = s.store.create_build(&spec).await?;
    tracing::info!(
        "build {} queued: {} -> {}",
        build.id,
        spec.source.location.redacted(),
        spec.output
    );
    crate::prepare::spawn(&s, build.id);
    Ok((StatusCode::CREATED, Json(build)).into_response())
}

#[derive(Deserialize)]
struct ListQuery {
    limit: Option<u32>,
}

async fn list_builds(
    State(s): State<Arc<Services>>,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Vec<Build>>, ApiError> {
    let Query(q) = q.map_err(bad_query)?;
    let limit = q.limit.unwrap_or(50).clamp(1, 1000);
    Ok(Json(s.store.list_builds(limit).await?))
}

async fn get_build(
    State(s): State<Arc<Services>>,
    Path(id): Path<String>,
) -> Result<Json<Build>, ApiError> {
    Ok(Json(load(&s, &id).await?))
}

/// Koji content-generator metadata of a complete build.
async fn build_metadata(
    State(s): State<Arc<Services>>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let build = load(&s, &id).await?;
    if build.phase != BuildPhase::Complete {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            slipway_core::api::codes::CONFLICT,
            format!(
                "build {} is {}; metadata exists only for complete builds",
                build.id, build.phase
            ),
        ));
    }
    match crate::metadata::served(&s, build.id)
        .await
        .map_err(ApiError::internal)?
    {
        Some(doc) => Ok(Json(doc)),
        None => Err(ApiError::not_found(format!(
            "build {} has no metadata; its events say why",
            build.id
        ))),
    }
}

async fn cancel_build(
    State(s): State<Arc<Services>>,
    Path(id): Path<String>,
) -> Result<Json<CancelResponse>, ApiError> {
    let id = parse_id(&id)?;
    let outcome = s.store.request_cancel(id).await?;
    let already_final = match outcome {
        CancelOutcome::NotFound => return Err(missing(&s, id).await),
        CancelOutcome::Requested => {
            s.cancel_running(id);
            false
        }
        CancelOutcome::Cancelled => false,
        CancelOutcome::AlreadyFinal(_) => true,
    };
    let build = load(&s, &id.to_string()).await?;
    Ok(Json(CancelResponse {
        id,
        phase: build.phase,
        already_final,
    }))
}

#[derive(Deserialize)]
struct LogQuery {
    offset: Option<u64>,
    follow: Option<bool>,
}

async fn build_log(
    State(s): State<Arc<Services>>,
    Path(id): Path<String>,
    q: Result<Query<LogQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = q.map_err(bad_query)?;
    let build = load(&s, &id).await?;
    let offset = q.offset.unwrap_or(0);
    let headers = [
        (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
        (header::CACHE_CONTROL, "no-cache"),
    ];
    if q.follow.unwrap_or(false) {
        let stream = s.logs.clone().follow(s.store.clone(), build.id, offset);
        Ok((headers, Body::from_stream(stream)).into_response())
    } else {
        let data = s
            .logs
            .snapshot(build.id, offset)
            .map_err(ApiError::internal)?;
        Ok((headers, data).into_response())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GcRequest {
    #[serde(default)]
    dry_run: bool,
    /// Keep unreferenced blobs younger than this (default: one hour).
    #[serde(default)]
    grace_seconds: Option<u64>,
    /// Remove upload sessions older than this (default: one day).
    #[serde(default)]
    upload_max_age_seconds: Option<u64>,
}

async fn registry_gc(State(s): State<Arc<Services>>, body: Bytes) -> Result<Response, ApiError> {
    let req: GcRequest = if body.is_empty() {
        GcRequest {
            dry_run: false,
            grace_seconds: None,
            upload_max_age_seconds: None,
        }
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::invalid(format!("bad gc request: {e}")))?
    };
    let grace = std::time::Duration::from_secs(req.grace_seconds.unwrap_or(3600));
    let upload_age = std::time::Duration::from_secs(req.upload_max_age_seconds.unwrap_or(86400));
    let report = slipway_registry::gc::collect(&s.registry, req.dry_run, grace, upload_age)
        .await
        .map_err(ApiError::internal)?;
    tracing::info!(
        "registry gc{}: {} blobs ({} bytes), {} stale uploads",
        if report.dry_run { " (dry run)" } else { "" },
        report.deleted_blobs.len(),
        report.freed_bytes,
        report.stale_uploads.len()
    );
    Ok(Json(report).into_response())
}

async fn list_clusters(
    State(s): State<Arc<Services>>,
) -> Result<Json<Vec<slipway_core::api::ClusterStatus>>, ApiError> {
    Ok(Json(s.cluster_status().await?))
}

/// `POST /clusters/{name}/enable|disable`: a runtime switch over the file's
/// `enabled`. Disabling drains: running builds finish, no new ones start.
async fn switch_cluster(
    State(s): State<Arc<Services>>,
    Path((name, action)): Path<(String, String)>,
) -> Result<Json<slipway_core::api::ClusterStatus>, ApiError> {
    let enabled = match action.as_str() {
        "enable" => true,
        "disable" => false,
        other => {
            return Err(ApiError::not_found(format!(
                "no cluster action {other:?}; use enable or disable"
            )));
        }
    };
    if s.cluster_file().get(&name).is_none() {
        let known: Vec<String> = s.cluster_file().all().map(|c| c.name.clone()).collect();
        return Err(ApiError::not_found(format!(
            "cluster {name:?} is not in the cluster file; clusters: {}",
            known.join(", ")
        )));
    }
    s.store.set_cluster_enabled(&name, enabled).await?;
    tracing::info!(
        "cluster {name} {}",
        if enabled {
            "enabled"
        } else {
            "disabled (draining)"
        }
    );
    s.queue.notify_one();
    s.cluster_status()
        .await?
        .into_iter()
        .find(|c| c.name == name)
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("cluster {name:?} vanished")))
}
