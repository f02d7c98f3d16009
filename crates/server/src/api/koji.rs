//! A build's import into Koji: where it stands, and queuing it again.

use super::{Caller, load};
use crate::Services;
use crate::error::ApiError;
use axum::Extension;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use slipway_core::BuildPhase;
use slipway_core::build::conventions::BuildKind;
use slipway_core::koji::KojiImport;
use std::sync::Arc;

fn not_configured() -> ApiError {
    ApiError::conflict("this server imports nothing into Koji: set koji: in its config file")
}

/// `GET /builds/{id}/koji`.
pub(super) async fn status(
    State(s): State<Arc<Services>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<KojiImport>, ApiError> {
    let build = load(&s, &caller, &id, slipway_core::access::Permission::Read).await?;
    match s.store.koji_import(build.id).await? {
        Some(i) => Ok(Json(i)),
        None if s.koji.is_none() => Err(not_configured()),
        None => Err(ApiError::not_found(format!(
            "build {} has no Koji import: only builds that complete with Koji configured are imported",
            build.id
        ))),
    }
}

/// `POST /builds/{id}/koji/import`: queue the import (again) now.
pub(super) async fn import(
    State(s): State<Arc<Services>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let build = load(&s, &caller, &id, slipway_core::access::Permission::Manage).await?;
    if s.koji.is_none() {
        return Err(not_configured());
    }
    if build.phase != BuildPhase::Complete {
        return Err(ApiError::conflict(format!(
            "build {} is {}; only complete builds are imported into Koji",
            build.id, build.phase
        )));
    }
    if build.spec.kind == BuildKind::Scratch {
        return Err(ApiError::conflict(format!(
            "build {} is a scratch build; scratch builds are never imported into Koji",
            build.id
        )));
    }
    if s.store.metadata(build.id).await?.is_none() {
        return Err(ApiError::conflict(format!(
            "build {} has no content-generator metadata to import; its events say why",
            build.id
        )));
    }
    if let Some(i) = s.store.koji_import(build.id).await?
        && i.state == slipway_core::koji::ImportState::Imported
    {
        return Err(ApiError::conflict(format!(
            "build {} is in Koji already, as {}",
            build.id,
            i.nvr.unwrap_or_default()
        )));
    }
    s.store.queue_koji_import(build.id).await?;
    s.events.koji.notify_one();
    let queued = s.store.koji_import(build.id).await?;
    Ok((StatusCode::ACCEPTED, Json(queued)).into_response())
}
