//! API tokens: 256 random bits, shown once, stored only as a SHA-256 hash.
//!
//! A fast hash is enough: tokens are random, so there is nothing to
//! brute-force (unlike passwords, which would want argon2).
//!
//! Registry tokens carry [`Grant`]s: which actions on which repositories,
//! as in the Docker token specification's `repository:NAME:pull,push`
//! scopes. A worker build's token may push only to its output repository
//! and pull only its base images'; deleting needs a grant that says so.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Every API token starts with this, so leaked tokens are easy to spot.
pub const TOKEN_PREFIX: &str = "slw_";

/// The hex SHA-256 under which a token is stored.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Something a registry client does to a repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Pull,
    Push,
    Delete,
}

impl Action {
    pub const ALL: [Action; 3] = [Action::Pull, Action::Push, Action::Delete];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Pull => "pull",
            Action::Push => "push",
            Action::Delete => "delete",
        }
    }
}

/// Actions on one repository, on a namespace (`team/*`: every repository
/// under `team/`), or on every repository (`*`) but those under the
/// `except` namespaces (the other projects').
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    #[serde(rename = "r")]
    pub repository: String,
    #[serde(rename = "a")]
    pub actions: Vec<Action>,
    #[serde(rename = "x", default, skip_serializing_if = "Vec::is_empty")]
    pub except: Vec<String>,
}

/// The repository name that stands for every repository.
pub const ANY_REPOSITORY: &str = "*";

impl Grant {
    pub fn new(repository: &str, actions: &[Action]) -> Grant {
        let mut actions = actions.to_vec();
        actions.sort();
        actions.dedup();
        Grant {
            repository: repository.to_string(),
            actions,
            except: Vec::new(),
        }
    }

    /// Every repository under `namespace/`.
    pub fn namespace(namespace: &str, actions: &[Action]) -> Grant {
        Grant::new(&format!("{namespace}/*"), actions)
    }

    /// Every repository but those under the `except` namespaces.
    pub fn all_but(except: &[String], actions: &[Action]) -> Grant {
        Grant {
            except: except.to_vec(),
            ..Grant::new(ANY_REPOSITORY, actions)
        }
    }

    /// A Docker token scope: `repository:team/app:pull,push` (`*` for
    /// every action). Other resource types (`registry:catalog:*`) and
    /// unknown actions give `None` or are left out, as the token
    /// specification says: a server grants what it understands.
    pub fn parse_scope(scope: &str) -> Option<Grant> {
        let (kind, rest) = scope.split_once(':')?;
        let (name, actions) = rest.rsplit_once(':')?;
        if kind != "repository" || name.is_empty() {
            return None;
        }
        let mut out = Vec::new();
        for a in actions.split(',') {
            match a.trim() {
                "pull" => out.push(Action::Pull),
                "push" => out.push(Action::Push),
                "delete" => out.push(Action::Delete),
                "*" => out.extend(Action::ALL),
                _ => {}
            }
        }
        Some(Grant::new(name, &out))
    }

    /// The scope string of this grant.
    pub fn scope(&self) -> String {
        let actions: Vec<&str> = self.actions.iter().map(|a| a.as_str()).collect();
        format!("repository:{}:{}", self.repository, actions.join(","))
    }

    fn covers(&self, repository: &str) -> bool {
        let under = |ns: &str| {
            repository
                .strip_prefix(ns)
                .is_some_and(|rest| rest.starts_with('/'))
        };
        if self.repository == ANY_REPOSITORY {
            return !self.except.iter().any(|ns| under(ns));
        }
        match self.repository.strip_suffix("/*") {
            Some(ns) => under(ns),
            None => self.repository == repository,
        }
    }

    /// Whether this grant covers every repository there is.
    fn is_everything(&self) -> bool {
        self.repository == ANY_REPOSITORY && self.except.is_empty()
    }
}

/// Whether `grants` allow `action` on `repository`.
pub fn allowed(grants: &[Grant], repository: &str, action: Action) -> bool {
    grants
        .iter()
        .any(|g| g.covers(repository) && g.actions.contains(&action))
}

/// What a holder of `held` gets when it asks for `wanted`: each wanted
/// grant cut down to the actions `held` allows (a wanted `*` or namespace
/// only from a held `*` without exceptions). Grants left with no action
/// are dropped.
pub fn intersect(held: &[Grant], wanted: &[Grant]) -> Vec<Grant> {
    wanted
        .iter()
        .filter_map(|w| {
            let actions: Vec<Action> = w
                .actions
                .iter()
                .copied()
                .filter(|&a| {
                    if w.repository == ANY_REPOSITORY || w.repository.ends_with("/*") {
                        held.iter()
                            .any(|h| h.is_everything() && h.actions.contains(&a))
                    } else {
                        allowed(held, &w.repository, a)
                    }
                })
                .collect();
            (!actions.is_empty()).then(|| Grant::new(&w.repository, &actions))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_parse_and_print() {
        let g = Grant::parse_scope("repository:team/app:push,pull").unwrap();
        assert_eq!(g, Grant::new("team/app", &[Action::Pull, Action::Push]));
        assert_eq!(g.scope(), "repository:team/app:pull,push");
        assert_eq!(
            Grant::parse_scope("repository:a:*").unwrap().actions,
            Action::ALL
        );
        assert_eq!(
            Grant::parse_scope("repository:a:pull,frobnicate")
                .unwrap()
                .actions,
            [Action::Pull]
        );
        assert!(Grant::parse_scope("registry:catalog:*").is_none());
        assert!(Grant::parse_scope("repository::pull").is_none());
        assert!(Grant::parse_scope("nonsense").is_none());
    }

    #[test]
    fn grants_allow_only_what_they_name() {
        let g = [
            Grant::new("team/app", &[Action::Pull, Action::Push]),
            Grant::new("base/os", &[Action::Pull]),
        ];
        assert!(allowed(&g, "team/app", Action::Push));
        assert!(allowed(&g, "base/os", Action::Pull));
        assert!(!allowed(&g, "base/os", Action::Push));
        assert!(!allowed(&g, "team/app", Action::Delete));
        assert!(!allowed(&g, "team/app2", Action::Pull));
        let any = [Grant::new(ANY_REPOSITORY, &[Action::Pull])];
        assert!(allowed(&any, "whatever", Action::Pull));
        assert!(!allowed(&any, "whatever", Action::Push));
    }

    #[test]
    fn intersection_never_widens() {
        let held = [Grant::new("team/app", &[Action::Pull, Action::Push])];
        let wanted = [
            Grant::new("team/app", &Action::ALL),
            Grant::new("other", &[Action::Pull]),
            Grant::new(ANY_REPOSITORY, &[Action::Pull]),
        ];
        assert_eq!(
            intersect(&held, &wanted),
            [Grant::new("team/app", &[Action::Pull, Action::Push])]
        );
        let all = [Grant::new(ANY_REPOSITORY, &Action::ALL)];
        assert_eq!(intersect(&all, &wanted), wanted.to_vec());
    }

    #[test]
    fn namespaces_and_exceptions() {
        let team = [Grant::namespace("team", &[Action::Pull, Action::Push])];
        assert!(allowed(&team, "team/app", Action::Push));
        assert!(allowed(&team, "team/a/b", Action::Pull));
        assert!(!allowed(&team, "team", Action::Pull));
        assert!(!allowed(&team, "teamx/app", Action::Pull));
        let rest = [Grant::all_but(&["team".into()], &[Action::Pull])];
        assert!(allowed(&rest, "other/app", Action::Pull));
        assert!(allowed(&rest, "busybox", Action::Pull));
        assert!(allowed(&rest, "teamx/app", Action::Pull));
        assert!(!allowed(&rest, "team/app", Action::Pull));
        // Asking within what is held gets it; asking for more does not.
        assert_eq!(
            intersect(&team, &[Grant::new("team/app", &Action::ALL)]),
            [Grant::new("team/app", &[Action::Pull, Action::Push])]
        );
        assert!(intersect(&rest, &[Grant::new("team/app", &[Action::Pull])]).is_empty());
        assert!(intersect(&team, &[Grant::namespace("team", &[Action::Pull])]).is_empty());
        assert!(intersect(&rest, &[Grant::new(ANY_REPOSITORY, &[Action::Pull])]).is_empty());
    }

    #[test]
    fn known_hash() {
        assert_eq!(
            hash_token("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
