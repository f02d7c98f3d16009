//! The web console (work in progress, see /work/notes/console-plan.md):
//! server-rendered pages (askama templates compiled into the binary)
//! behind a session cookie made from an API token; every page checks the
//! token's roles as the API does.

pub mod session;

use crate::Services;
use askama::Template;
use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::Deserialize;
use session::Sessions;
use slipway_core::api::{BuildQuery, BuildSummary};
use slipway_store::Principal;
use std::sync::Arc;

/// Render a template, or a plain 500.
fn page(t: &impl Template) -> Response {
    match t.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot render the page: {e}"),
        )
            .into_response(),
    }
}

#[derive(Template)]
#[template(path = "console/login.html")]
struct Login {
    signed_in: bool,
    logout_csrf: String,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "console/dashboard.html")]
struct Dashboard {
    signed_in: bool,
    logout_csrf: String,
    active: Vec<Row>,
    failures: Vec<Row>,
}

/// A build as the tables show it.
struct Row {
    id: i64,
    phase: String,
    config: String,
    output: String,
    reason: String,
}

impl From<BuildSummary> for Row {
    fn from(b: BuildSummary) -> Row {
        Row {
            id: b.id,
            phase: b.phase.as_str().to_string(),
            config: b.config.unwrap_or_default(),
            output: b.output,
            reason: b.reason.unwrap_or_default(),
        }
    }
}

/// The signed-in caller: its session (for CSRF values) and principal.
struct Signed {
    session: session::Session,
    principal: Principal,
}

/// The caller of a console request, if its cookie names a live session
/// whose token is still valid.
async fn signed(s: &Services, headers: &HeaderMap) -> Option<Signed> {
    let id = headers
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(session::from_cookie_header)?;
    let session = s.console_sessions.get(id)?;
    match s.store.principal(&session.token_hash).await {
        Ok(Some(principal)) => Some(Signed { session, principal }),
        _ => {
            s.console_sessions.close(id);
            None
        }
    }
}

pub fn router(services: Arc<Services>) -> Router {
    Router::new()
        .route("/", get(dashboard))
        .route("/login", get(login_form).post(login))
        .route("/logout", axum::routing::post(logout))
        .route("/builds", get(builds))
        .route("/builds/{id}", get(build_page))
        .route("/builds/{id}/cancel", axum::routing::post(cancel))
        .route("/configs", get(configs))
        .route("/configs/{name}", get(config_page))
        .route("/clusters", get(clusters))
        .route(
            "/clusters/{name}/{action}",
            axum::routing::post(switch_cluster),
        )
        .with_state(services)
}

async fn login_form() -> Response {
    page(&Login {
        signed_in: false,
        logout_csrf: String::new(),
        error: None,
    })
}

#[derive(Deserialize)]
struct LoginForm {
    token: String,
}

async fn login(State(s): State<Arc<Services>>, Form(f): Form<LoginForm>) -> Response {
    let hash = crate::tokens::hash_token(f.token.trim());
    match s.store.principal(&hash).await {
        Ok(Some(_)) => {
            let id = s.console_sessions.open(hash);
            (
                [(
                    header::SET_COOKIE,
                    Sessions::cookie(&id, s.worker_ca_file.is_some()),
                )],
                Redirect::to("/"),
            )
                .into_response()
        }
        _ => {
            let mut r = page(&Login {
                signed_in: false,
                logout_csrf: String::new(),
                error: Some("That token is not valid: unknown, revoked or expired.".into()),
            });
            *r.status_mut() = StatusCode::UNAUTHORIZED;
            r
        }
    }
}

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

async fn logout(
    State(s): State<Arc<Services>>,
    headers: HeaderMap,
    Form(f): Form<CsrfForm>,
) -> Response {
    let Some(me) = signed(&s, &headers).await else {
        return Redirect::to("/login").into_response();
    };
    if !me.session.csrf_ok("/logout", &f.csrf) {
        return (
            StatusCode::FORBIDDEN,
            "the form's CSRF value is missing or wrong: reload the page",
        )
            .into_response();
    }
    if let Some(id) = headers
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(session::from_cookie_header)
    {
        s.console_sessions.close(id);
    }
    (
        [(header::SET_COOKIE, Sessions::cleared())],
        Redirect::to("/login"),
    )
        .into_response()
}

async fn dashboard(State(s): State<Arc<Services>>, headers: HeaderMap) -> Response {
    let Some(me) = signed(&s, &headers).await else {
        return Redirect::to("/login").into_response();
    };
    let projects = me.principal.binding.project.clone().map(|p| vec![p]);
    let list = |phase| BuildQuery {
        limit: 50,
        projects: projects.clone(),
        phase: Some(phase),
        ..Default::default()
    };
    let mut active = Vec::new();
    for phase in [
        slipway_core::BuildPhase::Running,
        slipway_core::BuildPhase::Pending,
        slipway_core::BuildPhase::New,
    ] {
        active.extend(
            s.store
                .list_builds(&list(phase))
                .await
                .unwrap_or_default()
                .into_iter()
                .map(Row::from),
        );
    }
    let failures = s
        .store
        .list_builds(&BuildQuery {
            limit: 10,
            ..list(slipway_core::BuildPhase::Failed)
        })
        .await
        .unwrap_or_default()
        .into_iter()
        .map(Row::from)
        .collect();
    page(&Dashboard {
        signed_in: true,
        logout_csrf: me.session.csrf_for("/logout"),
        active,
        failures,
    })
}

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
struct BuildsQuery {
    #[serde(default)]
    phase: String,
    #[serde(default)]
    config: String,
    before: Option<i64>,
}

/// A page's answer to a request it refuses (an API error as text).
fn refused(e: crate::error::ApiError) -> Response {
    (e.status, e.message).into_response()
}

async fn builds(
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

async fn build_page(
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

async fn cancel(
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

#[derive(Template)]
#[template(path = "console/configs.html")]
struct Configs {
    signed_in: bool,
    logout_csrf: String,
    name: Option<String>,
    /// The graph, drawn by `GraphView::to_svg` (its names escaped).
    svg: String,
    builds: Vec<Row>,
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

async fn configs(State(s): State<Arc<Services>>, headers: HeaderMap) -> Response {
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
        }),
        Err(e) => refused(e),
    }
}

async fn config_page(
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
            return (
                StatusCode::NOT_FOUND,
                format!("no config {name} you may read"),
            )
                .into_response();
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
    page(&Configs {
        signed_in: true,
        logout_csrf,
        name: Some(name),
        svg: view.to_svg(),
        builds: builds.into_iter().map(Row::from).collect(),
    })
}

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

async fn clusters(State(s): State<Arc<Services>>, headers: HeaderMap) -> Response {
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

async fn switch_cluster(
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
        return (
            StatusCode::FORBIDDEN,
            "the form's CSRF value is missing or wrong: reload the page",
        )
            .into_response();
    }
    if !me
        .principal
        .binding
        .allows_somewhere(slipway_core::access::Permission::Global)
    {
        return (
            StatusCode::FORBIDDEN,
            "switching clusters needs a global admin's token",
        )
            .into_response();
    }
    let enabled = match action.as_str() {
        "enable" => true,
        "disable" => false,
        _ => return (StatusCode::NOT_FOUND, "use enable or disable").into_response(),
    };
    if s.cluster_file().get(&name).is_none() {
        return (StatusCode::NOT_FOUND, format!("no cluster {name:?}")).into_response();
    }
    if let Err(e) = s.store.set_cluster_enabled(&name, enabled).await {
        return refused(e.into());
    }
    tracing::info!("cluster {name} {action}d from the console");
    s.events.queue.notify_one();
    Redirect::to("/clusters").into_response()
}
