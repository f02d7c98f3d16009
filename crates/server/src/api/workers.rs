//! The API a remote worker (`slipway worker`, in a Kubernetes Job or a
//! child process) uses to run one worker build: fetch its assignment,
//! report the commit, stage timings and log lines, get registry
//! credentials, poll for a stop, and report the end. A worker build's own
//! token reaches only these routes, and only for that worker build
//! (see `auth::require_token`).

use crate::Services;
use crate::error::ApiError;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use slipway_builder::LogSink;
use slipway_core::api::{WorkerResult, WorkerState};
use slipway_core::build::StageTiming;
use slipway_core::scan::ScanReport;
use slipway_core::{Build, BuildPhase, WorkerBuild};
use slipway_store::Placement;
use slipway_worker::{Assignment, RegistryCredentials};
use std::sync::Arc;

pub(super) fn routes(t: &mut super::table::Table) {
    use super::table::Access::Worker;
    t.add(Worker, "/worker-builds/{id}", &["GET"], get(assignment));
    t.add(Worker, "/worker-builds/{id}/state", &["GET"], get(state));
    t.add(
        Worker,
        "/worker-builds/{id}/commit",
        &["POST"],
        post(commit),
    );
    t.add(Worker, "/worker-builds/{id}/stage", &["POST"], post(stage));
    t.add(Worker, "/worker-builds/{id}/log", &["POST"], post(log));
    t.add(
        Worker,
        "/worker-builds/{id}/registry-credentials",
        &["POST"],
        post(credentials),
    );
    t.add(
        Worker,
        "/worker-builds/{id}/secrets",
        &["POST"],
        post(secrets),
    );
    t.add(
        Worker,
        "/worker-builds/{id}/registry-logins",
        &["POST"],
        post(registry_logins),
    );
    t.add(
        Worker,
        "/worker-builds/{id}/scan",
        &["POST"],
        post(scan).layer(axum::extract::DefaultBodyLimit::max(SCAN_REPORT_BYTES)),
    );
    t.add(
        Worker,
        "/worker-builds/{id}/finish",
        &["POST"],
        post(finish),
    );
}

async fn worker_build(s: &Services, raw: &str) -> Result<WorkerBuild, ApiError> {
    let id = raw.parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(|| {
        ApiError::invalid(format!("worker build id {raw:?} is not a positive number"))
    })?;
    s.store
        .get_worker_build(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("worker build {id} does not exist")))
}

/// A worker build and the build it belongs to.
async fn with_build(s: &Services, raw: &str) -> Result<(WorkerBuild, Build), ApiError> {
    let w = worker_build(s, raw).await?;
    let build = s
        .store
        .get_build(w.build_id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("build {} does not exist", w.build_id)))?;
    Ok((w, build))
}

/// A worker build that is still running: the only kind a worker may report on.
async fn running(s: &Services, raw: &str) -> Result<WorkerBuild, ApiError> {
    let w = worker_build(s, raw).await?;
    if w.phase != BuildPhase::Running {
        return Err(not_running(&w));
    }
    Ok(w)
}

fn not_running(w: &WorkerBuild) -> ApiError {
    ApiError::conflict(format!("worker build {} is {}, not running", w.id, w.phase))
}

async fn assignment(
    State(s): State<Arc<Services>>,
    Path(id): Path<String>,
) -> Result<Json<Assignment>, ApiError> {
    let (w, build) = with_build(&s, &id).await?;
    let scan = crate::steps::scanning::policy_of(&s, build.spec.config.as_deref()).await;
    Ok(Json(Assignment {
        build: build.id,
        worker: w.id,
        platform: w.platform,
        spec: build.spec,
        attempts: build.attempts,
        scan: Some(scan),
    }))
}

/// The largest scan report a worker may send (findings and the
/// inventory of every package: a few MiB for the largest images).
const SCAN_REPORT_BYTES: usize = 16 * 1024 * 1024;

/// The scan a worker made of the platform image it pushed, while it
/// pushed it: kept for the build's scan step, which takes it only for
/// exactly the image (by digest) the worker build reports at its end, and
/// runs the policy's network scanners on its inventory itself. A worker is
/// trusted with its scan as with the image it reports.
async fn scan(
    State(s): State<Arc<Services>>,
    Path(id): Path<String>,
    Json(report): Json<ScanReport>,
) -> Result<StatusCode, ApiError> {
    let w = running(&s, &id).await?;
    let digest_ref = report
        .reference
        .rsplit_once('@')
        .map(|(_, d)| d)
        .filter(|d| d.parse::<slipway_core::oci::digest::Digest>().is_ok());
    if digest_ref.is_none() || report.manifest_digest.as_deref() != digest_ref {
        return Err(ApiError::invalid(
            "a worker's scan names the image it read by digest (registry/name@sha256:…) and that digest as its manifest_digest",
        ));
    }
    s.keep_worker_scan(w.build_id, w.platform.as_str(), report);
    Ok(StatusCode::NO_CONTENT)
}

async fn state(
    State(s): State<Arc<Services>>,
    Path(id): Path<String>,
) -> Result<Json<WorkerState>, ApiError> {
    let w = worker_build(&s, &id).await?;
    let build = s.store.get_build(w.build_id).await?;
    let cancelled = s.store.cancel_requested(w.build_id).await?;
    let build_final = build.as_ref().is_none_or(|b| b.phase.is_final());
    Ok(Json(WorkerState {
        phase: w.phase,
        stop: w.phase != BuildPhase::Running || cancelled || build_final,
        commit: build.and_then(|b| b.commit),
    }))
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommitReport {
    pub ref_name: String,
    pub commit: String,
}

async fn commit(
    State(s): State<Arc<Services>>,
    Path(id): Path<String>,
    Json(r): Json<CommitReport>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let w = running(&s, &id).await?;
    if !slipway_core::build::source::is_commit_id(&r.commit) {
        return Err(ApiError::invalid(format!(
            "{:?} is not a commit id (40 or 64 hex digits)",
            r.commit
        )));
    }
    let stored = crate::backends::record_commit(&s, w.build_id, &r.ref_name, &r.commit)
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(serde_json::json!({ "commit": stored })))
}

async fn stage(
    State(s): State<Arc<Services>>,
    Path(id): Path<String>,
    Json(t): Json<StageTiming>,
) -> Result<StatusCode, ApiError> {
    let w = running(&s, &id).await?;
    s.store.record_stage(w.build_id, t).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Log lines, as text: appended to the build's log, marked with the
/// platform when the build has several.
async fn log(
    State(s): State<Arc<Services>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let (w, build) = with_build(&s, &id).await?;
    if w.phase != BuildPhase::Running {
        return Err(not_running(&w));
    }
    let text = String::from_utf8_lossy(&body);
    let log = crate::backends::PlatformLog::new(
        s.logs.open(w.build_id).map_err(ApiError::internal)?,
        &build,
        &w.platform,
    );
    for line in text.lines() {
        log.line(line);
    }
    Ok(StatusCode::NO_CONTENT)
}

async fn credentials(
    State(s): State<Arc<Services>>,
    Path(id): Path<String>,
) -> Result<Json<RegistryCredentials>, ApiError> {
    let w = running(&s, &id).await?;
    // Least privilege: its output repository and its base images', nothing else.
    let grants = s
        .build_grants(w.build_id)
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(s.registry_credentials(w.build_id, grants)))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SecretsRequest {
    names: Vec<String>,
}

/// The values (base64) of the build secrets its Dockerfile mounts, of the
/// build's own project, for a running worker build only.
async fn secrets(
    State(s): State<Arc<Services>>,
    Path(id): Path<String>,
    Json(r): Json<SecretsRequest>,
) -> Result<Json<serde_json::Value>, ApiError> {
    use base64::Engine;
    let w = running(&s, &id).await?;
    if r.names.len() > 64 {
        return Err(ApiError::invalid("at most 64 secrets per build"));
    }
    let values = s
        .build_secrets(w.build_id, &r.names)
        .await
        .map_err(ApiError::not_found)?;
    let encoded: serde_json::Map<String, serde_json::Value> = values
        .into_iter()
        .map(|(k, v)| {
            (
                k,
                base64::engine::general_purpose::STANDARD.encode(v).into(),
            )
        })
        .collect();
    Ok(Json(serde_json::json!({ "values": encoded })))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginsRequest {
    registries: Vec<String>,
}

/// The build's project's logins to the registries its base images and
/// output are on, for a running worker build only.
async fn registry_logins(
    State(s): State<Arc<Services>>,
    Path(id): Path<String>,
    Json(r): Json<LoginsRequest>,
) -> Result<Json<Vec<slipway_worker::RegistryCredentials>>, ApiError> {
    let w = running(&s, &id).await?;
    if r.registries.len() > 64 {
        return Err(ApiError::invalid("at most 64 registries per request"));
    }
    s.build_registry_logins(w.build_id, &r.registries)
        .await
        .map(Json)
        .map_err(ApiError::internal)
}

async fn finish(
    State(s): State<Arc<Services>>,
    Path(id): Path<String>,
    Json(r): Json<WorkerResult>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let w = worker_build(&s, &id).await?;
    if !r.phase.is_final() {
        return Err(ApiError::invalid(format!(
            "phase {} is not an end; use Complete, Failed, Error or Cancelled",
            r.phase
        )));
    }
    if (r.phase == BuildPhase::Complete) != r.image.is_some() {
        return Err(ApiError::invalid(
            "a Complete worker build reports its image, and only a Complete one",
        ));
    }
    let p = Placement {
        worker: w.id,
        build: w.build_id,
        platform: w.platform.clone(),
        cluster: w.cluster.clone().unwrap_or_default(),
        queued_at: None,
        // Any server takes a worker's report; the worker's token is what
        // says it is still this placement's (revoked on a re-queue).
        owner: None,
    };
    let recorded =
        crate::backends::record_end(&s, &p, r.phase, r.reason.as_deref(), r.image.as_ref()).await;
    Ok(Json(serde_json::json!({ "recorded": recorded })))
}
