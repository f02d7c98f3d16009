//! The embedded registry's maintenance: garbage collection.

use crate::Services;
use crate::error::ApiError;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use std::sync::Arc;

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

pub(super) async fn gc(State(s): State<Arc<Services>>, body: Bytes) -> Result<Response, ApiError> {
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
    // One collection at a time across servers sharing the blobs (the
    // scheduled one takes the same lease).
    if !req.dry_run
        && !crate::controllers::leases::claim(&s, "loop:gc", std::time::Duration::from_secs(3600))
            .await
    {
        return Err(ApiError::conflict(
            "another server is collecting garbage now; try again when it is done",
        ));
    }
    let collected =
        slipway_registry::gc::collect(&s.registry, req.dry_run, grace, upload_age).await;
    if !req.dry_run {
        s.metrics.gc_run(collected.is_ok());
    }
    let report = collected.map_err(ApiError::internal)?;
    tracing::info!(
        "registry gc{}: {} blobs ({} bytes), {} stale uploads",
        if report.dry_run { " (dry run)" } else { "" },
        report.deleted_blobs.len(),
        report.freed_bytes,
        report.stale_uploads.len()
    );
    Ok(Json(report).into_response())
}
