//! Image streams: the embedded registry's repositories, a repository's
//! tags with their history and a rollback button per tag, and promoting a
//! build into an environment from its page. The buttons do what the API's
//! routes do, with the same permission checks.

use super::{page, refused, signed};
use crate::Services;
use askama::Template;
use axum::extract::{Form, Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use slipway_core::api::images::{ImageSummary, RollbackRequest};
use std::sync::Arc;

/// Tag moves shown per tag.
const SHOWN_MOVES: usize = 10;

#[derive(Template)]
#[template(path = "console/images.html")]
struct Images {
    signed_in: bool,
    logout_csrf: String,
    images: Vec<ImageSummary>,
}

/// One tag of a repository page with its recent moves.
struct TagRow {
    tag: String,
    reference: String,
    digest: String,
    updated_at: String,
    /// (when, old digest, new digest, who, why, build)
    moves: Vec<(String, String, String, String, String, Option<i64>)>,
    /// A rollback has somewhere to go back to.
    can_roll_back: bool,
}

#[derive(Template)]
#[template(path = "console/image.html")]
struct Repository {
    signed_in: bool,
    logout_csrf: String,
    rollback_csrf: String,
    repository: String,
    tags: Vec<TagRow>,
}

#[derive(Deserialize, Default)]
pub(super) struct RepositoryQuery {
    #[serde(default)]
    repository: String,
}

pub(super) async fn images(
    State(s): State<Arc<Services>>,
    headers: HeaderMap,
    q: Result<Query<RepositoryQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Some(me) = signed(&s, &headers).await else {
        return Redirect::to("/login").into_response();
    };
    let q = q.map(|Query(q)| q).unwrap_or_default();
    let logout_csrf = me.session.csrf_for("/logout");
    let rollback_csrf = me.session.csrf_for("/images/rollback");
    let caller = crate::api::Caller(me.principal);
    if q.repository.is_empty() {
        return match crate::api::images::images_for(&s, &caller).await {
            Ok(images) => page(&Images {
                signed_in: true,
                logout_csrf,
                images,
            }),
            Err(e) => refused(e),
        };
    }
    let tags = match crate::api::images::tags_for(&s, &caller, &q.repository).await {
        Ok(t) => t,
        Err(e) => return refused(e),
    };
    let repository = q.repository.trim_end_matches('/').to_string();
    let mut rows = Vec::with_capacity(tags.len());
    for t in tags {
        let reference = format!("{repository}:{}", t.tag);
        let history = crate::api::images::history_for(&s, &caller, &reference)
            .await
            .unwrap_or_default();
        let can_roll_back = history
            .iter()
            .any(|e| e.new_digest.as_deref().is_some_and(|d| d != t.digest));
        rows.push(TagRow {
            moves: history
                .into_iter()
                .take(SHOWN_MOVES)
                .map(|e| {
                    (
                        e.at,
                        e.old_digest.unwrap_or_default(),
                        e.new_digest.unwrap_or_default(),
                        e.who,
                        e.why,
                        e.build,
                    )
                })
                .collect(),
            tag: t.tag,
            reference,
            digest: t.digest,
            updated_at: t.updated_at,
            can_roll_back,
        });
    }
    page(&Repository {
        signed_in: true,
        logout_csrf,
        rollback_csrf,
        repository,
        tags: rows,
    })
}

#[derive(Deserialize)]
pub(super) struct RollbackForm {
    #[serde(default)]
    csrf: String,
    reference: String,
}

/// `POST /images/rollback`: the tag goes back one move.
pub(super) async fn rollback(
    State(s): State<Arc<Services>>,
    headers: HeaderMap,
    Form(f): Form<RollbackForm>,
) -> Response {
    let Some(me) = signed(&s, &headers).await else {
        return Redirect::to("/login").into_response();
    };
    if !me.session.csrf_ok("/images/rollback", &f.csrf) {
        return super::bad_csrf();
    }
    let caller = crate::api::Caller(me.principal);
    let req = RollbackRequest {
        reference: f.reference.clone(),
        to: None,
        steps: None,
    };
    match crate::api::images::rollback_for(&s, &caller, &req).await {
        Ok(_) => {
            let repository = f
                .reference
                .rsplit_once(':')
                .map_or(f.reference.as_str(), |(r, _)| r);
            Redirect::to(&format!(
                "/images?repository={}",
                slipway_core::scan::inventory::percent_encode(repository)
            ))
            .into_response()
        }
        Err(e) => refused(e),
    }
}

#[derive(Deserialize)]
pub(super) struct PromoteForm {
    #[serde(default)]
    csrf: String,
    to: String,
}

/// `POST /builds/{id}/promote`: the build enters an environment once its
/// gates pass (a refusal names the gate).
pub(super) async fn promote(
    State(s): State<Arc<Services>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(f): Form<PromoteForm>,
) -> Response {
    let Some(me) = signed(&s, &headers).await else {
        return Redirect::to("/login").into_response();
    };
    if !me
        .session
        .csrf_ok(&format!("/builds/{id}/promote"), &f.csrf)
    {
        return super::bad_csrf();
    }
    let caller = crate::api::Caller(me.principal);
    let id = match crate::api::parse_positive(&id, "build id") {
        Ok(id) => id,
        Err(e) => return refused(e),
    };
    match crate::steps::promotion::promote(&s, &id.to_string(), &f.to, Some(&caller)).await {
        Ok(_) => Redirect::to(&format!("/builds/{id}")).into_response(),
        Err(e) => refused(e),
    }
}
