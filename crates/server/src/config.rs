//! Server configuration: command-line flags plus an optional YAML file.

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
    /// Worker clusters per platform; without it, one local cluster for the
    /// host's platform with `workers` slots.
    pub clusters_file: Option<PathBuf>,
    /// Where to note this server's URL and token file so a CLI on the same
    /// machine finds it (`~/.local/state/slipway/server.yaml`).
    pub state_file: Option<PathBuf>,
    pub rebuild_debounce: jiff::SignedDuration,
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
        Ok(ServerConfig {
            data_dir,
            listen,
            workers,
            insecure_registries: file.insecure_registries,
            default_registry: file.default_registry,
            storage_driver: file.storage_driver.unwrap_or_else(|| "vfs".into()),
            registry_anonymous_pull: file.registry_anonymous_pull,
            registry_listen: file.registry_listen,
            registry_max_concurrent_writes: file
                .registry_max_concurrent_writes
                .unwrap_or(slipway_registry::DEFAULT_MAX_CONCURRENT_WRITES)
                .max(1),
            clusters_file: file.clusters_file,
            state_file: None,
            rebuild_debounce: file
                .rebuild_debounce_seconds
                .map(|s| jiff::SignedDuration::from_secs(i64::try_from(s).unwrap_or(i64::MAX)))
                .unwrap_or(crate::rebuilds::DEFAULT_DEBOUNCE),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(
            ConfigFile::parse("")
                .unwrap()
                .insecure_registries
                .is_empty()
        );
    }
}
