//! Clusters: their state, and enable/disable for global admins.

use super::{CsrfForm, page, refused, signed};
use crate::Services;
use askama::Template;
use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use std::sync::Arc;

struct ClusterRow {
    name: String,
    platform: String,
    backend: String,
    active: u32,
    max: u32,
    load: String,
    enabled: bool,
    /// What its button does: `enable` or `disable`.
    action: &'static str,
    csrf: String,
}

#[derive(Template)]
#[template(path = "console/clusters.html")]
struct Clusters {
    signed_in: bool,
    logout_csrf: String,
    may_switch: bool,
    clusters: Vec<ClusterRow>,
}

pub(super) async fn list(State(s): State<Arc<Services>>, headers: HeaderMap) -> Response {
    let Some(me) = signed(&s, &headers).await else {
        return Redirect::to("/login").into_response();
    };
    let statuses = match s.cluster_status().await {
        Ok(c) => c,
        Err(e) => return refused(e.into()),
    };
    let rows = statuses
        .into_iter()
        .map(|c| {
            let action = if c.enabled { "disable" } else { "enable" };
            ClusterRow {
                csrf: me
                    .session
                    .csrf_for(&format!("/clusters/{}/{action}", c.name)),
                name: c.name,
                platform: c.platform,
                backend: c.backend,
                active: c.active,
                max: c.max_concurrent_builds,
                load: format!("{:.0}%", c.load * 100.0),
                enabled: c.enabled,
                action,
            }
        })
        .collect();
    page(&Clusters {
        signed_in: true,
        logout_csrf: me.session.csrf_for("/logout"),
        may_switch: me
            .principal
            .binding
            .allows_somewhere(slipway_core::access::Permission::Global),
        clusters: rows,
    })
}

pub(super) async fn switch(
    State(s): State<Arc<Services>>,
    headers: HeaderMap,
    Path((name, action)): Path<(String, String)>,
    Form(f): Form<CsrfForm>,
) -> Response {
    let Some(me) = signed(&s, &headers).await else {
        return Redirect::to("/login").into_response();
    };
    if !me
        .session
        .csrf_ok(&format!("/clusters/{name}/{action}"), &f.csrf)
    {
        return super::bad_csrf();
    }
    if !me
        .principal
        .binding
        .allows_somewhere(slipway_core::access::Permission::Global)
    {
        return super::error_page(
            StatusCode::FORBIDDEN,
            "switching clusters needs a global admin's token".into(),
        );
    }
    let enabled = match action.as_str() {
        "enable" => true,
        "disable" => false,
        _ => return super::error_page(StatusCode::NOT_FOUND, "use enable or disable".into()),
    };
    if s.cluster_file().get(&name).is_none() {
        return super::error_page(StatusCode::NOT_FOUND, format!("no cluster {name:?}"));
    }
    if let Err(e) = s.store.set_cluster_enabled(&name, enabled).await {
        return refused(e.into());
    }
    tracing::info!("cluster {name} {action}d from the console");
    s.events.queue.notify_one();
    Redirect::to("/clusters").into_response()
}
