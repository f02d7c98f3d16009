//! The wire types of image streams (`/api/v1/images…`), and how a
//! rollback picks its target from a tag's history.

use serde::{Deserialize, Serialize};

/// A repository of the embedded registry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageSummary {
    /// `registry/path`.
    pub repository: String,
    /// The config whose output it is, if one's is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    pub tags: Vec<String>,
}

/// `POST /images/tag`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TagRequest {
    /// `REPO:TAG` or `REPO@DIGEST`.
    pub source: String,
    /// `REPO:TAG`, in the same repository.
    pub target: String,
}

/// `POST /images/untag`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UntagRequest {
    pub reference: String,
}

/// `POST /images/rollback`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RollbackRequest {
    pub reference: String,
    /// A digest the tag named before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// How many moves back (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steps: Option<u32>,
}

/// What a tag, untag or rollback did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagMoveResult {
    pub reference: String,
    pub old_digest: Option<String>,
    pub new_digest: Option<String>,
}

/// `POST /prune`: apply every config's history limits now (or one's).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PruneRequest {
    #[serde(default)]
    pub dry_run: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<String>,
}

/// What pruning removed (or, in a dry run, would).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PruneReport {
    pub dry_run: bool,
    pub builds: Vec<PrunedBuild>,
}

/// One pruned build: its tags that went with it, and its manifests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrunedBuild {
    pub build: i64,
    pub config: String,
    pub phase: String,
    /// `registry/repository:tag`.
    pub tags: Vec<String>,
    /// Manifests deleted with them (none in a dry run): registry garbage
    /// collection then frees the blobs only they needed.
    pub manifests: Vec<String>,
}

/// The digest a rollback moves a tag to. `moves` are the digests the tag
/// was moved to, newest first (`None` where it was removed); `current` is
/// what it names now. The tag's earlier states are the distinct digests
/// of `moves` after the current one, newest first: `steps` (default 1)
/// picks one by its place, `to` by its digest (it must be among them, so a
/// rollback only ever returns to what the tag once was).
pub fn rollback_target(
    current: Option<&str>,
    moves: &[Option<String>],
    to: Option<&str>,
    steps: Option<u32>,
) -> Result<String, String> {
    let mut earlier: Vec<&str> = Vec::new();
    for d in moves.iter().flatten() {
        if Some(d.as_str()) != current && !earlier.contains(&d.as_str()) {
            earlier.push(d);
        }
    }
    match (to, steps) {
        (Some(_), Some(_)) => Err("give --to or --steps, not both".into()),
        (Some(digest), None) => earlier
            .iter()
            .find(|d| **d == digest)
            .map(|d| d.to_string())
            .ok_or_else(|| {
                format!("the tag never named {digest} before; `slipway history` lists what it did")
            }),
        (None, steps) => {
            let n = steps.unwrap_or(1);
            if n == 0 {
                return Err("--steps must be at least 1".into());
            }
            earlier
                .get(n as usize - 1)
                .map(|d| d.to_string())
                .ok_or_else(|| match earlier.len() {
                    0 => "the tag has named nothing else; there is nothing to roll back to".into(),
                    k => format!(
                        "the tag named only {k} other image{} before; use --steps {k} at most",
                        if k == 1 { "" } else { "s" }
                    ),
                })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(d: &[Option<&str>]) -> Vec<Option<String>> {
        d.iter().map(|x| x.map(str::to_string)).collect()
    }

    #[test]
    fn rollback_goes_back_through_distinct_earlier_images() {
        // latest: a → b → c → b (a rollback) → now b.
        let moves = m(&[Some("b"), Some("c"), Some("b"), Some("a")]);
        assert_eq!(rollback_target(Some("b"), &moves, None, None).unwrap(), "c");
        assert_eq!(
            rollback_target(Some("b"), &moves, None, Some(2)).unwrap(),
            "a"
        );
        assert!(
            rollback_target(Some("b"), &moves, None, Some(3))
                .unwrap_err()
                .contains("only 2 other images")
        );
        assert_eq!(
            rollback_target(Some("b"), &moves, Some("a"), None).unwrap(),
            "a"
        );
        assert!(
            rollback_target(Some("b"), &moves, Some("zz"), None)
                .unwrap_err()
                .contains("never named zz")
        );
        assert!(rollback_target(Some("b"), &moves, Some("a"), Some(1)).is_err());
        assert!(rollback_target(Some("b"), &moves, None, Some(0)).is_err());
        // A removed tag comes back as it was.
        let moves = m(&[None, Some("a")]);
        assert_eq!(rollback_target(None, &moves, None, None).unwrap(), "a");
        assert!(
            rollback_target(Some("a"), &m(&[Some("a")]), None, None)
                .unwrap_err()
                .contains("nothing to roll back to")
        );
    }
}
