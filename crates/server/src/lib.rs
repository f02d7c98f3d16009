//! The Slipway server: wires the store, the git source, the builder and the
//! log hub into an HTTP API and a pool of local workers.
//!
//! Start-up order matters and is the readiness contract: lock the data dir →
//! open the store (migrations) → recover builds a dead server left Running →
//! make sure an admin token exists → bind → start workers → serve. So
//! `/healthz` answering means the server is ready.

pub mod api;
pub mod auth;
pub mod clusters;
pub mod config;
mod config_api;
pub mod error;
mod kube_backend;
pub mod logs;
mod metadata;
mod notifications;
mod orchestrator;
mod prepare;
pub mod rebuilds;
mod sboms;
mod scan_api;
pub mod scanning;
mod tracking;
mod worker;
mod worker_api;

pub use config::{ConfigFile, ServerConfig};

use logs::LogHub;
use slipway_builder::{Buildah, BuildahConfig};
use slipway_core::phase::RestartDecision;
use slipway_core::{BuildId, Clusters, WorkerBuildId};
use slipway_registry::Registry;
use slipway_registry::auth::RegistryAuth;
use slipway_registry::storage::BlobStore;
use slipway_store::{PLACEMENT_BATCH, SqliteStore, Store};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Everything a request handler or worker needs, shared.
pub struct Services {
    pub store: Arc<dyn Store>,
    pub logs: Arc<LogHub>,
    pub buildah: Buildah,
    pub work_dir: PathBuf,
    /// Cancel handles of the worker builds running in this process, with
    /// the build each belongs to.
    pub running: Mutex<HashMap<WorkerBuildId, (BuildId, CancellationToken)>>,
    /// Woken when a build is queued or a cluster slot frees.
    pub queue: Notify,
    /// The cluster file as loaded (or the default local cluster).
    pub clusters: RwLock<Arc<Clusters>>,
    pub clusters_path: Option<PathBuf>,
    /// Clients of the Kubernetes clusters in the cluster file, by name.
    pub kube: RwLock<HashMap<String, slipway_kubernetes::KubeCluster>>,
    /// Registries reached over plain HTTP (from the config file).
    pub insecure_registries: Vec<String>,
    /// Arguments every `slipway worker` child process gets (API URL, data
    /// dir, storage driver, insecure registries).
    pub worker_args: Vec<String>,
    /// `host:port` of the embedded registry, as builds reach it.
    pub own_registry: String,
    /// Completes outputs that name no registry (default: `own_registry`).
    pub default_registry: String,
    pub registry: Arc<Registry>,
    /// Limits how many builds are prepared (fetched, linted) at once.
    pub preparations: tokio::sync::Semaphore,
    /// Woken when a trigger arrives or a wave's build ends.
    pub waves: Notify,
    /// Triggers this close together join one wave.
    pub rebuild_debounce: jiff::SignedDuration,
    /// Applies run one at a time (each checks the whole graph).
    pub apply_lock: tokio::sync::Mutex<()>,
    /// Mail and webhook notifications.
    pub notifier: notifications::Notifier,
}

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot prepare data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "data directory {0} is in use by another slipway server; stop it or pass another --data-dir"
    )]
    Locked(PathBuf),
    #[error(transparent)]
    Store(#[from] slipway_store::StoreError),
    #[error(transparent)]
    Token(#[from] auth::BootstrapError),
    #[error(
        "cannot listen on {addr}: {source}; is another server using that port? pass --listen to choose another"
    )]
    Bind {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Clusters(#[from] clusters::ClusterFileError),
    #[error("server error: {0}")]
    Io(#[from] std::io::Error),
}

fn data_dir_error(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> ServerError + '_ {
    move |source| ServerError::DataDir {
        path: path.to_path_buf(),
        source,
    }
}

/// Run the all-in-one server until SIGINT or SIGTERM.
pub async fn serve(config: ServerConfig) -> Result<(), ServerError> {
    use std::os::unix::fs::DirBuilderExt;
    let data = &config.data_dir;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(data)
        .map_err(data_dir_error(data))?;
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(data.join("lock"))
        .map_err(data_dir_error(data))?;
    if lock.try_lock().is_err() {
        return Err(ServerError::Locked(data.clone()));
    }

    let sqlite = Arc::new(SqliteStore::open(&data.join("slipway.db")).await?);
    let store: Arc<dyn Store> = sqlite.clone();
    for (id, decision) in store.recover_interrupted().await? {
        match decision {
            RestartDecision::Requeue => {
                tracing::warn!("build {id} was interrupted by a restart; re-queued")
            }
            RestartDecision::GiveUp => {
                tracing::warn!("build {id} was interrupted twice; marked Error")
            }
        }
    }
    let token_file = data.join("admin-token");
    if auth::bootstrap_admin_token(store.as_ref(), &token_file).await? {
        tracing::info!("created the admin token; it is in {}", token_file.display());
        eprintln!(
            "slipway: admin token written to {} (readable only by you)",
            token_file.display()
        );
    }

    // Bound now, served only once everything is ready (connections wait).
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| ServerError::Bind {
            addr: config.listen,
            source,
        })?;
    let addr = listener.local_addr()?;
    // Builds reach the embedded registry over loopback.
    let own_registry = if addr.ip().is_unspecified() {
        format!("127.0.0.1:{}", addr.port())
    } else {
        addr.to_string()
    };

    let (clusters, kube) = match &config.clusters_file {
        Some(path) => {
            let c = clusters::load(path)?;
            let k = clusters::connect_all(path, &c).await?;
            (c, k)
        }
        None => (
            Clusters::local_default(u32::try_from(config.workers).unwrap_or(u32::MAX)),
            HashMap::new(),
        ),
    };
    let work_dir = data.join("work");
    std::fs::create_dir_all(&work_dir).map_err(data_dir_error(data))?;
    let buildah = Buildah::new(BuildahConfig {
        storage_root: data.join("buildah/storage"),
        run_root: data.join("buildah/run"),
        storage_driver: config.storage_driver.clone(),
        insecure_registries: config.insecure_registries.clone(),
    });
    let registry = Arc::new(Registry {
        blobs: BlobStore::open(&data.join("registry")).map_err(data_dir_error(data))?,
        meta: sqlite,
        auth: RegistryAuth::new(
            store.clone(),
            registry_key(data)?,
            config.registry_anonymous_pull,
        ),
        automatic_mount: true,
        gc_lock: tokio::sync::RwLock::new(()),
        write_slots: tokio::sync::Semaphore::new(config.registry_max_concurrent_writes),
    });
    let default_registry = config
        .default_registry
        .clone()
        .unwrap_or_else(|| own_registry.clone());
    let services = Arc::new(Services {
        store,
        logs: Arc::new(LogHub::new(data.join("logs")).map_err(data_dir_error(data))?),
        buildah,
        work_dir,
        running: Mutex::new(HashMap::new()),
        queue: Notify::new(),
        clusters: RwLock::new(Arc::new(clusters)),
        clusters_path: config.clusters_file.clone(),
        kube: RwLock::new(kube),
        insecure_registries: config.insecure_registries.clone(),
        worker_args: {
            let mut a = vec![
                "--url".to_string(),
                format!("http://{own_registry}"),
                "--data-dir".into(),
                std::fs::canonicalize(data)
                    .unwrap_or_else(|_| data.clone())
                    .display()
                    .to_string(),
                "--storage-driver".into(),
                config.storage_driver.clone(),
            ];
            for r in &config.insecure_registries {
                a.extend(["--insecure-registry".to_string(), r.clone()]);
            }
            a
        },
        own_registry,
        default_registry,
        registry: registry.clone(),
        preparations: tokio::sync::Semaphore::new(prepare::CONCURRENT_PREPARATIONS),
        waves: Notify::new(),
        rebuild_debounce: config.rebuild_debounce,
        apply_lock: tokio::sync::Mutex::new(()),
        notifier: notifications::Notifier {
            public_url: config
                .public_url
                .clone()
                .unwrap_or_else(|| format!("http://{addr}")),
            smtp: config.smtp.clone(),
            projects: config.projects.clone(),
            wake: Notify::new(),
        },
    });
    // Builds accepted but not yet prepared when the server last stopped.
    for id in services.store.builds_to_prepare().await? {
        prepare::spawn(&services, id);
    }

    tokio::spawn(scheduler(services.clone()));
    tokio::spawn(rebuilds::driver(services.clone()));
    tokio::spawn(rebuilds::timers(services.clone()));
    tokio::spawn(clusters::reload_on_sighup(services.clone()));
    tokio::spawn(notifications::run(services.clone()));

    tracing::info!(
        "listening on http://{addr} with {} clusters, data in {}",
        services.cluster_file().all().count(),
        data.display()
    );
    eprintln!("slipway: serving on http://{addr}");
    if let Some(state) = &config.state_file {
        let abs = std::fs::canonicalize(data).unwrap_or_else(|_| data.clone());
        let text = format!(
            "# written by `slipway serve`; the CLI reads it to find this server\nurl: \"http://{addr}\"\ntoken_file: \"{}\"\n",
            abs.join("admin-token").display()
        );
        let written = state
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::write(state, text));
        if let Err(e) = written {
            tracing::warn!(
                "cannot write {}: {e}; the CLI will need SLIPWAY_URL/SLIPWAY_TOKEN_FILE",
                state.display()
            );
        }
    }
    if !addr.ip().is_loopback() {
        tracing::warn!(
            "listening on {addr}, beyond loopback, over plain HTTP: tokens cross the network unencrypted; put a TLS proxy in front"
        );
    }
    let stop = CancellationToken::new();
    if let Some(reg_addr) = config.registry_listen {
        let reg_listener = tokio::net::TcpListener::bind(reg_addr)
            .await
            .map_err(|source| ServerError::Bind {
                addr: reg_addr,
                source,
            })?;
        let reg_addr = reg_listener.local_addr()?;
        eprintln!("slipway: registry also on http://{reg_addr}/v2/");
        tokio::spawn(
            axum::serve(reg_listener, slipway_registry::router(registry.clone()))
                .with_graceful_shutdown(stop.clone().cancelled_owned())
                .into_future(),
        );
    }
    let mut http = tokio::spawn(
        axum::serve(
            listener,
            api::router(services).merge(slipway_registry::router(registry)),
        )
        .with_graceful_shutdown(stop.clone().cancelled_owned())
        .into_future(),
    );
    tokio::select! {
        r = &mut http => r.map_err(std::io::Error::other)??,
        () = shutdown_signal() => {
            // Let in-flight requests finish, but do not wait for log followers
            // of builds that may run for hours.
            stop.cancel();
            let _ = tokio::time::timeout(SHUTDOWN_GRACE, http).await;
        }
    }
    drop(lock);
    Ok(())
}

/// How long in-flight requests get after SIGTERM before the server exits.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// The key that signs registry tokens: made once, kept in the data dir (0600).
fn registry_key(data: &std::path::Path) -> Result<Vec<u8>, ServerError> {
    let path = data.join("registry-key");
    match std::fs::read_to_string(&path) {
        Ok(hex_key) => {
            if let Ok(k) = hex::decode(hex_key.trim())
                && k.len() >= 32
            {
                return Ok(k);
            }
            tracing::warn!(
                "{} is damaged; making a new one (issued registry tokens stop working)",
                path.display()
            );
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(data_dir_error(data)(e)),
    }
    let mut key = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut key);
    auth::write_secret_file(&path, &hex::encode(key)).map_err(data_dir_error(data))?;
    Ok(key.to_vec())
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!("cannot install SIGTERM handler: {e}");
            return std::future::pending().await;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutting down; running builds will be re-queued on the next start");
}

impl Services {
    /// Stop every running worker build of `build` (a cancel, or a sibling
    /// platform failed).
    pub fn cancel_running(&self, build: BuildId) {
        if let Ok(running) = self.running.lock() {
            for (b, token) in running.values() {
                if *b == build {
                    token.cancel();
                }
            }
        }
    }
}

/// The scheduler: place queued worker builds on clusters by least load and
/// start them on their cluster's backend; again whenever a build is queued,
/// a slot frees or the clusters change, and every 2 s as a safety net.
async fn scheduler(services: Arc<Services>) {
    loop {
        let placed = match services.effective_clusters().await {
            Ok(clusters) => match services
                .store
                .place_queued(&clusters, PLACEMENT_BATCH)
                .await
            {
                Ok(placed) => {
                    let n = placed.len();
                    for p in placed {
                        worker::launch(&services, &clusters, p).await;
                    }
                    n
                }
                Err(e) => {
                    tracing::error!("cannot place queued builds: {e}");
                    0
                }
            },
            Err(e) => {
                tracing::error!("cannot read cluster switches: {e}");
                0
            }
        };
        if placed < PLACEMENT_BATCH {
            let _ = tokio::time::timeout(Duration::from_secs(2), services.queue.notified()).await;
        }
    }
}
