//! Build avoidance: the key of everything a build's result depends on.
//!
//! Two builds with the same [`InputKey`] would produce the same image (up
//! to timestamps), so a trigger whose key equals the config's last
//! successful build's key records "skipped: up to date" instead of
//! building, unless it is forced.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// What goes into the key. Every field is in canonical form (sorted maps),
/// so equal inputs give equal keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildInputs {
    /// The source commit.
    pub commit: String,
    /// Content hash of the build context (Dockerfile included).
    pub context: String,
    /// Each base image as written in FROM, with the digest it resolved to
    /// (or `unresolved` when the registry could not say).
    pub parents: BTreeMap<String, String>,
    pub build_args: BTreeMap<String, String>,
    /// Platforms, in build order.
    pub platforms: Vec<String>,
    /// Labels the build sets, except those that change on every build
    /// (build date, build id, release).
    pub labels: BTreeMap<String, String>,
    /// Slipway's and buildah's versions.
    pub builder: String,
}

impl BuildInputs {
    /// `sha256:<hex>` over the canonical JSON of the inputs.
    pub fn key(&self) -> String {
        // Serialising a struct of strings and sorted maps cannot fail.
        let json = serde_json::to_vec(self).unwrap_or_default();
        format!("sha256:{}", hex::encode(Sha256::digest(&json)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs() -> BuildInputs {
        BuildInputs {
            commit: "0123456789abcdef0123456789abcdef01234567".into(),
            context: "sha256:aa".into(),
            parents: [("r/a:latest".to_string(), "sha256:1".to_string())].into(),
            build_args: BTreeMap::new(),
            platforms: vec!["x86_64".into()],
            labels: BTreeMap::new(),
            builder: "slipway 0.1.0, buildah 1.28".into(),
        }
    }

    #[test]
    fn every_input_changes_the_key() {
        let base = inputs().key();
        assert_eq!(base, inputs().key());
        assert!(base.starts_with("sha256:") && base.len() == 71);
        let mut changed = Vec::new();
        let mut i = inputs();
        i.commit = "1".repeat(40);
        changed.push(i);
        let mut i = inputs();
        i.context = "sha256:bb".into();
        changed.push(i);
        let mut i = inputs();
        i.parents.insert("r/a:latest".into(), "sha256:2".into());
        changed.push(i);
        let mut i = inputs();
        i.build_args.insert("V".into(), "1".into());
        changed.push(i);
        let mut i = inputs();
        i.platforms.push("aarch64".into());
        changed.push(i);
        let mut i = inputs();
        i.builder = "slipway 0.2.0, buildah 1.28".into();
        changed.push(i);
        for i in changed {
            assert_ne!(i.key(), base, "{i:?}");
        }
    }
}
