//! Image streams of the embedded registry: its repositories with their
//! owner configs, a repository's tags, a tag's history, and moving tags by
//! hand (tag, untag, rollback). Every move is a metadata operation — no
//! bytes are copied — recorded in the tag's history with the caller's
//! token name and why.

use super::auth::Caller;
use crate::Services;
use crate::error::ApiError;
use crate::steps::ownership::own_ref;
use axum::extract::{Query, State};
use axum::{Extension, Json};
use serde::Deserialize;
use slipway_core::ImageRef;
use slipway_core::access::Permission;
use slipway_core::api::images::{
    ImageSummary, PruneReport, PruneRequest, RollbackRequest, TagMoveResult, TagRequest,
    UntagRequest,
};
use slipway_core::supply::simple_signing::is_signature_tag;
use slipway_store::{TagDigest, TagEvent, TagMove};
use std::sync::Arc;

pub(super) fn routes(t: &mut super::Table) {
    use super::table::Access::Token;
    use axum::routing::{get, post};
    use slipway_core::access::Permission::{Build, Manage, Read};
    t.add(Token(Read), "/images", &["GET"], get(list));
    t.add(Token(Read), "/images/tags", &["GET"], get(tags));
    t.add(Token(Read), "/images/history", &["GET"], get(history));
    t.add(Token(Build), "/images/tag", &["POST"], post(tag));
    t.add(Token(Manage), "/images/untag", &["POST"], post(untag));
    t.add(Token(Build), "/images/rollback", &["POST"], post(rollback));
    t.add(Token(Manage), "/prune", &["POST"], post(prune));
    t.add(Token(Build), "/promote", &["POST"], post(promote));
}

/// How many moves of one tag are shown, and searched by a rollback.
const HISTORY_LIMIT: u32 = 1000;

/// `REPO:TAG` (no digest): the tag it names.
fn tag_of(r: &ImageRef, text: &str) -> Result<String, ApiError> {
    match (&r.tag, &r.digest) {
        (Some(t), None) => Ok(t.clone()),
        _ => Err(ApiError::invalid(format!(
            "{text:?} must name a tag: REPOSITORY:TAG"
        ))),
    }
}

/// Refuse unless `caller` may do `what` in the project of `repository`.
async fn require_repo(
    s: &Services,
    caller: &Caller,
    repository: &str,
    what: Permission,
) -> Result<(), ApiError> {
    let project = crate::steps::projects::of_repository(s, repository).await?;
    caller.require(&project, what)
}

fn by(caller: &Caller, why: &str) -> TagMove {
    TagMove::new(caller.subject(), None, why)
}

/// `GET /images`: every repository the caller reads, with its owner
/// config and tags.
async fn list(
    State(s): State<Arc<Services>>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Vec<ImageSummary>>, ApiError> {
    Ok(Json(images_for(&s, &caller).await?))
}

/// Every repository the caller reads, with its owner config and tags.
pub(crate) async fn images_for(
    s: &Services,
    caller: &Caller,
) -> Result<Vec<ImageSummary>, ApiError> {
    let configs = s.store.list_configs().await?;
    let projects = crate::steps::projects::names(s).await?;
    let envs = crate::steps::projects::env_prefixes(s);
    let mut out = Vec::new();
    let mut last: Option<String> = None;
    loop {
        let page = s
            .registry
            .meta
            .repositories(Some(1000), last.as_deref())
            .await?;
        let Some(end) = page.last().cloned() else {
            break;
        };
        for repository in page {
            let project =
                slipway_core::access::project_of_repository(&repository, &projects, &envs);
            if !caller.reads(project) {
                continue;
            }
            let tags = s.registry.meta.tag_digests(&repository).await?;
            let full = format!("{}/{repository}", s.own_registry);
            let owner = configs
                .iter()
                .find(|c| c.config.output_ref().is_some_and(|r| r.name() == full))
                .map(|c| c.config.name.clone());
            out.push(ImageSummary {
                repository: full,
                owner,
                tags: tags
                    .into_iter()
                    .map(|t| t.tag)
                    .filter(|t| !is_signature_tag(t))
                    .collect(),
            });
        }
        last = Some(end);
    }
    Ok(out)
}

#[derive(Deserialize)]
struct RepositoryQuery {
    repository: String,
}

/// `GET /images/tags?repository=R`: its tags and what they name.
async fn tags(
    State(s): State<Arc<Services>>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<RepositoryQuery>,
) -> Result<Json<Vec<TagDigest>>, ApiError> {
    Ok(Json(tags_for(&s, &caller, &q.repository).await?))
}

/// The tags of `repository` (of the embedded registry) and what they
/// name, when the caller reads its project.
pub(crate) async fn tags_for(
    s: &Services,
    caller: &Caller,
    repository: &str,
) -> Result<Vec<TagDigest>, ApiError> {
    let r = own_ref(s, repository)?;
    require_repo(s, caller, &r.repository, Permission::Read).await?;
    if !s.registry.meta.repository_exists(&r.repository).await? {
        return Err(ApiError::not_found(format!(
            "the registry has no repository {}",
            r.name()
        )));
    }
    let mut tags = s.registry.meta.tag_digests(&r.repository).await?;
    // Signatures live under tags of their own (as cosign puts them); they
    // name no image.
    tags.retain(|t| !is_signature_tag(&t.tag));
    Ok(tags)
}

#[derive(Deserialize)]
struct ReferenceQuery {
    reference: String,
}

/// `GET /images/history?reference=R:T`: the tag's moves, newest first (in
/// another registry: the moves Slipway made there).
async fn history(
    State(s): State<Arc<Services>>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<ReferenceQuery>,
) -> Result<Json<Vec<TagEvent>>, ApiError> {
    Ok(Json(history_for(&s, &caller, &q.reference).await?))
}

/// The moves of the tag `reference` names, newest first.
pub(crate) async fn history_for(
    s: &Services,
    caller: &Caller,
    reference: &str,
) -> Result<Vec<TagEvent>, ApiError> {
    let r = ImageRef::parse_with_default(reference, Some(&s.own_registry))
        .map_err(|e| ApiError::invalid(e.to_string()))?;
    let tag = tag_of(&r, reference)?;
    // Another registry's repository is read as the project of the same
    // path would be here.
    require_repo(s, caller, &r.repository, Permission::Read).await?;
    // Another registry's tags: the moves Slipway made there (promotions).
    let key = if s.own_registry_hosts().contains(&r.registry) {
        r.repository.clone()
    } else {
        format!("{}/{}", r.registry, r.repository)
    };
    Ok(s.registry
        .meta
        .tag_history(&key, &tag, HISTORY_LIMIT)
        .await?)
}

/// `POST /images/tag {"source", "target"}`: point the target tag at the
/// source's manifest. Within one repository; the source by tag or digest.
async fn tag(
    State(s): State<Arc<Services>>,
    Extension(caller): Extension<Caller>,
    Json(req): Json<TagRequest>,
) -> Result<Json<TagMoveResult>, ApiError> {
    let src = own_ref(&s, &req.source)?;
    let dst = own_ref(&s, &req.target)?;
    require_repo(&s, &caller, &src.repository, Permission::Read).await?;
    require_repo(&s, &caller, &dst.repository, Permission::Build).await?;
    let tag = tag_of(&dst, &req.target)?;
    if src.repository != dst.repository {
        return Err(ApiError::invalid(format!(
            "{} and {} are different repositories; `slipway tag` moves tags within one (promotion copies between them)",
            src.name(),
            dst.name()
        )));
    }
    let digest = resolve(&s, &src, &req.source).await?;
    let old = s
        .registry
        .meta
        .move_tag(&dst.repository, &tag, &digest, &by(&caller, "tag"))
        .await?;
    Ok(Json(TagMoveResult {
        reference: dst.to_string(),
        old_digest: old,
        new_digest: Some(digest),
    }))
}

/// The digest `r` names in the embedded registry.
async fn resolve(s: &Services, r: &ImageRef, text: &str) -> Result<String, ApiError> {
    match (&r.digest, &r.tag) {
        (Some(d), _) => Ok(d.clone()),
        (None, t) => {
            let tag = t.clone().unwrap_or_else(|| "latest".into());
            s.registry
                .meta
                .tag(&r.repository, &tag)
                .await?
                .ok_or_else(|| ApiError::not_found(format!("{text} does not exist")))
        }
    }
}

/// `POST /images/untag {"reference"}`: remove a tag (its manifest stays
/// until garbage collection finds nothing else needs it).
async fn untag(
    State(s): State<Arc<Services>>,
    Extension(caller): Extension<Caller>,
    Json(req): Json<UntagRequest>,
) -> Result<Json<TagMoveResult>, ApiError> {
    let r = own_ref(&s, &req.reference)?;
    require_repo(&s, &caller, &r.repository, Permission::Manage).await?;
    let tag = tag_of(&r, &req.reference)?;
    let old = s.registry.meta.tag(&r.repository, &tag).await?;
    if old.is_none()
        || !s
            .registry
            .meta
            .delete_tag(&r.repository, &tag, &by(&caller, "untag"))
            .await?
    {
        return Err(ApiError::not_found(format!(
            "{} does not exist",
            req.reference
        )));
    }
    Ok(Json(TagMoveResult {
        reference: r.to_string(),
        old_digest: old,
        new_digest: None,
    }))
}

/// `POST /images/rollback {"reference", "to"?, "steps"?}`: point the tag
/// back at a manifest it named before: `to` (a digest from its history),
/// else the one `steps` (default 1) moves back.
async fn rollback(
    State(s): State<Arc<Services>>,
    Extension(caller): Extension<Caller>,
    Json(req): Json<RollbackRequest>,
) -> Result<Json<TagMoveResult>, ApiError> {
    Ok(Json(rollback_for(&s, &caller, &req).await?))
}

/// Point the tag back at a manifest it named before (see [`rollback`]).
pub(crate) async fn rollback_for(
    s: &Services,
    caller: &Caller,
    req: &RollbackRequest,
) -> Result<TagMoveResult, ApiError> {
    let r = own_ref(s, &req.reference)?;
    require_repo(s, caller, &r.repository, Permission::Build).await?;
    let tag = tag_of(&r, &req.reference)?;
    let events = s
        .registry
        .meta
        .tag_history(&r.repository, &tag, HISTORY_LIMIT)
        .await?;
    let current = s.registry.meta.tag(&r.repository, &tag).await?;
    let target = slipway_core::api::images::rollback_target(
        current.as_deref(),
        &events
            .iter()
            .map(|e| e.new_digest.clone())
            .collect::<Vec<_>>(),
        req.to.as_deref(),
        req.steps,
    )
    .map_err(|m| ApiError::conflict(format!("{}: {m}", req.reference)))?;
    let old = s
        .registry
        .meta
        .move_tag(&r.repository, &tag, &target, &by(caller, "rollback"))
        .await?;
    Ok(TagMoveResult {
        reference: r.to_string(),
        old_digest: old,
        new_digest: Some(target),
    })
}

/// `POST /prune {"dry_run", "config"?}`: apply history limits now — every
/// config's, or one's — removing old builds, their tags and manifests.
async fn prune(
    State(s): State<Arc<Services>>,
    Extension(caller): Extension<Caller>,
    Json(req): Json<PruneRequest>,
) -> Result<Json<PruneReport>, ApiError> {
    let projects = crate::steps::projects::names(&s).await?;
    let project_of = |c: &slipway_store::StoredConfig| {
        crate::steps::projects::of_stored(&s, &c.config, &projects)
    };
    // The configs of the projects the caller manages (one named: it must
    // be one of those).
    let mut configs = s.store.list_configs().await?;
    if let Some(name) = &req.config {
        let Some(c) = configs.iter().find(|c| &c.config.name == name) else {
            return Err(ApiError::not_found(format!("no config named {name}")));
        };
        caller.require(&project_of(c), Permission::Manage)?;
    }
    configs.retain(|c| caller.binding().allows(&project_of(c), Permission::Manage));
    let mut report = PruneReport {
        dry_run: req.dry_run,
        builds: Vec::new(),
    };
    for c in configs
        .iter()
        .filter(|c| req.config.as_ref().is_none_or(|n| n == &c.config.name))
    {
        report
            .builds
            .extend(crate::steps::retention::prune(&s, &c.config, req.dry_run).await?);
    }
    Ok(Json(report))
}

/// `POST /promote {"what", "to"}`: a build (by id, or a reference to its
/// image) enters an environment once it passes its gates.
async fn promote(
    State(s): State<Arc<Services>>,
    Extension(caller): Extension<Caller>,
    Json(req): Json<slipway_core::promotion::PromoteRequest>,
) -> Result<Json<slipway_core::promotion::Promotion>, ApiError> {
    Ok(Json(
        crate::steps::promotion::promote(&s, &req.what, &req.to, Some(&caller)).await?,
    ))
}
