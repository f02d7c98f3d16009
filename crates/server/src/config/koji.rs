//! `koji:` in the config file: the hub complete builds are imported into,
//! how Slipway logs in, and what it uploads.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// How Slipway logs in to the hub.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KojiAuth {
    /// `login(user, password)`; the password from `password_file` or
    /// `password_env`.
    #[default]
    Password,
    /// `sslLogin` at `<hub_url>/ssllogin` with `cert_file` and `key_file`.
    SslClientCert,
}

/// What a `docker-image` output's file is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UploadMode {
    /// A small `.tar.gz` holding a README with the image's pull specs
    /// (current atomic-reactor for registry-first builds).
    #[default]
    Placeholder,
    /// The platform image as a gzipped docker-archive (OSBS 1), made with
    /// `skopeo copy` when the build publishes and kept until it is imported.
    Archive,
}

/// The digest uploads are checked with and outputs carry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChecksumSetting {
    #[default]
    Sha256,
    /// For older hubs that take nothing else.
    Md5,
}

/// A Koji hub that complete builds are imported into.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KojiSettings {
    /// The hub's XML-RPC URL (`https://koji.example.com/kojihub`).
    pub hub_url: String,
    #[serde(default)]
    pub auth: KojiAuth,
    /// The content generator's user on the hub (password login).
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    #[serde(default)]
    pub password_env: Option<String>,
    /// The client certificate (PEM, with its chain) and its key, for
    /// `ssl-client-cert`.
    #[serde(default)]
    pub cert_file: Option<PathBuf>,
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    /// The CA certificates (PEM) that the hub's certificate is checked
    /// against, instead of the system's.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// The content generator's name on the hub (default `slipway`).
    #[serde(default = "default_cg")]
    pub content_generator: String,
    /// Off: keep the settings but neither reserve nor import (default on).
    #[serde(default = "yes")]
    pub import: bool,
    #[serde(default)]
    pub upload_mode: UploadMode,
    #[serde(default)]
    pub checksum: ChecksumSetting,
    /// The Koji user that owns each imported build, by Koji package name
    /// (the image's `component` label); `"*"` for every other package. Without a
    /// match the content generator's own user owns it.
    #[serde(default)]
    pub owner_map: BTreeMap<String, String>,
    /// Seconds one call to the hub may take (default 120).
    #[serde(default)]
    pub timeout_seconds: Option<u64>,
}

fn default_cg() -> String {
    "slipway".into()
}

fn yes() -> bool {
    true
}

/// Bytes a password or PEM file may have: anything bigger is not one.
const MAX_SECRET_FILE: u64 = 1024 * 1024;

impl KojiSettings {
    /// Check what can be checked without the hub; the message names the
    /// setting to fix.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.hub_url.starts_with("http://") || self.hub_url.starts_with("https://")) {
            return Err(format!(
                "koji.hub_url {:?} must start with http:// or https://",
                self.hub_url
            ));
        }
        match self.auth {
            KojiAuth::Password => {
                if self.user.as_deref().unwrap_or("").is_empty() {
                    return Err("koji: auth password needs user".into());
                }
                if self.password_file.is_some() == self.password_env.is_some() {
                    return Err("koji: give exactly one of password_file and password_env".into());
                }
                if self.cert_file.is_some() || self.key_file.is_some() {
                    return Err("koji: cert_file and key_file are for auth: ssl-client-cert".into());
                }
            }
            KojiAuth::SslClientCert => {
                if self.cert_file.is_none() || self.key_file.is_none() {
                    return Err("koji: auth ssl-client-cert needs cert_file and key_file".into());
                }
                if self.password_file.is_some() || self.password_env.is_some() {
                    return Err(
                        "koji: password_file and password_env are for auth: password".into(),
                    );
                }
                if !self.hub_url.starts_with("https://") {
                    return Err("koji: auth ssl-client-cert needs an https:// hub_url".into());
                }
            }
        }
        if self.content_generator.is_empty() {
            return Err("koji.content_generator must not be empty".into());
        }
        for (package, user) in &self.owner_map {
            if package.is_empty() || user.is_empty() {
                return Err(format!(
                    "koji.owner_map: {package:?}: {user:?}: neither may be empty"
                ));
            }
        }
        Ok(())
    }

    /// The password, from its file (its first line) or its environment
    /// variable. A file others may read is refused, as ssh does.
    pub fn password(&self) -> Result<String, String> {
        if let Some(f) = &self.password_file {
            let text = read_secret(f, "koji.password_file")?;
            let line = text.lines().next().unwrap_or("");
            if line.is_empty() {
                return Err(format!("koji.password_file {} is empty", f.display()));
            }
            return Ok(line.to_string());
        }
        if let Some(var) = &self.password_env {
            return std::env::var(var).map_err(|_| {
                format!("koji.password_env: the environment variable {var} is not set")
            });
        }
        Err("koji: give password_file or password_env".into())
    }

    /// The hub, with the timeout and TLS files set (read now: a missing or
    /// unreadable file is found at startup, and a renewed one is used from
    /// the next attempt on).
    pub fn hub(&self) -> Result<slipway_koji::Hub, String> {
        let read_pem = |f: &Option<PathBuf>, what: &str| -> Result<Option<Vec<u8>>, String> {
            f.as_deref()
                .map(|p| read_secret(p, what).map(String::into_bytes))
                .transpose()
        };
        let client = match self.auth {
            KojiAuth::Password => None,
            KojiAuth::SslClientCert => Some((
                read_pem(&self.cert_file, "koji.cert_file")?.unwrap_or_default(),
                read_pem(&self.key_file, "koji.key_file")?.unwrap_or_default(),
            )),
        };
        let ca = match &self.ca_file {
            Some(p) => Some(
                std::fs::read(p)
                    .map_err(|e| format!("cannot read koji.ca_file {}: {e}", p.display()))?,
            ),
            None => None,
        };
        slipway_koji::Hub::with_tls(
            &self.hub_url,
            std::time::Duration::from_secs(self.timeout_seconds.unwrap_or(120)),
            ca.as_deref(),
            client.as_ref().map(|(c, k)| (c.as_slice(), k.as_slice())),
        )
        .map_err(|e| format!("koji: {e}"))
    }

    /// The checksum uploads and outputs use.
    pub fn checksum(&self) -> slipway_koji::Checksum {
        match self.checksum {
            ChecksumSetting::Sha256 => slipway_koji::Checksum::Sha256,
            ChecksumSetting::Md5 => slipway_koji::Checksum::Md5,
        }
    }

    /// The Koji user to own a build of `package`, if the map names one.
    pub fn owner(&self, package: &str) -> Option<&str> {
        self.owner_map
            .get(package)
            .or_else(|| self.owner_map.get("*"))
            .map(String::as_str)
    }
}

/// A secret file's text: refused when group or others may read it, or
/// when it is too big to be one.
fn read_secret(path: &Path, what: &str) -> Result<String, String> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path)
        .map_err(|e| format!("cannot read {what} {}: {e}", path.display()))?;
    if meta.permissions().mode() & 0o077 != 0 {
        return Err(format!(
            "{what} {} may be read by others (mode {:o}): run `chmod 600 {}`",
            path.display(),
            meta.permissions().mode() & 0o777,
            path.display()
        ));
    }
    if meta.len() > MAX_SECRET_FILE {
        return Err(format!("{what} {} is too big to be one", path.display()));
    }
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {what} {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> KojiSettings {
        serde_saphyr::from_str(yaml).unwrap()
    }

    #[test]
    fn settings_are_checked_and_defaulted() {
        let k =
            parse("hub_url: http://127.0.0.1:1/kojihub\nuser: slipway\npassword_env: KOJI_PW\n");
        k.validate().unwrap();
        assert_eq!(k.content_generator, "slipway");
        assert!(k.import);
        assert_eq!(k.upload_mode, UploadMode::Placeholder);
        assert_eq!(k.checksum(), slipway_koji::Checksum::Sha256);
        for (yaml, says) in [
            ("hub_url: ftp://x\nuser: u\npassword_env: P\n", "http"),
            ("hub_url: http://x\npassword_env: P\n", "needs user"),
            ("hub_url: http://x\nuser: u\n", "exactly one"),
            (
                "hub_url: http://x\nuser: u\npassword_env: P\npassword_file: /f\n",
                "exactly one",
            ),
            (
                "hub_url: https://x\nauth: ssl-client-cert\ncert_file: /c\n",
                "key_file",
            ),
            (
                "hub_url: http://x\nauth: ssl-client-cert\ncert_file: /c\nkey_file: /k\n",
                "https",
            ),
            (
                "hub_url: http://x\nuser: u\npassword_env: P\nowner_map: {a: ''}\n",
                "owner_map",
            ),
        ] {
            let e = parse(yaml).validate().unwrap_err();
            assert!(e.contains(says), "{yaml}: {e}");
        }
        assert!(
            serde_saphyr::from_str::<KojiSettings>("hub_url: http://x\nupload_mode: tarball\n")
                .is_err()
        );
    }

    #[test]
    fn owners_come_from_the_map() {
        let k = parse(
            "hub_url: http://x\nuser: u\npassword_env: P\nowner_map: {httpd: alice, '*': releng}\n",
        );
        assert_eq!(k.owner("httpd"), Some("alice"));
        assert_eq!(k.owner("nginx"), Some("releng"));
        let k = parse("hub_url: http://x\nuser: u\npassword_env: P\n");
        assert_eq!(k.owner("httpd"), None);
    }

    #[test]
    fn a_password_file_others_can_read_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("pw");
        std::fs::write(&f, "s3cret\nignored\n").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        let mut k = parse("hub_url: http://x\nuser: u\npassword_file: /nowhere\n");
        k.password_file = Some(f.clone());
        let e = k.password().unwrap_err();
        assert!(e.contains("chmod 600"), "{e}");
        assert!(!e.contains("s3cret"), "{e}");
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(k.password().unwrap(), "s3cret");
        k.password_file = Some(dir.path().join("missing"));
        assert!(k.password().unwrap_err().contains("cannot read"));
    }
}
