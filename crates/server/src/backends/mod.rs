//! Where worker builds run. A placed worker build is launched on its
//! cluster's backend: `local` (a task of this process, or a `slipway
//! worker` child process) or `kubernetes` (a Job). Whatever ran it, its
//! end comes back through [`record_end`], which frees the slot and tells
//! the orchestrator through the event bus; what happens to the build as a
//! whole is the orchestrator's business.

mod kubernetes;
mod local;

use crate::Services;
use crate::logs::BuildLog;
use async_trait::async_trait;
use slipway_builder::LogSink;
use slipway_core::build::StageTiming;
use slipway_core::cluster::Backend;
use slipway_core::token::{Action, Grant};
use slipway_core::{Build, BuildId, BuildPhase, Clusters, Platform};
use slipway_store::Placement;
use slipway_worker::{RegistryCredentials, WorkerHost};
use std::sync::Arc;
use tracing::Instrument;

/// A worker build's host inside the server: the store and the embedded
/// registry, directly.
pub(crate) struct LocalHost<'a> {
    pub(crate) services: &'a Services,
    pub(crate) build: BuildId,
    /// What registry tokens it hands out may do.
    pub(crate) reach: Reach,
}

/// What the embedded registry's tokens of a [`LocalHost`] may do.
pub(crate) enum Reach {
    /// What the build needs: push and pull its output repository, pull
    /// its base images' (`BuildSpec::registry_grants`).
    Build,
    /// Pull one repository (a scan of an image that is not a build's).
    Pull(String),
    /// Pull and push one repository (SBOMs attached again after a rescan).
    Attach(String),
}

impl<'a> LocalHost<'a> {
    pub(crate) fn for_build(services: &'a Services, build: BuildId) -> LocalHost<'a> {
        LocalHost {
            services,
            build,
            reach: Reach::Build,
        }
    }
}

#[async_trait]
impl WorkerHost for LocalHost<'_> {
    fn mirrors(&self) -> Option<&slipway_source::Mirrors> {
        Some(&self.services.mirrors)
    }

    fn image_layout(&self, platform: &str) -> Option<std::path::PathBuf> {
        Some(self.services.image_layout(self.build, platform))
    }

    fn scan_cache(&self) -> Option<slipway_scan::layers::LayerCache> {
        Some(crate::steps::scanning::layer_cache(self.services))
    }

    async fn record_scan(&self, platform: &str, report: slipway_core::scan::ScanReport) {
        self.services.keep_worker_scan(self.build, platform, report);
    }

    async fn known_commit(&self) -> Result<Option<String>, String> {
        Ok(self
            .services
            .store
            .get_build(self.build)
            .await
            .map_err(|e| e.to_string())?
            .and_then(|b| b.commit))
    }

    async fn record_commit(&self, ref_name: &str, commit: &str) -> Result<String, String> {
        record_commit(self.services, self.build, ref_name, commit).await
    }

    async fn record_stage(&self, timing: StageTiming) {
        let stage = timing.stage;
        if let Err(e) = self.services.store.record_stage(self.build, timing).await {
            tracing::warn!(
                "build {}: cannot record {} duration: {e}",
                self.build,
                stage.as_str()
            );
        }
    }

    async fn secrets(
        &self,
        names: &[String],
    ) -> Result<std::collections::BTreeMap<String, Vec<u8>>, String> {
        self.services.build_secrets(self.build, names).await
    }

    async fn registry_logins(
        &self,
        registries: &[String],
    ) -> Result<Vec<RegistryCredentials>, String> {
        self.services
            .build_registry_logins(self.build, registries)
            .await
    }

    async fn own_registry(&self) -> Result<RegistryCredentials, String> {
        let grants = match &self.reach {
            Reach::Build => self.services.build_grants(self.build).await?,
            Reach::Pull(repository) => vec![Grant::new(repository, &[Action::Pull])],
            Reach::Attach(repository) => {
                vec![Grant::new(repository, &[Action::Pull, Action::Push])]
            }
        };
        Ok(self.services.registry_credentials(self.build, grants))
    }
}

/// Record the commit a worker resolved (the first platform's wins) and say
/// so in the build's events.
pub(crate) async fn record_commit(
    services: &Services,
    build: BuildId,
    ref_name: &str,
    commit: &str,
) -> Result<String, String> {
    let stored = services
        .store
        .set_commit_once(build, commit)
        .await
        .map_err(|e| e.to_string())?;
    if stored == commit {
        let _ = services
            .store
            .record_event(build, &format!("resolved {ref_name} to {commit}"))
            .await;
    }
    Ok(stored)
}

impl Services {
    /// The project build `id` belongs to.
    async fn project_of_build(&self, id: BuildId) -> Result<String, String> {
        Ok(self
            .store
            .get_build(id)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("build {id} is gone"))?
            .spec
            .project_name()
            .to_string())
    }

    /// Build `id`'s project's logins to those of `registries` it has one
    /// for; never to the embedded registry (its own credentials serve).
    pub async fn build_registry_logins(
        &self,
        id: BuildId,
        registries: &[String],
    ) -> Result<Vec<RegistryCredentials>, String> {
        let project = self.project_of_build(id).await?;
        self.project_registry_logins(&project, registries).await
    }

    /// `project`'s logins to those of `registries` it has one for.
    pub async fn project_registry_logins(
        &self,
        project: &str,
        registries: &[String],
    ) -> Result<Vec<RegistryCredentials>, String> {
        let own = self.own_registry_hosts();
        let wanted: Vec<String> = registries
            .iter()
            .filter(|r| !own.contains(r))
            .cloned()
            .collect();
        Ok(self
            .store
            .registry_passwords(project, &wanted)
            .await
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|(registry, username, password)| RegistryCredentials {
                hosts: vec![registry],
                username,
                password,
            })
            .collect())
    }

    /// The values of the build secrets `names` of build `id`'s project.
    pub async fn build_secrets(
        &self,
        id: BuildId,
        names: &[String],
    ) -> Result<std::collections::BTreeMap<String, Vec<u8>>, String> {
        let project = self.project_of_build(id).await?;
        for n in names {
            slipway_core::api::access::check_secret_name(n)?;
        }
        self.store
            .secret_values(&project, names)
            .await
            .map_err(|e| e.to_string())
    }

    /// The names builds use for the embedded registry: its address, and
    /// `localhost:PORT` when that address is 127.0.0.1.
    pub fn own_registry_hosts(&self) -> Vec<String> {
        own_hosts(&self.own_registry)
    }

    /// A fresh short-lived token for the embedded registry with `grants`,
    /// issued to `build` (the tag history says which build moved a tag).
    pub fn registry_credentials(&self, build: BuildId, grants: Vec<Grant>) -> RegistryCredentials {
        RegistryCredentials {
            hosts: self.own_registry_hosts(),
            username: "slipway".into(),
            password: self
                .registry
                .auth
                .issue_to(slipway_registry::auth::Access::new(
                    grants,
                    Some(format!("build:{build}")),
                )),
        }
    }

    /// What build `id` may do on the embedded registry
    /// (`BuildSpec::registry_grants`).
    pub async fn build_grants(&self, id: BuildId) -> Result<Vec<Grant>, String> {
        let build = self
            .store
            .get_build(id)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("build {id} does not exist"))?;
        // Bases of its own project, of the default project (the shared
        // space: base images every project builds on) and of projects
        // anyone may pull from; never another project's private images.
        let projects = self.store.projects().await.map_err(|e| e.to_string())?;
        let names: Vec<String> = projects.iter().map(|p| p.name.clone()).collect();
        let own = build.spec.project_name();
        let env_prefixes = crate::steps::projects::env_prefixes(self);
        let may_pull = |repository: &str| {
            let owner =
                slipway_core::access::project_of_repository(repository, &names, &env_prefixes);
            owner == own
                || owner == slipway_core::access::DEFAULT_PROJECT
                || projects.iter().any(|p| p.name == owner && p.anonymous_pull)
        };
        Ok(build
            .spec
            .registry_grants(&self.own_registry_hosts(), &may_pull))
    }
}

/// The names builds use for the embedded registry at `own`: it, and
/// `localhost:PORT` when it is 127.0.0.1.
pub(crate) fn own_hosts(own: &str) -> Vec<String> {
    let alias = own
        .strip_prefix("127.0.0.1:")
        .map(|port| format!("localhost:{port}"));
    std::iter::once(own.to_string()).chain(alias).collect()
}

/// Start a placed worker build on its cluster's backend.
pub async fn launch(services: &Arc<Services>, clusters: &Clusters, p: Placement) {
    // Every log line of the worker build carries its build's id.
    let span = tracing::info_span!("build", id = p.build, platform = %p.platform);
    let reason = match clusters.get(&p.cluster).map(|c| &c.backend) {
        Some(Backend::Local { process: false, .. }) => {
            tokio::spawn(local::run_guarded(services.clone(), p).instrument(span));
            return;
        }
        Some(Backend::Local {
            process: true,
            callback_url,
        }) => {
            tokio::spawn(
                local::run_process(services.clone(), p, callback_url.clone()).instrument(span),
            );
            return;
        }
        Some(Backend::Kubernetes(k)) => {
            tokio::spawn(kubernetes::run(services.clone(), p, k.as_ref().clone()).instrument(span));
            return;
        }
        None => format!("cluster {} is no longer in the cluster file", p.cluster),
    };
    refused(services, &p, &reason).await;
}

/// Its cluster could not take the worker build: placement tries another,
/// or the worker build ends Error once too many clusters failed.
pub(crate) async fn refused(services: &Arc<Services>, p: &Placement, reason: &str) {
    services.metrics.refused(&p.cluster);
    tracing::warn!(
        "worker build {}: cluster {} refused it: {reason}",
        p.worker,
        p.cluster
    );
    match services.store.submission_failed(p.worker, reason).await {
        Ok(BuildPhase::Error) => services.events.worker_ended(p.build, false),
        Ok(_) => services.events.queue.notify_one(),
        Err(e) => tracing::error!("worker build {}: cannot record the refusal: {e}", p.worker),
    }
}

/// A fresh token for a remote worker build's calls to the API, valid for
/// `ttl`; the store keeps only its hash.
pub(crate) async fn issue_worker_token(
    services: &Services,
    worker: slipway_core::WorkerBuildId,
    ttl: jiff::SignedDuration,
) -> Result<String, String> {
    let token = crate::tokens::new_token();
    let expires = jiff::Timestamp::now()
        .checked_add(ttl)
        .unwrap_or(jiff::Timestamp::MAX);
    services
        .store
        .add_worker_token(worker, &slipway_core::token::hash_token(&token), expires)
        .await
        .map_err(|e| format!("cannot issue the worker's token: {e}"))?;
    Ok(token)
}

/// A build's log as one platform writes it: lines carry `[platform] ` when
/// the build has more than one.
pub(crate) struct PlatformLog {
    log: Arc<BuildLog>,
    prefix: Option<String>,
}

impl PlatformLog {
    pub(crate) fn new(log: Arc<BuildLog>, build: &Build, platform: &Platform) -> PlatformLog {
        PlatformLog {
            log,
            prefix: (build.spec.platforms.len() > 1).then(|| format!("[{platform}] ")),
        }
    }
}

impl LogSink for PlatformLog {
    fn line(&self, text: &str) {
        match &self.prefix {
            Some(p) => self.log.line(&format!("{p}{text}")),
            None => self.log.line(text),
        }
    }
}

/// A worker build ended (in this process or reported over the API): record
/// it, free its slot and token, and let the orchestrator decide about the
/// build.
pub(crate) async fn record_end(
    services: &Arc<Services>,
    p: &Placement,
    phase: BuildPhase,
    reason: Option<&str>,
    image: Option<&slipway_core::PushedImage>,
) -> bool {
    let end = services
        .store
        .finish_worker_build(p.worker, phase, reason, image, p.owner.as_deref())
        .await;
    if let Ok(mut running) = services.running.lock() {
        running.remove(&p.worker);
    }
    if let Err(e) = services.store.drop_worker_tokens(p.worker).await {
        tracing::warn!("worker build {}: cannot revoke its tokens: {e}", p.worker);
    }
    // A slot is free.
    services.events.queue.notify_one();
    let id = p.build;
    match end {
        Ok(Some(end)) => {
            tracing::info!("build {id} {}: {phase}", p.platform);
            services.events.worker_ended(id, end.remaining == 0);
            true
        }
        Ok(None) => {
            tracing::info!("build {id} {}: was already final", p.platform);
            false
        }
        Err(e) => {
            tracing::error!(
                "build {id} {}: cannot record the end ({phase}): {e}",
                p.platform
            );
            false
        }
    }
}
