//! Builds: submit, list, show, cancel, log, Koji metadata.

use super::{Caller, bad_query, load, missing, parse_id};
use crate::Services;
use crate::error::ApiError;
use axum::Extension;
use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use slipway_core::access::Permission;
use slipway_core::api::{BuildQuery, CancelResponse};
use slipway_core::{Build, BuildPhase, BuildRequest};
use slipway_store::CancelOutcome;
use std::sync::Arc;

pub(super) async fn create(
    State(s): State<Arc<Services>>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: BuildRequest = serde_json::from_slice(&body).map_err(|e| {
        ApiError::invalid(format!("request body is not a valid build request: {e}"))
    })?;
    s.limits
        .check(&req)
        .map_err(|e| ApiError::invalid(e.to_string()))?;
    let mut spec = req
        .validate(Some(s.default_registry.as_str()))
        .map_err(|e| ApiError::invalid(e.to_string()))?;
    // The project owning its output (in the embedded registry), else the
    // caller's own, else the default project.
    let projects = crate::steps::projects::names(&s).await?;
    let project = crate::steps::projects::owner_in(&s, &spec.output, &projects)
        .or_else(|| caller.binding().project.clone())
        .unwrap_or_else(|| slipway_core::access::DEFAULT_PROJECT.to_string());
    caller.require(&project, Permission::Build)?;
    crate::steps::projects::check_build_rate(&s, &project).await?;
    spec.project = Some(project);
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
    s.events.prepare.notify_one();
    Ok((StatusCode::CREATED, Json(build.redacted())).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ListQuery {
    limit: Option<u32>,
    /// The cursor: only builds older than this id.
    before: Option<i64>,
    config: Option<String>,
    phase: Option<String>,
    trigger: Option<String>,
}

/// `GET /builds`: summaries, newest first, `limit` (default 50, at most
/// 1000) at a time; a `Link: <…?before=ID>; rel="next"` header points to
/// the next page while there may be one.
pub(super) async fn list(
    State(s): State<Arc<Services>>,
    Extension(caller): Extension<Caller>,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = q.map_err(bad_query)?;
    let limit = q.limit.unwrap_or(50).clamp(1, 1000);
    if q.before.is_some_and(|b| b < 1) {
        return Err(ApiError::invalid("before must be a build id (1 or more)"));
    }
    let phase = q
        .phase
        .as_deref()
        .map(|p| {
            p.parse::<BuildPhase>().map_err(|_| {
                ApiError::invalid(format!(
                    "phase {p:?} is not a build phase: New, Pending, Running, Complete, Skipped, Failed, Error or Cancelled"
                ))
            })
        })
        .transpose()?;
    let page = s
        .store
        .list_builds_json(&BuildQuery {
            limit,
            before: q.before,
            config: q.config.clone(),
            // Only the projects the caller reads.
            projects: caller.binding().project.clone().map(|p| vec![p]),
            phase,
            trigger: q.trigger.clone(),
        })
        .await?;
    let mut resp = ([(header::CONTENT_TYPE, "application/json")], page.json).into_response();
    if page.count == limit
        && let Some(last) = page.last
    {
        // The next page keeps the filters.
        let mut filters = String::new();
        for (name, value) in [
            ("config", &q.config),
            ("phase", &q.phase),
            ("trigger", &q.trigger),
        ] {
            if let Some(v) = value {
                filters.push_str(&format!(
                    "&{name}={}",
                    slipway_core::scan::inventory::percent_encode(v)
                ));
            }
        }
        let link = format!("</api/v1/builds?limit={limit}&before={last}{filters}>; rel=\"next\"");
        if let Ok(v) = link.parse() {
            resp.headers_mut().insert(header::LINK, v);
        }
    }
    Ok(resp)
}

pub(super) async fn get(
    State(s): State<Arc<Services>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<Build>, ApiError> {
    Ok(Json(
        load(&s, &caller, &id, Permission::Read).await?.redacted(),
    ))
}

/// Koji content-generator metadata of a complete build.
pub(super) async fn metadata(
    State(s): State<Arc<Services>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let build = load(&s, &caller, &id, Permission::Read).await?;
    if build.phase != BuildPhase::Complete {
        return Err(ApiError::conflict(format!(
            "build {} is {}; metadata exists only for complete builds",
            build.id, build.phase
        )));
    }
    match crate::steps::metadata::served(&s, build.id)
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

pub(super) async fn cancel(
    State(s): State<Arc<Services>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<CancelResponse>, ApiError> {
    // Checked first: a build of another project is not touched.
    load(&s, &caller, &id, Permission::Build).await?;
    let id = parse_id(&id)?;
    let outcome = s.store.request_cancel(id).await?;
    let already_final = match outcome {
        CancelOutcome::NotFound => return Err(missing(&s, id).await),
        // Running, or still being prepared: stop its processes.
        CancelOutcome::Requested | CancelOutcome::Cancelled => {
            s.cancel_running(id);
            false
        }
        CancelOutcome::AlreadyFinal(_) => true,
    };
    let build = load(&s, &caller, &id.to_string(), Permission::Build).await?;
    Ok(Json(CancelResponse {
        id,
        phase: build.phase,
        already_final,
    }))
}

#[derive(Deserialize)]
pub(super) struct LogQuery {
    offset: Option<u64>,
    follow: Option<bool>,
}

pub(super) async fn log(
    State(s): State<Arc<Services>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    q: Result<Query<LogQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = q.map_err(bad_query)?;
    let build = load(&s, &caller, &id, Permission::Read).await?;
    let offset = q.offset.unwrap_or(0);
    if i64::try_from(offset).is_err() {
        return Err(ApiError::invalid(format!(
            "offset {offset} is larger than any log can be"
        )));
    }
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
            .await
            .map_err(ApiError::internal)?;
        Ok((headers, data).into_response())
    }
}
