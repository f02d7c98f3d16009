//! Promotion: a complete build's image enters an environment (a repository
//! prefix in the embedded registry or in another registry) once it passes
//! the environment's gates. In the embedded registry it is a metadata
//! operation — the manifests become the target repository's too, the tags
//! move there — so it takes the same time whatever the image's size; to
//! another registry it is a copy (`promote_external`). Every tag it moves
//! is in the tag's history (`promote`). The gates and the environment's
//! policy rules read the image's evidence as it is now (`evidence`).

use crate::Services;
use crate::caller::Caller;
use crate::error::ApiError;
use slipway_core::access::Permission;
use slipway_core::promotion::policy::{PolicyInputs, failed_rule};
use slipway_core::promotion::{GateInputs, Promotion, failed_gate};
use slipway_core::{Build, BuildPhase};
use slipway_store::TagMove;

/// Promote `what` (a build id, or a reference to a build's image in the
/// embedded registry) to the environment `to`, as `who`.
/// `caller`: who asks (`None`: the config itself, automatically), who
/// must be a developer of the build's project, or its admin for a
/// `protected` environment.
pub async fn promote(
    services: &Services,
    what: &str,
    to: &str,
    caller: Option<&Caller>,
) -> Result<Promotion, ApiError> {
    let env = services.environments.get(to).ok_or_else(|| {
        let known: Vec<&str> = services.environments.keys().map(String::as_str).collect();
        ApiError::not_found(if known.is_empty() {
            format!("no environment named {to}: the server's config has no environments:")
        } else {
            format!("no environment named {to}; there are: {}", known.join(", "))
        })
    })?;
    let build = find_build(services, what).await?;
    let who = match caller {
        Some(c) => {
            let need = if env.protected {
                Permission::Manage
            } else {
                Permission::Build
            };
            c.require(build.spec.project_name(), need)?;
            c.subject()
        }
        None => format!(
            "config:{}",
            build.spec.config.as_deref().unwrap_or("unknown")
        ),
    };
    let who = who.as_str();
    let image = match (&build.phase, &build.image) {
        (BuildPhase::Complete, Some(image)) => image.clone(),
        _ => {
            return Err(ApiError::conflict(format!(
                "build {} is {}: only complete builds are promoted",
                build.id, build.phase
            )));
        }
    };
    let output = &build.spec.output;
    if !services.own_registry_hosts().contains(&output.registry) {
        return Err(ApiError::conflict(format!(
            "build {} pushed to {}: only images in this server's registry are promoted",
            build.id, output.registry
        )));
    }
    // Read once, for the gates and the policy rules.
    let newest_scan = services
        .store
        .scans_of_build(build.id)
        .await?
        .into_iter()
        .max_by_key(|s| s.id)
        .map(|s| s.report);
    let provenance = crate::steps::evidence::provenance(services, &build).await?;
    let inputs = gate_inputs(services, &build, newest_scan.as_ref(), &provenance).await?;
    if let Some((gate, why)) = failed_gate(&env.gates, &inputs) {
        return Err(ApiError::conflict(format!(
            "build {} may not enter {to}: gate {} failed: {why}",
            build.id,
            gate.as_str()
        )));
    }
    if !env.policy.is_empty() {
        let inputs = PolicyInputs {
            provenance: provenance.ok(),
            findings: newest_scan.map(|r| r.findings),
        };
        if let Some((rule, why)) = failed_rule(&env.policy, &inputs) {
            return Err(ApiError::conflict(format!(
                "build {} may not enter {to}: policy rule {rule} failed: {why}",
                build.id
            )));
        }
    }
    let target = env.repository(&output.repository);
    let by = TagMove::new(who, Some(build.id), "promote");
    // The primary tag (locked there too) and the floating and extra ones;
    // the unique tag stays the candidate's.
    let tags: Vec<String> = build.spec.tags.iter().skip(1).cloned().collect();
    if tags.is_empty() {
        return Err(ApiError::conflict(format!(
            "build {} has no tag but its unique one: there is nothing to promote",
            build.id
        )));
    }
    let primary = build.spec.release.is_some();
    let own = services.own_registry_hosts();
    let host = match env.external_registry(&own) {
        // Another registry: copied, the primary tag checked first.
        Some(host) => {
            let to = crate::steps::promote_external::Destination {
                host,
                target: &target,
                tags: &tags,
                primary,
            };
            crate::steps::promote_external::copy(services, &build, &image, &to, &by).await?;
            host.to_string()
        }
        // The embedded registry: a metadata operation, all or nothing;
        // then the image's signatures for its new repository.
        None => {
            let lock = primary.then(|| (tags[0].as_str(), build.id));
            services
                .registry
                .meta
                .promote(&output.repository, &image.digest, &target, &tags, lock, &by)
                .await?;
            sign_in_environment(services, &build, &target).await?;
            services.own_registry.clone()
        }
    };
    let _ = services
        .store
        .record_event(
            build.id,
            &format!("promoted to {to}: {host}/{target} {}", tags.join(", ")),
        )
        .await;
    let followed = Followed {
        hosts: if host == services.own_registry {
            own
        } else {
            vec![host.clone()]
        },
        repository: &target,
        tags: &tags,
    };
    wake_followers(services, &followed, &build, to, &image.digest).await;
    let done = Promotion {
        build: build.id,
        environment: to.to_string(),
        repository: format!("{host}/{target}"),
        digest: image.digest,
        tags,
        gates: env.gates.clone(),
    };
    let config = build.spec.config.as_deref();
    let message = slipway_core::promotion::message(build.id, config, to, Ok(&done));
    crate::steps::notify::promotion_done(services, build.id, config, &message).await;
    Ok(done)
}

/// The build `what` names: its id, or the image a reference names (the
/// build whose unique or primary tag names that digest).
async fn find_build(services: &Services, what: &str) -> Result<Build, ApiError> {
    let load = |id: i64| async move {
        services
            .store
            .get_build(id)
            .await?
            .ok_or_else(|| ApiError::not_found(format!("there is no build {id}")))
    };
    if let Ok(id) = what.parse::<i64>() {
        return load(id).await;
    }
    let r = crate::steps::ownership::own_ref(services, what)?;
    let digest = match (&r.digest, &r.tag) {
        (Some(d), _) => d.clone(),
        (None, tag) => services
            .registry
            .meta
            .tag(&r.repository, tag.as_deref().unwrap_or("latest"))
            .await?
            .ok_or_else(|| ApiError::not_found(format!("{what} does not exist")))?,
    };
    let id = services
        .registry
        .meta
        .build_of_digest(&r.repository, &digest)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "{what} ({digest}) is no build's image: only built images are promoted"
            ))
        })?;
    load(id).await
}

/// What the gates look at, for `build` (its newest scan and its
/// provenance read by the caller).
async fn gate_inputs(
    services: &Services,
    build: &Build,
    newest_scan: Option<&slipway_core::scan::ScanReport>,
    provenance: &Result<slipway_core::supply::provenance::Read, String>,
) -> Result<GateInputs, ApiError> {
    let test_passed = services
        .store
        .test_result(build.id)
        .await?
        .map(|t| t.passed);
    let scan_outcome = newest_scan
        .and_then(|r| serde_json::to_value(r.outcome).ok())
        .and_then(|v| v.as_str().map(str::to_string));
    // SBOMs as the registry has them now, on each platform's image.
    let images = platform_digests(build);
    let mut with_sbom = 0;
    for digest in &images {
        if crate::steps::sboms::attached(services, &build.spec.output.repository, digest).await? {
            with_sbom += 1;
        }
    }
    // Signatures as the registry has them now, each verified.
    let manifests = crate::steps::evidence::manifests(build);
    let mut signed = 0;
    for digest in &manifests {
        if crate::steps::evidence::signed(services, &build.spec.output.repository, digest).await? {
            signed += 1;
        }
    }
    let provenance_problem =
        crate::steps::evidence::provenance_problem(services, build, provenance).await?;
    Ok(GateInputs {
        test_passed,
        scan_outcome,
        platform_images: images.len(),
        with_sbom,
        manifests: manifests.len(),
        signed,
        provenance_problem,
        reproducible: crate::steps::evidence::reproducible(services, build).await?,
    })
}

/// Sign a build's image promoted within the embedded registry for the
/// environment's repository `target` (a signature names its repository),
/// with a registry token that may push there only.
async fn sign_in_environment(
    services: &Services,
    build: &Build,
    target: &str,
) -> Result<(), ApiError> {
    let work = services
        .scratch_dir(&format!("{}-sign", build.id))
        .await
        .map_err(ApiError::internal)?;
    let signed = async {
        let host = crate::backends::LocalHost {
            services,
            build: build.id,
            reach: crate::backends::Reach::Attach(target.to_string()),
        };
        let repository = format!("{}/{target}", services.own_registry);
        let auth = slipway_worker::own_auth_for(
            &host,
            &services.own_registry_hosts(),
            &format!("{repository}:x"),
            &work,
        )
        .await
        .map_err(|e| e.to_string())?;
        let log = services.logs.open_or_discard(build.id);
        crate::steps::signing::sign_copy(
            services,
            build,
            &repository,
            auth.as_deref(),
            log.as_ref(),
        )
        .await
    }
    .await;
    let _ = tokio::fs::remove_dir_all(&work).await;
    signed.map_err(|e| {
        ApiError::upstream(format!(
            "the image was promoted to {target} but could not be signed there: {e}; promote it again to try again"
        ))
    })
}

/// The digest of each platform's image (SBOMs are attached to those, not
/// to an image index); the image's own for a build without worker records.
fn platform_digests(build: &Build) -> Vec<String> {
    let mut digests: Vec<String> = build
        .spec
        .platforms
        .iter()
        .filter_map(|p| {
            build
                .workers
                .iter()
                .find(|w| &w.platform == p && w.phase == BuildPhase::Complete)
                .and_then(|w| w.image.as_ref())
                .map(|i| i.digest.clone())
        })
        .collect();
    if digests.is_empty() {
        digests.extend(build.image.as_ref().map(|i| i.digest.clone()));
    }
    digests
}

/// After a config's build completed: promote it where the config says
/// (`promote:`), when its gates pass. A refusal is an event of the build
/// and of the config, never a failure of the build.
pub async fn auto(services: &Services, id: slipway_core::BuildId, config: &str) {
    let Ok(Some(stored)) = services.store.get_config(config).await else {
        return;
    };
    let Some(p) = &stored.config.promote else {
        return;
    };
    let message = match promote(services, &id.to_string(), &p.to, None).await {
        Ok(done) => {
            tracing::info!("build {id}: promoted to {} by config {config}", p.to);
            format!(
                "build {id} promoted to {} automatically: {} {}",
                p.to,
                done.repository,
                done.tags.join(", ")
            )
        }
        Err(e) => {
            let text = e.message;
            let _ = services
                .store
                .record_event(id, &format!("not promoted to {}: {text}", p.to))
                .await;
            let message = slipway_core::promotion::message(id, Some(config), &p.to, Err(&text));
            crate::steps::notify::promotion_done(services, id, Some(config), &message).await;
            format!("build {id} not promoted to {}: {text}", p.to)
        }
    };
    let _ = services
        .store
        .record_config_event(config, &message, Some(id))
        .await;
}

/// The tags a promotion moved: in which repository, on which registry
/// (the embedded one's names, or the other registry's host).
struct Followed<'a> {
    hosts: Vec<String>,
    repository: &'a str,
    tags: &'a [String],
}

/// The configs that build on the environment's image (a FROM line naming
/// `target` at one of the `tags` moved) follow it: each gets a trigger, so
/// a child of a `stable` parent rebuilds when the parent is promoted, not
/// when it is built.
async fn wake_followers(
    services: &Services,
    moved: &Followed<'_>,
    build: &Build,
    environment: &str,
    digest: &str,
) {
    let Ok(configs) = services.store.list_configs().await else {
        return;
    };
    for c in configs {
        let followed = c.base_images.iter().find_map(|b| {
            let r = slipway_core::ImageRef::parse(b).ok()?;
            let tag = r.tag.clone().unwrap_or_else(|| "latest".into());
            (moved.hosts.contains(&r.registry)
                && r.repository == moved.repository
                && r.digest.is_none()
                && moved.tags.contains(&tag))
            .then(|| b.clone())
        });
        let Some(image) = followed else { continue };
        let trigger = slipway_core::rebuild::trigger::Trigger::Promoted {
            image: image.clone(),
            build: build.id,
            environment: environment.to_string(),
            digest: digest.to_string(),
        };
        match crate::steps::configs::trigger(services, &c.config.name, trigger, false).await {
            Ok(wave) => tracing::info!(
                "config {}: {image} was promoted (build {}); joins wave {wave}",
                c.config.name,
                build.id
            ),
            Err(e) => tracing::warn!(
                "config {}: {image} was promoted but cannot be triggered: {}",
                c.config.name,
                e.message
            ),
        }
    }
}
