//! Scan endpoints: run a scan of any reachable image, read stored scans,
//! a build's scans and SBOMs, rescan a config's latest image now, and the
//! notifications queued about builds and scans.

use super::table::{Access, Table};
use super::{Caller, bad_query, parse_positive};
use crate::Services;
use crate::error::ApiError;
use axum::Extension;
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use slipway_core::ImageRef;
use slipway_core::access::Permission;
use slipway_core::scan::sbom::SbomFormat;
use slipway_core::scan::{ScanPolicy, ScanReason, ScanRequest, ScanSummary};
use std::sync::Arc;

pub(super) fn routes(t: &mut Table) {
    use Access::Token;
    use slipway_core::access::Permission::{Build, Read};
    t.add(Token(Build), "/scans", &["POST"], post(create_scan));
    t.add(Token(Read), "/scans", &["GET"], get(list_scans));
    t.add(Token(Read), "/scans/{id}", &["GET"], get(get_scan));
    t.add(
        Token(Read),
        "/builds/{id}/scans",
        &["GET"],
        get(build_scans),
    );
    t.add(
        Token(Read),
        "/builds/{id}/sboms",
        &["GET"],
        get(build_sboms),
    );
    t.add(
        Token(Read),
        "/builds/{id}/sboms/{format}",
        &["GET"],
        get(build_sbom_document),
    );
    t.add(
        Token(Build),
        "/configs/{name}/rescan",
        &["POST"],
        post(rescan_config),
    );
    t.add(
        Token(Read),
        "/notifications",
        &["GET"],
        get(list_notifications),
    );
}

async fn create_scan(
    State(s): State<Arc<Services>>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: ScanRequest = serde_json::from_slice(&body)
        .map_err(|e| ApiError::invalid(format!("request body is not a valid scan request: {e}")))?;
    // A reference without a registry means the server's default one.
    let image = ImageRef::parse_with_default(&req.reference, Some(&s.default_registry))
        .map_err(|e| ApiError::invalid(e.to_string()))?;
    let reference = image.to_string();
    // The config's project, else the image's here, else the caller's.
    let projects = crate::steps::projects::names(&s).await?;
    let project = match &req.config {
        Some(name) => crate::steps::projects::of_config_named(&s, name).await?,
        None => crate::steps::projects::owner_in(&s, &image, &projects),
    }
    .or_else(|| caller.binding().project.clone())
    .unwrap_or_else(|| slipway_core::access::DEFAULT_PROJECT.to_string());
    caller.require(&project, Permission::Build)?;
    let policy = match (&req.config, req.policy) {
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid(
                "give a config (to use its scan policy) or a policy, not both",
            ));
        }
        (Some(name), None) => match s.store.get_config(name).await? {
            Some(c) => c.config.scan,
            None => return Err(ApiError::not_found(format!("config {name} does not exist"))),
        },
        (None, Some(p)) => p,
        (None, None) => ScanPolicy::default(),
    };
    policy
        .check()
        .map_err(|e| ApiError::invalid(format!("scan policy: {e}")))?;
    let stored = crate::steps::scanning::scan(
        &s,
        &reference,
        &policy,
        (ScanReason::Manual, None, req.config.as_deref()),
        None,
    )
    .await
    .map_err(ApiError::internal)?;
    if stored.config.is_some() {
        crate::steps::notify::scan_done(&s, &stored).await;
    }
    Ok((StatusCode::CREATED, Json(stored)).into_response())
}

#[derive(Deserialize)]
struct ListQuery {
    config: Option<String>,
    limit: Option<u32>,
    /// The cursor: only scans older than this id.
    before: Option<i64>,
}

async fn list_scans(
    State(s): State<Arc<Services>>,
    Extension(caller): Extension<Caller>,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = q.map_err(bad_query)?;
    let limit = q.limit.unwrap_or(50).clamp(1, 1000);
    let (page, last_id) = scans_for(&s, &caller, q.config.as_deref(), q.before, limit).await?;
    let mut resp = Json(&page).into_response();
    if let Some(last) = last_id {
        let config = q
            .config
            .as_deref()
            .map(|c| {
                format!(
                    "&config={}",
                    slipway_core::scan::inventory::percent_encode(c)
                )
            })
            .unwrap_or_default();
        let link = format!("</api/v1/scans?limit={limit}&before={last}{config}>; rel=\"next\"");
        if let Ok(v) = link.parse() {
            resp.headers_mut().insert(axum::http::header::LINK, v);
        }
    }
    Ok(resp)
}

/// A page of scan summaries (a scan's inventory alone can be thousands of
/// packages) of the projects the caller reads, newest first, and the
/// cursor for the next page when the page read was full (the cursor
/// follows the page read, not the page shown).
pub(crate) async fn scans_for(
    s: &Services,
    caller: &Caller,
    config: Option<&str>,
    before: Option<i64>,
    limit: u32,
) -> Result<(Vec<ScanSummary>, Option<i64>), ApiError> {
    let scans = s.store.list_scans(config, before, limit).await?;
    let mut page: Vec<ScanSummary> = Vec::with_capacity(scans.len());
    for scan in &scans {
        if caller.reads(&crate::steps::projects::of_scan(s, scan).await?) {
            page.push(ScanSummary::of(scan));
        }
    }
    let next = (scans.len() == limit as usize)
        .then(|| scans.last().map(|l| l.id))
        .flatten();
    Ok((page, next))
}

/// Queued and sent notifications, newest first, without secrets.
async fn list_notifications(
    State(s): State<Arc<Services>>,
    Extension(caller): Extension<Caller>,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = q.map_err(bad_query)?;
    let limit = q.limit.unwrap_or(50).clamp(1, 1000);
    Ok(Json(notifications_for(&s, &caller, q.config.as_deref(), limit).await?).into_response())
}

/// The newest `limit` deliveries of the projects the caller reads,
/// without secrets.
pub(crate) async fn notifications_for(
    s: &Services,
    caller: &Caller,
    config: Option<&str>,
    limit: u32,
) -> Result<Vec<slipway_core::notify::Delivery>, ApiError> {
    let mut list = Vec::new();
    for d in s.store.list_deliveries(config, limit).await? {
        // A delivery belongs to its config's project (or the default one).
        let project = match &d.config {
            Some(c) => crate::steps::projects::of_config_named(s, c).await?,
            None => None,
        }
        .unwrap_or_else(|| slipway_core::access::DEFAULT_PROJECT.to_string());
        if caller.reads(&project) {
            list.push(d.redacted());
        }
    }
    Ok(list)
}

async fn get_scan(
    State(s): State<Arc<Services>>,
    Extension(caller): Extension<Caller>,
    Path(raw): Path<String>,
) -> Result<Response, ApiError> {
    let id = parse_positive(&raw, "scan id")?;
    match s.store.get_scan(id).await? {
        Some(scan) => {
            caller.require(
                &crate::steps::projects::of_scan(&s, &scan).await?,
                Permission::Read,
            )?;
            Ok(Json(scan).into_response())
        }
        None => Err(ApiError::not_found(format!("scan {id} does not exist"))),
    }
}

async fn build_scans(
    State(s): State<Arc<Services>>,
    Extension(caller): Extension<Caller>,
    Path(raw): Path<String>,
) -> Result<Response, ApiError> {
    let build = super::load(&s, &caller, &raw, slipway_core::access::Permission::Read).await?;
    Ok(Json(s.store.scans_of_build(build.id).await?).into_response())
}

async fn build_sboms(
    State(s): State<Arc<Services>>,
    Extension(caller): Extension<Caller>,
    Path(raw): Path<String>,
) -> Result<Response, ApiError> {
    let build = super::load(&s, &caller, &raw, slipway_core::access::Permission::Read).await?;
    Ok(Json(s.store.sboms_of_build(build.id).await?).into_response())
}

#[derive(Deserialize)]
struct SbomQuery {
    platform: Option<String>,
}

/// The document itself, as made (the same bytes as the attached artifact):
/// of `?platform=P`, or of the build's first platform.
async fn build_sbom_document(
    State(s): State<Arc<Services>>,
    Extension(caller): Extension<Caller>,
    Path((raw, format)): Path<(String, String)>,
    q: Result<Query<SbomQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = q.map_err(bad_query)?;
    let build = super::load(&s, &caller, &raw, slipway_core::access::Permission::Read).await?;
    let format: SbomFormat = format.parse().map_err(ApiError::invalid)?;
    match s
        .store
        .sbom_document(build.id, format, q.platform.as_deref())
        .await?
    {
        Some(doc) => Ok((
            [(axum::http::header::CONTENT_TYPE, format.media_type())],
            doc,
        )
            .into_response()),
        None => Err(ApiError::not_found(format!(
            "build {} has no {format} SBOM{} (SBOMs are made when a build's image is scanned)",
            build.id,
            q.platform
                .map(|p| format!(" for platform {p}"))
                .unwrap_or_default()
        ))),
    }
}

async fn rescan_config(
    State(s): State<Arc<Services>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let Some(config) = s.store.get_config(&name).await? else {
        return Err(ApiError::not_found(format!("config {name} does not exist")));
    };
    let projects = crate::steps::projects::names(&s).await?;
    let project = crate::steps::projects::of_stored(&s, &config.config, &projects);
    caller.require(&project, Permission::Build)?;
    match crate::steps::scanning::rescan(&s, &name, &config.config.scan).await {
        Some(stored) => Ok((StatusCode::CREATED, Json(stored)).into_response()),
        None => Err(ApiError::conflict(format!(
            "config {name} has no complete build to rescan yet"
        ))),
    }
}
