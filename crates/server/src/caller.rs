//! Who called the API: the token's holder and binding, and the checks
//! every handler and step makes with it before it touches a project.

use crate::error::ApiError;
use slipway_core::access::{Binding, Permission};
use slipway_store::Principal;

/// Who called: the token's holder and binding.
#[derive(Debug, Clone)]
pub struct Caller(pub Principal);

impl Caller {
    /// As histories record it: `token:NAME`.
    pub fn subject(&self) -> String {
        self.0.subject()
    }

    pub fn binding(&self) -> &Binding {
        &self.0.binding
    }

    /// Whether it may read `project` (lists show only such things).
    pub fn reads(&self, project: &str) -> bool {
        self.0.binding.reads(project)
    }

    /// Refuse unless it may do `what` in `project`.
    pub fn require(&self, project: &str, what: Permission) -> Result<(), ApiError> {
        if self.0.binding.allows(project, what) {
            return Ok(());
        }
        Err(ApiError::forbidden(format!(
            "token {} ({}) may not {} in project {project}{}",
            self.0.name,
            self.0.binding.describe(),
            verb(what),
            hint(what)
        )))
    }
}

pub(crate) fn verb(what: Permission) -> &'static str {
    match what {
        Permission::Read => "read",
        Permission::Build => "build or change things",
        Permission::Manage => "manage (tokens, deletes, protected promotions)",
        Permission::Global => "do this",
    }
}

pub(crate) fn hint(what: Permission) -> &'static str {
    match what {
        Permission::Read => "; ask for a token of that project",
        Permission::Build => "; it needs the developer role there",
        Permission::Manage => "; it needs the admin role there",
        Permission::Global => "; it needs a global admin token",
    }
}
