//! Server configuration: command-line flags plus an optional YAML file.

mod koji;
pub use koji::{KojiAuth, KojiSettings, UploadMode};

use serde::Deserialize;
use slipway_core::ImageRef;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Settings that only make sense in a file (lists, registries).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct ConfigFile {
    /// Registries (`host[:port]`) that may be reached over plain HTTP or with
    /// unverified TLS. Loopback registries always may.
    #[serde(default)]
    pub insecure_registries: Vec<String>,
    /// Where builds push when their output names no registry
    /// (`host[:port][/prefix]`). Default: the embedded registry.
    #[serde(default)]
    pub default_registry: Option<String>,
    /// buildah's storage driver: `vfs` (works everywhere, the default) or `overlay`.
    #[serde(default)]
    pub storage_driver: Option<String>,
    /// Let anyone pull from the embedded registry without a token (off by default).
    #[serde(default)]
    pub registry_anonymous_pull: bool,
    /// Also serve the registry on this address of its own (it is always on
    /// the API's port too).
    #[serde(default)]
    pub registry_listen: Option<std::net::SocketAddr>,
    /// The name (`host[:port]`) builds and clients reach the embedded
    /// registry by, when it is not this server's listen address: the load
    /// balancer in front of several servers (which then share
    /// `registry_storage` and the database). Images are named with it.
    #[serde(default)]
    pub registry_host: Option<String>,
    /// Concurrent registry write requests before clients get 429 (default 256).
    #[serde(default)]
    pub registry_max_concurrent_writes: Option<usize>,
    /// The cluster file (see `slipway serve --clusters`).
    #[serde(default)]
    pub clusters_file: Option<PathBuf>,
    /// Triggers arriving within this many seconds of a wave's first one
    /// join that wave (default 10).
    #[serde(default)]
    pub rebuild_debounce_seconds: Option<u64>,
    /// How users reach the server, for links in notifications
    /// (default: `http://<listen address>`).
    #[serde(default)]
    pub public_url: Option<String>,
    /// The mail server email notifications go through.
    #[serde(default)]
    pub smtp: Option<SmtpSettings>,
    /// Notification targets per project (see `project:` in image configs).
    #[serde(default)]
    pub projects: std::collections::BTreeMap<String, ProjectSettings>,
    /// How long git may wait for a server.
    #[serde(default)]
    pub git: GitSettings,
    /// Limits on what clients may send.
    #[serde(default)]
    pub limits: slipway_core::build::Limits,
    /// `/readyz` says not ready when the data dir's file system has less
    /// free space than this many MiB (default 512).
    #[serde(default)]
    pub min_free_space_mb: Option<u64>,
    /// Import complete builds into a Koji hub.
    #[serde(default)]
    pub koji: Option<KojiSettings>,
    /// Where images are promoted to, by name (`slipway promote … --to NAME`).
    #[serde(default)]
    pub environments: std::collections::BTreeMap<String, EnvironmentSettings>,
    /// Serve HTTPS (the API and the embedded registry on one listener).
    #[serde(default)]
    pub tls: Option<TlsSettings>,
    /// Serve plain HTTP on an address beyond loopback (a TLS proxy in
    /// front); without it, such a listen address needs `tls:`.
    #[serde(default)]
    pub allow_plain_http: bool,
    /// Hours between the embedded registry's scheduled garbage collections
    /// (default 24; 0: only `slipway registry gc`).
    #[serde(default)]
    pub registry_gc_interval_hours: Option<u64>,
    /// The key that seals secrets in the database (64 hex digits), kept
    /// apart from the data dir (default: `<data-dir>/secret-key`, made on
    /// first start).
    #[serde(default)]
    pub secret_key_file: Option<PathBuf>,
    /// The key that signs images and their provenance (a PKCS#8 PEM P-256
    /// key, mode 0600; default: `<data-dir>/signing-key`, made on first
    /// start).
    #[serde(default)]
    pub signing_key_file: Option<PathBuf>,
    /// PostgreSQL instead of the embedded SQLite file: what several
    /// servers share (see README, "Running several servers").
    #[serde(default)]
    pub database: Option<DatabaseSettings>,
    /// Where the embedded registry keeps its blobs: files in the data dir
    /// (default) or an S3-compatible bucket every server shares.
    #[serde(default)]
    pub registry_storage: slipway_registry::storage::BlobBackendConfig,
}

/// `database:` in the config file. The URL carries no password: it is
/// read from `password_file` or `password_env` (or libpq's `PGPASSWORD`,
/// `~/.pgpass`), so it never shows in a process list or a log line.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `postgres://user@host[:port]/database[?sslmode=verify-full]`
    pub url: String,
    /// A file holding the password (first line), or …
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// … an environment variable of the server holding it.
    #[serde(default)]
    pub password_env: Option<String>,
}

impl DatabaseSettings {
    /// Refuse what would leak or cannot work: another scheme, or a
    /// password in the URL.
    pub fn check(&self) -> Result<(), String> {
        let rest = self
            .url
            .strip_prefix("postgres://")
            .or_else(|| self.url.strip_prefix("postgresql://"))
            .ok_or_else(|| {
                "database: the URL must start with postgres:// (SQLite needs no URL: leave database: out)"
                    .to_string()
            })?;
        let authority = rest.split(['/', '?']).next().unwrap_or_default();
        if let Some((user_info, _)) = authority.rsplit_once('@')
            && user_info.contains(':')
        {
            return Err("database: the URL holds a password, which would show in process lists and logs; put it in password_file or password_env (or PGPASSWORD / ~/.pgpass) and remove it from the URL".into());
        }
        if self.password_file.is_some() && self.password_env.is_some() {
            return Err("database: give password_file or password_env, not both".into());
        }
        Ok(())
    }

    /// The password, if one is configured.
    pub fn password(&self) -> Result<Option<String>, String> {
        if let Some(path) = &self.password_file {
            let text = std::fs::read_to_string(path).map_err(|e| {
                format!(
                    "cannot read the database password file {}: {e}",
                    path.display()
                )
            })?;
            return Ok(Some(text.lines().next().unwrap_or_default().to_string()));
        }
        if let Some(var) = &self.password_env {
            return std::env::var(var).map(Some).map_err(|_| {
                format!("database: password_env names {var}, which is not set in the server's environment")
            });
        }
        Ok(None)
    }
}

/// Git's timeouts for network calls (`git:` in the config file).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GitSettings {
    /// Seconds a git server may take to start answering (default 60).
    #[serde(default)]
    pub connect_timeout_seconds: Option<u64>,
    /// Seconds a transfer may go without progress (default 300).
    #[serde(default)]
    pub no_progress_timeout_seconds: Option<u64>,
}

impl GitSettings {
    pub fn timeouts(&self) -> slipway_source::Timeouts {
        let d = slipway_source::Timeouts::default();
        let secs = |v: Option<u64>, default: std::time::Duration| {
            v.map(|s| std::time::Duration::from_secs(s.max(1)))
                .unwrap_or(default)
        };
        slipway_source::Timeouts {
            connect: secs(self.connect_timeout_seconds, d.connect),
            no_progress: secs(self.no_progress_timeout_seconds, d.no_progress),
        }
    }
}

/// Default free-space floor for `/readyz`, in MiB.
pub const DEFAULT_MIN_FREE_SPACE_MB: u64 = 512;

/// How mail is sent.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpSettings {
    pub host: String,
    /// Default: 587 with STARTTLS, 465 with implicit TLS, 25 without.
    #[serde(default)]
    pub port: Option<u16>,
    #[serde(default)]
    pub tls: SmtpTls,
    #[serde(default)]
    pub username: Option<String>,
    /// A file holding the password (first line), or …
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// … an environment variable of the server holding it.
    #[serde(default)]
    pub password_env: Option<String>,
    /// The sender, `Slipway <slipway@example.com>`.
    pub from: String,
    /// PEM certificates to trust besides the public roots (a private CA).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

/// How the SMTP connection is protected.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// STARTTLS, required: nothing (credentials included) is sent in clear.
    #[default]
    Starttls,
    /// TLS from the first byte (port 465).
    Implicit,
    /// No TLS (a relay on the same host); credentials are refused.
    None,
}

/// A project's settings.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectSettings {
    #[serde(default)]
    pub notify: Vec<slipway_core::notify::NotifyTarget>,
}

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    pub workers: usize,
    pub insecure_registries: Vec<String>,
    pub default_registry: Option<String>,
    pub storage_driver: String,
    pub registry_anonymous_pull: bool,
    pub registry_listen: Option<SocketAddr>,
    pub registry_max_concurrent_writes: usize,
    /// See [`ConfigFile::registry_host`].
    pub registry_host: Option<String>,
    /// Worker clusters per platform; without it, one local cluster for the
    /// host's platform with `workers` slots.
    pub clusters_file: Option<PathBuf>,
    /// Where to note this server's URL and token file so a CLI on the same
    /// machine finds it (`~/.local/state/slipway/server.yaml`).
    pub state_file: Option<PathBuf>,
    /// The commit the binary was built from, for `GET /api/v1/version`.
    pub commit: Option<String>,
    pub rebuild_debounce: jiff::SignedDuration,
    pub public_url: Option<String>,
    pub smtp: Option<SmtpSettings>,
    pub projects: std::collections::BTreeMap<String, ProjectSettings>,
    pub git_timeouts: slipway_source::Timeouts,
    pub limits: slipway_core::build::Limits,
    /// Bytes of free space under which `/readyz` says not ready.
    pub min_free_bytes: u64,
    pub secret_key_file: Option<PathBuf>,
    pub signing_key_file: Option<PathBuf>,
    /// PostgreSQL; `None`: the SQLite file in the data dir.
    pub database: Option<DatabaseSettings>,
    pub registry_storage: slipway_registry::storage::BlobBackendConfig,
    pub koji: Option<KojiSettings>,
    /// Between scheduled registry garbage collections; `None`: never.
    pub registry_gc_interval: Option<std::time::Duration>,
    pub environments: std::collections::BTreeMap<String, EnvironmentSettings>,
    pub tls: Option<TlsSettings>,
}

/// `tls:` in the config file: the server's certificate chain (leaf first)
/// and private key, PEM, read again on SIGHUP.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSettings {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    /// The CA that clients need to verify this server, when it is not a
    /// public one: handed to Kubernetes worker pods (`--ca-file`).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

/// An environment images are promoted to (`environments:` in the config
/// file): a repository prefix in the embedded registry or in another
/// registry, and the gates an image must pass to enter it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentSettings {
    /// Put in front of a build's repository: `stable` makes
    /// `team/app` → `stable/team/app`.
    pub prefix: String,
    /// Another registry (`host[:port]`) the environment lives in; default:
    /// the embedded one. Promotion there copies the image (with skopeo,
    /// whose blob cache mounts layers the registry already has in another
    /// repository) using the server user's own registry credentials.
    #[serde(default)]
    pub registry: Option<String>,
    /// Promotion here needs the admin role of the image's project (not
    /// only developer).
    #[serde(default)]
    pub protected: bool,
    /// Default: every gate but `reproducible`.
    #[serde(default = "default_gates")]
    pub gates: Vec<slipway_core::promotion::Gate>,
    /// Rules on the image's provenance and newest scan.
    #[serde(default)]
    pub policy: slipway_core::promotion::policy::Policy,
}

impl EnvironmentSettings {
    /// The other registry it lives in; `None` when it is in the embedded
    /// one (`registry:` unset, or naming one of `own_hosts`). The one
    /// answer for both who owns its repositories and how promotion moves.
    pub fn external_registry(&self, own_hosts: &[String]) -> Option<&str> {
        self.registry
            .as_deref()
            .filter(|r| !own_hosts.iter().any(|o| o == r))
    }
}

fn default_gates() -> Vec<slipway_core::promotion::Gate> {
    slipway_core::promotion::Gate::DEFAULT.to_vec()
}

impl EnvironmentSettings {
    /// The repository an image of `repository` is promoted to.
    pub fn repository(&self, repository: &str) -> String {
        format!("{}/{repository}", self.prefix.trim_matches('/'))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path} is invalid: {message}")]
    Invalid { path: PathBuf, message: String },
}

impl ConfigFile {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text).map_err(|message| ConfigError::Invalid {
            path: path.to_path_buf(),
            message,
        })
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        if text.trim().is_empty() {
            return Ok(ConfigFile::default());
        }
        let file: ConfigFile = serde_saphyr::from_str(text).map_err(|e| e.to_string())?;
        if let Some(d) = &file.storage_driver
            && d != "vfs"
            && d != "overlay"
        {
            return Err(format!(
                "storage_driver {d:?} is not supported; use vfs or overlay"
            ));
        }
        if let Some(smtp) = &file.smtp {
            if smtp.host.trim().is_empty() {
                return Err("smtp.host is empty".into());
            }
            if smtp.password_file.is_some() && smtp.password_env.is_some() {
                return Err("smtp: give password_file or password_env, not both".into());
            }
            if smtp.tls == SmtpTls::None && smtp.username.is_some() {
                return Err(
                    "smtp: credentials are never sent without TLS; use tls: starttls or implicit"
                        .into(),
                );
            }
        }
        if let Some(u) = &file.public_url
            && !(u.starts_with("http://") || u.starts_with("https://"))
        {
            return Err(format!(
                "public_url {u:?} must start with http:// or https://"
            ));
        }
        let mut file = file;
        for (name, project) in &mut file.projects {
            for (i, t) in project.notify.iter_mut().enumerate() {
                // The server's environment resolves project webhook secrets.
                if let Some(w) = &mut t.webhook {
                    slipway_core::rebuild::image_config::resolve_secret_env(
                        &mut w.secret,
                        &mut w.secret_env,
                        &|var| std::env::var(var).ok(),
                    )
                    .map_err(|var| {
                        format!(
                            "projects.{name}.notify[{i}].webhook.secret_env: the environment variable {var} is not set"
                        )
                    })?;
                }
                t.check()
                    .map_err(|e| format!("projects.{name}.notify[{i}]: {e}"))?;
            }
        }
        if let Some(k) = &file.koji {
            k.validate()?;
        }
        for (name, env) in &file.environments {
            let sample = env.repository("team/app");
            let host = env.registry.as_deref().unwrap_or("r.example");
            if let Some(r) = &env.registry
                && (r.is_empty() || r.contains('/') || !r.contains(['.', ':']) && r != "localhost")
            {
                return Err(format!(
                    "environments.{name}.registry {r:?} is not a registry host (host[:port], e.g. registry.example.com or 127.0.0.1:5000)"
                ));
            }
            if env.prefix.trim_matches('/').is_empty()
                || slipway_core::ImageRef::parse(&format!("{host}/{sample}")).is_err()
            {
                return Err(format!(
                    "environments.{name}.prefix {:?} does not make a repository name (lowercase letters, digits, ., _, -, /)",
                    env.prefix
                ));
            }
            env.policy
                .check()
                .map_err(|e| format!("environments.{name}.policy.{e}"))?;
        }
        if let Some(r) = &file.default_registry {
            ImageRef::parse(&format!("{r}/probe")).map_err(|e| {
                format!("default_registry {r:?} is not a registry host[:port][/prefix]: {e}")
            })?;
        }
        Ok(file)
    }
}

impl ServerConfig {
    pub fn new(
        data_dir: PathBuf,
        listen: SocketAddr,
        workers: usize,
        file: ConfigFile,
    ) -> Result<Self, String> {
        if workers == 0 {
            return Err("--workers must be at least 1".into());
        }
        if let Some(h) = &file.registry_host {
            slipway_core::image_ref::check_registry_host(h)
                .map_err(|e| format!("registry_host: {e}"))?;
        }
        if let Some(db) = &file.database {
            db.check()?;
            if file.secret_key_file.is_none() {
                return Err("database: servers sharing a database must share the key that seals its secrets; set secret_key_file to a file every server reads (64 hex digits; `openssl rand -hex 32` makes one)".into());
            }
            if file.signing_key_file.is_none() {
                return Err("database: servers sharing a database must sign with one key; set signing_key_file to a file every server reads (`openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out FILE`, then `chmod 600 FILE`)".into());
            }
        }
        if file.tls.is_none() && !file.allow_plain_http {
            for addr in std::iter::once(listen).chain(file.registry_listen) {
                if !addr.ip().is_loopback() {
                    return Err(format!(
                        "refusing to serve plain HTTP on {addr}, beyond loopback: tokens would cross the network unencrypted. Set tls: {{cert_file, key_file}} in the config file, or allow_plain_http: true when a TLS proxy is in front"
                    ));
                }
            }
        }
        Ok(ServerConfig {
            data_dir,
            listen,
            workers,
            insecure_registries: file.insecure_registries,
            default_registry: file.default_registry,
            storage_driver: file.storage_driver.unwrap_or_else(|| "vfs".into()),
            registry_anonymous_pull: file.registry_anonymous_pull,
            registry_listen: file.registry_listen,
            registry_host: file.registry_host,
            registry_max_concurrent_writes: file
                .registry_max_concurrent_writes
                .unwrap_or(slipway_registry::DEFAULT_MAX_CONCURRENT_WRITES)
                .max(1),
            clusters_file: file.clusters_file,
            state_file: None,
            commit: None,
            rebuild_debounce: file
                .rebuild_debounce_seconds
                .map(|s| jiff::SignedDuration::from_secs(i64::try_from(s).unwrap_or(i64::MAX)))
                .unwrap_or(crate::steps::configs::DEFAULT_DEBOUNCE),
            public_url: file.public_url,
            smtp: file.smtp,
            projects: file.projects,
            git_timeouts: file.git.timeouts(),
            limits: file.limits,
            min_free_bytes: file
                .min_free_space_mb
                .unwrap_or(DEFAULT_MIN_FREE_SPACE_MB)
                .saturating_mul(1024 * 1024),
            secret_key_file: file.secret_key_file,
            signing_key_file: file.signing_key_file,
            database: file.database,
            registry_storage: file.registry_storage,
            koji: file.koji.filter(|k| k.import),
            environments: file.environments,
            tls: file.tls,
            registry_gc_interval: match file.registry_gc_interval_hours.unwrap_or(24) {
                0 => None,
                h => Some(std::time::Duration::from_secs(h.saturating_mul(3600))),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_database(yaml: &str) -> Result<ServerConfig, String> {
        let file = ConfigFile::parse(yaml)?;
        ServerConfig::new(
            PathBuf::from("/tmp/x"),
            "127.0.0.1:8080".parse().unwrap(),
            2,
            file,
        )
    }

    #[test]
    fn a_database_url_never_holds_a_password_and_servers_share_a_key() {
        let e = with_database(
            "database: {url: 'postgres://slipway:hunter2@db/slipway'}\nsecret_key_file: /k",
        )
        .unwrap_err();
        assert!(e.contains("password_file") && !e.contains("hunter2"), "{e}");
        let e = with_database("database: {url: 'mysql://db/x'}\nsecret_key_file: /k").unwrap_err();
        assert!(e.contains("postgres://"), "{e}");
        let e = with_database("database: {url: 'postgres://slipway@db/slipway'}").unwrap_err();
        assert!(e.contains("secret_key_file"), "{e}");
        let e =
            with_database("database: {url: 'postgres://slipway@db/slipway'}\nsecret_key_file: /k")
                .unwrap_err();
        assert!(
            e.contains("signing_key_file") && e.contains("openssl genpkey"),
            "{e}"
        );
        let c = with_database(
            "database: {url: 'postgres://slipway@db:5432/slipway?sslmode=verify-full', password_env: PGPASS_X}\nsecret_key_file: /k\nsigning_key_file: /s",
        )
        .unwrap();
        let db = c.database.unwrap();
        assert_eq!(db.password_env.as_deref(), Some("PGPASS_X"));
        // An @ in the path or query is not a password.
        assert!(
            DatabaseSettings {
                url: "postgres://db/slipway?options=a:b@c".into(),
                ..Default::default()
            }
            .check()
            .is_ok()
        );
    }

    #[test]
    fn parses_and_rejects_unknown_keys() {
        let f = ConfigFile::parse("insecure_registries: [reg.lan:5000]\nstorage_driver: overlay\n")
            .unwrap();
        assert_eq!(f.insecure_registries, ["reg.lan:5000"]);
        let e = ConfigFile::parse("insecure_registry: [x]\n").unwrap_err();
        assert!(e.contains("insecure_registry"), "{e}");
        assert!(ConfigFile::parse("storage_driver: btrfs\n").is_err());
        assert!(ConfigFile::parse("default_registry: busybox\n").is_err());
        assert!(ConfigFile::parse("default_registry: reg.lan:5000/builds\n").is_ok());
        let f = ConfigFile::parse(
            "smtp: { host: mail.lan, from: slipway@lan, username: u, password_env: P }\nprojects:\n  team:\n    notify: [{ email: [ops@lan.example], on: failure }]\n",
        )
        .unwrap();
        assert_eq!(f.smtp.unwrap().tls, SmtpTls::Starttls);
        assert_eq!(f.projects["team"].notify[0].email, ["ops@lan.example"]);
        let e = ConfigFile::parse("smtp: { host: m, from: a@b.c, tls: none, username: u }\n")
            .unwrap_err();
        assert!(e.contains("without TLS"), "{e}");
        let e =
            ConfigFile::parse("projects:\n  team:\n    notify: [{ email: [nope] }]\n").unwrap_err();
        assert!(e.contains("projects.team.notify[0]"), "{e}");
        assert!(
            ConfigFile::parse("")
                .unwrap()
                .insecure_registries
                .is_empty()
        );
    }

    #[test]
    fn environments_name_a_prefix_and_maybe_another_registry() {
        let f = ConfigFile::parse(
            "environments:\n  stable: { prefix: stable }\n  ext: { prefix: prod/, registry: \"reg.lan:5000\", gates: [tests-passed] }\n",
        )
        .unwrap();
        assert_eq!(
            f.environments["stable"].repository("team/app"),
            "stable/team/app"
        );
        assert_eq!(f.environments["stable"].gates.len(), 5);
        assert!(f.environments["stable"].policy.is_empty());
        assert_eq!(
            f.environments["ext"].registry.as_deref(),
            Some("reg.lan:5000")
        );
        assert_eq!(f.environments["ext"].repository("a"), "prod/a");
        // Naming the embedded registry is the same as leaving it out.
        let own = crate::backends::own_hosts("127.0.0.1:8080");
        assert_eq!(f.environments["stable"].external_registry(&own), None);
        assert_eq!(
            f.environments["ext"].external_registry(&own),
            Some("reg.lan:5000")
        );
        let mut here = f.environments["ext"].clone();
        here.registry = Some("localhost:8080".into());
        assert_eq!(here.external_registry(&own), None);
        for (bad, says) in [
            ("{ prefix: \"\" }", "environments.x.prefix"),
            ("{ prefix: Stable }", "environments.x.prefix"),
            (
                "{ prefix: s, registry: \"reg.lan/path\" }",
                "environments.x.registry",
            ),
            ("{ prefix: s, registry: nodots }", "environments.x.registry"),
            ("{ prefix: s, gates: [signed-twice] }", "gates"),
            (
                "{ prefix: s, policy: { base_repositories: [fedora] } }",
                "environments.x.policy.base_repositories",
            ),
            (
                "{ prefix: s, policy: { max_findings: { viruses: 1 } } }",
                "viruses",
            ),
        ] {
            let e = ConfigFile::parse(&format!("environments:\n  x: {bad}\n")).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }
}
