//! The web console (work in progress, see /work/notes/console-plan.md):
//! server-rendered pages (askama templates compiled into the binary)
//! behind a session cookie made from an API token; every page checks the
//! token's roles as the API does.

mod activity;
mod builds;
mod clusters;
mod configs;
mod images;
pub mod session;

use crate::Services;
use askama::Template;
use axum::Router;
use axum::extract::{Form, State};
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
        // Plain text: an error page is a template too.
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
    /// (cluster, active, max, load %, enabled)
    clusters: Vec<(String, u32, u32, String, bool)>,
}

/// A build as the tables show it.
pub(super) struct Row {
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
pub(crate) struct Signed {
    pub(crate) session: session::Session,
    pub(crate) principal: Principal,
}

/// The caller of a console request, if its cookie names a live session
/// whose token is still valid.
pub(crate) async fn signed(s: &Services, headers: &HeaderMap) -> Option<Signed> {
    let id = headers
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(session::from_cookie_header)?;
    let session = Sessions::get(s.store.as_ref(), id).await?;
    match s.store.principal(&session.token_hash).await {
        Ok(Some(principal)) => Some(Signed { session, principal }),
        _ => {
            Sessions::close(s.store.as_ref(), id).await;
            None
        }
    }
}

pub fn router(services: Arc<Services>) -> Router {
    Router::new()
        .route("/", get(dashboard))
        .route("/login", get(login_form).post(login))
        .route("/logout", axum::routing::post(logout))
        .route("/builds", get(builds::list))
        .route("/builds/{id}", get(builds::show))
        .route("/builds/{id}/cancel", axum::routing::post(builds::cancel))
        .route("/builds/{id}/log", get(builds::older))
        .route("/builds/{id}/promote", axum::routing::post(images::promote))
        .route("/waves", get(activity::waves))
        .route("/waves/{id}", get(activity::wave))
        .route("/scans", get(activity::scans))
        .route("/notifications", get(activity::notifications))
        .route("/images", get(images::images))
        .route("/images/rollback", axum::routing::post(images::rollback))
        .route("/configs", get(configs::all))
        .route("/configs/{name}", get(configs::one))
        .route("/clusters", get(clusters::list))
        .route(
            "/clusters/{name}/{action}",
            axum::routing::post(clusters::switch),
        )
        .layer(axum::middleware::from_fn(page_headers))
        .with_state(services)
}

/// Around every console answer: a form posted from another site is
/// refused before anything else (login CSRF included: `Sec-Fetch-Site`,
/// else `Origin` against `Host`); pages may not be framed, run no script
/// from elsewhere, are not cached (they carry CSRF values) and say how
/// long the server took (`Server-Timing: app;dur=<ms>`, which browsers'
/// developer tools show and the console bench reads).
async fn page_headers(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    if req.method() == axum::http::Method::POST && cross_site(req.headers()) {
        return error_page(
            StatusCode::FORBIDDEN,
            "This form was posted from another site; open the console and submit it there.".into(),
        );
    }
    let start = std::time::Instant::now();
    let mut r = next.run(req).await;
    let ms = start.elapsed().as_secs_f64() * 1000.0;
    let h = r.headers_mut();
    if let Ok(v) = format!("app;dur={ms:.2}").parse() {
        h.insert("server-timing", v);
    }
    for (name, value) in [
        (
            "content-security-policy",
            "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
        ),
        ("x-frame-options", "DENY"),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "same-origin"),
        ("cache-control", "no-store"),
    ] {
        h.insert(name, axum::http::HeaderValue::from_static(value));
    }
    r
}

/// Whether a request comes from a page of another site: the browser's
/// `Sec-Fetch-Site` when it sends one, else an `Origin` whose host is not
/// the `Host` asked for. A request with neither (curl, scripts) is not a
/// browser's cross-site form.
fn cross_site(h: &HeaderMap) -> bool {
    if let Some(site) = h.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return !matches!(site, "same-origin" | "none");
    }
    let Some(origin) = h.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let host = h.get(header::HOST).and_then(|v| v.to_str().ok());
    let origin_host = origin.split_once("://").map(|(_, rest)| rest);
    origin == "null" || origin_host != host
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
            let id = match Sessions::open(s.store.as_ref(), &hash).await {
                Ok(id) => id,
                Err(e) => return error_page(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
            };
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
pub(super) struct CsrfForm {
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
        return bad_csrf();
    }
    if let Some(id) = headers
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(session::from_cookie_header)
    {
        Sessions::close(s.store.as_ref(), id).await;
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
    let clusters = s
        .cluster_status()
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|c| {
            (
                c.name,
                c.active,
                c.max_concurrent_builds,
                format!("{:.0}%", c.load * 100.0),
                c.enabled,
            )
        })
        .collect();
    page(&Dashboard {
        signed_in: true,
        logout_csrf: me.session.csrf_for("/logout"),
        active,
        failures,
        clusters,
    })
}

#[derive(Template)]
#[template(path = "console/error.html")]
struct ErrorPage {
    signed_in: bool,
    logout_csrf: String,
    status: u16,
    message: String,
}

/// A page's answer to a request it refuses: the API's message, with the
/// API's status.
fn refused(e: crate::error::ApiError) -> Response {
    error_page(e.status, e.message)
}

pub(super) fn error_page(status: StatusCode, message: String) -> Response {
    let mut r = page(&ErrorPage {
        signed_in: false,
        logout_csrf: String::new(),
        status: status.as_u16(),
        message,
    });
    *r.status_mut() = status;
    r
}

/// A time as pages show it: to the second, UTC.
fn when(t: jiff::Timestamp) -> String {
    t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// The answer to a form posted without its page's CSRF value.
fn bad_csrf() -> Response {
    error_page(
        StatusCode::FORBIDDEN,
        "The form's CSRF value is missing or wrong: reload the page and try again.".into(),
    )
}

#[cfg(test)]
mod tests {
    use super::cross_site;
    use axum::http::HeaderMap;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn forms_from_other_sites_are_told_apart() {
        assert!(!cross_site(&headers(&[])));
        assert!(!cross_site(&headers(&[("sec-fetch-site", "same-origin")])));
        assert!(cross_site(&headers(&[("sec-fetch-site", "cross-site")])));
        assert!(cross_site(&headers(&[("sec-fetch-site", "same-site")])));
        let host = ("host", "127.0.0.1:8080");
        assert!(!cross_site(&headers(&[
            host,
            ("origin", "http://127.0.0.1:8080")
        ])));
        assert!(cross_site(&headers(&[
            host,
            ("origin", "http://evil.example")
        ])));
        assert!(cross_site(&headers(&[host, ("origin", "null")])));
    }
}
