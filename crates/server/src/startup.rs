//! Start-up and shutdown of `slipway serve`.
//!
//! Start-up order is the readiness contract: lock the data dir → open the
//! store (migrations) → recover builds a dead server left Running → make
//! sure an admin token exists → load the clusters → start the controllers
//! → serve. So `/healthz` answering means the server is ready.

use crate::logs::LogHub;
use crate::{ServerConfig, Services, clusters, controllers, events::Events, steps, tokens};
use slipway_builder::{Buildah, BuildahConfig};
use slipway_core::Clusters;
use slipway_core::build::phase::RestartDecision;
use slipway_registry::Registry;
use slipway_registry::auth::RegistryAuth;
use slipway_registry::storage::BlobStore;
use slipway_store::{LogStore, PgStore, RegistryStore, SqliteStore, Store};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

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
    #[error(
        "cannot use the database {0}: {1}; check that PostgreSQL runs there, the user may log in (password_file, PGPASSWORD or ~/.pgpass) and the database exists"
    )]
    Database(String, slipway_store::StoreError),
    #[error(transparent)]
    Token(#[from] tokens::BootstrapError),
    #[error(
        "cannot listen on {addr}: {source}; is another server using that port? pass --listen to choose another"
    )]
    Bind {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Clusters(#[from] clusters::ClusterFileError),
    #[error("{0}")]
    SecretKey(String),
    #[error("{0}")]
    Koji(String),
    #[error("{0}; fix tls: in the config file")]
    Tls(String),
    #[error("{0}; fix the config file")]
    Config(String),
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
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&config.data_dir)
        .map_err(data_dir_error(&config.data_dir))?;
    // Absolute from here on: builds' command lines and work dirs name it,
    // and the clean-up below recognises them by it.
    let data =
        &std::fs::canonicalize(&config.data_dir).map_err(data_dir_error(&config.data_dir))?;
    secure_data_dir(data).map_err(data_dir_error(data))?;
    slipway_source::set_timeouts(config.git_timeouts);
    if let Some(k) = &config.koji {
        // Refuse to start with a Koji password or certificate that cannot
        // be read, rather than fail every import later.
        if k.auth == crate::config::KojiAuth::Password {
            k.password().map_err(ServerError::Koji)?;
        }
        k.hub().map_err(ServerError::Koji)?;
    }
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(data.join("lock"))
        .map_err(data_dir_error(data))?;
    if lock.try_lock().is_err() {
        return Err(ServerError::Locked(config.data_dir.clone()));
    }

    let key = secret_key(data, config.secret_key_file.as_deref())?;
    let signing = signing_key(data, config.signing_key_file.as_deref())?;
    #[allow(clippy::type_complexity)]
    let (store, meta, db_logs): (
        Arc<dyn Store>,
        Arc<dyn RegistryStore>,
        Option<Arc<dyn LogStore>>,
    ) = match &config.database {
        None => {
            let sqlite =
                Arc::new(SqliteStore::open_sealed(&data.join("slipway.db"), Some(&key)).await?);
            let sealed = sqlite.seal_existing().await?;
            if sealed > 0 {
                tracing::info!("sealed {sealed} stored values that held secrets in plain text");
            }
            (sqlite.clone(), sqlite, None)
        }
        Some(db) => {
            let password = db.password().map_err(ServerError::Config)?;
            let pg = Arc::new(
                PgStore::connect(&db.url, password.as_deref(), Some(&key))
                    .await
                    .map_err(|e| ServerError::Database(db.url.clone(), e))?,
            );
            tracing::info!("state kept in PostgreSQL at {}", db.url);
            (pg.clone(), pg.clone(), Some(pg))
        }
    };
    // Alone on its database, a server holds nothing an earlier run held
    // (a build it was preparing is prepared again at once).
    if config.database.is_none() {
        store.clear_leases().await?;
    }
    // This server's own lease, before it places anything (see
    // `controllers::leases`).
    let holder = store.holder();
    store
        .take_lease(
            &format!("{}{holder}", slipway_store::SERVER_LEASE_PREFIX),
            &holder,
            crate::controllers::leases::SERVER_TTL,
        )
        .await?;
    tracing::info!("this server is {holder}");
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
    // A project named in the config file (`projects:`, for its
    // notification targets) exists.
    let known = store.project_names().await?;
    for name in config.projects.keys().filter(|n| !known.contains(n)) {
        slipway_core::access::check_project_name(name).map_err(ServerError::Config)?;
        store.create_project(name, false).await?;
        tracing::info!("created project {name}, named in the config file");
    }
    let token_file = data.join("admin-token");
    if tokens::bootstrap_admin_token(store.as_ref(), &token_file).await? {
        tracing::info!("created the admin token; it is in {}", token_file.display());
        eprintln!(
            "slipway: admin token written to {} (readable only by you)",
            token_file.display()
        );
    }

    // The identity first: a bad certificate stops the start, not a client.
    let tls = match &config.tls {
        Some(t) => {
            warn_if_readable(&t.key_file);
            Some(Arc::new(
                slipway_tls::Reloadable::load(&t.cert_file, &t.key_file)
                    .map_err(|e| ServerError::Tls(e.to_string()))?,
            ))
        }
        None => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let worker_ca_pem = match config.tls.as_ref().and_then(|t| t.ca_file.as_ref()) {
        Some(path) => {
            slipway_tls::read_certificates(path).map_err(|e| ServerError::Tls(e.to_string()))?;
            Some(
                std::fs::read_to_string(path).map_err(|e| {
                    ServerError::Tls(format!("cannot read {}: {e}", path.display()))
                })?,
            )
        }
        None => None,
    };

    // Bound now, served only once everything is ready (connections wait).
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| ServerError::Bind {
            addr: config.listen,
            source,
        })?;
    let addr = listener.local_addr()?;
    // Builds reach the embedded registry over loopback, or by the name
    // all servers share (a load balancer in front of them).
    let own_registry = match &config.registry_host {
        Some(host) => host.clone(),
        None if addr.ip().is_unspecified() => format!("127.0.0.1:{}", addr.port()),
        None => addr.to_string(),
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
    let cleaned = crate::cleanup::after_last_run(data, &work_dir, &buildah).await;
    if !cleaned.is_empty() {
        tracing::warn!("cleaned up after the last run: {cleaned}");
        eprintln!("slipway: cleaned up after the last run: {cleaned}");
    }
    let blobs = BlobStore::from_config(&config.registry_storage, &data.join("registry"))
        .map_err(|e| ServerError::Config(format!("registry_storage: {e}")))?;
    blobs.check().await.map_err(|e| {
        ServerError::Config(format!("registry_storage ({}): {e}", blobs.describe()))
    })?;
    tracing::info!("registry blobs: {}", blobs.describe());
    if config.database.is_some()
        && matches!(
            config.registry_storage,
            slipway_registry::storage::BlobBackendConfig::Filesystem { .. }
        )
    {
        tracing::warn!(
            "the database is shared but the registry's blobs are files of this server: other servers cannot serve them unless that directory is shared too (set registry_storage: {{backend: s3, …}})"
        );
    }
    let registry = Arc::new(Registry {
        blobs,
        meta,
        auth: RegistryAuth::new(
            store.clone(),
            match &config.database {
                None => registry_key(data)?,
                // Every server checks the tokens any of them issued.
                Some(_) => shared_registry_key(&key),
            },
            config.registry_anonymous_pull,
        )
        .with_env_prefixes(
            config
                .environments
                .values()
                .filter(|e| {
                    e.external_registry(&crate::backends::own_hosts(&own_registry))
                        .is_none()
                })
                .map(|e| e.prefix.trim_matches('/').to_string())
                .collect(),
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
        logs: Arc::new(LogHub::new(data.join("logs"), db_logs).map_err(data_dir_error(data))?),
        buildah,
        work_dir,
        mirrors: slipway_source::Mirrors::new(data.join("git")),
        running: Mutex::new(HashMap::new()),
        events: Events::new(),
        clusters: RwLock::new(Arc::new(clusters)),
        clusters_path: config.clusters_file.clone(),
        kube: RwLock::new(kube),
        insecure_registries: config.insecure_registries.clone(),
        worker_args: {
            let mut a = vec![
                "--data-dir".to_string(),
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
        preparations: tokio::sync::Semaphore::new(controllers::CONCURRENT_PREPARATIONS),
        rebuild_debounce: config.rebuild_debounce,
        apply_lock: tokio::sync::Mutex::new(()),
        notifier: steps::notify::Notifier {
            public_url: config
                .public_url
                .clone()
                .unwrap_or_else(|| format!("{scheme}://{addr}")),
            smtp: config.smtp.clone(),
            projects: config.projects.clone(),
        },
        preparing: Mutex::new(HashMap::new()),
        limits: config.limits,
        min_free_bytes: config.min_free_bytes,
        data_dir: data.clone(),
        koji: config.koji.clone(),
        registry_gc_interval: config.registry_gc_interval,
        environments: config.environments.clone(),
        worker_ca_pem,
        worker_ca_file: config.tls.as_ref().and_then(|t| t.ca_file.clone()),
        worker_scans: Default::default(),
        metrics: crate::metrics::Metrics::new(),
        shared_database: config.database.is_some(),
        event_streams: Arc::new(tokio::sync::Semaphore::new(crate::api::events::MAX_STREAMS)),
        commit: config.commit.clone(),
        signing,
    });
    controllers::spawn_all(&services);

    tracing::info!(
        "listening on {scheme}://{addr} with {} clusters, data in {}",
        services.cluster_file().all().count(),
        data.display()
    );
    eprintln!("slipway: serving on {scheme}://{addr}");
    if let Some(state) = &config.state_file {
        let abs = std::fs::canonicalize(data).unwrap_or_else(|_| data.clone());
        let text = format!(
            "# written by `slipway serve`; the CLI reads it to find this server\n# (over loopback: plain HTTP is served to this machine even with TLS on)\nurl: \"http://{}\"\ntoken_file: \"{}\"\n",
            services.own_registry,
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
    if tls.is_none() && !addr.ip().is_loopback() {
        tracing::warn!(
            "listening on {addr}, beyond loopback, over plain HTTP (allow_plain_http): tokens cross the network unencrypted unless a TLS proxy is in front"
        );
    }
    if let Some(t) = &tls {
        crate::listener::reload_on_sighup(t.clone());
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
        eprintln!("slipway: registry also on {scheme}://{reg_addr}/v2/");
        tokio::spawn(serve_on(
            reg_listener,
            slipway_registry::router(registry.clone()).layer(axum::middleware::from_fn_with_state(
                services.clone(),
                crate::metrics::registry_layer,
            )),
            tls.clone(),
            stop.clone(),
        ));
    }
    let mut http = tokio::spawn(serve_on(
        listener,
        crate::api::router(services.clone()).merge(slipway_registry::router(registry).layer(
            axum::middleware::from_fn_with_state(services, crate::metrics::registry_layer),
        )),
        tls,
        stop.clone(),
    ));
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

/// Serve `app` on `listener` until `stop`: over TLS (plain HTTP to
/// loopback peers only) when the server has an identity, else plain.
async fn serve_on(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    tls: Option<Arc<slipway_tls::Reloadable>>,
    stop: CancellationToken,
) -> std::io::Result<()> {
    match tls {
        Some(tls) => crate::listener::serve_tls(listener, app, tls, stop).await,
        None => {
            // The client's address reaches handlers (the audit log).
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
            )
            .with_graceful_shutdown(stop.cancelled_owned())
            .await
        }
    }
}

/// A private key others can read is worth a warning (it is not refused:
/// some deployments share it with a group on purpose).
fn warn_if_readable(key: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(m) = std::fs::metadata(key)
        && m.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(
            "the TLS key {} is readable by others (mode {:o}); chmod 600 it",
            key.display(),
            m.permissions().mode() & 0o777
        );
    }
}

/// The data dir and the files holding secrets or the database are the
/// server user's alone, whatever they were before (a copied or restored
/// data dir often is not): the dir 0700, the files 0600. A new database
/// file is made 0600 before SQLite opens it, since SQLite gives its WAL
/// and shared-memory files the database file's mode.
fn secure_data_dir(data: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let fix = |path: &std::path::Path, mode: u32| -> std::io::Result<()> {
        match std::fs::metadata(path) {
            Ok(m) if m.permissions().mode() & 0o777 != mode => {
                tracing::warn!(
                    "{} had mode {:o}; set to {mode:o}",
                    path.display(),
                    m.permissions().mode() & 0o777
                );
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            }
            Ok(_) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    };
    fix(data, 0o700)?;
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(data.join("slipway.db"))?;
    for name in [
        "slipway.db",
        "slipway.db-wal",
        "slipway.db-shm",
        "admin-token",
        "registry-key",
        "secret-key",
    ] {
        fix(&data.join(name), 0o600)?;
    }
    Ok(())
}

/// How long in-flight requests get after SIGTERM before the server exits.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// The key that seals secrets in the database: the configured file (which
/// must exist), else `<data-dir>/secret-key` (0600), made on first start.
/// A damaged key is never replaced: sealed values would be lost with it.
fn secret_key(
    data: &std::path::Path,
    configured: Option<&std::path::Path>,
) -> Result<[u8; 32], ServerError> {
    let path = configured.map_or_else(|| data.join("secret-key"), std::path::Path::to_path_buf);
    match std::fs::read_to_string(&path) {
        Ok(text) => hex::decode(text.trim())
            .ok()
            .and_then(|k| <[u8; 32]>::try_from(k).ok())
            .ok_or_else(|| {
                ServerError::SecretKey(format!(
                    "{} is not 64 hex digits; restore it from a backup (without it the secrets stored in the database cannot be read)",
                    path.display()
                ))
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && configured.is_none() => {
            let mut key = [0u8; 32];
            rand::RngCore::fill_bytes(&mut rand::rng(), &mut key);
            tokens::write_secret_file(&path, &hex::encode(key)).map_err(data_dir_error(data))?;
            Ok(key)
        }
        Err(e) => Err(ServerError::SecretKey(format!(
            "cannot read the secret key file {}: {e}",
            path.display()
        ))),
    }
}

/// The key that signs images and provenance: the configured file (which
/// must exist), or `<data-dir>/signing-key`, made on first start.
fn signing_key(
    data: &std::path::Path,
    configured: Option<&std::path::Path>,
) -> Result<Arc<slipway_signing::SigningKey>, ServerError> {
    let key = match configured {
        Some(path) => slipway_signing::SigningKey::load(path),
        None => slipway_signing::SigningKey::load_or_create(&data.join("signing-key")),
    }
    .map_err(|e| ServerError::SecretKey(e.to_string()))?;
    tracing::info!("images are signed with key {}", key.public().keyid());
    Ok(Arc::new(key))
}

/// The key that signs registry tokens when servers share a database: one
/// they all derive from the secret key they share (never the secret key
/// itself).
fn shared_registry_key(secret: &[u8; 32]) -> Vec<u8> {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    h.update(b"slipway registry token key\0");
    h.update(secret);
    h.finalize().to_vec()
}

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
    tokens::write_secret_file(&path, &hex::encode(key)).map_err(data_dir_error(data))?;
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
