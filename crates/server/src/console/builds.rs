//! The builds list, a build's page (log window, live parts) and its cancel.

use super::{CsrfForm, Row, page, refused, signed};
use crate::Services;
use askama::Template;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use slipway_core::api::BuildQuery;
use std::sync::Arc;

#[derive(Template)]
#[template(path = "console/builds.html")]
struct Builds {
    signed_in: bool,
    logout_csrf: String,
    phases: Vec<String>,
    phase: String,
    config: String,
    builds: Vec<Row>,
    next: Option<i64>,
}

#[derive(Deserialize, Default)]
pub(super) struct BuildsQuery {
    #[serde(default)]
    phase: String,
    #[serde(default)]
    config: String,
    before: Option<i64>,
}

pub(super) async fn list(
    State(s): State<Arc<Services>>,
    headers: HeaderMap,
    q: Result<Query<BuildsQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Some(me) = signed(&s, &headers).await else {
        return Redirect::to("/login").into_response();
    };
    let q = q.map(|Query(q)| q).unwrap_or_default();
    let phase = q.phase.parse::<slipway_core::BuildPhase>().ok();
    const PAGE: u32 = 50;
    let list = s
        .store
        .list_builds(&BuildQuery {
            limit: PAGE,
            before: q.before,
            config: Some(q.config.clone()).filter(|c| !c.is_empty()),
            projects: me.principal.binding.project.clone().map(|p| vec![p]),
            phase,
            trigger: None,
        })
        .await
        .unwrap_or_default();
    let next = (list.len() == PAGE as usize)
        .then(|| list.last().map(|b| b.id))
        .flatten();
    page(&Builds {
        signed_in: true,
        logout_csrf: me.session.csrf_for("/logout"),
        phases: [
            "New",
            "Pending",
            "Running",
            "Complete",
            "Skipped",
            "Failed",
            "Error",
            "Cancelled",
        ]
        .map(String::from)
        .to_vec(),
        phase: phase.map(|p| p.as_str().to_string()).unwrap_or_default(),
        config: q.config,
        builds: list.into_iter().map(Row::from).collect(),
        next,
    })
}

#[derive(Template)]
#[template(path = "console/build.html")]
struct BuildPage {
    signed_in: bool,
    logout_csrf: String,
    cancel_csrf: String,
    promote_csrf: String,
    /// Environments a complete build may be promoted into.
    environments: Vec<String>,
    id: i64,
    phase: String,
    final_phase: bool,
    /// The token may cancel and promote this build.
    may_build: bool,
    output: String,
    image: Option<String>,
    reason: Option<String>,
    stages: Vec<(String, u64)>,
    events: Vec<(String, String)>,
    log: String,
    /// Where the shown log starts in the file (0: all of it is shown).
    log_start: u64,
    /// The log's length in bytes when the page was made: where following
    /// starts.
    log_end: u64,
    lint: Vec<slipway_core::build::conventions::LintFinding>,
    lint_file: String,
    scans: Vec<slipway_core::scan::ScanSummary>,
    /// SBOM downloads: (platform, format) with their API paths.
    sboms: Vec<(String, String, String)>,
}

/// The end of a build's log the page shows at first (the rest loads on
/// demand): at most this many bytes.
const LOG_WINDOW: u64 = 64 * 1024;

pub(super) async fn show(
    State(s): State<Arc<Services>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let Some(me) = signed(&s, &headers).await else {
        return Redirect::to("/login").into_response();
    };
    let caller = crate::api::Caller(me.principal);
    let b = match crate::api::load(&s, &caller, &id, slipway_core::access::Permission::Read).await {
        Ok(b) => b,
        Err(e) => return refused(e),
    };
    // Buttons only for what the token may do (the handlers check again).
    let may_build = caller
        .require(
            b.spec.project_name(),
            slipway_core::access::Permission::Build,
        )
        .is_ok();
    let (log, log_start, log_end) = s.logs.window(b.id, None, LOG_WINDOW).await;
    let scans = s
        .store
        .scans_of_build(b.id)
        .await
        .unwrap_or_default()
        .iter()
        .map(slipway_core::scan::ScanSummary::of)
        .collect();
    let sboms = s
        .store
        .sboms_of_build(b.id)
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|d| {
            let format = d.format.to_string();
            let path = format!(
                "/api/v1/builds/{}/sboms/{format}?platform={}",
                b.id,
                slipway_core::scan::inventory::percent_encode(&d.platform)
            );
            (d.platform, format, path)
        })
        .collect();
    let (lint, lint_file) = b
        .lint
        .as_ref()
        .map(|l| (l.findings.clone(), l.dockerfile.clone()))
        .unwrap_or_default();
    page(&BuildPage {
        signed_in: true,
        logout_csrf: me.session.csrf_for("/logout"),
        cancel_csrf: me.session.csrf_for(&format!("/builds/{}/cancel", b.id)),
        promote_csrf: me.session.csrf_for(&format!("/builds/{}/promote", b.id)),
        environments: if may_build && b.phase == slipway_core::BuildPhase::Complete {
            let mut e: Vec<String> = s.environments.keys().cloned().collect();
            e.sort();
            e
        } else {
            Vec::new()
        },
        id: b.id,
        phase: b.phase.as_str().to_string(),
        final_phase: b.phase.is_final(),
        may_build,
        output: b.spec.output.to_string(),
        image: b.image.map(|i| i.reference),
        reason: b.reason,
        stages: b
            .stages
            .iter()
            .map(|t| (t.stage.as_str().to_string(), t.duration_ms))
            .collect(),
        events: b
            .events
            .iter()
            .map(|e| (super::when(e.at), e.message.clone()))
            .collect(),
        log,
        log_start,
        log_end,
        lint,
        lint_file,
        scans,
        sboms,
    })
}

#[derive(Deserialize)]
pub(super) struct OlderQuery {
    before: u64,
}

/// `GET /builds/{id}/log?before=N`: the log's lines that end at byte `N`
/// (at most a window's worth), for the page's "older lines" button; where
/// they start is in `X-Log-Start`.
pub(super) async fn older(
    State(s): State<Arc<Services>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    q: Result<Query<OlderQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Some(me) = signed(&s, &headers).await else {
        return super::error_page(StatusCode::UNAUTHORIZED, "sign in again".into());
    };
    let Ok(Query(q)) = q else {
        return super::error_page(StatusCode::BAD_REQUEST, "give ?before=<byte offset>".into());
    };
    let caller = crate::api::Caller(me.principal);
    let b = match crate::api::load(&s, &caller, &id, slipway_core::access::Permission::Read).await {
        Ok(b) => b,
        Err(e) => return refused(e),
    };
    let (text, start, _) = s.logs.window(b.id, Some(q.before), LOG_WINDOW).await;
    (
        [
            (
                axum::http::header::CONTENT_TYPE,
                "text/plain; charset=utf-8".to_string(),
            ),
            (
                axum::http::HeaderName::from_static("x-log-start"),
                start.to_string(),
            ),
        ],
        text,
    )
        .into_response()
}

pub(super) async fn cancel(
    State(s): State<Arc<Services>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(f): Form<CsrfForm>,
) -> Response {
    let Some(me) = signed(&s, &headers).await else {
        return Redirect::to("/login").into_response();
    };
    if !me.session.csrf_ok(&format!("/builds/{id}/cancel"), &f.csrf) {
        return super::bad_csrf();
    }
    let caller = crate::api::Caller(me.principal);
    let b = match crate::api::load(&s, &caller, &id, slipway_core::access::Permission::Build).await
    {
        Ok(b) => b,
        Err(e) => return refused(e),
    };
    match s.store.request_cancel(b.id).await {
        Ok(slipway_store::CancelOutcome::Requested | slipway_store::CancelOutcome::Cancelled) => {
            s.cancel_running(b.id);
        }
        Ok(_) => {}
        Err(e) => return refused(e.into()),
    }
    Redirect::to(&format!("/builds/{}", b.id)).into_response()
}
