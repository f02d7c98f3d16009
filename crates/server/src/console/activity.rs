//! Waves with their members, scans and notifications: what the service
//! did on its own, as the API's lists show it (the same project checks).

use super::{page, refused, signed};
use crate::Services;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use slipway_core::notify::Delivery;
use slipway_core::rebuild::Wave;
use slipway_core::scan::ScanSummary;
use std::sync::Arc;

#[derive(Template)]
#[template(path = "console/waves.html")]
struct Waves {
    signed_in: bool,
    logout_csrf: String,
    waves: Vec<Wave>,
}

pub(super) async fn waves(State(s): State<Arc<Services>>, headers: HeaderMap) -> Response {
    let Some(me) = signed(&s, &headers).await else {
        return Redirect::to("/login").into_response();
    };
    let logout_csrf = me.session.csrf_for("/logout");
    match crate::api::configs::waves_for(&s, &crate::api::Caller(me.principal), 50).await {
        Ok(waves) => page(&Waves {
            signed_in: true,
            logout_csrf,
            waves,
        }),
        Err(e) => refused(e),
    }
}

#[derive(Template)]
#[template(path = "console/wave.html")]
struct WavePage {
    signed_in: bool,
    logout_csrf: String,
    wave: Wave,
}

pub(super) async fn wave(
    State(s): State<Arc<Services>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let Some(me) = signed(&s, &headers).await else {
        return Redirect::to("/login").into_response();
    };
    let logout_csrf = me.session.csrf_for("/logout");
    let caller = crate::api::Caller(me.principal);
    let id = match crate::api::parse_positive(&id, "wave id") {
        Ok(id) => id,
        Err(e) => return refused(e),
    };
    match crate::api::configs::wave_for(&s, &caller, id).await {
        Ok(wave) => page(&WavePage {
            signed_in: true,
            logout_csrf,
            wave,
        }),
        Err(e) => refused(e),
    }
}

#[derive(Deserialize, Default)]
pub(super) struct ScansQuery {
    before: Option<i64>,
}

#[derive(Template)]
#[template(path = "console/scans.html")]
struct Scans {
    signed_in: bool,
    logout_csrf: String,
    scans: Vec<ScanSummary>,
    next: Option<i64>,
}

pub(super) async fn scans(
    State(s): State<Arc<Services>>,
    headers: HeaderMap,
    q: Result<Query<ScansQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Some(me) = signed(&s, &headers).await else {
        return Redirect::to("/login").into_response();
    };
    let q = q.map(|Query(q)| q).unwrap_or_default();
    let logout_csrf = me.session.csrf_for("/logout");
    let caller = crate::api::Caller(me.principal);
    match crate::api::scans::scans_for(&s, &caller, None, q.before, 50).await {
        Ok((scans, next)) => page(&Scans {
            signed_in: true,
            logout_csrf,
            scans,
            next,
        }),
        Err(e) => refused(e),
    }
}

#[derive(Template)]
#[template(path = "console/notifications.html")]
struct Notifications {
    signed_in: bool,
    logout_csrf: String,
    deliveries: Vec<Delivery>,
}

impl Notifications {
    /// Where a delivery goes: mail recipients, and a webhook's host only
    /// (chat webhooks carry their credential in the path).
    fn target(d: &Delivery) -> String {
        let mut to: Vec<String> = d.target.email.clone();
        if let Some(w) = &d.target.webhook {
            let (scheme, rest) = w.url.split_once("://").unwrap_or(("", &w.url));
            let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
            let host = host.rsplit('@').next().unwrap_or_default();
            to.push(format!("webhook {scheme}://{host}/…"));
        }
        to.join(", ")
    }
}

pub(super) async fn notifications(State(s): State<Arc<Services>>, headers: HeaderMap) -> Response {
    let Some(me) = signed(&s, &headers).await else {
        return Redirect::to("/login").into_response();
    };
    let logout_csrf = me.session.csrf_for("/logout");
    let caller = crate::api::Caller(me.principal);
    match crate::api::scans::notifications_for(&s, &caller, None, 100).await {
        Ok(deliveries) => page(&Notifications {
            signed_in: true,
            logout_csrf,
            deliveries,
        }),
        Err(e) => refused(e),
    }
}
