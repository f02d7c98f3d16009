//! Which project a thing belongs to: a repository of the embedded
//! registry by its namespace, a config by its `project:` or its output's
//! namespace, a build by what it was created with (see
//! `slipway_core::access`).

use crate::Services;
use crate::error::ApiError;
use slipway_core::ImageRef;
use slipway_core::access::{DEFAULT_PROJECT, project_of_repository};
use slipway_core::rebuild::image_config::ImageConfig;

/// The projects there are.
pub async fn names(s: &Services) -> Result<Vec<String>, ApiError> {
    Ok(s.store.project_names().await?)
}

/// Refuse unless project `name` exists (404 saying how to list them).
pub async fn must_exist(s: &Services, name: &str) -> Result<(), ApiError> {
    if names(s).await?.iter().any(|p| p == name) {
        Ok(())
    } else {
        Err(ApiError::not_found(format!(
            "there is no project {name}; `slipway projects` lists them"
        )))
    }
}

/// The prefixes of the environments in the embedded registry.
pub fn env_prefixes(s: &Services) -> Vec<String> {
    s.registry.auth.env_prefixes.clone()
}

/// The project owning `repository` of the embedded registry.
pub async fn of_repository(s: &Services, repository: &str) -> Result<String, ApiError> {
    Ok(project_of_repository(repository, &names(s).await?, &env_prefixes(s)).to_string())
}

/// The project of `output` when it is in the embedded registry.
pub fn owner_in(s: &Services, output: &ImageRef, projects: &[String]) -> Option<String> {
    s.own_registry_hosts()
        .contains(&output.registry)
        .then(|| project_of_repository(&output.repository, projects, &env_prefixes(s)).to_string())
}

/// The project of a config: its output's namespace in the embedded
/// registry (where `project:`, if given, must agree), else its
/// `project:`, else the default project.
pub fn of_config(s: &Services, c: &ImageConfig, projects: &[String]) -> Result<String, String> {
    if let Some(p) = &c.project
        && !projects.contains(p)
    {
        return Err(format!(
            "config {}: project {p} does not exist (a global admin makes it: `slipway project create {p}`)",
            c.name
        ));
    }
    let output = ImageRef::parse_with_default(&c.output, Some(&s.default_registry))
        .map_err(|e| format!("config {}: output: {e}", c.name))?;
    match (owner_in(s, &output, projects), &c.project) {
        (Some(owner), Some(p)) if &owner != p => Err(format!(
            "config {} is in project {p} but its output {} is in project {owner}'s namespace: output to {p}/…, or leave project: out",
            c.name, output.repository
        )),
        (Some(owner), _) => Ok(owner),
        (None, Some(p)) => Ok(p.clone()),
        (None, None) => Ok(DEFAULT_PROJECT.to_string()),
    }
}

/// The project of a config already stored: [`of_config`], or the default
/// project when it no longer resolves (its project was never made, or its
/// output moved), so a stored config always belongs somewhere.
pub fn of_stored(s: &Services, c: &ImageConfig, projects: &[String]) -> String {
    of_config(s, c, projects).unwrap_or_else(|_| DEFAULT_PROJECT.to_string())
}

/// [`of_config`] for a stored config by name; `None` when it is gone.
pub async fn of_config_named(s: &Services, name: &str) -> Result<Option<String>, ApiError> {
    let Some(stored) = s.store.get_config(name).await? else {
        return Ok(None);
    };
    let projects = names(s).await?;
    Ok(Some(of_stored(s, &stored.config, &projects)))
}

/// The project of a scan: its build's, else its config's, else the
/// image's in the embedded registry, else the default project.
pub async fn of_scan(
    s: &Services,
    scan: &slipway_core::scan::StoredScan,
) -> Result<String, ApiError> {
    if let Some(id) = scan.build
        && let Some(b) = s.store.get_build(id).await?
    {
        return Ok(b.spec.project_name().to_string());
    }
    if let Some(c) = &scan.config
        && let Some(p) = of_config_named(s, c).await?
    {
        return Ok(p);
    }
    let projects = names(s).await?;
    Ok(ImageRef::parse(&scan.report.reference)
        .ok()
        .and_then(|r| owner_in(s, &r, &projects))
        .unwrap_or_else(|| DEFAULT_PROJECT.to_string()))
}

/// What `project` uses now: running builds, builds of the last hour, and
/// the bytes of its repositories (each blob once).
pub async fn usage(
    s: &Services,
    project: &str,
) -> Result<slipway_core::api::access::Usage, ApiError> {
    let mut u = s.store.build_usage(project).await?;
    let prefixes = slipway_core::access::repository_prefixes(project, &env_prefixes(s));
    let links = s.store.blob_links(prefixes.as_deref()).await?;
    u.storage_bytes =
        slipway_core::access::storage_of(project, &links, &names(s).await?, &env_prefixes(s)).0;
    Ok(u)
}

/// Refuse a new build of `project` past its builds-per-hour quota (429).
pub async fn check_build_rate(s: &Services, project: &str) -> Result<(), ApiError> {
    let Some(quota) = s
        .store
        .projects()
        .await?
        .into_iter()
        .find(|p| p.name == project)
        .and_then(|p| p.quota.builds_per_hour)
    else {
        return Ok(());
    };
    let made = s.store.build_usage(project).await?.builds_last_hour;
    if made >= u64::from(quota) {
        return Err(ApiError::new(
            axum::http::StatusCode::TOO_MANY_REQUESTS,
            slipway_core::api::codes::TOO_MANY_REQUESTS,
            format!(
                "project {project} made {made} builds in the last hour, its quota is {quota}: wait, or ask a global admin to raise it (`slipway project set {project} --builds-per-hour N`)"
            ),
        ));
    }
    Ok(())
}
