//! Wire types of projects and tokens (`/projects`, `/tokens`).

use crate::access::{Binding, Role};
use serde::{Deserialize, Serialize};

/// Who holds a token: a person, or a service account (CI, a bot).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenKind {
    #[default]
    User,
    Service,
}

impl TokenKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::User => "user",
            TokenKind::Service => "service",
        }
    }

    pub fn parse(text: &str) -> Result<TokenKind, String> {
        match text {
            "user" => Ok(TokenKind::User),
            "service" => Ok(TokenKind::Service),
            _ => Err(format!("{text:?} is not a token kind: user or service")),
        }
    }
}

/// A token as listed: never its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenInfo {
    pub id: i64,
    pub name: String,
    pub kind: TokenKind,
    /// `None`: every project.
    pub project: Option<String>,
    pub role: Role,
    pub created_at: String,
    /// `token:NAME` of whoever made it (`None`: the bootstrap admin token).
    pub created_by: Option<String>,
    pub expires_at: Option<String>,
    pub revoked_at: Option<String>,
    /// The user or service account it was issued to (`None`: a token of
    /// its own, like the bootstrap admin token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
}

impl TokenInfo {
    pub fn binding(&self) -> Binding {
        Binding {
            project: self.project.clone(),
            role: self.role,
        }
    }
}

/// `POST /tokens`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewTokenRequest {
    pub name: String,
    #[serde(default)]
    pub kind: TokenKind,
    /// `None`: every project (global admins only may make such a token).
    #[serde(default)]
    pub project: Option<String>,
    pub role: Role,
    /// Lifetime in seconds; `None`: until revoked.
    #[serde(default)]
    pub expires_in_seconds: Option<u64>,
    /// The user or service account it is for; its kind then is theirs,
    /// and a service account's tokens act in its own project only.
    #[serde(default)]
    pub identity: Option<String>,
}

/// A user or a service account: who tokens are issued to. Disabling one
/// revokes all its tokens at once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityInfo {
    pub name: String,
    pub kind: TokenKind,
    /// A service account's project (`None` for users, who may hold
    /// tokens of any project).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    pub created_at: String,
    pub created_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_at: Option<String>,
    /// Its tokens neither revoked nor expired.
    pub live_tokens: u32,
}

/// `POST /identities`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityRequest {
    pub name: String,
    pub kind: TokenKind,
    /// Required for a service account; refused for a user.
    #[serde(default)]
    pub project: Option<String>,
}

/// A user's or a token's name: 1-64 letters, digits, `-`, `_`, `.`, `@`
/// (an email address is one), not starting with `.` or `-`.
pub fn check_holder_name(what: &str, name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with(['.', '-'])
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.@".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a {what} name: 1-64 letters, digits, '-', '_', '.', '@', not starting with '.' or '-'"
        ))
    }
}

/// The answer to `POST /tokens`: the secret, shown this once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedToken {
    pub token: String,
    #[serde(flatten)]
    pub info: TokenInfo,
}

/// A project as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectInfo {
    pub name: String,
    /// Anyone may pull its repositories.
    pub anonymous_pull: bool,
    pub created_at: String,
    #[serde(default)]
    pub quota: Quota,
    /// What it uses now (in lists).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
}

/// A project's limits; `None`: no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Quota {
    /// Builds running at once; more wait in the queue, saying why.
    #[serde(default)]
    pub max_concurrent_builds: Option<u32>,
    /// Builds made in any hour; more are refused (429).
    #[serde(default)]
    pub builds_per_hour: Option<u32>,
    /// Bytes of its repositories in the embedded registry (each blob once).
    #[serde(default)]
    pub storage_bytes: Option<u64>,
}

/// What a project uses against its quota.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub running_builds: u64,
    pub builds_last_hour: u64,
    pub storage_bytes: u64,
}

/// `POST /projects` (create) and `PATCH /projects/{name}` (change).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectRequest {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub anonymous_pull: Option<bool>,
    /// Replaces the whole quota (global admins only).
    #[serde(default)]
    pub quota: Option<Quota>,
}

/// One record of the audit log: a mutating request of a known token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub id: i64,
    pub at: String,
    /// `token:NAME`.
    pub who: String,
    /// The token's project (`None`: a token for every project).
    pub project: Option<String>,
    /// `POST /api/v1/builds/12/cancel`.
    pub action: String,
    /// The client's address, when known.
    pub source: Option<String>,
    /// The answer's HTTP status.
    pub status: u16,
}

/// A build secret as listed: never its value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretInfo {
    pub project: String,
    pub name: String,
    /// Bytes.
    pub size: u64,
    pub created_at: String,
    pub created_by: Option<String>,
}

/// `POST /secrets`: create or replace one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretRequest {
    pub project: String,
    pub name: String,
    /// The value, base64 (standard alphabet).
    pub value_base64: String,
}

/// The largest secret value, in bytes.
pub const MAX_SECRET_BYTES: usize = 64 * 1024;

/// A secret's name: what `RUN --mount=type=secret,id=NAME` says.
pub fn check_secret_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a secret name: 1-64 letters, digits, '-', '_', '.', not starting with '.'"
        ))
    }
}

/// A project's login to another registry, as listed: never its password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistryLoginInfo {
    pub project: String,
    /// `registry.example.com` or `host:port`.
    pub registry: String,
    pub username: String,
    pub created_at: String,
    pub created_by: Option<String>,
}

/// `POST /registry-logins`: create or replace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryLoginRequest {
    pub project: String,
    pub registry: String,
    pub username: String,
    pub password: String,
}

/// The longest registry password (or token) taken.
pub const MAX_REGISTRY_PASSWORD_BYTES: usize = 16 * 1024;
