//! Configs: the parent→child graph (SVG) and a config's builds.

use super::{Row, page, refused, signed};
use crate::Services;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use slipway_core::api::BuildQuery;
use std::sync::Arc;

#[derive(Template)]
#[template(path = "console/configs.html")]
struct Configs {
    signed_in: bool,
    logout_csrf: String,
    name: Option<String>,
    /// The graph, drawn by `GraphView::to_svg` (its names escaped).
    svg: String,
    builds: Vec<Row>,
    /// What starts the config's builds, in words (no secrets).
    triggers: Vec<String>,
}

/// A config's triggers in words; a webhook's secret is never shown.
fn describe(t: &slipway_core::rebuild::image_config::Triggers) -> Vec<String> {
    let mut out = Vec::new();
    if t.parent {
        out.push("a parent config's image gets a new digest".to_string());
    }
    if t.webhook.is_some() {
        out.push("a signed webhook (push to the branch)".to_string());
    }
    if let Some(p) = &t.poll {
        out.push(format!("the branch head, polled every {p}"));
    }
    if let Some(c) = &t.schedule {
        out.push(format!("schedule {} ({})", c.cron, c.timezone));
    }
    if let Some(p) = &t.packages {
        out.push(format!("newer packages, checked every {p}"));
    }
    out
}

/// The config graph the caller may read, around `name` when given.
async fn readable_graph(
    s: &Services,
    caller: &crate::api::Caller,
    name: Option<&str>,
) -> Result<slipway_core::api::GraphView, crate::error::ApiError> {
    let mut view = crate::steps::configs::graph_view(s, name).await?;
    let readable = crate::api::configs::readable_configs(s, caller).await?;
    view.nodes.retain(|n| readable.contains(&n.name));
    for n in &mut view.nodes {
        n.parents.retain(|p| readable.contains(p));
    }
    Ok(view)
}

pub(super) async fn all(State(s): State<Arc<Services>>, headers: HeaderMap) -> Response {
    let Some(me) = signed(&s, &headers).await else {
        return Redirect::to("/login").into_response();
    };
    let logout_csrf = me.session.csrf_for("/logout");
    let caller = crate::api::Caller(me.principal);
    match readable_graph(&s, &caller, None).await {
        Ok(view) => page(&Configs {
            signed_in: true,
            logout_csrf,
            name: None,
            svg: view.to_svg(),
            builds: Vec::new(),
            triggers: Vec::new(),
        }),
        Err(e) => refused(e),
    }
}

pub(super) async fn one(
    State(s): State<Arc<Services>>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Response {
    let Some(me) = signed(&s, &headers).await else {
        return Redirect::to("/login").into_response();
    };
    let logout_csrf = me.session.csrf_for("/logout");
    let projects = me.principal.binding.project.clone().map(|p| vec![p]);
    let caller = crate::api::Caller(me.principal);
    let view = match readable_graph(&s, &caller, Some(&name)).await {
        Ok(v) if v.nodes.iter().any(|n| n.name == name) => v,
        Ok(_) => {
            return super::error_page(
                StatusCode::NOT_FOUND,
                format!("no config {name} you may read"),
            );
        }
        Err(e) => return refused(e),
    };
    let builds = s
        .store
        .list_builds(&BuildQuery {
            limit: 50,
            config: Some(name.clone()),
            projects,
            ..Default::default()
        })
        .await
        .unwrap_or_default();
    let triggers = match s.store.get_config(&name).await {
        Ok(Some(c)) => describe(&c.config.triggers),
        _ => Vec::new(),
    };
    page(&Configs {
        signed_in: true,
        logout_csrf,
        triggers,
        name: Some(name),
        svg: view.to_svg(),
        builds: builds.into_iter().map(Row::from).collect(),
    })
}
