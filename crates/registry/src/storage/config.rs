//! Which backend the blob store uses, as the server's config file says.
//!
//! ```yaml
//! # the default: files under <data-dir>/registry
//! registry_storage:
//!   backend: filesystem
//!
//! # a bucket shared by every server behind the load balancer
//! registry_storage:
//!   backend: s3
//!   bucket: slipway-blobs
//!   region: eu-west-1
//!   endpoint: https://minio.internal:9000    # not AWS: its URL
//!   prefix: prod/registry                    # keys under this
//!   ca_file: /etc/slipway/minio-ca.pem       # a private CA, beside the system roots
//!   access_key_id: { env: SLIPWAY_S3_ACCESS_KEY_ID }
//!   secret_access_key: { file: /run/secrets/slipway-s3-secret }
//! ```
//!
//! Credentials are never values in the file: only the name of an
//! environment variable or of a file that holds them.

use super::StorageError;
use serde::Deserialize;
use std::path::PathBuf;

/// The blob store's backend.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "backend", rename_all = "snake_case")]
pub enum BlobBackendConfig {
    /// Files on a local file system (the default).
    Filesystem {
        /// The directory (default: `<data-dir>/registry`).
        #[serde(default)]
        root: Option<PathBuf>,
    },
    /// An S3-compatible bucket (AWS S3, MinIO, Ceph RGW, Garage, …).
    S3(S3Config),
}

impl Default for BlobBackendConfig {
    fn default() -> Self {
        BlobBackendConfig::Filesystem { root: None }
    }
}

/// An S3-compatible bucket for the registry's blobs.
///
/// Layout under `prefix`: `blobs/<algorithm>/<xx>/<hex>` (committed,
/// verified blobs), `uploads/<id>/…` (upload sessions in progress).
/// A lifecycle rule that aborts incomplete multipart uploads after a day is
/// advisable (a server that dies during a commit leaves one behind).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Config {
    /// The bucket, which must exist.
    pub bucket: String,
    /// The region (default: `AWS_REGION` / `AWS_DEFAULT_REGION` when the
    /// credentials come from the environment, else `us-east-1`; most
    /// non-AWS servers accept any).
    #[serde(default)]
    pub region: Option<String>,
    /// The server's URL, for anything but AWS (`https://minio.internal:9000`).
    /// Requests then name the bucket in the path unless
    /// `virtual_hosted_style` is set.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Put every key under this prefix (`prod/registry`), to share a bucket.
    #[serde(default)]
    pub prefix: Option<String>,
    /// Allow a plain `http://` endpoint (a server on loopback or in a
    /// private network). Off by default.
    #[serde(default)]
    pub allow_http: bool,
    /// Name the bucket in the host name (`bucket.endpoint`) rather than in
    /// the path. Off by default.
    #[serde(default)]
    pub virtual_hosted_style: bool,
    /// PEM certificates of a private CA that signed the endpoint's
    /// certificate, trusted beside the system's roots.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// The access key id. With `secret_access_key`; neither: the standard
    /// AWS environment (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
    /// `AWS_SESSION_TOKEN`, web identity, ECS/EKS, instance metadata).
    #[serde(default)]
    pub access_key_id: Option<SecretSource>,
    /// The secret access key.
    #[serde(default)]
    pub secret_access_key: Option<SecretSource>,
    /// A session token, for temporary credentials.
    #[serde(default)]
    pub session_token: Option<SecretSource>,
}

impl S3Config {
    /// A bucket with nothing else set (the fields are public; set what you need).
    pub fn new(bucket: impl Into<String>) -> Self {
        S3Config {
            bucket: bucket.into(),
            region: None,
            endpoint: None,
            prefix: None,
            allow_http: false,
            virtual_hosted_style: false,
            ca_file: None,
            access_key_id: None,
            secret_access_key: None,
            session_token: None,
        }
    }

    /// The key prefix, without leading or trailing slashes (`""`: none).
    pub(crate) fn clean_prefix(&self) -> Result<String, StorageError> {
        let p = self.prefix.as_deref().unwrap_or("").trim_matches('/');
        if p.split('/').any(|s| s == "." || s == "..")
            || (!p.is_empty() && p.split('/').any(str::is_empty))
        {
            return Err(StorageError::Config(format!(
                "prefix {p:?} must be path segments without empty, `.` or `..` ones"
            )));
        }
        Ok(p.to_string())
    }

    /// The credentials the config names, read now: `None` when it names
    /// none (the environment's then apply).
    pub(crate) fn credentials(&self) -> Result<Option<Credentials>, StorageError> {
        self.credentials_with(&|name| std::env::var(name).ok())
    }

    fn credentials_with(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Option<Credentials>, StorageError> {
        match (&self.access_key_id, &self.secret_access_key) {
            (Some(id), Some(secret)) => Ok(Some(Credentials {
                access_key_id: id.read_with(env)?,
                secret_access_key: secret.read_with(env)?,
                session_token: match &self.session_token {
                    Some(t) => Some(t.read_with(env)?),
                    None => None,
                },
            })),
            (None, None) if self.session_token.is_none() => Ok(None),
            _ => Err(StorageError::Config(
                "access_key_id and secret_access_key go together (a session_token needs both)"
                    .into(),
            )),
        }
    }
}

/// Where a credential is read from: an environment variable's name
/// (`{ env: NAME }`) or a file (`{ file: PATH }`, surrounding whitespace
/// trimmed). Never the value itself.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum SecretSource {
    Env(String),
    File(PathBuf),
}

impl SecretSource {
    fn read_with(&self, env: &dyn Fn(&str) -> Option<String>) -> Result<String, StorageError> {
        let value = match self {
            SecretSource::Env(name) => env(name).ok_or_else(|| {
                StorageError::Config(format!("environment variable {name} is not set"))
            })?,
            SecretSource::File(path) => std::fs::read_to_string(path).map_err(|e| {
                StorageError::Config(format!("cannot read {}: {e}", path.display()))
            })?,
        };
        let value = value.trim();
        if value.is_empty() {
            return Err(StorageError::Config(format!("{self:?} is empty")));
        }
        Ok(value.to_string())
    }
}

/// Credentials read from their sources. Not `Debug`: never logged.
pub(crate) struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_backends_and_refuses_plain_secrets() {
        let fs: BlobBackendConfig = serde_json::from_str(r#"{"backend":"filesystem"}"#).unwrap();
        assert_eq!(fs, BlobBackendConfig::default());
        let s3: BlobBackendConfig = serde_json::from_str(
            r#"{"backend":"s3","bucket":"b","endpoint":"http://127.0.0.1:9000","allow_http":true,
                "access_key_id":{"env":"KEY_ID"},"secret_access_key":{"file":"/run/s"}}"#,
        )
        .unwrap();
        let BlobBackendConfig::S3(c) = s3 else {
            panic!("not S3: {s3:?}")
        };
        assert_eq!(c.access_key_id, Some(SecretSource::Env("KEY_ID".into())));
        assert_eq!(
            c.secret_access_key,
            Some(SecretSource::File("/run/s".into()))
        );
        assert!(c.allow_http && c.prefix.is_none());
        for bad in [
            r#"{"backend":"s3","bucket":"b","access_key_id":"AKIA123"}"#,
            r#"{"backend":"s3","bucket":"b","secret":"x"}"#,
            r#"{"backend":"gcs","bucket":"b"}"#,
        ] {
            assert!(
                serde_json::from_str::<BlobBackendConfig>(bad).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn reads_credentials_from_env_and_files() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("secret");
        std::fs::write(&secret, "s3cr3t\n").unwrap();
        let mut c = S3Config::new("b");
        c.access_key_id = Some(SecretSource::Env("ID_VAR".into()));
        c.secret_access_key = Some(SecretSource::File(secret));
        let env = |name: &str| (name == "ID_VAR").then(|| "AKID".to_string());
        let creds = c.credentials_with(&env).unwrap().unwrap();
        assert_eq!(creds.access_key_id, "AKID");
        assert_eq!(creds.secret_access_key, "s3cr3t");
        assert!(creds.session_token.is_none());
        let none = |_: &str| None;
        assert!(matches!(
            c.credentials_with(&none),
            Err(StorageError::Config(m)) if m.contains("ID_VAR")
        ));
        c.secret_access_key = None;
        assert!(c.credentials_with(&env).is_err(), "half a key pair");
        c.access_key_id = None;
        assert!(c.credentials_with(&env).unwrap().is_none());
    }

    #[test]
    fn prefixes() {
        let mut c = S3Config::new("b");
        assert_eq!(c.clean_prefix().unwrap(), "");
        c.prefix = Some("/prod/registry/".into());
        assert_eq!(c.clean_prefix().unwrap(), "prod/registry");
        for bad in ["a//b", "a/../b", "."] {
            c.prefix = Some(bad.into());
            assert!(c.clean_prefix().is_err(), "{bad}");
        }
    }
}
