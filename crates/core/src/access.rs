//! Who may do what: projects, roles and the bindings tokens carry.
//!
//! A **project** owns the namespace `NAME/` of the embedded registry:
//! every repository under it, the configs that build into it and their
//! builds and scans. Whatever no other project owns belongs to
//! [`DEFAULT_PROJECT`] (all of it, on a server that never made one).
//!
//! A token is bound to one project with one **role** — `viewer` (read,
//! pull), `developer` (also build, apply, start, cancel, push), `admin`
//! (also tokens, promotion, tags, deletes) — or to every project (`None`):
//! a global admin also manages projects, clusters and the registry.

use crate::token::{Action, Grant};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The project of everything no other project owns.
pub const DEFAULT_PROJECT: &str = "default";

/// A project name: a lowercase DNS label (it is a repository path
/// component too), at most 63 characters.
pub fn check_project_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a project name: 1-63 lowercase letters, digits and '-', not at either end"
        ))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Developer,
    Admin,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Developer, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Developer => "developer",
            Role::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Result<Role, String> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == text)
            .ok_or_else(|| format!("{text:?} is not a role: viewer, developer or admin"))
    }

    /// What the role may do in the registry.
    pub fn registry_actions(self) -> &'static [Action] {
        match self {
            Role::Viewer => &[Action::Pull],
            Role::Developer => &[Action::Pull, Action::Push],
            Role::Admin => &Action::ALL,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a route asks of its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    /// Read: viewers and up.
    Read,
    /// Build, apply, start, cancel, push: developers and up.
    Build,
    /// Tokens, promotion, tag moves, deletes, pruning: project admins.
    Manage,
    /// Projects, clusters, the registry as a whole: global admins.
    Global,
}

impl Permission {
    fn least_role(self) -> Role {
        match self {
            Permission::Read => Role::Viewer,
            Permission::Build => Role::Developer,
            Permission::Manage | Permission::Global => Role::Admin,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Permission::Read => "read",
            Permission::Build => "build",
            Permission::Manage => "manage",
            Permission::Global => "global",
        }
    }
}

/// A token's reach: one project (or every one) with a role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Binding {
    /// `None`: every project.
    pub project: Option<String>,
    pub role: Role,
}

impl Binding {
    pub fn global_admin() -> Binding {
        Binding {
            project: None,
            role: Role::Admin,
        }
    }

    /// Whether it may do `what` in `project`.
    pub fn allows(&self, project: &str, what: Permission) -> bool {
        match what {
            Permission::Global => self.project.is_none() && self.role == Role::Admin,
            _ => {
                self.project.as_deref().is_none_or(|p| p == project)
                    && self.role >= what.least_role()
            }
        }
    }

    /// Whether it may do `what` in some project (a route's first check).
    pub fn allows_somewhere(&self, what: Permission) -> bool {
        match what {
            Permission::Global => self.project.is_none() && self.role == Role::Admin,
            _ => self.role >= what.least_role(),
        }
    }

    /// Whether it reads `project` (lists show only such things).
    pub fn reads(&self, project: &str) -> bool {
        self.allows(project, Permission::Read)
    }

    /// What it may do in the embedded registry, given the projects there
    /// are and the environments' prefixes: its project's namespaces
    /// (`team/` and `stable/team/`; the default project: everything no
    /// other project owns), or everything.
    pub fn registry_grants(&self, projects: &[String], env_prefixes: &[String]) -> Vec<Grant> {
        let actions = self.role.registry_actions();
        match self.project.as_deref() {
            None => vec![Grant::new(crate::token::ANY_REPOSITORY, actions)],
            Some(DEFAULT_PROJECT) => {
                let others: Vec<String> = projects
                    .iter()
                    .filter(|p| *p != DEFAULT_PROJECT)
                    .flat_map(|p| namespaces(p, env_prefixes))
                    .collect();
                vec![Grant::all_but(&others, actions)]
            }
            Some(p) => namespaces(p, env_prefixes)
                .iter()
                .map(|ns| Grant::namespace(ns, actions))
                .collect(),
        }
    }

    /// `project/role`, or `*/role` for every project.
    pub fn describe(&self) -> String {
        format!("{}/{}", self.project.as_deref().unwrap_or("*"), self.role)
    }
}

/// The namespaces of `project`: its own, and its images' in each
/// environment of the embedded registry (`stable/team`).
pub fn namespaces(project: &str, env_prefixes: &[String]) -> Vec<String> {
    std::iter::once(project.to_string())
        .chain(
            env_prefixes
                .iter()
                .map(|e| format!("{}/{project}", e.trim_matches('/'))),
        )
        .collect()
}

/// The project that owns `repository` in the embedded registry: its first
/// path component when that is a project, else the default project. An
/// environment's copy (`stable/team/app`) is its original's.
pub fn project_of_repository<'a>(
    repository: &str,
    projects: &'a [String],
    env_prefixes: &[String],
) -> &'a str {
    let original = env_prefixes
        .iter()
        .find_map(|e| {
            repository
                .strip_prefix(e.trim_matches('/'))
                .and_then(|rest| rest.strip_prefix('/'))
        })
        .unwrap_or(repository);
    let first = original.split('/').next().unwrap_or_default();
    if original.contains('/')
        && let Some(p) = projects.iter().find(|p| p.as_str() == first)
    {
        return p;
    }
    DEFAULT_PROJECT
}

/// The repository prefixes (`team/`, `stable/team/`) under which all of
/// `project`'s repositories are, to read only their blob links; `None`
/// for the default project, which owns whatever no other project does.
pub fn repository_prefixes(project: &str, env_prefixes: &[String]) -> Option<Vec<String>> {
    (project != DEFAULT_PROJECT).then(|| {
        namespaces(project, env_prefixes)
            .into_iter()
            .map(|ns| format!("{ns}/"))
            .collect()
    })
}

/// What `project`'s repositories take among the registry's blob links
/// (repository, digest, size): each blob counted once however many of its
/// repositories hold it; and the digests of those blobs.
pub fn storage_of<'a>(
    project: &str,
    links: &'a [(String, String, u64)],
    projects: &[String],
    env_prefixes: &[String],
) -> (u64, std::collections::HashSet<&'a str>) {
    let mut seen = std::collections::HashSet::new();
    let mut bytes = 0u64;
    for (repository, digest, size) in links {
        if project_of_repository(repository, projects, env_prefixes) == project
            && seen.insert(digest.as_str())
        {
            bytes = bytes.saturating_add(*size);
        }
    }
    (bytes, seen)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::allowed;

    fn projects() -> Vec<String> {
        vec!["default".into(), "team".into(), "ops".into()]
    }

    #[test]
    fn roles_grow_and_projects_bound_them() {
        let dev = Binding {
            project: Some("team".into()),
            role: Role::Developer,
        };
        assert!(dev.allows("team", Permission::Read));
        assert!(dev.allows("team", Permission::Build));
        assert!(!dev.allows("team", Permission::Manage));
        assert!(!dev.allows("ops", Permission::Read));
        assert!(!dev.allows_somewhere(Permission::Global));
        let viewer = Binding {
            project: None,
            role: Role::Viewer,
        };
        assert!(viewer.allows("ops", Permission::Read));
        assert!(!viewer.allows("ops", Permission::Build));
        assert!(!viewer.allows_somewhere(Permission::Global));
        let project_admin = Binding {
            project: Some("ops".into()),
            role: Role::Admin,
        };
        assert!(project_admin.allows("ops", Permission::Manage));
        assert!(!project_admin.allows("ops", Permission::Global));
        assert!(Binding::global_admin().allows("anything", Permission::Global));
    }

    #[test]
    fn repositories_belong_to_the_project_of_their_namespace() {
        let p = projects();
        let envs = ["stable".to_string()];
        let of = |r| project_of_repository(r, &p, &envs);
        assert_eq!(of("team/app"), "team");
        assert_eq!(of("team/a/b"), "team");
        assert_eq!(of("stable/team/app"), "team");
        assert_eq!(of("stable/x/app"), "default");
        assert_eq!(of("other/app"), "default");
        assert_eq!(of("team"), "default");
        assert_eq!(of("busybox"), "default");
    }

    #[test]
    fn registry_grants_follow_the_namespace() {
        let p = projects();
        let envs = ["stable".to_string()];
        let team_dev = Binding {
            project: Some("team".into()),
            role: Role::Developer,
        }
        .registry_grants(&p, &envs);
        assert!(allowed(&team_dev, "team/app", Action::Push));
        assert!(allowed(&team_dev, "stable/team/app", Action::Pull));
        assert!(!allowed(&team_dev, "team/app", Action::Delete));
        assert!(!allowed(&team_dev, "ops/app", Action::Pull));
        let default_viewer = Binding {
            project: Some("default".into()),
            role: Role::Viewer,
        }
        .registry_grants(&p, &envs);
        assert!(allowed(&default_viewer, "lib/busybox", Action::Pull));
        assert!(allowed(&default_viewer, "stable/lib/busybox", Action::Pull));
        assert!(!allowed(&default_viewer, "stable/team/app", Action::Pull));
        assert!(!allowed(&default_viewer, "lib/busybox", Action::Push));
        assert!(!allowed(&default_viewer, "team/app", Action::Pull));
        assert!(!allowed(&default_viewer, "ops/x", Action::Pull));
        let admin = Binding::global_admin().registry_grants(&p, &envs);
        assert!(allowed(&admin, "team/app", Action::Delete));
    }

    #[test]
    fn storage_counts_each_blob_once_per_project() {
        let p = projects();
        let envs = ["stable".to_string()];
        let links: Vec<(String, String, u64)> = [
            ("team/a", "d1", 10),
            ("team/b", "d1", 10),
            ("stable/team/a", "d2", 5),
            ("ops/x", "d3", 7),
            ("lib/busybox", "d1", 10),
        ]
        .iter()
        .map(|(r, d, n)| (r.to_string(), d.to_string(), *n))
        .collect();
        let (bytes, blobs) = storage_of("team", &links, &p, &envs);
        assert_eq!(bytes, 15);
        assert!(blobs.contains("d1") && blobs.contains("d2") && !blobs.contains("d3"));
        assert_eq!(storage_of("default", &links, &p, &envs).0, 10);
        assert_eq!(
            repository_prefixes("team", &["stable/".to_string()]),
            Some(vec!["team/".to_string(), "stable/team/".to_string()])
        );
        assert_eq!(repository_prefixes("default", &[]), None);
    }

    #[test]
    fn names_and_roles_parse() {
        assert!(check_project_name("team-a1").is_ok());
        for bad in ["", "Team", "-a", "a-", "a_b", "a/b", &"x".repeat(64)] {
            assert!(check_project_name(bad).is_err(), "{bad}");
        }
        assert_eq!(Role::parse("developer"), Ok(Role::Developer));
        assert!(
            Role::parse("root")
                .unwrap_err()
                .contains("viewer, developer or admin")
        );
    }
}
