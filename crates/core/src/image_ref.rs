//! Image references: `registry[:port]/path/name[:tag][@sha256:…]`.
//!
//! Slipway always pushes to a named registry, so a reference must start with a
//! registry host (a name with a `.` or `:`, or `localhost`); `busybox:latest`
//! alone is refused rather than silently sent to some default registry.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ImageRef {
    /// Host, with port if any (`127.0.0.1:5000`, `quay.io`).
    pub registry: String,
    /// Repository path inside the registry (`team/app`).
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageRefError {
    #[error("image reference is empty")]
    Empty,
    #[error(
        "image reference {0:?} names no registry; write it as HOST[:PORT]/NAME[:TAG], e.g. 127.0.0.1:5000/{0}"
    )]
    NoRegistry(String),
    #[error(
        "image reference {reference:?} has an invalid repository name {name:?}: use lowercase letters, digits and . _ - separated by /"
    )]
    BadRepository { reference: String, name: String },
    #[error(
        "image reference {reference:?} has an invalid tag {tag:?}: use up to 128 letters, digits, _ . -, not starting with . or -"
    )]
    BadTag { reference: String, tag: String },
    #[error(
        "image reference {reference:?} has an invalid digest {digest:?}: expected sha256:<64 hex> or sha512:<128 hex>"
    )]
    BadDigest { reference: String, digest: String },
    #[error("image reference {0:?} has an invalid registry host")]
    BadRegistry(String),
}

impl ImageRef {
    /// [`ImageRef::parse`], with `default_registry` (`host[:port][/prefix]`)
    /// put in front of a reference that names no registry.
    pub fn parse_with_default(
        s: &str,
        default_registry: Option<&str>,
    ) -> Result<Self, ImageRefError> {
        match (ImageRef::parse(s), default_registry) {
            (Err(ImageRefError::NoRegistry(_)), Some(reg)) => {
                ImageRef::parse(&format!("{reg}/{}", s.trim()))
            }
            (r, _) => r,
        }
    }

    pub fn parse(s: &str) -> Result<Self, ImageRefError> {
        let s = s.trim();
        if s.is_empty() {
            return Err(ImageRefError::Empty);
        }
        let (rest, digest) = match s.split_once('@') {
            Some((r, d)) => {
                if !valid_digest(d) {
                    return Err(ImageRefError::BadDigest {
                        reference: s.into(),
                        digest: d.into(),
                    });
                }
                (r, Some(d.to_string()))
            }
            None => (s, None),
        };
        let (registry, path) = match rest.split_once('/') {
            Some((first, path)) if is_registry_host(first) => (first, path),
            _ => return Err(ImageRefError::NoRegistry(s.into())),
        };
        if !valid_host(registry) {
            return Err(ImageRefError::BadRegistry(s.into()));
        }
        // A tag is after the last ':' of the last path component.
        let last_slash = path.rfind('/').map(|i| i + 1).unwrap_or(0);
        let (repository, tag) = match path[last_slash..].rfind(':') {
            Some(i) => {
                let i = last_slash + i;
                (&path[..i], Some(path[i + 1..].to_string()))
            }
            None => (path, None),
        };
        if !valid_repository(repository) {
            return Err(ImageRefError::BadRepository {
                reference: s.into(),
                name: repository.into(),
            });
        }
        if let Some(t) = &tag
            && !valid_tag(t)
        {
            return Err(ImageRefError::BadTag {
                reference: s.into(),
                tag: t.clone(),
            });
        }
        let tag = if tag.is_none() && digest.is_none() {
            Some("latest".to_string())
        } else {
            tag
        };
        Ok(ImageRef {
            registry: registry.to_string(),
            repository: repository.to_string(),
            tag,
            digest,
        })
    }

    /// `registry/repository`, without tag or digest.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The same repository under `tag` (no digest).
    pub fn with_tag(&self, tag: &str) -> ImageRef {
        ImageRef {
            tag: Some(tag.to_string()),
            digest: None,
            ..self.clone()
        }
    }

    /// `registry/repository@digest`: the immutable reference of a pushed image.
    pub fn with_digest(&self, digest: &str) -> String {
        format!("{}@{}", self.name(), digest)
    }

    /// The registry's host without its port.
    pub fn host(&self) -> &str {
        host_of(&self.registry)
    }

    /// Registries on loopback addresses may be spoken to over plain HTTP.
    pub fn is_loopback(&self) -> bool {
        is_loopback_host(self.host())
    }
}

/// `registry/repository:tag` of an image name as written in a FROM line
/// (`busybox` → `docker.io/library/busybox:latest`), digest dropped: two
/// spellings of one image compare equal. `None` when it is not an image
/// name.
pub fn canonical_name(name: &str) -> Option<String> {
    let r = ImageRef::parse_with_default(name, Some("docker.io")).ok()?;
    let repository = if r.registry == "docker.io" && !r.repository.contains('/') {
        format!("library/{}", r.repository)
    } else {
        r.repository
    };
    Some(format!(
        "{}/{repository}:{}",
        r.registry,
        r.tag.as_deref().unwrap_or("latest")
    ))
}

/// The host part of `host[:port]` (brackets kept off IPv6 literals).
pub fn host_of(registry: &str) -> &str {
    if let Some(rest) = registry.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    registry.split(':').next().unwrap_or(registry)
}

pub fn is_loopback_host(host: &str) -> bool {
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    host.parse::<IpAddr>()
        .map(|ip| ip.is_loopback())
        .unwrap_or(false)
}

/// Whether `host` names a registry as an image reference's first part
/// does (`registry.example.com`, `host:5000`, `localhost`).
pub fn check_registry_host(host: &str) -> Result<(), String> {
    if host.len() <= 255 && valid_host(host) && is_registry_host(host) {
        Ok(())
    } else {
        Err(format!(
            "{host:?} is not a registry host: a name with a dot or a port (registry.example.com, host:5000), or localhost"
        ))
    }
}

fn is_registry_host(first: &str) -> bool {
    first.contains('.') || first.contains(':') || first == "localhost" || first.starts_with('[')
}

fn valid_host(h: &str) -> bool {
    !h.is_empty()
        && h.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
}

fn valid_repository(r: &str) -> bool {
    !r.is_empty()
        && r.len() <= 255
        && r.split('/').all(|comp| {
            !comp.is_empty()
                && comp.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
                && comp.ends_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
                && comp.chars().all(|c| {
                    c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-')
                })
        })
}

/// The distribution spec's tag grammar: up to 128 of `[A-Za-z0-9_.-]`,
/// not starting with `.` or `-`.
pub fn valid_tag(t: &str) -> bool {
    !t.is_empty()
        && t.len() <= 128
        && t.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
        && t.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// `sha256:<64 lowercase hex>` or `sha512:<128 lowercase hex>`.
pub fn valid_digest(d: &str) -> bool {
    let hex_ok = |h: &str, n: usize| {
        h.len() == n
            && h.chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
    };
    match d.split_once(':') {
        Some(("sha256", h)) => hex_ok(h, 64),
        Some(("sha512", h)) => hex_ok(h, 128),
        _ => false,
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

impl FromStr for ImageRef {
    type Err = ImageRefError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ImageRef::parse(s)
    }
}

impl TryFrom<String> for ImageRef {
    type Error = ImageRefError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        ImageRef::parse(&s)
    }
}

impl From<ImageRef> for String {
    fn from(r: ImageRef) -> String {
        r.to_string()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn canonical_names_compare_spellings() {
        use super::canonical_name;
        assert_eq!(
            canonical_name("busybox").as_deref(),
            Some("docker.io/library/busybox:latest")
        );
        assert_eq!(
            canonical_name("docker.io/library/busybox:latest"),
            canonical_name("busybox")
        );
        assert_eq!(
            canonical_name("127.0.0.1:5000/t/base:1@sha256:0000000000000000000000000000000000000000000000000000000000000000")
                .as_deref(),
            Some("127.0.0.1:5000/t/base:1")
        );
        assert_eq!(canonical_name("Not An Image"), None);
    }

    use super::*;

    #[test]
    fn parses_full_reference() {
        let r = ImageRef::parse("127.0.0.1:5000/team/app:1.0").unwrap();
        assert_eq!(r.registry, "127.0.0.1:5000");
        assert_eq!(r.repository, "team/app");
        assert_eq!(r.tag.as_deref(), Some("1.0"));
        assert_eq!(r.digest, None);
        assert!(r.is_loopback());
        assert_eq!(r.to_string(), "127.0.0.1:5000/team/app:1.0");
    }

    #[test]
    fn default_tag_is_latest() {
        let r = ImageRef::parse("quay.io/app").unwrap();
        assert_eq!(r.tag.as_deref(), Some("latest"));
        assert!(!r.is_loopback());
    }

    #[test]
    fn digest_reference() {
        let d = format!("sha256:{}", "a".repeat(64));
        let r = ImageRef::parse(&format!("localhost/app@{d}")).unwrap();
        assert_eq!(r.tag, None);
        assert_eq!(r.digest.as_deref(), Some(d.as_str()));
        assert!(r.is_loopback());
        assert_eq!(r.with_digest(&d), format!("localhost/app@{d}"));
    }

    #[test]
    fn loopback_forms() {
        assert!(is_loopback_host("localhost"));
        assert!(is_loopback_host("127.8.9.1"));
        assert!(is_loopback_host("::1"));
        assert_eq!(host_of("[::1]:5000"), "::1");
        assert!(!is_loopback_host("10.0.0.1"));
    }

    #[test]
    fn refuses_bad_references() {
        assert_eq!(ImageRef::parse(""), Err(ImageRefError::Empty));
        assert!(matches!(
            ImageRef::parse("busybox:latest"),
            Err(ImageRefError::NoRegistry(_))
        ));
        assert_eq!(
            ImageRef::parse_with_default("team/app:1", Some("127.0.0.1:5000"))
                .unwrap()
                .to_string(),
            "127.0.0.1:5000/team/app:1"
        );
        assert!(matches!(
            ImageRef::parse_with_default("busybox", None),
            Err(ImageRefError::NoRegistry(_))
        ));
        assert!(matches!(
            ImageRef::parse("quay.io/App"),
            Err(ImageRefError::BadRepository { .. })
        ));
        assert!(matches!(
            ImageRef::parse("quay.io/app:-x"),
            Err(ImageRefError::BadTag { .. })
        ));
        assert!(matches!(
            ImageRef::parse("quay.io/app@sha256:xyz"),
            Err(ImageRefError::BadDigest { .. })
        ));
        assert!(matches!(
            ImageRef::parse("quay.io/a//b"),
            Err(ImageRefError::BadRepository { .. })
        ));
    }

    #[test]
    fn digests() {
        assert!(valid_digest(&format!("sha256:{}", "0".repeat(64))));
        assert!(valid_digest(&format!("sha512:{}", "f".repeat(128))));
        assert!(!valid_digest(&format!("sha256:{}", "A".repeat(64))));
        assert!(!valid_digest("md5:abc"));
    }
}
