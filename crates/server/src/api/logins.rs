//! A project's logins to other registries: `GET /registry-logins`
//! (registry and user name, never the password), `POST /registry-logins`
//! (create or replace, project admins), `DELETE
//! /registry-logins/{project}/{registry}`. The password reaches only the
//! work of the same project: its builds pulling bases and pushing there
//! (`/worker-builds/{id}/registry-logins`), their input keys, and
//! promotion to an environment on that registry.

use super::Caller;
use super::table::{Access, Table};
use crate::Services;
use crate::error::ApiError;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::Deserialize;
use slipway_core::access::Permission;
use slipway_core::api::access::{
    MAX_REGISTRY_PASSWORD_BYTES, RegistryLoginInfo, RegistryLoginRequest,
};
use std::sync::Arc;

pub(super) fn routes(t: &mut Table) {
    use Access::Token;
    use Permission::Manage;
    use axum::routing::{delete, get};
    t.add(
        Token(Manage),
        "/registry-logins",
        &["GET", "POST"],
        get(list).post(put),
    );
    t.add(
        Token(Manage),
        "/registry-logins/{project}/{registry}",
        &["DELETE"],
        delete(remove),
    );
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    project: Option<String>,
}

/// The logins of the projects the caller manages.
async fn list(
    State(s): State<Arc<Services>>,
    Extension(caller): Extension<Caller>,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Vec<RegistryLoginInfo>>, ApiError> {
    let Query(q) = q.map_err(super::bad_query)?;
    if let Some(p) = &q.project {
        caller.require(p, Permission::Manage)?;
    }
    let all = s.store.registry_logins(q.project.as_deref()).await?;
    Ok(Json(
        all.into_iter()
            .filter(|x| caller.binding().allows(&x.project, Permission::Manage))
            .collect(),
    ))
}

async fn put(
    State(s): State<Arc<Services>>,
    Extension(caller): Extension<Caller>,
    Json(req): Json<RegistryLoginRequest>,
) -> Result<Json<RegistryLoginInfo>, ApiError> {
    slipway_core::image_ref::check_registry_host(&req.registry).map_err(ApiError::invalid)?;
    if s.own_registry_hosts().contains(&req.registry) {
        return Err(ApiError::invalid(format!(
            "{} is this server's own registry: builds reach it with their project's tokens, never a stored login",
            req.registry
        )));
    }
    if req.username.is_empty()
        || req.username.len() > 255
        || req.username.chars().any(|c| c == ':' || c.is_control())
    {
        return Err(ApiError::invalid(
            "a registry user name has 1-255 characters, no ':' and no control characters",
        ));
    }
    if req.password.is_empty() || req.password.len() > MAX_REGISTRY_PASSWORD_BYTES {
        return Err(ApiError::invalid(format!(
            "a registry password (or token) has 1 to {MAX_REGISTRY_PASSWORD_BYTES} bytes"
        )));
    }
    crate::steps::projects::must_exist(&s, &req.project).await?;
    caller.require(&req.project, Permission::Manage)?;
    let info = s
        .store
        .put_registry_login(
            &req.project,
            &req.registry,
            &req.username,
            &req.password,
            &caller.subject(),
        )
        .await?;
    tracing::info!(
        "project {}'s login to {} (as {}) set by {}",
        info.project,
        info.registry,
        info.username,
        caller.subject()
    );
    Ok(Json(info))
}

async fn remove(
    State(s): State<Arc<Services>>,
    Extension(caller): Extension<Caller>,
    Path((project, registry)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    caller.require(&project, Permission::Manage)?;
    if s.store.delete_registry_login(&project, &registry).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!(
            "project {project} has no login to {registry}"
        )))
    }
}
