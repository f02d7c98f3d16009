//! Projects and tokens: `GET|POST /projects`, `PATCH /projects/{name}`,
//! `GET|POST /tokens`, `DELETE /tokens/{id}`. A token's secret is in the
//! answer to its creation only; lists show what it may do, never it. A
//! project admin manages the tokens of its project; a token for every
//! project, and projects themselves, need a global admin.

use super::auth::Caller;
use super::table::{Access, Table};
use crate::Services;
use crate::error::ApiError;
use axum::extract::{Path, State};
use axum::{Extension, Json};
use slipway_core::access::{Binding, DEFAULT_PROJECT, Permission, check_project_name};
use slipway_core::api::access::{
    CreatedToken, NewTokenRequest, ProjectInfo, ProjectRequest, TokenInfo,
};
use slipway_store::NewToken;
use std::sync::Arc;

pub(super) fn routes(t: &mut Table) {
    use Access::Token;
    use axum::routing::{delete, get, patch, post};
    use slipway_core::access::Permission::{Global, Manage, Read};
    t.add(Token(Read), "/projects", &["GET"], get(list_projects));
    t.add(Token(Global), "/projects", &["POST"], post(create_project));
    t.add(
        Token(Manage),
        "/projects/{name}",
        &["PATCH"],
        patch(change_project),
    );
    t.add(Token(Manage), "/tokens", &["GET"], get(list_tokens));
    t.add(Token(Manage), "/tokens", &["POST"], post(create_token));
    t.add(
        Token(Manage),
        "/tokens/{id}",
        &["DELETE"],
        delete(revoke_token),
    );
}

/// The longest a token may live when it expires: ten years.
const MAX_LIFETIME_SECONDS: u64 = 10 * 365 * 24 * 3600;

/// `GET /projects`: those the caller reads.
async fn list_projects(
    State(s): State<Arc<Services>>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Vec<ProjectInfo>>, ApiError> {
    let mut out = Vec::new();
    for mut p in s.store.projects().await? {
        if caller.reads(&p.name) {
            p.usage = Some(crate::steps::projects::usage(&s, &p.name).await?);
            out.push(p);
        }
    }
    Ok(Json(out))
}

/// `POST /projects {"name", "anonymous_pull"}`.
async fn create_project(
    State(s): State<Arc<Services>>,
    Json(req): Json<ProjectRequest>,
) -> Result<Json<ProjectInfo>, ApiError> {
    let name = req
        .name
        .ok_or_else(|| ApiError::invalid("a project needs a name"))?;
    check_project_name(&name).map_err(ApiError::invalid)?;
    let mut made = s
        .store
        .create_project(&name, req.anonymous_pull.unwrap_or(false))
        .await?;
    if let Some(q) = &req.quota
        && let Some(with) = s.store.set_quota(&name, q).await?
    {
        made = with;
    }
    // It owns its namespace from now on: the configs that build into it
    // are its, and so are their builds and the ad-hoc builds there.
    let projects = crate::steps::projects::names(&s).await?;
    let configs: Vec<String> = s
        .store
        .list_configs()
        .await?
        .into_iter()
        .filter(|c| {
            crate::steps::projects::of_config(&s, &c.config, &projects).is_ok_and(|p| p == name)
        })
        .map(|c| c.config.name)
        .collect();
    let prefixes: Vec<String> = s
        .own_registry_hosts()
        .iter()
        .flat_map(|host| {
            slipway_core::access::namespaces(&name, &crate::steps::projects::env_prefixes(&s))
                .into_iter()
                .map(move |ns| format!("{host}/{ns}/"))
        })
        .collect();
    let moved = s.store.adopt_builds(&name, &configs, &prefixes).await?;
    tracing::info!(
        "project {name} created; it has {} configs and {moved} builds of the default project",
        configs.len()
    );
    Ok(Json(made))
}

/// `PATCH /projects/{name} {"anonymous_pull"}`: by its admins.
async fn change_project(
    State(s): State<Arc<Services>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    Json(req): Json<ProjectRequest>,
) -> Result<Json<ProjectInfo>, ApiError> {
    caller.require(&name, Permission::Manage)?;
    if req.name.as_ref().is_some_and(|n| n != &name) {
        return Err(ApiError::invalid("a project cannot be renamed"));
    }
    if req.anonymous_pull.is_none() && req.quota.is_none() {
        return Err(ApiError::invalid(
            "nothing to change: send anonymous_pull or quota",
        ));
    }
    let gone = || ApiError::not_found(format!("there is no project {name}"));
    let mut changed = None;
    // Its quota is set by a global admin, never by the project's own.
    if let Some(q) = &req.quota {
        caller.require(&name, Permission::Global)?;
        changed = Some(s.store.set_quota(&name, q).await?.ok_or_else(gone)?);
    }
    if let Some(on) = req.anonymous_pull {
        changed = Some(
            s.store
                .set_anonymous_pull(&name, on)
                .await?
                .ok_or_else(gone)?,
        );
    }
    changed.map(Json).ok_or_else(gone)
}

/// Whether `caller` manages tokens bound like `binding`.
fn manages(caller: &Caller, binding: &Binding) -> bool {
    match &binding.project {
        Some(p) => caller.binding().allows(p, Permission::Manage),
        None => caller.binding().allows(DEFAULT_PROJECT, Permission::Global),
    }
}

/// `GET /tokens`: the tokens the caller manages, newest first.
async fn list_tokens(
    State(s): State<Arc<Services>>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Vec<TokenInfo>>, ApiError> {
    let all = s.store.tokens().await?;
    Ok(Json(
        all.into_iter()
            .filter(|t| manages(&caller, &t.binding()))
            .collect(),
    ))
}

/// `POST /tokens`: a new token, its secret in this answer only. Never
/// more than the caller's own reach.
async fn create_token(
    State(s): State<Arc<Services>>,
    Extension(caller): Extension<Caller>,
    Json(req): Json<NewTokenRequest>,
) -> Result<Json<CreatedToken>, ApiError> {
    let name = req.name.trim();
    slipway_core::api::access::check_holder_name("token", name).map_err(ApiError::invalid)?;
    let binding = Binding {
        project: req.project.clone(),
        role: req.role,
    };
    match &binding.project {
        Some(p) => {
            check_project_name(p).map_err(ApiError::invalid)?;
            crate::steps::projects::must_exist(&s, p).await?;
            caller.require(p, Permission::Manage)?;
        }
        None => caller.require(DEFAULT_PROJECT, Permission::Global)?,
    }
    let expires_at = match req.expires_in_seconds {
        None => None,
        Some(0) => return Err(ApiError::invalid("expires_in_seconds must be at least 1")),
        Some(n) if n > MAX_LIFETIME_SECONDS => {
            return Err(ApiError::invalid(format!(
                "expires_in_seconds must be at most {MAX_LIFETIME_SECONDS} (ten years); leave it out for a token that lasts until revoked"
            )));
        }
        Some(n) => Some(
            jiff::Timestamp::now()
                + jiff::SignedDuration::from_secs(i64::try_from(n).unwrap_or(i64::MAX)),
        ),
    };
    // Issued to a user or service account: its kind is theirs.
    let kind = match &req.identity {
        Some(who) => super::identities::holder(&s, who, req.project.as_deref()).await?,
        None => req.kind,
    };
    let secret = crate::tokens::new_token();
    let hash = crate::tokens::hash_token(&secret);
    let subject = caller.subject();
    let info = s
        .store
        .add_token(&NewToken {
            name,
            hash: &hash,
            kind,
            binding,
            created_by: Some(&subject),
            expires_at,
            identity: req.identity.as_deref(),
        })
        .await?;
    tracing::info!(
        "token {} ({}) created by {subject}",
        info.name,
        info.binding().describe()
    );
    Ok(Json(CreatedToken {
        token: secret,
        info,
    }))
}

/// `DELETE /tokens/{id}`: revoked at once.
async fn revoke_token(
    State(s): State<Arc<Services>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
) -> Result<Json<TokenInfo>, ApiError> {
    let t = s
        .store
        .token(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("there is no token {id}")))?;
    if !manages(&caller, &t.binding()) {
        return Err(ApiError::forbidden(format!(
            "token {} ({}) may not revoke token {id} ({})",
            caller.0.name,
            caller.binding().describe(),
            t.binding().describe()
        )));
    }
    let revoked = s
        .store
        .revoke_token(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("there is no token {id}")))?;
    tracing::info!(
        "token {id} ({}) revoked by {}",
        revoked.name,
        caller.subject()
    );
    Ok(Json(revoked))
}
