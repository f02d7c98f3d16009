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
    id: i64,
    phase: String,
    final_phase: bool,
    output: String,
    image: Option<String>,
    reason: Option<String>,
    stages: Vec<(String, u64)>,
    events: Vec<(String, String)>,
    log: String,
    /// The log's length in bytes when the page was made: where following
    /// starts.
    log_end: u64,
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
    let (log, log_end) = tail(&s.logs.path(b.id), LOG_WINDOW).await;
    page(&BuildPage {
        signed_in: true,
        logout_csrf: me.session.csrf_for("/logout"),
        cancel_csrf: me.session.csrf_for(&format!("/builds/{}/cancel", b.id)),
        id: b.id,
        phase: b.phase.as_str().to_string(),
        final_phase: b.phase.is_final(),
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
            .map(|e| (e.at.to_string(), e.message.clone()))
            .collect(),
        log,
        log_end,
    })
}

/// The last `max` bytes of the file at `path` (from a line start), and
/// the file's length; nothing when it cannot be read.
async fn tail(path: &std::path::Path, max: u64) -> (String, u64) {
    use tokio::io::{AsyncReadExt, AsyncSeekExt};
    let Ok(mut f) = tokio::fs::File::open(path).await else {
        return (String::new(), 0);
    };
    let len = f.metadata().await.map(|m| m.len()).unwrap_or(0);
    let start = len.saturating_sub(max);
    if f.seek(std::io::SeekFrom::Start(start)).await.is_err() {
        return (String::new(), 0);
    }
    let mut bytes = Vec::new();
    let _ = f.take(len - start).read_to_end(&mut bytes).await;
    let end = start + bytes.len() as u64;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let text = match (start > 0, text.find('\n')) {
        (true, Some(i)) => text[i + 1..].to_string(),
        _ => text,
    };
    (text, end)
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
        return (
            StatusCode::FORBIDDEN,
            "the form's CSRF value is missing or wrong: reload the page",
        )
            .into_response();
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
