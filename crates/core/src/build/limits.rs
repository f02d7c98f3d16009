//! How much a client may send. Every input that is stored or handed to a
//! tool has a bound, checked before anything is stored, so a request can
//! neither fill the database nor fail later with "argument list too long".

use super::{BuildRequest, InvalidRequest, invalid};
use serde::{Deserialize, Serialize};

/// The limits (server config `limits:`); the defaults suit real builds by
/// a wide margin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Bytes of any API request body (default 1 MiB).
    pub request_bytes: usize,
    /// Bytes of a build's args, names and values together (default 64 KiB).
    pub build_args_bytes: usize,
    /// Bytes of a build's labels, keys and values together (default 64 KiB).
    pub labels_bytes: usize,
    /// Platforms one build may ask for (default 8).
    pub platforms: usize,
    /// Tags one build may publish, `slipway.yaml`'s included (default 32).
    pub tags: usize,
    /// Bytes of a Dockerfile (default 1 MiB).
    pub dockerfile_bytes: usize,
    /// Image configs in one apply (default 5000).
    pub configs_per_apply: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            request_bytes: 1024 * 1024,
            build_args_bytes: 64 * 1024,
            labels_bytes: 64 * 1024,
            platforms: 8,
            tags: 32,
            dockerfile_bytes: 1024 * 1024,
            configs_per_apply: 5000,
        }
    }
}

fn pairs_bytes(m: &std::collections::BTreeMap<String, String>) -> usize {
    m.iter().map(|(k, v)| k.len() + v.len()).sum()
}

impl Limits {
    /// Check what a build request carries against the limits.
    pub fn check(&self, r: &BuildRequest) -> Result<(), InvalidRequest> {
        let args = pairs_bytes(&r.build_args);
        if args > self.build_args_bytes {
            return Err(invalid(
                "build_args",
                format!(
                    "the build args are {args} bytes; at most {} are allowed (limits.build_args_bytes); pass large inputs as files in the repository",
                    self.build_args_bytes
                ),
            ));
        }
        let labels = pairs_bytes(&r.labels);
        if labels > self.labels_bytes {
            return Err(invalid(
                "labels",
                format!(
                    "the labels are {labels} bytes; at most {} are allowed (limits.labels_bytes)",
                    self.labels_bytes
                ),
            ));
        }
        if r.platforms.len() > self.platforms {
            return Err(invalid(
                "platforms",
                format!(
                    "{} platforms asked for; at most {} are allowed (limits.platforms)",
                    r.platforms.len(),
                    self.platforms
                ),
            ));
        }
        Ok(())
    }

    /// Check a prepared build's tag count.
    pub fn check_tags(&self, tags: usize) -> Result<(), String> {
        if tags > self.tags {
            return Err(format!(
                "the build would publish {tags} tags; at most {} are allowed (limits.tags): list fewer tags in slipway.yaml",
                self.tags
            ));
        }
        Ok(())
    }

    /// Check a Dockerfile's size.
    pub fn check_dockerfile(&self, shown: &str, bytes: u64) -> Result<(), String> {
        if bytes > self.dockerfile_bytes as u64 {
            return Err(format!(
                "{shown} is {bytes} bytes; at most {} are allowed (limits.dockerfile_bytes)",
                self.dockerfile_bytes
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oversize_inputs_are_refused_naming_the_limit() {
        let l = Limits::default();
        let mut r = BuildRequest::default();
        r.build_args.insert("BIG".into(), "x".repeat(64 * 1024));
        let e = l.check(&r).unwrap_err();
        assert_eq!(e.field, "build_args");
        assert!(
            e.message.contains("limits.build_args_bytes"),
            "{}",
            e.message
        );
        let mut r = BuildRequest::default();
        r.labels.insert("l".into(), "x".repeat(70_000));
        assert_eq!(l.check(&r).unwrap_err().field, "labels");
        let r = BuildRequest {
            platforms: vec!["x86_64".into(); 9],
            ..Default::default()
        };
        assert_eq!(l.check(&r).unwrap_err().field, "platforms");
        let mut r = BuildRequest::default();
        r.build_args.insert("OK".into(), "x".repeat(60_000));
        assert!(l.check(&r).is_ok());
        assert!(l.check_tags(33).is_err() && l.check_tags(32).is_ok());
        assert!(l.check_dockerfile("Dockerfile", 2 << 20).is_err());
    }

    #[test]
    fn limits_read_from_yaml_with_defaults() {
        let l: Limits = serde_saphyr::from_str("build_args_bytes: 10\n").unwrap();
        assert_eq!(l.build_args_bytes, 10);
        assert_eq!(l.platforms, 8);
        assert!(serde_saphyr::from_str::<Limits>("bogus: 1\n").is_err());
    }
}
