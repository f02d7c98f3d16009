//! Build secrets: `GET /secrets` (names, sizes, who made them — never a
//! value), `POST /secrets` (create or replace, project admins),
//! `DELETE /secrets/{project}/{name}`. Values reach only the worker of a
//! build of the same project (`/worker-builds/{id}/secrets`).

use super::Caller;
use super::table::{Access, Table};
use crate::Services;
use crate::error::ApiError;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use base64::Engine;
use serde::Deserialize;
use slipway_core::access::Permission;
use slipway_core::api::access::{MAX_SECRET_BYTES, SecretInfo, SecretRequest, check_secret_name};
use std::sync::Arc;

pub(super) fn routes(t: &mut Table) {
    use Access::Token;
    use Permission::{Manage, Read};
    use axum::routing::{delete, get, post};
    t.add(Token(Read), "/secrets", &["GET"], get(list));
    t.add(Token(Manage), "/secrets", &["POST"], post(put));
    t.add(
        Token(Manage),
        "/secrets/{project}/{name}",
        &["DELETE"],
        delete(remove),
    );
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    project: Option<String>,
}

async fn list(
    State(s): State<Arc<Services>>,
    Extension(caller): Extension<Caller>,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Vec<SecretInfo>>, ApiError> {
    let Query(q) = q.map_err(super::bad_query)?;
    if let Some(p) = &q.project {
        caller.require(p, Permission::Read)?;
    }
    let all = s.store.secrets(q.project.as_deref()).await?;
    Ok(Json(
        all.into_iter()
            .filter(|x| caller.reads(&x.project))
            .collect(),
    ))
}

async fn put(
    State(s): State<Arc<Services>>,
    Extension(caller): Extension<Caller>,
    Json(req): Json<SecretRequest>,
) -> Result<Json<SecretInfo>, ApiError> {
    check_secret_name(&req.name).map_err(ApiError::invalid)?;
    crate::steps::projects::must_exist(&s, &req.project).await?;
    caller.require(&req.project, Permission::Manage)?;
    let value = base64::engine::general_purpose::STANDARD
        .decode(req.value_base64.trim())
        .map_err(|_| ApiError::invalid("value_base64 is not base64"))?;
    if value.is_empty() || value.len() > MAX_SECRET_BYTES {
        return Err(ApiError::invalid(format!(
            "a secret holds 1 to {MAX_SECRET_BYTES} bytes; this one has {}",
            value.len()
        )));
    }
    let info = s
        .store
        .put_secret(&req.project, &req.name, &value, &caller.subject())
        .await?;
    tracing::info!(
        "secret {}/{} set by {} ({} bytes)",
        info.project,
        info.name,
        caller.subject(),
        info.size
    );
    Ok(Json(info))
}

async fn remove(
    State(s): State<Arc<Services>>,
    Extension(caller): Extension<Caller>,
    Path((project, name)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    caller.require(&project, Permission::Manage)?;
    if s.store.delete_secret(&project, &name).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!(
            "project {project} has no secret {name}"
        )))
    }
}
