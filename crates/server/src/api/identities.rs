//! Users and service accounts: `GET|POST /identities`,
//! `DELETE /identities/{name}`. Users are made and disabled by global
//! admins, and any project's admin may issue them tokens of its project;
//! a service account belongs to one project, whose admins make it, issue
//! its tokens (of that project only) and disable it. Disabling revokes
//! every token of it at once.

use super::auth::Caller;
use super::table::{Access, Table};
use crate::Services;
use crate::error::ApiError;
use axum::extract::{Path, State};
use axum::{Extension, Json};
use slipway_core::access::{DEFAULT_PROJECT, Permission};
use slipway_core::api::access::{IdentityInfo, IdentityRequest, TokenKind, check_holder_name};
use std::sync::Arc;

pub(super) fn routes(t: &mut Table) {
    use Access::Token;
    use axum::routing::{delete, get};
    use slipway_core::access::Permission::Manage;
    t.add(
        Token(Manage),
        "/identities",
        &["GET", "POST"],
        get(list).post(create),
    );
    t.add(
        Token(Manage),
        "/identities/{name}",
        &["DELETE"],
        delete(disable),
    );
}

/// What managing `i` takes: a user needs a global admin, a service
/// account its project's admin.
fn require_over(caller: &Caller, kind: TokenKind, project: Option<&str>) -> Result<(), ApiError> {
    match (kind, project) {
        (TokenKind::Service, Some(p)) => caller.require(p, Permission::Manage),
        _ => caller.require(DEFAULT_PROJECT, Permission::Global),
    }
}

/// `GET /identities`: every user (a project's admin issues them tokens)
/// and the service accounts of the projects the caller manages.
async fn list(
    State(s): State<Arc<Services>>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Vec<IdentityInfo>>, ApiError> {
    let all = s.store.identities().await?;
    Ok(Json(
        all.into_iter()
            .filter(|i| match (&i.kind, &i.project) {
                (TokenKind::Service, Some(p)) => caller.binding().allows(p, Permission::Manage),
                _ => true,
            })
            .collect(),
    ))
}

/// `POST /identities {"name", "kind", "project"}`.
async fn create(
    State(s): State<Arc<Services>>,
    Extension(caller): Extension<Caller>,
    Json(req): Json<IdentityRequest>,
) -> Result<Json<IdentityInfo>, ApiError> {
    let what = match req.kind {
        TokenKind::User => "user",
        TokenKind::Service => "service account",
    };
    check_holder_name(what, &req.name).map_err(ApiError::invalid)?;
    match (req.kind, &req.project) {
        (TokenKind::User, Some(_)) => {
            return Err(ApiError::invalid(
                "a user belongs to no project; bind them to one with a token (`slipway token create --user NAME --project P --role R`)",
            ));
        }
        (TokenKind::Service, None) => {
            return Err(ApiError::invalid(
                "a service account belongs to a project; give its project",
            ));
        }
        (TokenKind::Service, Some(p)) => {
            crate::steps::projects::must_exist(&s, p).await?;
        }
        (TokenKind::User, None) => {}
    }
    require_over(&caller, req.kind, req.project.as_deref())?;
    let made = s
        .store
        .create_identity(
            &req.name,
            req.kind,
            req.project.as_deref(),
            &caller.subject(),
        )
        .await?;
    tracing::info!("{what} {} created by {}", made.name, caller.subject());
    Ok(Json(made))
}

/// `DELETE /identities/{name}`: disabled, its tokens revoked.
async fn disable(
    State(s): State<Arc<Services>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Result<Json<IdentityInfo>, ApiError> {
    let gone = || ApiError::not_found(format!("there is no user or service account {name}"));
    let found = s.store.identity(&name).await?.ok_or_else(gone)?;
    require_over(&caller, found.kind, found.project.as_deref())?;
    let disabled = s.store.disable_identity(&name).await?.ok_or_else(gone)?;
    tracing::info!(
        "{} {name} disabled by {}; its tokens are revoked",
        found.kind.as_str(),
        caller.subject()
    );
    Ok(Json(disabled))
}

/// The holder a new token is for, checked: it exists, is not disabled,
/// and a service account's token stays in its project. Its kind.
pub(super) async fn holder(
    s: &Services,
    name: &str,
    project: Option<&str>,
) -> Result<TokenKind, ApiError> {
    let i = s.store.identity(name).await?.ok_or_else(|| {
        ApiError::not_found(format!(
            "there is no user or service account {name}; `slipway user create {name}` or `slipway service-account create {name} --project P` makes one"
        ))
    })?;
    if i.disabled_at.is_some() {
        return Err(ApiError::conflict(format!(
            "{} {name} is disabled; it gets no new tokens",
            i.kind.as_str()
        )));
    }
    if i.kind == TokenKind::Service && i.project.as_deref() != project {
        return Err(ApiError::forbidden(format!(
            "service account {name} belongs to project {}; its tokens act there only",
            i.project.as_deref().unwrap_or("?")
        )));
    }
    Ok(i.kind)
}
